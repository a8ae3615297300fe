"""Observed state: the Helm releases in the cluster, as extctl sees them.

Owns: the typed view of one release (name, namespace, revision, status, chart, version, labels) and
what its labels say about ownership. Must not: call helm (the reconciler builds these from the
``helm list``/``helm get metadata`` JSON it was handed) or read the clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from controller.models.desired import (
    DEFAULT_INSTANCE,
    DEPENDS_SEPARATOR,
    LABEL_DEPENDS_ON,
    LABEL_DIGEST,
    LABEL_EXTENSION,
    LABEL_INSTANCE,
    LABEL_MANAGED_BY,
    MANAGED_BY_VALUE,
)
from controller.models.drift import ReleaseDrift

LOCKED_STATUSES = frozenset({"pending-install", "pending-upgrade", "pending-rollback", "uninstalling"})


@dataclass(frozen=True)
class ObservedRelease:
    name: str
    namespace: str
    revision: int
    status: str
    chart_name: str | None = None
    chart_version: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    updated: str | None = None
    updated_at: float | None = None  # ``updated`` as epoch seconds (parsed by the observer)
    # The newest revision that was deployed: the release's own revision when deployed; for a failed or
    # locked release, read from ``helm history`` (None: never deployed, or history not read).
    last_deployed_revision: int | None = None
    drift: ReleaseDrift | None = field(default=None, compare=False)  # this pass's drift check; None: not checked
    # The settings digests extctl recorded when it applied this values digest (``setting_digests``); None:
    # not recorded (applied by an older extctl, or by hand), so a values change cannot name its keys.
    setting_digests: Mapping[str, str] | None = field(default=None, compare=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    @property
    def managed(self) -> bool:
        return self.labels.get(LABEL_MANAGED_BY) == MANAGED_BY_VALUE

    @property
    def instance(self) -> str | None:
        """Which extctl instance owns it (several may share a cluster, each with its own Git source)."""
        return self.labels.get(LABEL_INSTANCE, DEFAULT_INSTANCE) if self.managed else None

    def owned_by(self, instance: str) -> bool:
        return self.managed and self.instance == instance

    @property
    def extension(self) -> str | None:
        return self.labels.get(LABEL_EXTENSION) if self.managed else None

    @property
    def values_digest(self) -> str | None:
        return self.labels.get(LABEL_DIGEST)

    @property
    def depends_on(self) -> tuple[str, ...]:
        raw = self.labels.get(LABEL_DEPENDS_ON, "")
        return tuple(name for name in raw.split(DEPENDS_SEPARATOR) if name)

    @property
    def locked(self) -> bool:
        return self.status in LOCKED_STATUSES


def last_deployed(history: Sequence[Mapping[str, Any]], below: int) -> int | None:
    """The newest revision below ``below`` that was deployed (``deployed`` or ``superseded`` in history)."""
    found = [int(h["revision"]) for h in history
             if h.get("status") in {"deployed", "superseded"} and int(h.get("revision", 0)) < below]
    return max(found) if found else None


def observed_from_helm(listing: Mapping[str, Any], metadata: Mapping[str, Any] | None, *,
                       updated_at: float | None = None, last_deployed_revision: int | None = None,
                       setting_digests: Mapping[str, str] | None = None) -> ObservedRelease:
    """Combine one ``helm list -o json`` row with its ``helm get metadata -o json`` (may be None)."""
    meta = metadata or {}
    status = str(listing.get("status", "unknown"))
    revision = int(listing.get("revision", 0))
    return ObservedRelease(
        name=str(listing["name"]),
        namespace=str(listing["namespace"]),
        revision=revision,
        status=status,
        chart_name=meta.get("chart"),
        chart_version=meta.get("version"),
        labels=dict(meta.get("labels") or {}),
        updated=listing.get("updated"),
        updated_at=updated_at,
        last_deployed_revision=revision if status == "deployed" else last_deployed_revision,
        setting_digests=setting_digests,
    )
