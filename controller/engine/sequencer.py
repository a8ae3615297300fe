"""The pass sequencer: runs source → manifests → catalog → state + observed → desired → plan → apply →
status, in that order, and never raises.

Owns: the order of the phases, turning every failure of a phase into a pass outcome with a typed
reason (``source-error``, ``rejected``, ``cluster-error``, ``internal-error``) so ``extctl run`` goes on,
the remembered state's round trip, the canonical summary line, and the stop signal of a replica that lost
its leadership (``halt``: no new helm action starts, running ones finish, no state or status is
written, until ``resume``). Must not: decide an action (the
pure ``models.plan``/``models.release_state`` do), talk to helm, Git or Kubernetes itself (its parts
do), or uninstall anything when the revision, the cluster or a dependency cannot be read.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import structlog

from controller.apply import chart_locator, run_plan
from controller.catalog import ChartVersion
from controller.engine.fleet import UnknownCluster
from controller.engine.parts import EngineParts, PassResult, ReconcileSettings
from controller.errors import ClusterError, ExtctlError, HelmError, ManifestError, SourceError
from controller.helm import ReleaseRequest
from controller.logs import get_logger
from controller.models.desired_state import DesiredState, ProtectedInput, build_desired_state, installed_versions
from controller.models.fleet import explain_unplaced
from controller.models.manifests import ManifestSet, Remediation
from controller.models.plan import Plan, PlannedAction, Policy, guard_prune, plan
from controller.models.release_state import drift_candidates
from controller.models.remediation import ExtensionState
from controller.models.remember import next_states
from controller.models.status import ActionResult, Outcome, result_without_running, summarize
from controller.source import Snapshot, Source
from controller.state import Remembered
from controller.status import log_action, log_manifest_errors, log_notices, log_summary
from controller.urls import sanitize_url

ALLOW_MASS_PRUNE_FILE = (".extctl", "allow-mass-prune")
MAX_FOLLOW_UP_PASSES = 3


@dataclass
class _Pass:
    snapshot: Snapshot
    manifests: ManifestSet
    remembered: Remembered = field(default_factory=Remembered)
    versions: dict[str, list[ChartVersion]] = field(default_factory=dict)
    chart_versions: dict[tuple[str, str], list[ChartVersion]] = field(default_factory=dict)
    catalog_errors: dict[str, str] = field(default_factory=dict)


class _Stop(Exception):
    def __init__(self, outcome: str, error: ExtctlError, revision: str | None, **extra: Any) -> None:
        super().__init__(str(error))
        self.outcome, self.error, self.revision, self.extra = outcome, error, revision, extra


class Engine:
    """Runs passes against one source and one cluster."""

    def __init__(self, parts: EngineParts, settings: ReconcileSettings | None = None, *,
                 clock: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic,
                 jitter: Callable[[], float] = lambda: random.uniform(-1.0, 1.0)) -> None:  # noqa: S311 - jitter
        self.parts = parts
        self.settings = settings or ReconcileSettings()
        self.clock, self.monotonic, self.jitter = clock, monotonic, jitter
        self.last_good_revision: str | None = None
        self._parsed: tuple[str, ManifestSet] | None = None
        self._halted: str | None = None  # why no new helm action may start (this replica lost its leadership)

    def halt(self, reason: str) -> None:
        """Start no new helm action (running ones finish), write no state and no status, until ``resume``.
        For a replica that lost its leadership mid-pass (``controller/leader``); safe from any thread."""
        self._halted = reason

    def resume(self) -> None:
        self._halted = None

    @property
    def source(self) -> Source:
        return self.parts.source

    @property
    def applying(self) -> bool:
        return self.parts.executor is not None and not self.settings.offline

    # ------------------------------------------------------------------ the pass
    async def run_pass(self) -> PassResult:
        """One pass; applies when the engine has an executor, else plans. Never raises (but CancelledError)."""
        reconcile_id = uuid.uuid4().hex[:12]
        calls_at_start = self.parts.helm_calls()
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(reconcile_id=reconcile_id, revision=None)
        started = self.monotonic()
        try:
            result = await self._sequence(reconcile_id)
        except _Stop as stop:
            result = PassResult(reconcile_id, stop.revision, stop.outcome, error=str(stop.error),
                                reason=stop.error.reason, **stop.extra)
        except Exception as exc:  # noqa: BLE001 - the controller never dies: an internal bug is a pass outcome
            result = PassResult(reconcile_id, None, "internal-error", error=f"{type(exc).__name__}: {exc}",
                                reason="InternalError", notes=(_where(exc),))
        result = replace(result, duration_ms=int((self.monotonic() - started) * 1000))
        await self._finish(result, self.parts.helm_calls() - calls_at_start)
        if self._halted is None:  # a deposed leader leaves the Extension objects to the new one
            await self.parts.status.publish(result)
        return result

    async def run_until_settled(self) -> list[PassResult]:
        """``reconcile --once``: a pass, plus follow-up passes while one unlocked a release (at most 3)."""
        results = [await self.run_pass()]
        while results[-1].follow_up and len(results) < MAX_FOLLOW_UP_PASSES:
            results.append(await self.run_pass())
        return results

    async def observe_cluster(self) -> tuple[list[Any], dict[str, Any]]:
        """The live releases and the remembered extension states (for ``preview --cluster``)."""
        remembered = await self.parts.store.load()
        self.parts.observer.remember(remembered.releases)
        observed = await self.parts.observer.observe()
        owned = [o.key for o in observed if o.owned_by(self.settings.instance) and o.status == "deployed"]
        return await self._check_drift(observed, owned, every=True), dict(remembered.extensions)

    async def _check_drift(self, observed: list[Any], candidates: list[tuple[str, str]], *,
                           every: bool = False) -> list[Any]:
        """``observed`` with the findings of this pass's drift checks (``observe/drift.py`` picks the due ones)."""
        if self.parts.drift is None or not candidates:
            return observed
        return await self.parts.drift.check(observed, candidates, self.parts.observer.facts, now=self.clock(),
                                            every=every)

    async def _sequence(self, reconcile_id: str) -> PassResult:
        # ``helm list`` needs nothing from the revision: start it first so the helm process runs while this
        # one fetches and parses (bench/README.md, fresh pass). A pass that stops earlier cancels it.
        listing = asyncio.create_task(self.parts.observer.listing())
        try:
            return await self._sequence_with(reconcile_id, listing)
        finally:
            if not listing.done():
                listing.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listing

    async def _sequence_with(self, reconcile_id: str, listing: asyncio.Task[list[dict[str, Any]]]) -> PassResult:
        try:
            snapshot = await asyncio.to_thread(self.source.fetch)
        except SourceError as exc:
            raise _Stop("source-error", exc, None) from exc
        structlog.contextvars.bind_contextvars(revision=snapshot.revision)
        try:
            manifests = await self._manifests(snapshot)
        except ManifestError as exc:
            log_manifest_errors(exc.issues)
            rejected = ExtctlError(f"revision rejected: {len(exc.issues)} manifest error(s); nothing applied, "
                                   "nothing uninstalled", reason=exc.reason)
            raise _Stop("rejected", rejected, snapshot.revision,
                        manifest_errors=tuple(str(i) for i in exc.issues)) from exc
        try:  # the revision as this cluster sees it: placed extensions only, its overrides merged
            view = await self.parts.scope.view_of(manifests, snapshot.revision)
        except ClusterError as exc:
            raise _Stop("cluster-error", exc, snapshot.revision) from exc
        except UnknownCluster as exc:
            raise _Stop("rejected", exc, snapshot.revision) from exc
        manifests = view.manifests
        current = _Pass(snapshot, manifests)
        await self._fetch_catalogs(current)
        try:
            current.remembered = await self.parts.store.load()
            self.last_good_revision = current.remembered.last_good_revision or self.last_good_revision
            self.parts.observer.remember(current.remembered.releases)
            observed = await self.parts.observer.observe(await listing)
        except (HelmError, ClusterError) as exc:
            raise _Stop("cluster-error", exc, snapshot.revision) from exc
        desired = await self._desire(current, observed)
        policy = Policy(instance=self.settings.instance, retries=self.settings.remediation_retries,
                        lock_timeout_s=self.settings.lock_timeout_s, pending_timeout_s=self.settings.pending_timeout_s,
                        drift_mode=self.settings.drift_mode, take_ownership=self.settings.take_ownership)
        observed = await self._check_drift(observed, drift_candidates(desired.releases, observed, policy))
        now = self.clock()
        in_flight = frozenset(self.parts.executor.in_flight) if self.parts.executor is not None else frozenset()
        the_plan = plan(desired.releases, observed, desired.holds, held_namespaces=desired.namespaces, policy=policy,
                        remembered=current.remembered.extensions, now=now, in_flight=in_flight,
                        retries={name: e.spec.remediation.retries for name, e in manifests.extensions.items()})
        the_plan = explain_unplaced(the_plan, view)
        guard = guard_prune(
            the_plan, managed_count=sum(1 for o in observed if o.owned_by(self.settings.instance)),
            extensions_in_git=len(manifests.extensions), max_fraction=self.settings.max_prune,
            allowed=self.settings.allow_mass_prune or snapshot.root.joinpath(*ALLOW_MASS_PRUNE_FILE).exists())
        if guard.refused:
            get_logger().error("prune.refused", reason=guard.reason,
                               would_uninstall=[f"{a.namespace}/{a.release}" for a in guard.refused])
        the_plan = guard.plan
        notes = ("protected values will be digested on first apply (no digest key yet)",) \
            if self.parts.protected.key_missing else ()
        if self.applying:
            results = await self._apply(the_plan, current)
        else:
            results = [result_without_running(a) or ActionResult(a, Outcome.PLANNED) for a in the_plan.actions]
        outcome = "applied" if self.applying else "planned"
        remembered: Mapping[str, ExtensionState] = current.remembered.extensions
        if self.applying:
            self.last_good_revision = snapshot.revision
            remembered = next_states(current.remembered.extensions, results, now=self.clock(),
                                     in_git=manifests.extensions, jitter=self.jitter(),
                                     backoff_base_s=self.settings.backoff_base_s)
            if self._halted is None:  # a deposed leader must not overwrite the new leader's state
                await self.parts.store.save(Remembered(remembered, dict(self.parts.observer.facts),
                                                       snapshot.revision))
        return PassResult(reconcile_id, snapshot.revision, outcome, plan=the_plan, results=tuple(results),
                          summary=summarize(results), prune_refused=len(guard.refused),
                          prune_reason=guard.reason, notes=notes,
                          manifests=manifests, remembered=remembered,
                          cluster_annotations=self.parts.scope.annotations())

    async def _manifests(self, snapshot: Snapshot) -> ManifestSet:
        """Parse the revision's manifests; an unchanged revision reuses the last parse, and a fresh process
        the parse cache's (YAML is the slowest step of a steady-state pass: see bench/README.md)."""
        if self._parsed is not None and self._parsed[0] == snapshot.revision:
            return self._parsed[1]
        manifests = await asyncio.to_thread(self.parts.parse_cache.load, snapshot.root)
        get_logger().debug("manifests.loaded", **self.parts.parse_cache.last)  # P7: files parsed per revision
        self._parsed = (snapshot.revision, manifests)
        return manifests

    async def _finish(self, result: PassResult, helm_calls: int) -> None:
        extra: dict[str, Any] = self.parts.scope.summary_fields()
        if result.prune_refused:
            extra["prune_refused"] = result.prune_refused
        if result.notes and result.outcome != "internal-error":
            extra["notes"] = list(result.notes)
        if result.error:
            if self.last_good_revision is None and result.outcome in {"rejected", "source-error"}:
                await self._recall_last_good()
            extra.update(error=result.error, reason=result.reason, last_good_revision=self.last_good_revision)
        if result.outcome == "internal-error":
            extra["at"] = result.notes[0] if result.notes else None
            extra["hint"] = "this is a bug in extctl; the controller goes on with the next pass. Please report it"
        log_summary(outcome=result.outcome, ok=result.ok, summary=result.summary, duration_ms=result.duration_ms,
                    helm_calls=helm_calls, extra=extra)

    async def _recall_last_good(self) -> None:
        """A fresh process whose first revision is rejected still names the last good one (state store)."""
        try:
            self.last_good_revision = (await self.parts.store.load()).last_good_revision
        except ExtctlError:
            return

    # ------------------------------------------------------------------ catalog and desired
    async def _fetch_catalogs(self, current: _Pass) -> None:
        needed = {current.manifests.type_of(e).name for e in current.manifests.extensions.values()
                  if not e.spec.suspend}
        log = get_logger()
        for type_name in sorted(needed):
            chart = current.manifests.types[type_name].chart
            found = await asyncio.to_thread(self.parts.catalog.lookup, chart.repository, chart.name,
                                            repo_root=current.snapshot.repo_root,
                                            manifest_root=current.snapshot.root)
            repository = sanitize_url(chart.repository)
            if found.error is not None and found.stale_age_s is not None:
                log.warning("catalog.stale", extension_type=type_name, repository=repository,
                            age_s=round(found.stale_age_s), error=str(found.error), reason=found.error.reason)
            elif found.error is not None:
                current.catalog_errors[type_name] = str(found.error)
                log.warning("catalog.unavailable", extension_type=type_name, repository=repository,
                            error=str(found.error), reason=found.error.reason)
                continue
            current.versions[type_name] = list(found.versions)
            current.chart_versions[(chart.repository, chart.name)] = list(found.versions)

    async def _desire(self, current: _Pass, observed: list[Any]) -> DesiredState:
        manifests = current.manifests
        protected: dict[str, ProtectedInput] = {}
        for name, extension in manifests.extensions.items():
            if extension.spec.configuration_protected_settings and not extension.spec.suspend:
                protected[name] = await self.parts.protected.read(
                    extension, manifests.namespace_of(extension) or "default")
        state = build_desired_state(
            manifests,
            versions={name: [v.version for v in found] for name, found in current.versions.items()},
            catalog_errors=current.catalog_errors,
            installed=installed_versions(manifests, observed, self.settings.instance),
            protected=protected,
        )
        log_notices(state.notices)
        return state

    # ------------------------------------------------------------------ apply
    async def _apply(self, the_plan: Plan, current: _Pass) -> list[ActionResult]:
        executor = self.parts.executor
        assert executor is not None  # noqa: S101 - only called when applying

        async def execute(action: PlannedAction) -> ActionResult:
            structlog.contextvars.bind_contextvars(extension=action.extension)
            extension = current.manifests.extensions.get(action.extension)
            policy = extension.spec.remediation if extension is not None and not action.removal else Remediation()
            if self._halted is not None:  # checked as the action would start: running ones are left to finish
                return ActionResult(action, Outcome.SKIPPED, note=f"not started: {self._halted}")
            result = await executor.execute(action, self._request(action, current), policy)
            if result.applied is not None:  # the next pass needs no `helm get metadata` for what this one made
                self.parts.observer.record(action.namespace, action.release, result.applied)
            return result

        return await run_plan(the_plan, execute, concurrency=self.settings.concurrency, on_result=log_action)

    def _request(self, action: PlannedAction, current: _Pass) -> Callable[[], ReleaseRequest] | None:
        desired = action.desired
        if desired is None:
            return None

        def build() -> ReleaseRequest:
            assert desired is not None  # noqa: S101 - checked above
            chart = chart_locator(
                desired.chart, desired.version, repo_root=current.snapshot.repo_root,
                manifest_root=current.snapshot.root,
                chart_versions=current.chart_versions.get((desired.chart.repository, desired.chart.name), ()))
            return ReleaseRequest(name=desired.release_name, namespace=desired.namespace, chart=chart,
                                  values=desired.values,
                                  labels=desired.labels(current.snapshot.revision, self.settings.instance))
        return build


def _where(exc: BaseException) -> str:
    """``file.py:123 in function`` of the innermost frame: enough to report a bug, no traceback."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "unknown"
    last = frames[-1]
    return f"{Path(last.filename).name}:{last.lineno} in {last.name}"
