"""Previews for one cluster of the fleet: both sides of a preview as that cluster sees them.

Owns: choosing the cluster a preview is for (``preview --cluster NAME``: the inventory's cluster NAME;
``preview --cluster`` against a live cluster: the identity its controller would have), narrowing each
side's manifests to that cluster's view (``models.fleet.cluster_view``: the inventory *of that side*, so
a pull request that moves a label shows the move), and saying which overrides shaped an extension's
settings there. Without either, a preview compares the whole revision, as before. Must not: do I/O
itself (the live identity comes through the callable it is given), render, or decide placement.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any, Protocol

from controller.errors import ExtctlError
from controller.models.fleet import ClusterView, cluster_view, uses_placement
from controller.models.manifests import ManifestSet
from controller.models.placement import ClusterIdentity, format_labels
from controller.preview.model import ExtensionChange

Identify = Callable[[], Awaitable[ClusterIdentity | None]]


class _Side(Protocol):
    manifests: ManifestSet | None


def describe(view: ClusterView | None) -> str | None:
    """``east (env=prod,region=eu)`` for report headers; None for a whole-revision preview (or no name)."""
    if view is None or view.identity is None or view.identity.name is None:
        return None
    labels = format_labels(view.identity.labels)
    return f"{view.identity.name} ({labels})" if labels else view.identity.name


async def scope_sides(base: _Side, head: _Side, *, cluster: ClusterIdentity | None, identify: Identify | None,
                      live: bool) -> ClusterView | None:
    """Narrow ``base`` and ``head`` (loaded) to one cluster's view; returns head's view (None: no cluster)."""
    assert base.manifests is not None and head.manifests is not None  # noqa: S101 - loaded by the caller
    if cluster is None and not (uses_placement(base.manifests) or uses_placement(head.manifests)
                                or base.manifests.clusters or head.manifests.clusters):
        return None  # every cluster sees the same revision: no identity to read
    identity = cluster
    if identity is None and identify is not None:
        identity = await identify()
    if identity is None and not live:
        return None
    if cluster is not None and cluster.name not in set(base.manifests.clusters) | set(head.manifests.clusters):
        known = sorted(set(base.manifests.clusters) | set(head.manifests.clusters))
        raise ExtctlError(f"cluster {cluster.name!r} is in the inventory neither at base nor at head; clusters: "
                          f"{', '.join(known) or 'none (add kind: Cluster manifests)'}", reason="UnknownCluster")
    base.manifests = cluster_view(base.manifests, identity).manifests
    head_view = cluster_view(head.manifests, identity)
    head.manifests = head_view.manifests
    return head_view


def with_override_notes(changes: Sequence[ExtensionChange], view: ClusterView | None) -> tuple[ExtensionChange, ...]:
    """Each change says which overrides shaped its settings, train or pin on this cluster."""
    if view is None or not view.overrides:
        return tuple(changes)
    where = view.name or "this cluster"
    return tuple(replace(c, notes=(*c.notes, f"on {where}: " + "; ".join(view.overrides[c.extension])))
                 if c.extension in view.overrides else c for c in changes)


def side_copy(side: Any, manifests: ManifestSet) -> Any:
    """A copy of a loaded side with other manifests (the fleet preview's per-cluster sides)."""
    return replace(side, manifests=manifests, state=None)
