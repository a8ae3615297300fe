"""Server-side apply for the sandbox emulator (``PATCH`` with ``Content-Type: application/apply-patch+yaml``).

Owns: turning an apply request into the full object the API server would store, with ``managedFields``
per field manager and subresource: an absent object is created from the applied configuration; an
existing one gets every applied field, and loses the fields this manager applied before but no longer
applies (fields set by other writers stay, as with the real API server). With ``force`` (what extctl
sends) the applier takes over fields other managers own. Simplifications, documented: lists are
atomic (no ``x-kubernetes-list-map-keys`` merging), and a conflicting apply without ``force`` is not
refused. Must not: be imported by ``controller/``.
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
Path = tuple[str, ...]
_IDENTITY: set[Path] = {("apiVersion",), ("kind",), ("metadata", "name"), ("metadata", "namespace")}
_SERVER_OWNED = {"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink"}


def is_apply(headers: Mapping[str, str]) -> bool:
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    return content_type.split(";")[0].strip() == APPLY_CONTENT_TYPE


def applied_config(data: Any, text: str) -> dict[str, Any]:
    """The request body: JSON (what client libraries send) or YAML (kubectl)."""
    if isinstance(data, dict):
        return data
    loaded = yaml.safe_load(text or "{}")
    if not isinstance(loaded, dict):
        raise ValueError("an apply patch must be an object")
    return loaded


def field_paths(obj: Mapping[str, Any], prefix: Path = ()) -> set[Path]:
    """Leaf paths of a configuration: scalars, lists (atomic) and empty maps are leaves."""
    paths: set[Path] = set()
    for key, value in obj.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping) and value:
            paths |= field_paths(value, path)
        else:
            paths.add(path)
    return paths


def _scoped(paths: Iterable[Path], subresource: str | None, split_status: bool) -> set[Path]:
    result = set()
    for path in paths:
        if path in _IDENTITY or (path[:1] == ("metadata",) and len(path) == 2 and path[1] in _SERVER_OWNED):
            continue
        if subresource == "status" and path[:1] != ("status",):
            continue
        if subresource is None and split_status and path[:1] == ("status",):
            continue
        result.add(path)
    return result


def encode(paths: Iterable[Path]) -> dict[str, Any]:
    """``fieldsV1``: ``{"f:spec": {"f:replicas": {}}}``."""
    root: dict[str, Any] = {}
    for path in sorted(paths):
        node = root
        for part in path:
            node = node.setdefault(f"f:{part}", {})
    return root


def decode(fields: Mapping[str, Any], prefix: Path = ()) -> set[Path]:
    paths: set[Path] = set()
    for key, value in fields.items():
        if not key.startswith("f:"):
            continue
        path = (*prefix, key[2:])
        paths |= decode(value, path) if isinstance(value, Mapping) and value else {path}
    return paths


def _get(obj: Mapping[str, Any], path: Path) -> Any:
    node: Any = obj
    for part in path:
        node = node.get(part) if isinstance(node, Mapping) else None
    return node


def _set(obj: dict[str, Any], path: Path, value: Any) -> None:
    node = obj
    for part in path[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[path[-1]] = copy.deepcopy(value)


def _remove(obj: dict[str, Any], path: Path) -> None:
    parents = [obj]
    for part in path[:-1]:
        nxt = parents[-1].get(part)
        if not isinstance(nxt, dict):
            return
        parents.append(nxt)
    parents[-1].pop(path[-1], None)
    for depth in range(len(parents) - 1, 0, -1):  # drop maps the removal left empty (not the root)
        if not parents[depth]:
            parents[depth - 1].pop(path[depth - 1], None)


def server_side_apply(old: Mapping[str, Any] | None, applied: Mapping[str, Any], *, manager: str,
                      subresource: str | None, split_status: bool, api_version: str) -> dict[str, Any]:
    """The object after ``manager`` applied ``applied`` (to ``subresource``, or to the object itself)."""
    new: dict[str, Any] = copy.deepcopy(dict(old)) if old is not None else {
        "apiVersion": applied.get("apiVersion", api_version), "kind": applied.get("kind"),
        "metadata": {k: v for k, v in (applied.get("metadata") or {}).items() if k in {"name", "namespace"}}}
    owned = _scoped(field_paths(applied), subresource, split_status)
    entries = [dict(e) for e in (new.get("metadata") or {}).get("managedFields") or [] if isinstance(e, Mapping)]
    mine = next((e for e in entries if e.get("manager") == manager and e.get("operation") == "Apply"
                 and e.get("subresource") == subresource), None)
    before = decode(mine.get("fieldsV1") or {}) if mine is not None else set()
    for path in sorted(before - owned, key=len, reverse=True):
        _remove(new, path)
    for path in owned:
        _set(new, path, _get(applied, path))
    others = []
    for entry in entries:
        if entry is mine:
            continue
        remaining = decode(entry.get("fieldsV1") or {}) - owned  # force: the applier takes them over
        if remaining:
            others.append({**entry, "fieldsV1": encode(remaining)})
    now = datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    entry = {"manager": manager, "operation": "Apply", "apiVersion": str(applied.get("apiVersion", api_version)),
             "time": now, "fieldsType": "FieldsV1", "fieldsV1": encode(owned)}
    if subresource is not None:
        entry["subresource"] = subresource
    new.setdefault("metadata", {})["managedFields"] = [*others, entry]
    return new
