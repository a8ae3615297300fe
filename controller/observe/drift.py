"""Drift checks: each due release's manifest (``helm get manifest``) against its live objects.

Which releases: the candidates the engine hands in (owned by this instance, deployed, in sync with Git,
``driftDetection`` not ``disabled``: ``release_state.drift_candidates``) whose last check, remembered in the
release facts (and so in the state store, across processes), is older than ``--drift-interval`` (each
release's interval stretched by 0-20 % so releases installed together spread out), at most
``--drift-batch`` per pass, the most overdue first (``models.drift.due_for_check``). A new helm revision
counts as checked when first seen: helm has just applied it. ``preview --cluster`` checks every candidate.

Cost, per release checked: one ``helm get manifest`` (none when the same revision was read before by this
process) and one API read per object of the manifest, plus one discovery read per group-version per
process. A pass with nothing due costs nothing: the steady-state pass of issue 14 stays one ``helm list``.

Owns: the schedule above, the per-revision manifest cache, parsing the manifest, the concurrency of the
reads, and recording each check's time in the release facts. A check that fails (the release vanished, the
API refused a read) leaves no findings, logs ``drift.check_failed`` and is retried next pass.
Must not: decide what drift means or does (``models.release_state``), or write to the cluster.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Collection, Mapping, MutableMapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from controller.errors import ExtctlError
from controller.helm import HelmClient
from controller.logs import get_logger
from controller.models.drift import ReleaseDrift, compare_object, due_for_check
from controller.models.observed import ObservedRelease
from controller.observe.releases import ReleaseFacts

DEFAULT_INTERVAL_S = 600.0
DEFAULT_BATCH = 100


class LiveReader(Protocol):
    """``controller.cluster.live.LiveObjects``: one object, None when it (or its kind) does not exist."""

    def read(self, api_version: str, kind: str, name: str, namespace: str | None) -> Mapping[str, Any] | None: ...

    def served(self, api_version: str, kind: str) -> Any: ...


@dataclass(frozen=True)
class DriftSchedule:
    interval_s: float = DEFAULT_INTERVAL_S  # 0: every pass
    batch: int | None = DEFAULT_BATCH  # releases checked per pass at most (None: no limit)


def parse_manifest(text: str) -> list[dict[str, Any]]:
    """The objects of ``helm get manifest`` (documents that are not objects with a kind and a name are skipped;
    a ``List`` contributes its items)."""
    objects: list[dict[str, Any]] = []
    for document in YAML(typ="safe", pure=True).load_all(io.StringIO(text)):  # pure: libyaml reads YAML 1.1
        if not isinstance(document, dict):
            continue
        if str(document.get("kind", "")).endswith("List") and isinstance(document.get("items"), list):
            objects.extend(item for item in document["items"] if isinstance(item, dict))
        else:
            objects.append(document)
    return [o for o in objects if o.get("kind") and isinstance(o.get("metadata"), dict) and o["metadata"].get("name")]


class DriftChecker:
    """Attaches a ``ReleaseDrift`` to each observed release checked this pass."""

    def __init__(self, helm: HelmClient, live: LiveReader, *, concurrency: int = 4,
                 schedule: DriftSchedule | None = None) -> None:
        self.helm = helm
        self.live = live
        self.concurrency = max(1, concurrency)
        self.schedule = schedule or DriftSchedule()
        self._manifests: dict[str, tuple[int, list[dict[str, Any]]]] = {}

    async def check(self, observed: list[ObservedRelease], candidates: Collection[tuple[str, str]],
                    facts: MutableMapping[str, ReleaseFacts], *, now: float, every: bool = False,
                    ) -> list[ObservedRelease]:
        """``observed`` with this pass's findings attached to the releases checked (``every``: all candidates,
        as ``preview --cluster`` does); their check time is recorded in ``facts``."""
        by_key = {f"{o.namespace}/{o.name}": o for o in observed if o.key in set(candidates)}
        if every:
            due = sorted(by_key)
        else:
            last = {key: (facts[key].drift_checked_at if key in facts else None) for key in by_key}
            due = due_for_check(last, now=now, interval_s=self.schedule.interval_s, limit=self.schedule.batch)
        if not due:
            return observed
        semaphore = asyncio.Semaphore(self.concurrency)

        async def one(key: str) -> tuple[str, ReleaseDrift | None]:
            async with semaphore:
                return key, await self._check_one(by_key[key])

        found = dict(await asyncio.gather(*(one(key) for key in due)))
        for key, drift in found.items():
            if drift is not None and key in facts and facts[key].revision == by_key[key].revision:
                facts[key] = replace(facts[key], drift_checked_at=now)
        self._manifests = {k: v for k, v in self._manifests.items() if k in by_key}
        return [replace(o, drift=found.get(f"{o.namespace}/{o.name}")) if f"{o.namespace}/{o.name}" in found else o
                for o in observed]

    async def _check_one(self, release: ObservedRelease) -> ReleaseDrift | None:
        key = f"{release.namespace}/{release.name}"
        try:
            cached = self._manifests.get(key)
            if cached is None or cached[0] != release.revision:
                text = await self.helm.get_manifest(release.name, release.namespace)
                cached = (release.revision, parse_manifest(text))
                self._manifests[key] = cached
            objects = cached[1]
            return await asyncio.to_thread(self._compare, objects, release.namespace)
        except (ExtctlError, YAMLError) as exc:
            get_logger().warning("drift.check_failed", release=release.name, namespace=release.namespace,
                                 error=str(exc), reason=getattr(exc, "reason", "ManifestUnreadable"),
                                 hint="the check is retried next pass; nothing is corrected meanwhile")
            return None

    def _compare(self, objects: list[dict[str, Any]], namespace: str) -> ReleaseDrift:
        found = []
        for desired in objects:
            meta = desired["metadata"]
            api_version, kind, name = str(desired.get("apiVersion", "")), str(desired["kind"]), str(meta["name"])
            served = self.live.served(api_version, kind)
            where = (meta.get("namespace") or namespace) if served is None or served.namespaced else None
            live = self.live.read(api_version, kind, name, where)
            drift = compare_object(desired, live, default_namespace=where)
            if drift is not None:
                found.append(drift)
        return ReleaseDrift(tuple(found))
