"""Build a PR preview: desired state at two Git refs, a plan between them, renders of what changes.

Owns: the preview pipeline -- manifests at ``base`` and ``head`` (``controller.source``), chart
versions as the repositories hold them now (``controller.catalog``; local chart repositories are read
from a tree exported at each ref), head resolved exactly as the controller would with base deployed
(or with the live cluster's releases under ``--cluster``), the plan, and ``helm template`` of both
sides of every extension whose action changes something (install, upgrade, uninstall), run
concurrently under a bound. Extensions that do not change are never rendered.

Secrets: previews never read Secrets. Protected settings are passed as ``"***"`` with a digest of
their references (a changed reference still shows as a change); rendered Secret values are hidden by
``controller.preview.render``; every string that leaves is scrubbed of URL userinfo and known secret
values. Repository credentials: only those bound to hosts that base's catalog names
(``preview.trust``); remote charts are downloaded by extctl (``apply.ChartDownloads``) into the run's
temp dir, so helm gets local archives and no credential. Parsed manifests are kept in the cache
directory's parse cache (``manifests/preview.store``: a later preview parses only files it has not seen).
Must not: apply anything, read Secrets or release values, or write outside its temp dir and the cache
directory (Git refs, the parse cache).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.apply import ChartDownloads, chart_locator
from controller.catalog import CatalogService, ChartVersion, CredentialStore, repository_kind
from controller.errors import ExtctlError, ManifestError, ValidationIssue
from controller.helm import HelmClient, ReleaseRequest
from controller.logs import get_logger, scrub_text
from controller.manifests import ManifestSet, select_manifest_files
from controller.manifests.cache import ParseCache
from controller.manifests.ignore import drop_ignored, with_ignore_file
from controller.models.desired import DEFAULT_INSTANCE, DesiredRelease
from controller.models.desired_state import (
    DesiredState,
    ProtectedInput,
    build_desired_state,
    installed_versions,
)
from controller.models.fleet import ClusterView, explain_unplaced
from controller.models.manifests import ChartRef
from controller.models.observed import ObservedRelease
from controller.models.placement import ClusterIdentity
from controller.models.plan import ActionKind, PlannedAction, Policy, plan
from controller.models.remediation import ExtensionState
from controller.preview.compare import (
    dependency_notices,
    deployed_from,
    protected_changes,
    protected_input,
)
from controller.preview.model import ExtensionChange, OtherAction, PreviewResult
from controller.preview.render import ResourceDiff, changed_setting_paths, diff_rendered
from controller.preview.trust import preview_credentials
from controller.preview.views import Identify, describe, scope_sides, with_override_notes
from controller.source import GitAuth, export_ref, files_at_ref
from controller.source.local import resolve_subpath
from controller.source.locations import display_location
from controller.urls import sanitize_url, split_userinfo

PREVIEW_STORE = "preview.store"  # the parse cache's per-file store for previews (run's own is another repository's)
# --cluster: the live releases and the controller's remembered state (failure records, pending timers),
# so the preview decides exactly as ``plan`` and ``reconcile`` would.
Observe = Callable[[], Awaitable[tuple[list[ObservedRelease], Mapping[str, ExtensionState]]]]
_RenderInput = tuple[ChartRef, str, Mapping[str, Any], "_Side"]


@dataclass(frozen=True)
class PreviewRequest:
    source: str
    base: str
    head: str
    cache_dir: Path
    path: str | None = None
    instance: str = DEFAULT_INSTANCE
    concurrency: int = 4
    auth: GitAuth | None = field(default=None, repr=False)
    credentials: CredentialStore | None = field(default=None, repr=False)
    cluster: ClusterIdentity | None = None  # --cluster NAME: both sides as the inventory's cluster NAME sees them


@dataclass
class _Side:
    """One ref: its manifests, the tree exported for local chart repositories, resolved state."""

    name: str
    ref: str
    revision: str | None = None
    manifests: ManifestSet | None = None
    root: Path | None = None  # the exported tree (repository root)
    manifest_root: Path | None = None  # ``root`` joined with --path: local chart repositories are relative to it
    versions: dict[str, list[ChartVersion]] = field(default_factory=dict)
    catalog_errors: dict[str, str] = field(default_factory=dict)
    state: DesiredState | None = None

    def chart_versions(self, chart: ChartRef) -> list[ChartVersion]:
        assert self.manifests is not None  # noqa: S101 - only called once manifests are loaded
        for type_name, extension_type in self.manifests.types.items():
            if extension_type.chart == chart and type_name in self.versions:
                return self.versions[type_name]
        return []


class Previewer:
    """One preview run. ``observe`` (for ``--cluster``) returns the live releases instead of base's."""

    def __init__(self, request: PreviewRequest, helm: HelmClient, *, observe: Observe | None = None,
                 identify: Identify | None = None) -> None:
        self.request = request
        self.helm = helm
        self.observe = observe
        self.identify = identify  # --cluster: the live cluster's identity (its view of both sides)
        self.head_view: ClusterView | None = None
        # Until base is loaded no credential is usable; then only those bound to base's hosts (``_trust``).
        self.credentials = CredentialStore()
        self.catalog = CatalogService(credentials=self.credentials, clock=time.monotonic)
        self.charts: ChartDownloads | None = None
        self.template_calls = 0
        # Base and head share most files: head parses only what the change touched, and a preview in a cache
        # directory an earlier one used (a developer's, a CI runner's restored cache) parses only what changed since.
        self.parsed = ParseCache(request.cache_dir / "manifests", store=PREVIEW_STORE, prune=False)
        self.files_parsed = 0  # by both sides: the rest came from the memo
        self.blobs: dict[str, str] = {}  # ... and reads from Git only the blobs base did not have
        self.secrets: set[str] = set()
        self.log = get_logger(component="preview")
        if request.credentials is not None:
            self.secrets.update(request.credentials.secrets())
        if request.auth is not None:
            self.secrets.update(s for s in request.auth.secrets if s)
        _bare, _user, password = split_userinfo(request.source) if "://" in request.source else ("", None, None)
        if password:
            self.secrets.add(password)

    # ------------------------------------------------------------------------------------- entry
    async def run(self) -> PreviewResult:
        base = _Side("base", self.request.base)
        head = _Side("head", self.request.head)
        with tempfile.TemporaryDirectory(prefix="extctl-preview-") as scratch:
            try:
                return self._scrubbed(await self._run(base, head, Path(scratch)))
            except ExtctlError as exc:
                self.log.error("preview.failed", error=str(exc), reason=exc.reason)
                return self._scrubbed(self._result(base, head, errors=(str(exc),)))

    def _result(self, base: _Side, head: _Side, **fields: Any) -> PreviewResult:
        return PreviewResult(
            source=display_location(self.request.source), path=self.request.path, base_ref=self.request.base,
            head_ref=self.request.head, compare="cluster" if self.observe is not None else "base",
            base_revision=base.revision, head_revision=head.revision, cluster=describe(self.head_view),
            stats={"helm_template_calls": self.template_calls, **fields.pop("stats", {})}, **fields)

    async def _run(self, base: _Side, head: _Side, scratch: Path) -> PreviewResult:
        base_issues = await self._load(base)
        head_issues = await self._load(head)
        await asyncio.to_thread(self.parsed.save)
        if head_issues or base_issues:
            return self._result(base, head, validation_errors=tuple(head_issues),
                                base_validation_errors=tuple(base_issues))
        assert base.manifests is not None and head.manifests is not None  # noqa: S101 - loaded above
        self._trust(base.manifests, scratch)
        self.head_view = await scope_sides(base, head, cluster=self.request.cluster, identify=self.identify,
                                           live=self.observe is not None)
        await asyncio.gather(self._export_if_needed(base, scratch), self._export_if_needed(head, scratch))
        await self._fetch_catalogs([base, head])
        return await self._compare(base, head)

    async def _compare(self, base: _Side, head: _Side) -> PreviewResult:
        """Desired states at both sides, the plan, and the renders of what changes (sides loaded, catalogs read)."""
        assert base.manifests is not None and head.manifests is not None  # noqa: S101 - loaded by the caller
        instance = self.request.instance
        base.state = build_desired_state(base.manifests, versions=self._names(base), catalog_errors=base.catalog_errors,
                                         protected=self._protected(base.manifests))
        remembered: Mapping[str, ExtensionState] = {}
        if self.observe is not None:
            observed, remembered = await self.observe()
        else:
            observed = deployed_from(base.state.releases, base.revision or "", instance)
        head.state = build_desired_state(
            head.manifests, versions=self._names(head), catalog_errors=head.catalog_errors,
            installed=installed_versions(head.manifests, observed, instance),
            protected=self._protected(head.manifests))
        the_plan = plan(head.state.releases, observed, head.state.holds, held_namespaces=head.state.namespaces,
                        policy=Policy(instance=instance), remembered=remembered, now=time.time(),
                        retries={name: e.spec.remediation.retries for name, e in head.manifests.extensions.items()})
        if self.head_view is not None:
            the_plan = explain_unplaced(the_plan, self.head_view)
        semaphore = asyncio.Semaphore(max(1, self.request.concurrency))
        changes = await asyncio.gather(*(self._change(a, base, head, semaphore) for a in the_plan.changes))
        changes = list(with_override_notes(changes, self.head_view))
        others = tuple(OtherAction(a.extension, a.namespace, a.kind.value, a.to_version or a.from_version, a.reasons,
                                   a.drift) for a in the_plan.actions if not a.changes_cluster)
        notices = tuple(sorted([*head.state.notices,
                                *dependency_notices(base.manifests, head.manifests)],
                               key=lambda n: (n.extension, n.kind)))
        stats = {"extensions": len(head.manifests.extensions), "changes": len(changes),
                 "rendered_extensions": sum(1 for a in the_plan.changes)}
        self.log.info("preview.summary", base=base.revision, head=head.revision, changes=len(changes),
                      helm_template_calls=self.template_calls, files_parsed=self.files_parsed)
        return self._result(base, head, changes=tuple(changes), others=others, notices=notices, stats=stats)

    # ------------------------------------------------------------------------------------- inputs
    async def _load(self, side: _Side) -> list[ValidationIssue]:
        revision, files = await asyncio.to_thread(
            files_at_ref, self.request.source, side.ref, path=self.request.path, cache_dir=self.request.cache_dir,
            auth=self.request.auth, include=lambda paths: with_ignore_file(select_manifest_files(paths), paths),
            blobs=self.blobs)
        side.revision = revision
        try:
            side.manifests = self.parsed.parse_files(drop_ignored(files))
        except ManifestError as exc:
            self.log.error("preview.invalid_manifests", side=side.name, revision=revision, errors=len(exc.issues))
            return list(exc.issues)
        finally:
            self.files_parsed += self.parsed.memo.parsed
        return []

    def _trust(self, base: ManifestSet, scratch: Path) -> None:
        """Credentials for this run: only those bound to hosts base's catalog names (an untrusted head
        cannot add a host that receives one); charts are downloaded into the run's scratch directory."""
        self.credentials = preview_credentials(self.request.credentials, base)
        self.catalog = CatalogService(credentials=self.credentials, clock=time.monotonic)
        self.charts = ChartDownloads(self.credentials, scratch / "charts")

    @staticmethod
    def _local_repositories(side: _Side) -> list[str]:
        """The local chart repositories (directories of the tree) that side's unsuspended extensions use."""
        assert side.manifests is not None  # noqa: S101 - loaded first
        found = {side.manifests.type_of(e).chart.repository for e in side.manifests.extensions.values()
                 if not e.spec.suspend}
        return sorted(r for r in found if repository_kind(r) == "local")

    async def _export_if_needed(self, side: _Side, scratch: Path) -> None:
        """Only the local chart repositories are written, not the whole tree (bench/README.md, P4)."""
        repositories = self._local_repositories(side)
        if not repositories:
            return
        dest = scratch / side.name
        prefix = (self.request.path or "").strip("/")  # local repositories are relative to --path (LOCAL_RULE)
        only = [f"{prefix}/{r}" if prefix and prefix != "." else r for r in repositories]
        await asyncio.to_thread(export_ref, self.request.source, side.ref, cache_dir=self.request.cache_dir,
                                dest=dest, auth=self.request.auth, only=only)
        side.root = dest
        side.manifest_root = resolve_subpath(dest, self.request.path)

    async def _fetch_catalogs(self, sides: Sequence[_Side]) -> None:
        """Versions per ExtensionType through the catalog service: remote repositories are looked up
        once for both sides, local ones in each side's exported tree."""
        wanted: list[tuple[_Side, str, ChartRef]] = []
        for side in sides:
            assert side.manifests is not None  # noqa: S101 - loaded first
            needed = sorted({side.manifests.type_of(e).name for e in side.manifests.extensions.values()
                             if not e.spec.suspend})
            wanted += [(side, name, side.manifests.types[name].chart) for name in needed]
        remote = {(c.repository, c.name) for _, _, c in wanted if repository_kind(c.repository) != "local"}
        found = await asyncio.to_thread(self.catalog.lookup_many, remote, repo_root=Path("."))
        for side, type_name, chart in wanted:
            key = (chart.repository, chart.name)
            lookup = found[key] if key in remote else await asyncio.to_thread(
                self.catalog.lookup, chart.repository, chart.name, repo_root=side.root or Path("."),
                manifest_root=side.manifest_root)
            if lookup.available:
                side.versions[type_name] = list(lookup.versions)
            else:
                side.catalog_errors[type_name] = str(lookup.error)

    @staticmethod
    def _names(side: _Side) -> dict[str, list[str]]:
        return {name: [v.version for v in found] for name, found in side.versions.items()}

    @staticmethod
    def _protected(manifests: ManifestSet) -> dict[str, ProtectedInput]:
        found = {name: protected_input(e) for name, e in manifests.extensions.items()}
        return {name: value for name, value in found.items() if value is not None}

    # ------------------------------------------------------------------------------------- changes
    async def _change(self, action: PlannedAction, base: _Side, head: _Side,
                      semaphore: asyncio.Semaphore) -> ExtensionChange:
        assert base.state is not None and base.manifests is not None and head.manifests is not None  # noqa: S101
        before = next((d for d in base.state.releases
                       if (d.namespace, d.release_name) == (action.namespace, action.release)), None)
        after = action.desired if action.kind is not ActionKind.UNINSTALL else None
        notes: list[str] = []
        errors: list[str] = []
        base_hold = base.state.holds.get(action.extension)
        if before is None and base_hold is not None and self.observe is None:
            notes.append(f"at base this extension has no release ({base_hold.reason}); compared as not installed")
        before_render = self._before_render(action, before, after, (base, head), notes)
        after_render = None
        if after is not None:
            after_render = (after.chart, after.version, after.values, head)
        before_text, after_text = await asyncio.gather(
            self._render(before_render, action, "base", semaphore, errors),
            self._render(after_render, action, "head", semaphore, errors))
        resources: tuple[ResourceDiff, ...] = ()
        unchanged = 0
        rendered = before_render is not None or after_render is not None
        if (before_render is not None and before_text is None) or (after_render is not None and after_text is None):
            rendered = False
        if rendered:
            found, unchanged = diff_rendered(before_text, after_text)
            resources = tuple(found)
        before_ext = base.manifests.extensions.get(action.extension)
        after_ext = head.manifests.extensions.get(action.extension) if after is not None else None
        settings = changed_setting_paths(
            before.settings if before is not None else
            (before_ext.spec.configuration_settings if before_ext is not None else None),
            after.settings if after is not None else None)
        settings += protected_changes(before_ext, after_ext)
        protected = after.protected_paths if after is not None else ()
        if protected:
            notes.append("protected settings (" + ", ".join(protected) + ") are rendered as \"***\": "
                         "previews never read Secrets")
        chart = after.chart if after is not None else before.chart if before is not None else None
        version = action.to_version or action.from_version
        return ExtensionChange(
            extension=action.extension, namespace=action.namespace, release=action.release, action=action.kind.value,
            from_version=action.from_version, to_version=action.to_version, reasons=action.reasons,
            chart=f"{chart.name}@{version} from {sanitize_url(chart.repository)}" if chart is not None else "",
            settings_changed=tuple(settings), waits_for=action.waits_for, resources=resources,
            unchanged_resources=unchanged, rendered=rendered,
            notes=tuple(notes), errors=tuple(errors))

    def _before_render(self, action: PlannedAction, before: DesiredRelease | None, after: DesiredRelease | None,
                       sides: tuple[_Side, _Side], notes: list[str]) -> _RenderInput | None:
        base, head = sides
        if action.kind is ActionKind.INSTALL:
            return None
        if self.observe is None:
            return (before.chart, before.version, before.values, base) if before is not None else None
        # --cluster: the deployed chart version, with the values Git had at base (release values and
        # Secrets are never read, so the live values are not known).
        observed = action.observed
        if observed is None or observed.chart_version is None:
            notes.append("the live release has no readable chart version; its manifests are not shown")
            return None
        for candidate, side, label in ((before, base, "base"), (after, head, "head")):
            if candidate is not None and observed.chart_name in (None, candidate.chart.name):
                notes.append(f"live side rendered at the deployed chart version {observed.chart_version} with the "
                             f"values from {label} (previews never read release values or Secrets)")
                return (candidate.chart, observed.chart_version, candidate.values, side)
        notes.append(f"the live release's chart {observed.chart_name} is not described at base or head; "
                     "its manifests are not shown")
        return None

    async def _render(self, what: _RenderInput | None, action: PlannedAction,
                      label: str, semaphore: asyncio.Semaphore, errors: list[str]) -> str | None:
        if what is None:
            return None
        chart, version, values, side = what
        try:
            locator = chart_locator(chart, version, repo_root=side.root or Path("."), manifest_root=side.manifest_root,
                                    chart_versions=side.chart_versions(chart))
            if self.charts is not None:
                locator = await self.charts(locator)
            request = ReleaseRequest(name=action.release, namespace=action.namespace, chart=locator,
                                     values=values, labels={})
            async with semaphore:
                self.template_calls += 1
                return await self.helm.template(request)
        except ExtctlError as exc:
            errors.append(f"rendering {chart.name}@{version} ({label}) failed: {exc}")
            self.log.error("preview.render_failed", extension=action.extension, side=label, error=str(exc))
            return None

    # ------------------------------------------------------------------------------------- safety
    def _scrubbed(self, result: PreviewResult) -> PreviewResult:
        """Every string of the result without URL userinfo or known secret values (defence in depth)."""
        secrets = sorted(self.secrets)

        def clean(value: Any) -> Any:
            if isinstance(value, str):
                return scrub_text(value, secrets)
            if isinstance(value, tuple):
                return tuple(clean(v) for v in value)
            if isinstance(value, list):
                return [clean(v) for v in value]
            if isinstance(value, dict):
                return {k: clean(v) for k, v in value.items()}
            if hasattr(value, "__dataclass_fields__"):
                return type(value)(**{name: clean(getattr(value, name)) for name in value.__dataclass_fields__})
            return value

        cleaned: PreviewResult = clean(result)
        return cleaned
