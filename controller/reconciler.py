"""The reconciler: the one place that sequences a pass and records its status.

A pass runs source → manifests → catalog → observed → resolution → desired → plan → apply → status.
Owns: that sequencing, bounded concurrency with ``dependsOn`` waits, the per-release metadata cache
(so a steady-state pass costs one ``helm list``), the per-action log lines and the canonical summary
line. Must not: parse YAML, talk to Git/helm/Kubernetes directly (it calls the edge modules), or
uninstall anything when the revision, the cluster or a dependency cannot be read.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import hmac
import random
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import structlog

from controller.catalog import ChartVersion, IndexCache, RepoCredentials, fetch_versions, repository_kind
from controller.catalog.local import local_repository_dir
from controller.cluster import KubeCluster
from controller.errors import (
    CatalogError,
    ClusterError,
    ExtctlError,
    HelmError,
    HelmNotFound,
    ManifestError,
    SecretNotReady,
    SourceError,
)
from controller.helm import ChartLocator, HelmClient, ReleaseRequest
from controller.logs import get_logger, register_secret
from controller.manifests import load_directory
from controller.models.desired import canonical_json
from controller.models.desired_state import DesiredState, ProtectedInput, build_desired_state, installed_versions
from controller.models.manifests import ChartRef, Extension, ManifestSet, Remediation
from controller.models.observed import ObservedRelease, observed_from_helm
from controller.models.plan import ActionKind, Hold, HoldKind, Plan, PlannedAction, guard_prune, plan
from controller.models.remediation import (
    BACKOFF_BASE_S,
    DEFAULT_PENDING_TIMEOUT_S,
    DEFAULT_RETRIES,
    ExtensionState,
    Gate,
    GateDecision,
    clear_pending,
    fingerprint,
    gate,
    mark_pending,
    pending_expired,
    record_failure,
    record_success,
)
from controller.models.status import ActionResult, Outcome, Summary, outcome_without_running, summarize
from controller.source import Snapshot, Source
from controller.urls import is_loopback_url, sanitize_url, split_userinfo

ALLOW_MASS_PRUNE_FILE = (".extctl", "allow-mass-prune")
_HELM_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\.(\d+))?\s*([+-]\d{4}|Z)?")
DIGEST_KEY_SECRET = "extctl-digest-key"  # noqa: S105 - a Secret name, not a secret


@dataclass(frozen=True)
class ReconcileSettings:
    concurrency: int = 4
    offline: bool = False
    system_namespace: str = "extctl-system"
    instance: str = "default"
    remediation_retries: int = DEFAULT_RETRIES
    backoff_base_s: float = BACKOFF_BASE_S
    pending_timeout_s: float = DEFAULT_PENDING_TIMEOUT_S
    max_prune: float = 0.5
    allow_mass_prune: bool = False
    lock_timeout_s: float | None = None  # a pending-* release older than this is stuck (default: helm timeout)
    reset: tuple[str, ...] = ()


@dataclass(frozen=True)
class PassResult:
    """What one pass did. ``outcome``: applied, planned, rejected, source-error or cluster-error."""

    reconcile_id: str
    revision: str | None
    outcome: str
    plan: Plan | None = None
    results: tuple[ActionResult, ...] = ()
    summary: Summary = field(default_factory=Summary)
    duration_ms: int = 0
    error: str | None = None
    manifest_errors: tuple[str, ...] = ()
    prune_refused: int = 0

    @property
    def ok(self) -> bool:
        """Nothing failed, nothing is pending, and the prune guard refused nothing (a refused revision
        leaves the cluster behind Git until a human decides: ``reconcile --once`` exits 1)."""
        return self.outcome in {"applied", "planned"} and self.summary.ok and not self.prune_refused


@dataclass
class _PassContext:
    snapshot: Snapshot
    manifests: ManifestSet
    versions: dict[str, list[ChartVersion]] = field(default_factory=dict)
    chart_versions: dict[tuple[str, str], list[ChartVersion]] = field(default_factory=dict)
    catalog_errors: dict[str, str] = field(default_factory=dict)
    states: dict[str, ExtensionState] = field(default_factory=dict)


def _ms(start: float) -> int:
    return int((time.monotonic() - start) * 1000)


class Reconciler:
    """Runs passes against one source and one cluster."""

    def __init__(
        self,
        source: Source,
        helm: HelmClient | None,
        cluster: KubeCluster | None,
        *,
        settings: ReconcileSettings | None = None,
        catalog_cache: IndexCache | None = None,
        repo_credentials: RepoCredentials | None = None,
    ) -> None:
        self.source = source
        self.helm = helm
        self.cluster = cluster
        self.settings = settings or ReconcileSettings()
        # ``is not None``: an empty IndexCache is falsy (it has ``__len__``).
        self.catalog_cache = catalog_cache if catalog_cache is not None else IndexCache(clock=time.monotonic)
        self.repo_credentials = repo_credentials
        self.last_good_revision: str | None = None
        self._metadata_cache: dict[tuple[str, str, int], dict[str, Any]] = {}
        self._digest_key: bytes | None = None
        self._inflight: set[tuple[str, str]] = set()
        self._parsed: tuple[str, ManifestSet] | None = None
        self._last_versions: dict[tuple[str, str], tuple[list[ChartVersion], float]] = {}
        self._calls_at_start = 0

    # ------------------------------------------------------------------ the pass
    async def run_pass(self, *, apply: bool = True) -> PassResult:
        reconcile_id = uuid.uuid4().hex[:12]
        self._calls_at_start = self._helm_calls_total()
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(reconcile_id=reconcile_id, revision=None)
        log = get_logger()
        started = time.monotonic()
        try:
            snapshot = await asyncio.to_thread(self.source.fetch)
        except SourceError as exc:
            return self._finish(log, PassResult(reconcile_id, None, "source-error", error=str(exc),
                                                duration_ms=_ms(started)), exc.reason)
        structlog.contextvars.bind_contextvars(revision=snapshot.revision)
        try:
            manifests = await self._manifests(snapshot)
        except ManifestError as exc:
            for issue in exc.issues:
                log.error("manifest.invalid", file=issue.location.file, line=issue.location.line,
                          column=issue.location.column, field=issue.field, error=issue.message)
            return self._finish(log, PassResult(
                reconcile_id, snapshot.revision, "rejected", duration_ms=_ms(started),
                error=f"revision rejected: {len(exc.issues)} manifest error(s); nothing applied, nothing uninstalled",
                manifest_errors=tuple(str(i) for i in exc.issues)), exc.reason)
        context = _PassContext(snapshot, manifests)
        await self._fetch_catalogs(context, log)
        applying = apply and not self.settings.offline
        try:
            observed = [] if self.settings.offline else await self.observe()
            if applying:
                observed = await self._unlock_stuck(observed, log)
            states = await self._load_states(log)
        except (HelmError, ClusterError) as exc:
            return self._finish(log, PassResult(reconcile_id, snapshot.revision, "cluster-error", error=str(exc),
                                                duration_ms=_ms(started)), exc.reason)
        context.states = dict(states)
        desired_state = await self._desire(context, observed, log)
        the_plan = plan(desired_state.releases, observed, desired_state.holds,
                        held_namespaces=desired_state.namespaces, instance=self.settings.instance)
        guard = guard_prune(
            the_plan, managed_count=sum(1 for o in observed if o.owned_by(self.settings.instance)),
            extensions_in_git=len(manifests.extensions), max_fraction=self.settings.max_prune,
            allowed=self.settings.allow_mass_prune or snapshot.root.joinpath(*ALLOW_MASS_PRUNE_FILE).exists())
        if guard.refused:
            log.error("prune.refused", reason=guard.reason,
                      would_uninstall=[f"{a.namespace}/{a.release}" for a in guard.refused])
        the_plan = guard.plan
        if applying:
            results = await self._apply(the_plan, context)
            outcome = "applied"
        else:
            results = [self._planned(a, context) for a in the_plan.actions]
            outcome = "planned"
        self._forget_stale_states(results, context)
        if applying and context.states != states:
            await self._save_states(context.states, log)
        result = PassResult(reconcile_id, snapshot.revision, outcome, plan=the_plan, results=tuple(results),
                            summary=summarize(results), duration_ms=_ms(started), prune_refused=len(guard.refused))
        if outcome == "applied":
            self.last_good_revision = snapshot.revision
        return self._finish(log, result, None)

    def _helm_calls_total(self) -> int:
        return self.helm.runner.calls if self.helm is not None else 0

    async def _manifests(self, snapshot: Snapshot) -> ManifestSet:
        """Parse the revision's manifests; an unchanged revision reuses the last parse (YAML is the
        slowest step of a steady-state pass: see bench/README.md)."""
        if self._parsed is not None and self._parsed[0] == snapshot.revision:
            return self._parsed[1]
        manifests = await asyncio.to_thread(load_directory, snapshot.root)
        self._parsed = (snapshot.revision, manifests)
        return manifests

    def _finish(self, log: Any, result: PassResult, reason: str | None) -> PassResult:
        fields: dict[str, Any] = {"outcome": result.outcome, **result.summary.as_dict(),
                                  "duration_ms": result.duration_ms,
                                  "helm_calls": self._helm_calls_total() - self._calls_at_start}
        if result.prune_refused:
            fields["prune_refused"] = result.prune_refused
        if result.error:
            fields["error"] = result.error
            fields["reason"] = reason
            fields["last_good_revision"] = self.last_good_revision
        method = log.info if result.ok else log.error
        method("reconcile.summary", **fields)
        return result

    # ------------------------------------------------------------------ catalog
    async def _fetch_catalogs(self, context: _PassContext, log: Any) -> None:
        needed = {context.manifests.type_of(e).name for e in context.manifests.extensions.values()
                  if not e.spec.suspend}
        for type_name in sorted(needed):
            chart = context.manifests.types[type_name].chart
            try:
                versions = await asyncio.to_thread(
                    fetch_versions, chart.repository, chart.name, repo_root=context.snapshot.repo_root,
                    credentials=self.repo_credentials, cache=self.catalog_cache)
                context.versions[type_name] = versions
                context.chart_versions[(chart.repository, chart.name)] = versions
            except CatalogError as exc:
                cached = self._last_versions.get((chart.repository, chart.name))
                if cached is not None:
                    context.versions[type_name] = cached[0]
                    context.chart_versions[(chart.repository, chart.name)] = cached[0]
                    log.warning("catalog.stale", extension_type=type_name, repository=sanitize_url(chart.repository),
                                age_s=round(time.monotonic() - cached[1]), error=str(exc), reason=exc.reason)
                    continue
                context.catalog_errors[type_name] = str(exc)
                log.warning("catalog.unavailable", extension_type=type_name,
                            repository=sanitize_url(chart.repository), error=str(exc), reason=exc.reason)
                continue
            self._last_versions[(chart.repository, chart.name)] = (versions, time.monotonic())

    # ------------------------------------------------------------------ observed
    async def observe(self) -> list[ObservedRelease]:
        assert self.helm is not None  # noqa: S101 - only offline passes run without helm
        listing = await self.helm.list_releases()
        semaphore = asyncio.Semaphore(self.settings.concurrency)
        live_keys: set[tuple[str, str, int]] = set()

        async def one(row: Mapping[str, Any]) -> ObservedRelease:
            key = (str(row["namespace"]), str(row["name"]), int(row.get("revision", 0)))
            live_keys.add(key)
            if key not in self._metadata_cache:
                assert self.helm is not None  # noqa: S101 - checked above
                async with semaphore:
                    self._metadata_cache[key] = await self.helm.get_metadata(key[1], key[0])
            return observed_from_helm(row, self._metadata_cache[key])

        observed = await asyncio.gather(*(one(row) for row in listing))
        for stale in set(self._metadata_cache) - live_keys:
            del self._metadata_cache[stale]
        return list(observed)

    # ------------------------------------------------------------------ desired
    async def _desire(self, context: _PassContext, observed: Sequence[ObservedRelease], log: Any) -> DesiredState:
        manifests = context.manifests
        protected: dict[str, ProtectedInput] = {}
        for name, extension in manifests.extensions.items():
            if extension.spec.configuration_protected_settings and not extension.spec.suspend:
                protected[name] = await self._protected_input(extension, manifests.namespace_of(extension) or "default")
        state = build_desired_state(
            manifests,
            versions={name: [v.version for v in found] for name, found in context.versions.items()},
            catalog_errors=context.catalog_errors,
            installed=installed_versions(manifests, observed, self.settings.instance),
            protected=protected,
        )
        for notice in state.notices:
            log.info(f"extension.{notice.kind}", extension=notice.extension, message=notice.message)
        return state

    async def _protected_input(self, extension: Extension, namespace: str) -> ProtectedInput:
        try:
            values = await self._protected_values(extension, namespace)
        except SecretNotReady as exc:
            return ProtectedInput(hold=Hold(HoldKind.PENDING, f"pending: {exc}"))
        except ClusterError as exc:
            return ProtectedInput(hold=Hold(HoldKind.ERROR, f"cannot read protected settings: {exc}"))
        return ProtectedInput(values=values, hmac=self._protected_hmac(values))

    async def _protected_values(self, extension: Extension, namespace: str) -> dict[str, Any]:
        refs = extension.spec.configuration_protected_settings
        if self.settings.offline or self.cluster is None:
            # Offline plans never read Secrets: the paths are known, the values are not.
            return {ref.target_path or ref.key or ref.secret_name: "***" for ref in refs}
        values: dict[str, Any] = {}
        cluster = self.cluster
        for ref in refs:
            secret_namespace = ref.namespace or namespace
            try:
                data = await asyncio.to_thread(cluster.read_secret_data, secret_namespace, ref.secret_name)
            except SecretNotReady as exc:
                # Name the key too: the user has to create the Secret *with* it.
                needed = f"key {ref.key!r}" if ref.key is not None else "all of its keys"
                raise SecretNotReady(
                    f"Secret {secret_namespace}/{ref.secret_name} not found (needed for {needed})",
                    hint=f"create it: kubectl create secret generic {ref.secret_name} -n {secret_namespace} "
                         f"--from-literal={ref.key or 'KEY'}=VALUE") from exc
            if ref.key is not None:
                if ref.key not in data:
                    raise SecretNotReady(
                        f"key {ref.key!r} not found in Secret {secret_namespace}/{ref.secret_name}",
                        hint=f"add the key {ref.key!r} to Secret {secret_namespace}/{ref.secret_name}")
                items = {ref.target_path or ref.key: data[ref.key]}
            else:
                prefix = f"{ref.target_path}." if ref.target_path else ""
                items = {f"{prefix}{key}": value for key, value in data.items()}
            for path, value in items.items():
                register_secret(value)
                values[path] = value
        return values

    def _protected_hmac(self, protected: Mapping[str, Any]) -> str:
        if self._digest_key is None:
            self._digest_key = self._load_digest_key()
        return hmac.new(self._digest_key, canonical_json(dict(protected)).encode(), hashlib.sha256).hexdigest()

    def _load_digest_key(self) -> bytes:
        if self.cluster is None or self.settings.offline:
            return b"extctl-offline"
        return self.cluster.digest_key(self.settings.system_namespace, DIGEST_KEY_SECRET)

    # ------------------------------------------------------------------ apply
    # ------------------------------------------------------------------ bookkeeping
    def _state_name(self) -> str:
        return f"extctl-state-{self.settings.instance}"

    async def _load_states(self, log: Any) -> dict[str, ExtensionState]:
        if self.cluster is None or self.settings.offline:
            return {}
        raw = await asyncio.to_thread(self.cluster.read_state, self.settings.system_namespace, self._state_name())
        states = {name: ExtensionState.from_json(data) for name, data in raw.items() if isinstance(data, dict)}
        for name in self.settings.reset:
            if states.pop(name, None) is not None:
                log.info("remediation.reset", extension=name, reason="failure count cleared by --reset")
        return states

    async def _save_states(self, states: Mapping[str, ExtensionState], log: Any) -> None:
        if self.cluster is None:
            return
        data = {name: state.to_json() for name, state in sorted(states.items()) if not state.empty}
        try:
            await asyncio.to_thread(self.cluster.write_state, self.settings.system_namespace, self._state_name(), data)
        except ClusterError as exc:
            log.warning("state.write_failed", error=str(exc), reason=exc.reason)

    def _retries(self, context: _PassContext, extension: str) -> int:
        found = context.manifests.extensions.get(extension)
        configured = found.spec.remediation.retries if found is not None else None
        return self.settings.remediation_retries if configured is None else configured

    def _gate(self, action: PlannedAction, context: _PassContext) -> GateDecision:
        if action.kind not in {ActionKind.INSTALL, ActionKind.UPGRADE} or action.desired is None:
            return GateDecision(Gate.RUN)
        state = context.states.get(action.extension, ExtensionState())
        return gate(state, fingerprint(action.desired), time.time(), self._retries(context, action.extension))

    def _record(self, result: ActionResult, context: _PassContext) -> None:
        action = result.action
        if action.kind not in {ActionKind.INSTALL, ActionKind.UPGRADE} or action.desired is None:
            return
        state = context.states.get(action.extension, ExtensionState())
        if result.outcome is Outcome.SUCCEEDED:
            state = record_success(state)
        elif result.outcome is Outcome.FAILED and result.error is not None:
            state = record_failure(state, fingerprint(action.desired), result.error, time.time(),
                                   jitter=random.uniform(-1.0, 1.0),  # noqa: S311 - backoff jitter, not crypto
                                   base_s=self.settings.backoff_base_s)
        context.states[action.extension] = state

    def _pending(self, action: PlannedAction, context: _PassContext) -> ActionResult:
        """A pending extension (its protected-settings Secret is missing) turns Failed after the timeout."""
        now = time.time()
        state = mark_pending(context.states.get(action.extension, ExtensionState()), now)
        context.states[action.extension] = state
        if pending_expired(state, now, self.settings.pending_timeout_s):
            hours = self.settings.pending_timeout_s / 3600
            return ActionResult(action, Outcome.FAILED, error=f"pending for more than {hours:g}h: {action.reason}",
                                error_reason="PendingTimeout")
        return ActionResult(action, Outcome.PENDING)

    def _forget_stale_states(self, results: Sequence[ActionResult], context: _PassContext) -> None:
        """Clear pending timers of extensions no longer pending, and drop extensions gone from Git."""
        for result in results:
            name = result.action.extension
            if result.outcome is not Outcome.PENDING and result.action.hold is not HoldKind.PENDING \
                    and name in context.states:
                context.states[name] = clear_pending(context.states[name])
        for name in [n for n, st in context.states.items() if n not in context.manifests.extensions or st.empty]:
            del context.states[name]

    # ------------------------------------------------------------------ stuck releases
    async def _unlock_stuck(self, observed: list[ObservedRelease], log: Any) -> list[ObservedRelease]:
        """Recover releases left in pending-*/uninstalling by a helm process that died (helm#4558).

        A lock is stale when no helm process of this controller works on the release and it is older
        than the action timeout; a younger one is left alone (another operation may be running)."""
        assert self.helm is not None  # noqa: S101 - only called when applying
        threshold = self.settings.lock_timeout_s if self.settings.lock_timeout_s is not None \
            else self.helm.settings.timeout_s
        now = time.time()
        recovered = False
        for release in observed:
            if not (release.locked and release.owned_by(self.settings.instance)) or release.key in self._inflight:
                continue
            updated = parse_helm_time(release.updated)
            age = now - updated if updated is not None else None
            if age is None or age < threshold:
                continue
            structlog.contextvars.bind_contextvars(extension=release.extension)
            try:
                recovery = await self._recover(release)
            except ExtctlError as exc:
                log.error("release.unlock_failed", namespace=release.namespace, release=release.name,
                          status=release.status, error=str(exc), reason=exc.reason)
                continue
            log.warning("release.unlocked", namespace=release.namespace, release=release.name,
                        status=release.status, age_s=round(age), recovery=recovery)
            recovered = True
        structlog.contextvars.unbind_contextvars("extension")
        return await self.observe() if recovered else observed

    async def _recover(self, release: ObservedRelease) -> str:
        assert self.helm is not None  # noqa: S101 - only called when applying
        if release.status in {"pending-install", "uninstalling"}:
            await self.helm.uninstall(release.name, release.namespace)
            return "uninstalled; the next action installs it again"
        history = await self.helm.history(release.name, release.namespace)
        deployed = [int(h["revision"]) for h in history
                    if h.get("status") in {"deployed", "superseded"} and int(h["revision"]) < release.revision]
        if not deployed:
            await self.helm.uninstall(release.name, release.namespace)
            return "no deployed revision to return to; uninstalled, the next action installs it again"
        target = max(deployed)
        await self.helm.rollback(release.name, release.namespace, target)
        return f"rolled back to revision {target}; the next action upgrades it again"

    # ------------------------------------------------------------------ apply
    def _planned(self, action: PlannedAction, context: _PassContext) -> ActionResult:
        if action.hold is HoldKind.PENDING:
            return self._pending(action, context)
        decision = self._gate(action, context)
        if decision.gate is Gate.EXHAUSTED:
            return ActionResult(action, Outcome.FAILED, error=decision.reason, error_reason="RetriesExhausted")
        outcome = outcome_without_running(action)
        return ActionResult(action, outcome if outcome is not None else Outcome.PLANNED, note=decision.reason or None)

    async def _apply(self, the_plan: Plan, context: _PassContext) -> list[ActionResult]:
        semaphore = asyncio.Semaphore(self.settings.concurrency)
        futures: dict[str, asyncio.Future[ActionResult]] = {
            a.key: asyncio.get_running_loop().create_future() for a in the_plan.actions
        }
        results: list[ActionResult] = []

        async def run(action: PlannedAction) -> None:
            dependencies = [await futures[key] for key in action.waits_for if key in futures]
            blocked = [d for d in dependencies if not _satisfies_dependency(d)]
            structlog.contextvars.bind_contextvars(extension=action.extension)
            decision = self._gate(action, context)
            if blocked and action.changes_cluster:
                names = ", ".join(f"{d.action.extension} ({d.outcome.value})" for d in blocked)
                result = ActionResult(action, Outcome.SKIPPED, note=f"waiting for dependencies: {names}")
            elif action.hold is HoldKind.PENDING:
                result = self._pending(action, context)
            elif (outcome := outcome_without_running(action)) is not None:
                result = ActionResult(action, outcome, error=action.reason if outcome is Outcome.FAILED else None)
            elif decision.gate is Gate.EXHAUSTED:
                result = ActionResult(action, Outcome.FAILED, error=decision.reason, error_reason="RetriesExhausted")
            elif decision.gate is Gate.BACKOFF:
                result = ActionResult(action, Outcome.SKIPPED, note=decision.reason)
            else:
                async with semaphore:
                    result = await self._run_action(action, context)
                if decision.reason:
                    result = replace(result, note="; ".join(filter(None, (decision.reason, result.note))))
                self._record(result, context)
            self._log_action(result)
            results.append(result)
            futures[action.key].set_result(result)

        await asyncio.gather(*(run(a) for a in the_plan.actions))
        return results

    async def _run_action(self, action: PlannedAction, context: _PassContext) -> ActionResult:
        assert self.helm is not None  # noqa: S101 - apply never runs offline
        started = time.monotonic()
        key = (action.namespace, action.release)
        self._inflight.add(key)
        try:
            if action.kind is ActionKind.UNINSTALL:
                await self.helm.uninstall(action.release, action.namespace)
            else:
                await self._install_or_upgrade(action, context)
        except ExtctlError as exc:
            note = await self._remediate(action, exc, context)
            return ActionResult(action, Outcome.FAILED, _ms(started), error=str(exc), error_reason=exc.reason,
                                note=note)
        finally:
            self._inflight.discard(key)
        return ActionResult(action, Outcome.SUCCEEDED, _ms(started))

    async def _install_or_upgrade(self, action: PlannedAction, context: _PassContext) -> None:
        assert self.helm is not None and action.desired is not None  # noqa: S101 - planner guarantees it
        desired = action.desired
        request = ReleaseRequest(
            name=desired.release_name, namespace=desired.namespace,
            chart=chart_locator(
                desired.chart, desired.version, repo_root=context.snapshot.repo_root,
                chart_versions=context.chart_versions.get((desired.chart.repository, desired.chart.name), ()),
                credentials=self.repo_credentials),
            values=desired.values, labels=desired.labels(context.snapshot.revision, self.settings.instance))
        if action.kind is ActionKind.UPGRADE and action.observed is not None and action.observed.status == "failed":
            history = await self.helm.history(desired.release_name, desired.namespace)
            if not any(h.get("status") in {"deployed", "superseded"} for h in history):
                # A failed first install has nothing to upgrade from: start clean.
                await self.helm.uninstall(desired.release_name, desired.namespace)
                action = replace(action, kind=ActionKind.INSTALL)
        if action.kind is ActionKind.INSTALL:
            if self.cluster is not None:
                await asyncio.to_thread(self.cluster.ensure_namespace, desired.namespace)
            await self.helm.install(request)
        else:
            await self.helm.upgrade(request)

    async def _remediate(self, action: PlannedAction, error: ExtctlError, context: _PassContext) -> str | None:
        """Leave the release in a state the next attempt can start from (Flux-style remediation)."""
        assert self.helm is not None  # noqa: S101 - apply never runs offline
        log = get_logger(extension=action.extension)
        extension = context.manifests.extensions.get(action.extension)
        policy = extension.spec.remediation if extension is not None else Remediation()
        try:
            if action.kind is ActionKind.INSTALL and policy.install_strategy == "uninstall":
                await self.helm.uninstall(action.release, action.namespace)
                log.warning("remediation.uninstalled", strategy="uninstall",
                            reason="install failed; removed so the next attempt starts clean", error=str(error))
                return "remediation: failed install uninstalled"
            if (action.kind is ActionKind.UPGRADE and policy.upgrade_strategy == "rollback"
                    and action.observed is not None and action.observed.status == "deployed"):
                history = await self.helm.history(action.release, action.namespace)
                if max((int(h["revision"]) for h in history), default=0) <= action.observed.revision:
                    # The upgrade failed before helm recorded a revision (e.g. the chart could not be
                    # downloaded): the deployed release is untouched, and a rollback would only churn it.
                    log.info("remediation.nothing_to_do", to_revision=action.observed.revision,
                             reason="the failed upgrade did not change the release; nothing to roll back")
                    return None
                await self.helm.rollback(action.release, action.namespace, action.observed.revision)
                log.warning("remediation.rolled_back", strategy="rollback", to_revision=action.observed.revision,
                            reason="upgrade failed; rolled back to the last deployed revision", error=str(error))
                return f"remediation: rolled back to revision {action.observed.revision}"
        except HelmNotFound:
            log.info("remediation.nothing_to_do", reason="the failed action left no release behind")
        except ExtctlError as exc:
            log.error("remediation.failed", error=str(exc), reason=exc.reason)
        return None

    def _log_action(self, result: ActionResult) -> None:
        action = result.action
        fields: dict[str, Any] = {
            "extension": action.extension, "action": action.kind.value, "namespace": action.namespace,
            "from_version": action.from_version, "to_version": action.to_version,
            "outcome": result.outcome.value, "duration_ms": result.duration_ms,
            "reason": "; ".join(action.reasons + ((result.note,) if result.note else ())),
        }
        if result.error:
            fields["error"] = result.error
            fields["error_reason"] = result.error_reason
        log = get_logger()
        if result.outcome is Outcome.FAILED:
            log.error("extension.action", **fields)
        else:
            log.info("extension.action", **fields)


def _satisfies_dependency(result: ActionResult) -> bool:
    if result.outcome in {Outcome.SUCCEEDED, Outcome.UNCHANGED}:
        return True
    return result.outcome is Outcome.SKIPPED and result.action.hold is HoldKind.SUSPENDED \
        and result.action.observed is not None


def chart_locator(chart: ChartRef, version: str, *, repo_root: Path, chart_versions: Sequence[ChartVersion] = (),
                  credentials: RepoCredentials | None = None) -> ChartLocator:
    """How helm fetches ``chart`` at ``version``: a local ``.tgz``, an ``oci://`` ref, or name + ``--repo``."""
    kind = repository_kind(chart.repository)
    if kind == "local":
        directory = local_repository_dir(repo_root, chart.repository)
        match = next((v for v in chart_versions if v.version == version and v.urls), None)
        filename = match.urls[0] if match else f"{chart.name}-{version}.tgz"
        return ChartLocator(ref=str(directory / filename), version=version)
    username = credentials.username if credentials is not None else None
    password = (credentials.password or credentials.token) if credentials is not None else None
    if kind == "oci":
        base, _user, _password = split_userinfo(chart.repository.rstrip("/"))
        return ChartLocator(ref=f"{base}/{chart.name}", version=version, plain_http=is_loopback_url(base),
                            username=username, password=password)
    base, user, url_password = split_userinfo(chart.repository)
    listed = next((v for v in chart_versions if v.version == version), None)
    return ChartLocator(ref=chart.name, version=version, repo_url=base,
                        username=user or username, password=url_password or password,
                        digest=listed.digest if listed is not None else None)


def parse_helm_time(text: str | None) -> float | None:
    """``2026-11-24 01:38:02.213926339 +0000 UTC`` (helm list) → epoch seconds; None if unparseable."""
    match = _HELM_TIME.match(text or "")
    if not match:
        return None
    date, clock, fraction, offset = match.groups()
    stamp = f"{date}T{clock}.{(fraction or '0')[:6].ljust(6, '0')}{'+0000' if offset in (None, 'Z') else offset}"
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
