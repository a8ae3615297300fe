"""Drift: how the live objects of an owned release differ from what its manifest sets, and which count.

The comparison rule (``compare_object``), documented for users in docs/health-and-drift.md:

- Only fields the chart sets are compared: every leaf of the rendered object (``helm get manifest``),
  ``metadata.labels`` and ``metadata.annotations`` included, other ``metadata`` and ``status`` never. So
  server defaults, and fields that only other field managers set (admission webhooks, other controllers:
  an injected sidecar, an extra label) are never drift. List items with a ``name`` are matched by name (a
  container added by a webhook is not drift); other lists compare as a whole.
- A chart field that a *controller* owns in the live object's ``managedFields`` (``CONTROLLER_MANAGERS``:
  ``kube-controller-manager``, which writes ``/spec/replicas`` for a HorizontalPodAutoscaler) is not
  compared either: the cluster is meant to change it. Changes by people (``kubectl edit``/``scale``/``patch``,
  any other client) are drift.
- Values compare as Kubernetes stores them: numbers by value, resource quantities by amount (``500m`` ==
  ``0.5``), a Secret's ``stringData`` as the ``data`` it becomes; an empty map, list or null the chart
  sets equals an absent field.
- ``spec.driftDetection.ignore`` removes fields by JSON pointer (RFC 6901), on all objects or on those a
  target (kind, name, namespace) selects, as Flux does; the empty pointer ``""`` ignores whole objects,
  their deletion included (a Job its TTL removes).

Owns: the typed findings (``FieldChange``, ``ObjectDrift``, ``ReleaseDrift``), the rule above, the
out-of-band revision check (``out_of_band``: a helm revision extctl did not make), the choice of releases
due for a check (``due_for_check``), and their one-line descriptions, which never show a Secret's values
(only numbers and booleans of other objects are quoted). Must not: read anything (manifests, live objects,
``now`` are handed in), or decide what to do about drift (``release_state`` does).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from controller.models.desired import LABEL_HELM_REVISION
from controller.models.manifests import DriftIgnoreRule

if TYPE_CHECKING:
    from controller.models.observed import ObservedRelease

CONTROLLER_MANAGERS = frozenset({"kube-controller-manager"})
SPREAD = 0.2  # a release's check interval is stretched by 0-20% (stable per release) so checks spread out
_METADATA_COMPARED = ("labels", "annotations")
_QUANTITY = re.compile(r"^([+-]?\d+(?:\.\d+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_SUFFIX: dict[str | None, Decimal | int] = {
    None: 1, "m": Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}


@dataclass(frozen=True)
class ObjectRef:
    api_version: str
    kind: str
    name: str
    namespace: str | None = None

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"


@dataclass(frozen=True)
class FieldChange:
    """One chart field whose live value differs; ``want``/``live`` are shown only when safe (else None)."""

    path: str  # JSON pointer
    want: str | None = None
    live: str | None = None

    def __str__(self) -> str:
        if self.want is None or self.live is None:
            return self.path
        return f"{self.path} ({self.want} → {self.live})"


@dataclass(frozen=True)
class ObjectDrift:
    ref: ObjectRef
    deleted: bool = False
    changes: tuple[FieldChange, ...] = ()

    def __str__(self) -> str:
        if self.deleted:
            return f"{self.ref} deleted"
        return f"{self.ref}: {', '.join(str(c) for c in self.changes)}"


@dataclass(frozen=True)
class ReleaseDrift:
    """What one drift check of a release found (``objects`` empty: none); ``error`` when it could not run."""

    objects: tuple[ObjectDrift, ...] = ()
    error: str | None = None

    def without(self, rules: Sequence[DriftIgnoreRule]) -> ReleaseDrift:
        """The findings left once ``rules`` (``spec.driftDetection.ignore``) are applied."""
        kept = []
        for found in self.objects:
            pointers = [p for rule in rules if rule.selects(found.ref.kind, found.ref.name, found.ref.namespace)
                        for p in rule.paths]
            if "" in pointers:  # the whole object (RFC 6901's empty pointer): not even its deletion counts
                continue
            changes = tuple(c for c in found.changes if not any(_under(c.path, p) for p in pointers))
            if found.deleted or changes:
                kept.append(replace(found, changes=changes))
        return replace(self, objects=tuple(kept))


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


def pointer(segments: Iterable[str | int]) -> str:
    return "".join("/" + str(s).replace("~", "~0").replace("/", "~1") for s in segments)


def out_of_band(observed: ObservedRelease) -> str | None:
    """Why the release's current helm revision is not one extctl made, or None (unknown counts as made).

    Every install and upgrade by extctl labels the release with the revision it creates; helm keeps release
    labels across upgrades and rollbacks, so a revision made by anyone else carries an older number."""
    made = observed.labels.get(LABEL_HELM_REVISION, "")
    if not made.isdigit() or int(made) == observed.revision or observed.status != "deployed":
        return None
    return (f"helm revision {observed.revision} was not made by extctl (its last install or upgrade made revision "
            f"{made}): values or chart changed outside Git (helm upgrade or rollback by hand)")


# ---------------------------------------------------------------------------------------- comparison
def compare_object(desired: Mapping[str, Any], live: Mapping[str, Any] | None, *,
                   default_namespace: str | None = None) -> ObjectDrift | None:
    """How ``live`` differs from the rendered ``desired`` object (None: no drift). ``live`` None: deleted."""
    meta = desired.get("metadata") or {}
    ref = ObjectRef(str(desired.get("apiVersion", "")), str(desired.get("kind", "")), str(meta.get("name", "")),
                    meta.get("namespace") or default_namespace)
    if live is None:
        return ObjectDrift(ref, deleted=True)
    secret = ref.kind == "Secret" and ref.api_version == "v1"
    wanted = _secret_as_stored(desired) if secret else desired
    walker = _Walk(live, _controller_owned(live), secret, [])
    for key, value in wanted.items():
        if key in {"apiVersion", "kind", "status"}:
            continue
        if key == "metadata":
            live_meta = live.get("metadata") or {}
            for part in _METADATA_COMPARED:
                walker.walk(value.get(part) if isinstance(value, Mapping) else None, live_meta.get(part),
                            ["metadata", part])
            continue
        walker.walk(value, live.get(key), [key])
    return ObjectDrift(ref, changes=tuple(walker.changes)) if walker.changes else None


def _secret_as_stored(desired: Mapping[str, Any]) -> dict[str, Any]:
    """A Secret as the API server stores it: ``stringData`` folded into ``data``, base64-encoded."""
    folded = dict(desired)
    string_data = folded.pop("stringData", None) or {}
    data = dict(folded.get("data") or {})
    for key, value in string_data.items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    if data:
        folded["data"] = data
    return folded


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, Mapping | list | str) and not value)


@dataclass
class _Walk:
    """One object's comparison: the live object, its controller-owned field trees, and the findings."""

    live: Mapping[str, Any]
    owned: list[Any]
    secret: bool
    changes: list[FieldChange]

    def walk(self, want: Any, have: Any, path: list[str | int]) -> None:
        if want is None or _is_owned(self.owned, path, self.live):
            return
        if isinstance(want, Mapping):
            if not isinstance(have, Mapping):
                if not (_empty(want) and have is None):
                    self.changes.append(_change(path, want, have, self.secret))
                return
            for key, value in want.items():
                self.walk(value, have.get(key), [*path, key])
            return
        if isinstance(want, list) and want and all(isinstance(i, Mapping) and "name" in i for i in want) \
                and isinstance(have, list):
            by_name = {item.get("name"): index for index, item in enumerate(have) if isinstance(item, Mapping)}
            for index, item in enumerate(want):
                found = by_name.get(item["name"])
                if found is None:
                    self.changes.append(FieldChange(pointer([*path, index])))
                else:
                    self.walk(item, have[found], [*path, found])
            return
        if not _same(want, have):
            self.changes.append(_change(path, want, have, self.secret))


def _same(want: Any, have: Any) -> bool:
    if _empty(want) and have is None:
        return True
    if isinstance(want, list) and isinstance(have, list):
        return len(want) == len(have) and all(_same(w, h) for w, h in zip(want, have, strict=True))
    if isinstance(want, Mapping) or isinstance(have, Mapping):
        return bool(want == have)
    if isinstance(want, bool) or isinstance(have, bool):
        return want is have
    if want == have or str(want) == str(have):
        return True
    a, b = _quantity(want), _quantity(have)
    return a is not None and a == b


def _quantity(value: Any) -> Decimal | None:
    match = _QUANTITY.match(str(value))
    if match is None:
        return None
    try:
        return Decimal(match.group(1)) * Decimal(_SUFFIX[match.group(2)])
    except InvalidOperation:
        return None


def _change(path: list[str | int], want: Any, have: Any, secret: bool) -> FieldChange:
    """Values are quoted only when they are numbers or booleans outside a Secret (never data or strings)."""
    def shown(value: Any) -> str | None:
        if value is None:
            return "absent"
        return json.dumps(value) if isinstance(value, bool | int | float) else None
    if secret:
        return FieldChange(pointer(path))
    return FieldChange(pointer(path), shown(want), shown(have))


# ---------------------------------------------------------------------------------------- managedFields
def _controller_owned(live: Mapping[str, Any]) -> list[Any]:
    """The ``fieldsV1`` trees of the managers in ``CONTROLLER_MANAGERS`` (their fields are not compared)."""
    entries = (live.get("metadata") or {}).get("managedFields") or []
    return [e["fieldsV1"] for e in entries if isinstance(e, Mapping) and e.get("manager") in CONTROLLER_MANAGERS
            and isinstance(e.get("fieldsV1"), Mapping) and e["fieldsV1"]]


def _is_owned(trees: list[Any], path: list[str | int], live: Mapping[str, Any]) -> bool:
    """Does one of the ``fieldsV1`` trees own ``path`` (a leaf ``{}`` at or above it)? List items are named
    as the API server names them: ``k:{"name":"agent"}`` (by merge key) or ``v:<value>`` (a set's member)."""
    for tree in trees:
        node: Any = tree
        current: Any = live
        for segment in path:
            if isinstance(segment, int):
                item = current[segment] if isinstance(current, list) and segment < len(current) else None
                node = next((child for key, child in node.items() if _names_item(key, item)), None)
                current = item
            else:
                node = node.get(f"f:{segment}")
                current = current.get(segment) if isinstance(current, Mapping) else None
            if not isinstance(node, Mapping):
                break
            if not node:
                return True
    return False


def _names_item(key: str, item: Any) -> bool:
    kind, _, text = key.partition(":")
    try:
        value = json.loads(text)
    except ValueError:
        return False
    if kind == "k" and isinstance(value, Mapping) and isinstance(item, Mapping):
        return all(item.get(k) == v for k, v in value.items())
    return kind == "v" and value == item


# ---------------------------------------------------------------------------------------- scheduling
def _stretch(key: str) -> float:
    digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big")
    return 1.0 + SPREAD * (digest % 1000) / 1000


def due_for_check(last_checked: Mapping[str, float | None], *, now: float, interval_s: float,
                  limit: int | None = None) -> list[str]:
    """Keys whose last check is older than ``interval_s`` (stretched 0-20% per key, so checks of releases
    installed together spread over passes), most overdue first, at most ``limit``; never checked first."""
    overdue: list[tuple[float, str]] = []
    for key, last in last_checked.items():
        if last is None:
            overdue.append((float("inf"), key))
            continue
        late = (now - last) - interval_s * _stretch(key)
        if interval_s <= 0 or late >= 0:
            overdue.append((late, key))
    overdue.sort(key=lambda item: (-item[0], item[1]))
    return [key for _, key in overdue[:limit]]
