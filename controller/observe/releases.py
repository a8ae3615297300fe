"""The release observer: every helm release in the cluster, as typed ``ObservedRelease`` facts.

Owns: one ``helm list -A`` per pass, the per-release metadata cache (chart, version, labels and, for
a failed or locked release, its last deployed revision from ``helm history``, and when its objects were
last checked for drift) keyed by helm revision, so only releases whose revision changed are read again,
the setting digests of what extctl applied (kept while the release's values digest is unchanged, so a
later values change can name its keys), and helm's time format. The cache is also
handed to and taken from the state store, so a fresh process costs no more helm calls than a warm
one. Must not: decide anything, write anything, or talk to the Kubernetes API.
"""

from __future__ import annotations

import asyncio
import datetime
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from controller.helm import HelmClient
from controller.models.desired import LABEL_DIGEST
from controller.models.observed import LOCKED_STATUSES, ObservedRelease, last_deployed, observed_from_helm
from controller.models.status import AppliedRelease

_HELM_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\.(\d+))?\s*([+-]\d{4}|Z)?")
HISTORY_STATUSES = LOCKED_STATUSES | {"failed"}
KEPT_METADATA = ("chart", "version", "labels")  # all the observer reads; the rest would fill memory and the store


def parse_helm_time(text: str | None) -> float | None:
    """``2026-11-24 01:38:02.213926339 +0000 UTC`` (helm list) → epoch seconds; None if unparseable."""
    match = _HELM_TIME.match(text or "")
    if not match:
        return None
    date, clock, fraction, offset = match.groups()
    stamp = f"{date}T{clock}.{(fraction or '0')[:6].ljust(6, '0')}{'+0000' if offset in (None, 'Z') else offset}"
    try:
        return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
    except ValueError:
        return None


@dataclass(frozen=True)
class ReleaseFacts:
    """What ``helm get metadata`` (and, when needed, ``helm history``) said about one release revision."""

    revision: int
    metadata: Mapping[str, Any]
    last_deployed_revision: int | None = None
    history_read: bool = False  # a revision that was deployed when first seen may later show as failed
    # When its objects were last compared with the live cluster (``observe/drift.py``); a new revision starts
    # at the time it was first seen (helm just applied it). None (an older store): due at once.
    drift_checked_at: float | None = None
    # Settings path → digest (``models.desired.setting_digests``) of the values extctl applied; None: unknown.
    settings: Mapping[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        data = {"revision": self.revision, "metadata": dict(self.metadata),
                "last_deployed_revision": self.last_deployed_revision, "history_read": self.history_read}
        if self.drift_checked_at is not None:
            data["drift_checked_at"] = round(self.drift_checked_at, 1)
        if self.settings is not None:
            data["settings"] = dict(self.settings)
        return data

    @property
    def values_digest(self) -> str | None:
        labels = self.metadata.get("labels")
        return labels.get(LABEL_DIGEST) if isinstance(labels, Mapping) else None

    @classmethod
    def from_json(cls, data: Any) -> ReleaseFacts | None:
        """None for anything that is not a well-formed record (a hand-edited or older state store)."""
        if not isinstance(data, Mapping) or not isinstance(data.get("metadata"), Mapping):
            return None
        revision, deployed = data.get("revision"), data.get("last_deployed_revision")
        if not isinstance(revision, int) or not (deployed is None or isinstance(deployed, int)):
            return None
        checked = data.get("drift_checked_at")
        settings = data.get("settings")
        if not (isinstance(settings, Mapping) and all(isinstance(v, str) for v in settings.values())):
            settings = None
        return cls(revision, dict(data["metadata"]), deployed, data.get("history_read") is True,
                   float(checked) if isinstance(checked, int | float) and not isinstance(checked, bool) else None,
                   dict(settings) if settings is not None else None)


def _key(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


class ReleaseObserver:
    """Observes releases through helm; remembers facts per release revision between passes."""

    def __init__(self, helm: HelmClient, *, concurrency: int = 4, clock: Callable[[], float] = time.time) -> None:
        self.helm = helm
        self.concurrency = max(1, concurrency)
        self.clock = clock
        self.facts: dict[str, ReleaseFacts] = {}

    def remember(self, facts: Mapping[str, ReleaseFacts]) -> None:
        """Seed the cache (from the state store of an earlier process); known entries win."""
        for key, value in facts.items():
            self.facts.setdefault(key, value)

    def record(self, namespace: str, name: str, applied: AppliedRelease) -> None:
        """The facts of a revision this process just made (a succeeded install or upgrade): the next pass
        reads no metadata for it, unless the listing shows another revision (bench/README.md, P2)."""
        metadata = {"chart": applied.chart, "version": applied.version, "labels": dict(applied.labels)}
        settings = dict(applied.settings) if applied.settings is not None else None
        self.facts[_key(namespace, name)] = ReleaseFacts(applied.revision, metadata, drift_checked_at=self.clock(),
                                                         settings=settings)

    async def listing(self) -> list[dict[str, Any]]:
        """The ``helm list -A`` rows (one helm call); needs nothing remembered, so a pass starts it first."""
        return await self.helm.list_releases()

    async def observe(self, listing: list[dict[str, Any]] | None = None) -> list[ObservedRelease]:
        """Typed releases for ``listing`` (listed now when not given); reads facts only for revisions not known."""
        if listing is None:
            listing = await self.listing()
        semaphore = asyncio.Semaphore(self.concurrency)

        async def one(row: Mapping[str, Any]) -> ObservedRelease:
            namespace, name = str(row.get("namespace", "")), str(row.get("name", ""))
            revision, status = int(row.get("revision", 0) or 0), str(row.get("status", ""))
            key = _key(namespace, name)
            known = self.facts.get(key)
            needs_history = status in HISTORY_STATUSES
            if known is None or known.revision != revision or (needs_history and not known.history_read):
                async with semaphore:
                    metadata = await self.helm.get_metadata(name, namespace)
                    deployed = None
                    if needs_history:
                        deployed = last_deployed(await self.helm.history(name, namespace), revision)
                kept = {k: metadata[k] for k in KEPT_METADATA if k in metadata}
                checked = known.drift_checked_at if known is not None and known.revision == revision else self.clock()
                fresh = ReleaseFacts(revision, kept, deployed, needs_history, checked)
                # What extctl applied still describes the values while their digest is the same (a rollback,
                # a failed upgrade with the same values, a history re-read).
                same_values = known is not None and known.values_digest == fresh.values_digest
                known = replace(fresh, settings=known.settings if same_values and known is not None else None)
                self.facts[key] = known
            return observed_from_helm(row, known.metadata, updated_at=parse_helm_time(row.get("updated")),
                                      last_deployed_revision=known.last_deployed_revision,
                                      setting_digests=known.settings)

        observed = list(await asyncio.gather(*(one(row) for row in listing)))
        live = {_key(o.namespace, o.name) for o in observed}
        for stale in set(self.facts) - live:
            del self.facts[stale]
        return observed


class NullObserver:
    """Offline: an empty cluster."""

    facts: dict[str, ReleaseFacts] = {}

    def remember(self, facts: Mapping[str, ReleaseFacts]) -> None:
        return None

    def record(self, namespace: str, name: str, applied: AppliedRelease) -> None:
        return None

    async def listing(self) -> list[dict[str, Any]]:
        return []

    async def observe(self, listing: list[dict[str, Any]] | None = None) -> list[ObservedRelease]:
        return []
