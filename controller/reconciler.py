"""The reconciler: the one place that sequences a pass and records its status.

A pass runs source → manifests → catalog → observed → resolution → desired → plan → apply → status.
Owns: that sequencing, bounded concurrency with ``dependsOn`` waits, the per-release metadata cache
(so a steady-state pass costs one ``helm list``), the per-action log lines and the canonical summary
line. Must not: parse YAML, talk to Git/helm/Kubernetes directly (it calls the edge modules), or
uninstall anything when the revision, the cluster or a dependency cannot be read.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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
    ManifestError,
    SecretNotReady,
    SourceError,
)
from controller.helm import ChartLocator, HelmClient, ReleaseRequest
from controller.logs import get_logger, register_secret
from controller.manifests import load_directory
from controller.models.desired import canonical_json
from controller.models.desired_state import DesiredState, ProtectedInput, build_desired_state, installed_versions
from controller.models.manifests import ChartRef, Extension, ManifestSet
from controller.models.observed import ObservedRelease, observed_from_helm
from controller.models.plan import ActionKind, Hold, HoldKind, Plan, PlannedAction, plan
from controller.models.status import ActionResult, Outcome, Summary, outcome_without_running, summarize
from controller.source import Snapshot, Source
from controller.urls import sanitize_url, split_userinfo

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
DIGEST_KEY_SECRET = "extctl-digest-key"  # noqa: S105 - a Secret name, not a secret


@dataclass(frozen=True)
class ReconcileSettings:
    concurrency: int = 4
    offline: bool = False
    system_namespace: str = "extctl-system"
    instance: str = "default"


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

    @property
    def ok(self) -> bool:
        return self.outcome in {"applied", "planned"} and self.summary.ok


@dataclass
class _PassContext:
    snapshot: Snapshot
    manifests: ManifestSet
    versions: dict[str, list[ChartVersion]] = field(default_factory=dict)
    chart_versions: dict[tuple[str, str], list[ChartVersion]] = field(default_factory=dict)
    catalog_errors: dict[str, str] = field(default_factory=dict)


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
        self.catalog_cache = catalog_cache or IndexCache(clock=time.monotonic)
        self.repo_credentials = repo_credentials
        self.last_good_revision: str | None = None
        self._metadata_cache: dict[tuple[str, str, int], dict[str, Any]] = {}
        self._digest_key: bytes | None = None
        self.helm_calls = 0

    # ------------------------------------------------------------------ the pass
    async def run_pass(self, *, apply: bool = True) -> PassResult:
        reconcile_id = uuid.uuid4().hex[:12]
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
            manifests = await asyncio.to_thread(load_directory, snapshot.root)
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
        try:
            observed = [] if self.settings.offline else await self.observe()
        except (HelmError, ClusterError) as exc:
            return self._finish(log, PassResult(reconcile_id, snapshot.revision, "cluster-error", error=str(exc),
                                                duration_ms=_ms(started)), exc.reason)
        state = await self._desire(context, observed, log)
        the_plan = plan(state.releases, observed, state.holds, held_namespaces=state.namespaces,
                        instance=self.settings.instance)
        if apply and not self.settings.offline:
            results = await self._apply(the_plan, context)
            outcome = "applied"
        else:
            results = [self._planned(a) for a in the_plan.actions]
            outcome = "planned"
        result = PassResult(reconcile_id, snapshot.revision, outcome, plan=the_plan, results=tuple(results),
                            summary=summarize(results), duration_ms=_ms(started))
        if outcome == "applied":
            self.last_good_revision = snapshot.revision
        return self._finish(log, result, None)

    def _finish(self, log: Any, result: PassResult, reason: str | None) -> PassResult:
        fields: dict[str, Any] = {"outcome": result.outcome, **result.summary.as_dict(),
                                  "duration_ms": result.duration_ms}
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
                context.catalog_errors[type_name] = str(exc)
                log.warning("catalog.unavailable", extension_type=type_name,
                            repository=sanitize_url(chart.repository), error=str(exc), reason=exc.reason)

    # ------------------------------------------------------------------ observed
    async def observe(self) -> list[ObservedRelease]:
        assert self.helm is not None  # noqa: S101 - only offline passes run without helm
        self.helm_calls += 1
        listing = await self.helm.list_releases()
        semaphore = asyncio.Semaphore(self.settings.concurrency)
        live_keys: set[tuple[str, str, int]] = set()

        async def one(row: Mapping[str, Any]) -> ObservedRelease:
            key = (str(row["namespace"]), str(row["name"]), int(row.get("revision", 0)))
            live_keys.add(key)
            if key not in self._metadata_cache:
                assert self.helm is not None  # noqa: S101 - checked above
                async with semaphore:
                    self.helm_calls += 1
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
            data = await asyncio.to_thread(cluster.read_secret_data, secret_namespace, ref.secret_name)
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
    def _planned(self, action: PlannedAction) -> ActionResult:
        outcome = outcome_without_running(action)
        return ActionResult(action, outcome if outcome is not None else Outcome.PLANNED)

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
            if blocked and action.changes_cluster:
                names = ", ".join(f"{d.action.extension} ({d.outcome.value})" for d in blocked)
                result = ActionResult(action, Outcome.SKIPPED, note=f"waiting for dependencies: {names}")
            elif (outcome := outcome_without_running(action)) is not None:
                result = ActionResult(action, outcome)
            else:
                async with semaphore:
                    result = await self._run_action(action, context)
            self._log_action(result)
            results.append(result)
            futures[action.key].set_result(result)

        await asyncio.gather(*(run(a) for a in the_plan.actions))
        return results

    async def _run_action(self, action: PlannedAction, context: _PassContext) -> ActionResult:
        assert self.helm is not None  # noqa: S101 - apply never runs offline
        started = time.monotonic()
        try:
            if action.kind is ActionKind.UNINSTALL:
                self.helm_calls += 1
                await self.helm.uninstall(action.release, action.namespace)
            else:
                await self._install_or_upgrade(action, context)
        except ExtctlError as exc:
            note = await self._remediate(action, exc)
            return ActionResult(action, Outcome.FAILED, _ms(started), error=str(exc), error_reason=exc.reason,
                                note=note)
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
        if action.kind is ActionKind.INSTALL:
            if self.cluster is not None:
                await asyncio.to_thread(self.cluster.ensure_namespace, desired.namespace)
            self.helm_calls += 1
            await self.helm.install(request)
        else:
            self.helm_calls += 1
            await self.helm.upgrade(request)

    async def _remediate(self, action: PlannedAction, error: ExtctlError) -> str | None:
        """Leave the release in a state the next pass can retry from (Flux-style remediation)."""
        assert self.helm is not None  # noqa: S101 - apply never runs offline
        log = get_logger(extension=action.extension)
        try:
            if action.kind is ActionKind.INSTALL:
                self.helm_calls += 1
                await self.helm.uninstall(action.release, action.namespace)
                log.warning("remediation.uninstalled", reason="install failed; removed so the next attempt "
                            "starts clean", error=str(error))
                return "failed install removed; will retry"
            if action.kind is ActionKind.UPGRADE and action.observed is not None \
                    and action.observed.status == "deployed":
                self.helm_calls += 1
                await self.helm.rollback(action.release, action.namespace, action.observed.revision)
                log.warning("remediation.rolled_back", to_revision=action.observed.revision,
                            reason="upgrade failed; rolled back to the last deployed revision", error=str(error))
                return f"rolled back to revision {action.observed.revision}"
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
        host = base.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0]
        return ChartLocator(ref=f"{base}/{chart.name}", version=version, plain_http=host in LOOPBACK_HOSTS,
                            username=username, password=password)
    base, user, url_password = split_userinfo(chart.repository)
    return ChartLocator(ref=chart.name, version=version, repo_url=base,
                        username=user or username, password=url_password or password)
