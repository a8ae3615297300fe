"""The fleet preview: what a pull request changes on every cluster of the inventory.

Owns: ``FleetPreviewer`` -- both refs loaded, trusted, exported and their catalogs read **once**, then for
every cluster named by the inventory at base or at head the single-cluster comparison of
``Previewer._compare`` on that cluster's views of both sides (a cluster the pull request adds starts
from what an unknown cluster gets: the extensions without placement; one it removes ends there); and
``helm template`` shared across clusters: two clusters that render the same chart, version, values,
release and namespace on the same side share one render. The result is plain data
(``FleetPreviewResult``) with one cell per extension and cluster; ``fleet_report`` renders it.
Must not: apply anything, read Secrets, or decide placement (``models.fleet``).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from controller.errors import ExtctlError, ValidationIssue
from controller.models.desired import canonical_json
from controller.models.fleet import cluster_view
from controller.models.manifests import ManifestSet
from controller.models.placement import ClusterIdentity
from controller.models.plan import PlannedAction
from controller.preview.build import Previewer, PreviewRequest, _RenderInput, _Side
from controller.preview.model import EXIT_CHANGES, EXIT_ERROR, EXIT_NO_CHANGES, PreviewResult
from controller.preview.views import side_copy
from controller.source.locations import display_location

NOT_PLACED = "not-placed"
UNCHANGED = "unchanged"


@dataclass(frozen=True)
class ClusterPreview:
    """One cluster: its labels (head's inventory, else base's), whether each side's inventory has it, and
    the preview of its two views."""

    name: str
    labels: Mapping[str, str]
    in_base: bool
    in_head: bool
    result: PreviewResult


@dataclass(frozen=True)
class Cell:
    """What the pull request does to one extension on one cluster. ``kind``: an action (install, upgrade,
    downgrade, reinstall, uninstall, fail, skip), ``unchanged`` or ``not-placed``."""

    kind: str
    text: str


@dataclass(frozen=True)
class FleetPreviewResult:
    source: str
    path: str | None
    base_ref: str
    head_ref: str
    base_revision: str | None = None
    head_revision: str | None = None
    clusters: tuple[ClusterPreview, ...] = ()
    extensions: tuple[str, ...] = ()
    validation_errors: tuple[ValidationIssue, ...] = ()
    base_validation_errors: tuple[ValidationIssue, ...] = ()
    errors: tuple[str, ...] = ()
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return bool(self.errors or self.validation_errors or self.base_validation_errors
                    or any(c.result.failed for c in self.clusters))

    @property
    def changed_clusters(self) -> tuple[ClusterPreview, ...]:
        return tuple(c for c in self.clusters if c.result.changes)

    @property
    def exit_code(self) -> int:
        if self.failed:
            return EXIT_ERROR
        return EXIT_CHANGES if self.changed_clusters else EXIT_NO_CHANGES

    def cell(self, extension: str, cluster: ClusterPreview) -> Cell:
        change = next((c for c in cluster.result.changes if c.extension == extension), None)
        if change is not None:
            if change.action == "install":
                return Cell("install", f"install {change.to_version}")
            if change.action == "uninstall":
                return Cell("uninstall", f"uninstall {change.from_version or ''}".rstrip())
            if change.from_version == change.to_version:
                what = "settings" if change.settings_changed else "spec"
                return Cell(change.action, f"{change.action} {change.to_version} ({what})")
            return Cell(change.action, f"{change.action} {change.from_version} → {change.to_version}")
        other = next((o for o in cluster.result.others if o.extension == extension), None)
        if other is None:
            return Cell(NOT_PLACED, "-")
        if other.action == "noop":
            return Cell(UNCHANGED, UNCHANGED)
        return Cell(other.action, other.action)

    def counts(self) -> dict[str, int]:
        """Cells per kind, over every extension and cluster."""
        found: dict[str, int] = {}
        for cluster in self.clusters:
            for extension in self.extensions:
                kind = self.cell(extension, cluster).kind
                found[kind] = found.get(kind, 0) + 1
        return found


class FleetPreviewer(Previewer):
    """``run_fleet``: the preview of every cluster of the inventory (``request.cluster`` is ignored)."""

    def __init__(self, request: PreviewRequest, helm: Any) -> None:
        super().__init__(request, helm)
        self._renders: dict[tuple[str, ...], asyncio.Task[tuple[str | None, list[str]]]] = {}
        self.renders_requested = 0

    async def run_fleet(self) -> FleetPreviewResult:
        base = _Side("base", self.request.base)
        head = _Side("head", self.request.head)
        with tempfile.TemporaryDirectory(prefix="extctl-preview-") as scratch:
            try:
                result = await self._fleet(base, head, Path(scratch))
            except ExtctlError as exc:
                self.log.error("preview.failed", error=str(exc), reason=exc.reason)
                result = self._fleet_result(base, head, errors=(str(exc),))
        return cast(FleetPreviewResult, self._scrubbed(cast(PreviewResult, result)))

    def _fleet_result(self, base: _Side, head: _Side, **fields: Any) -> FleetPreviewResult:
        stats = {"helm_template_calls": self.template_calls, "renders_requested": self.renders_requested,
                 **fields.pop("stats", {})}
        return FleetPreviewResult(
            source=display_location(self.request.source), path=self.request.path, base_ref=self.request.base,
            head_ref=self.request.head, base_revision=base.revision, head_revision=head.revision, stats=stats,
            **fields)

    async def _fleet(self, base: _Side, head: _Side, scratch: Path) -> FleetPreviewResult:
        base_issues = await self._load(base)
        head_issues = await self._load(head)
        if head_issues or base_issues:
            return self._fleet_result(base, head, validation_errors=tuple(head_issues),
                                      base_validation_errors=tuple(base_issues))
        assert base.manifests is not None and head.manifests is not None  # noqa: S101 - loaded above
        names = sorted(set(base.manifests.clusters) | set(head.manifests.clusters))
        if not names:
            raise ExtctlError("the repository has no inventory at base or head: a fleet preview previews the "
                              "clusters of kind: Cluster manifests (docs/fleet.md)", reason="NoInventory")
        self._trust(base.manifests, scratch)
        await asyncio.gather(self._export_if_needed(base, scratch), self._export_if_needed(head, scratch))
        await self._fetch_catalogs([base, head])
        clusters = []
        for name in names:  # one at a time: the renders run concurrently inside each, shared across them
            clusters.append(await self._cluster(name, base, head, base.manifests, head.manifests))
        extensions = tuple(sorted(set(base.manifests.extensions) | set(head.manifests.extensions)))
        stats = {"clusters": len(clusters), "extensions": len(extensions),
                 "changed_clusters": sum(1 for c in clusters if c.result.changes)}
        return self._fleet_result(base, head, clusters=tuple(clusters), extensions=extensions, stats=stats)

    async def _cluster(self, name: str, base: _Side, head: _Side, base_all: ManifestSet,
                       head_all: ManifestSet) -> ClusterPreview:
        identity = ClusterIdentity(name, {}, source="inventory")
        base_view, head_view = cluster_view(base_all, identity), cluster_view(head_all, identity)
        self.head_view = head_view
        result = await self._compare(side_copy(base, base_view.manifests), side_copy(head, head_view.manifests))
        entry = head_all.clusters.get(name) or base_all.clusters[name]
        return ClusterPreview(name, dict(entry.labels), name in base_all.clusters, name in head_all.clusters, result)

    async def _render(self, what: _RenderInput | None, action: PlannedAction, label: str,
                      semaphore: asyncio.Semaphore, errors: list[str]) -> str | None:
        """One ``helm template`` per distinct input over the whole fleet (its errors reported on every cluster)."""
        if what is None:
            return None
        self.renders_requested += 1
        chart, version, values, side = what
        key = (side.name, chart.repository, chart.name, version, canonical_json(values), action.release,
               action.namespace)
        task = self._renders.get(key)
        if task is None:
            task = asyncio.ensure_future(self._render_once(what, action, label, semaphore))
            self._renders[key] = task
        text, found = await task
        errors.extend(found)
        return text

    async def _render_once(self, what: _RenderInput, action: PlannedAction, label: str,
                           semaphore: asyncio.Semaphore) -> tuple[str | None, list[str]]:
        found: list[str] = []
        text = await super()._render(what, action, label, semaphore, found)
        return text, found
