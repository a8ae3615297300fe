"""What the API server derives from a CustomResourceDefinition, for the sandbox emulator.

Owns: remembering each served CRD version's ``subresources.status`` and ``additionalPrinterColumns``;
the status-subresource rule (a write to the object keeps its status, a write to ``/status`` changes only
the status); and the ``meta.k8s.io/v1`` ``Table`` that ``kubectl get`` asks for (``Accept: …;as=Table``),
with the printer columns evaluated like the API server does (a JSONPath subset: ``.a.b``, ``[N]``,
``[?(@.k=="v")]``; ``date`` columns as human durations; priority > 0 only in ``-o wide``).
Must not: be imported by ``controller/``.
"""

from __future__ import annotations

import copy
import datetime
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

_FILTER = re.compile(r"""^\?\(@\.([\w.-]+)\s*==\s*["']([^"']*)["']\)$""")
NAME_COLUMN = {"name": "Name", "type": "string", "format": "name", "priority": 0,
               "description": "Name must be unique within a namespace."}
AGE_COLUMN = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp", "priority": 0}


@dataclass
class CrdVersion:
    status_subresource: bool = False
    columns: list[dict[str, Any]] = field(default_factory=list)


class CrdRegistry:
    """``group/version/plural`` → what its CRD says about that version."""

    def __init__(self) -> None:
        self._versions: dict[str, CrdVersion] = {}

    def register(self, crd: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """Remember a CRD; returns ``(resource key, ResourceInfo fields)`` per served version."""
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        served = []
        for version in spec.get("versions") or []:
            if version.get("served") is False:
                continue
            key = f"{spec.get('group')}/{version.get('name')}/{names.get('plural')}"
            self._versions[key] = CrdVersion("status" in (version.get("subresources") or {}),
                                             list(version.get("additionalPrinterColumns") or []))
            served.append((key, {"kind": names.get("kind"), "singular": names.get("singular"),
                                 "namespaced": spec.get("scope", "Namespaced") == "Namespaced",
                                 "shortnames": set(names.get("shortNames") or []),
                                 "categories": set(names.get("categories") or [])}))
        return served

    def get(self, group: str, version: str, plural: str) -> CrdVersion | None:
        return self._versions.get(f"{group}/{version}/{plural}")


def split_status(info: CrdVersion | None, old: Mapping[str, Any] | None, new: dict[str, Any],
                 subresource: str | None) -> dict[str, Any]:
    """With a status subresource, a write to the object ignores ``status`` (on create too) and a write to
    ``/status`` changes nothing but ``status`` (metadata stays as stored)."""
    if info is None or not info.status_subresource:
        return new
    if subresource == "status":
        kept = copy.deepcopy(dict(old or {}))
        kept["status"] = new.get("status")
        if kept["status"] is None:
            kept.pop("status")
        kept.setdefault("metadata", {})["resourceVersion"] = (new.get("metadata") or {}).get("resourceVersion")
        return kept
    result = dict(new)
    if old is not None and "status" in old:
        result["status"] = copy.deepcopy(old["status"])
    else:
        result.pop("status", None)
    return result


def wants_table(headers: Mapping[str, str]) -> bool:
    accept = next((v for k, v in headers.items() if k.lower() == "accept"), "")
    return "as=Table" in accept


def jsonpath(obj: Any, path: str) -> Any:
    """The first value at ``path`` (None when absent): the subset printer columns use."""
    current: list[Any] = [obj]
    for token in re.findall(r"\[[^\]]*\]|[^.\[\]]+", path.strip().lstrip(".")):
        found: list[Any] = []
        for item in current:
            if token.startswith("["):
                inner = token[1:-1].strip()
                match = _FILTER.match(inner)
                if match and isinstance(item, list):
                    found += [e for e in item if isinstance(e, dict) and str(jsonpath(e, match[1])) == match[2]]
                elif inner.isdigit() and isinstance(item, list) and int(inner) < len(item):
                    found.append(item[int(inner)])
                elif inner == "*" and isinstance(item, list):
                    found += item
            elif isinstance(item, dict) and token in item:
                found.append(item[token])
        current = found
    return current[0] if current else None


def human_duration(seconds: float) -> str:
    """Kubernetes' ``HumanDuration``: 45s, 5m30s, 3h, 2d4h, 400d, 3y."""
    s = int(seconds)
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    return f"{hours // 24 // 365}y"


def _cell(column: Mapping[str, Any], obj: Mapping[str, Any], now: datetime.datetime) -> Any:
    value = jsonpath(obj, str(column.get("jsonPath", "")))
    if value is None:
        return None
    if column.get("type") == "date":
        try:
            then = datetime.datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
        except ValueError:
            return "<invalid>"
        return human_duration((now - then).total_seconds())
    if column.get("type") in {"integer", "number", "boolean"}:
        return value
    return value if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)


def table(objects: Iterable[Mapping[str, Any]], info: CrdVersion, resource_version: str) -> dict[str, Any]:
    """The ``Table`` the API server answers for ``kubectl get`` on a custom resource."""
    now = datetime.datetime.now(tz=datetime.UTC)
    columns = info.columns or [AGE_COLUMN]
    definitions = [NAME_COLUMN] + [
        {"name": c.get("name", ""), "type": c.get("type", "string"), "format": c.get("format", ""),
         "description": c.get("description", ""), "priority": int(c.get("priority", 0))} for c in columns]
    rows = []
    for obj in objects:
        meta = obj.get("metadata") or {}
        rows.append({
            "cells": [meta.get("name")] + [_cell(c, obj, now) for c in columns],
            "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta},
        })
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": resource_version},
            "columnDefinitions": definitions, "rows": rows}
