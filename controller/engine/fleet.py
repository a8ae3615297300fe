"""The cluster a pass reconciles for: its identity, and the revision as that cluster sees it.

Owns: ``ClusterScope`` -- the identity given by flags or env (``--cluster-name``/``--cluster-labels``)
completed per field by the one stored in the cluster (``cluster.identity``, read once per process, on
the first pass that needs it: a failed read stops that pass as a ``cluster-error``, because a
controller that does not know who it is must not act as a cluster without placements), the view of
each revision (``models.fleet.cluster_view``), its warnings logged once per revision
(``fleet.cluster_unknown``, ``fleet.label_conflict``), the ``cluster``/``cluster_labels`` fields of the
summary line and the annotations the status objects carry. ``plan --cluster NAME`` uses a scope that
refuses a name missing from the inventory (``UnknownCluster``). Must not: decide placement itself, or
talk to the API but through the reader it is given.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from controller.errors import PermanentError
from controller.logs import get_logger
from controller.models.fleet import ClusterView, cluster_view
from controller.models.manifests import ManifestSet
from controller.models.placement import ClusterIdentity, format_labels, merge_identity

ANNOTATION_CLUSTER = "extctl.dev/cluster"
ANNOTATION_CLUSTER_LABELS = "extctl.dev/cluster-labels"
IdentityReader = Callable[[], ClusterIdentity | None]


class UnknownCluster(PermanentError):
    reason = "UnknownCluster"


class ClusterScope:
    """``given``: the flags' (or env's) identity, possibly partial; ``reader``: the stored one (None:
    offline, or nothing stored); ``inventory_only``: the name must be in the inventory."""

    def __init__(self, given: ClusterIdentity | None = None, reader: IdentityReader | None = None, *,
                 inventory_only: bool = False) -> None:
        self.given = given
        self.reader = reader
        self.inventory_only = inventory_only
        self.identity: ClusterIdentity | None = given
        self.view: ClusterView | None = None
        self._resolved = reader is None or (given is not None and given.name is not None and bool(given.labels))
        self._warned: str | None = None

    async def resolve(self) -> ClusterIdentity | None:
        """The identity, the stored one read on first use (raises ``ClusterError`` when it cannot be read)."""
        if not self._resolved:
            assert self.reader is not None  # noqa: S101 - unresolved only with a reader
            stored = await asyncio.to_thread(self.reader)
            self.identity = merge_identity(self.given, stored)
            self._resolved = True
        return self.identity

    async def view_of(self, manifests: ManifestSet, revision: str) -> ClusterView:
        # Without an inventory the view is the same for every identity (placed extensions are left out,
        # no overrides apply), so the stored identity is read only once a revision has one: a fresh
        # process of a single-cluster repository makes no read for it.
        identity = await self.resolve() if manifests.clusters else self.identity
        view = cluster_view(manifests, identity)
        if self.inventory_only and not view.known:
            name = identity.name if identity is not None else None
            known = ", ".join(sorted(manifests.clusters)) or "none (add kind: Cluster manifests)"
            raise UnknownCluster(f"cluster {name!r} is not in the inventory of {revision}; clusters: {known}")
        if self._warned != revision:
            self._warned = revision
            log = get_logger()
            if not view.known and view.not_placed:
                log.warning("fleet.cluster_unknown", cluster=view.name, not_applied=list(view.not_placed),
                            message=view.warnings(manifests)[0])
            if view.label_conflicts:
                log.warning("fleet.label_conflict", cluster=view.name, keys=list(view.label_conflicts),
                            message=view.warnings(manifests)[-1])
        self.view = view
        return view

    def summary_fields(self) -> dict[str, Any]:
        """``cluster`` and ``cluster_labels`` for the summary line (the effective labels once a view exists)."""
        identity = self.view.identity if self.view is not None else self.identity
        if identity is None:
            return {}
        return {"cluster": identity.name, "cluster_labels": format_labels(identity.labels)}

    def annotations(self) -> dict[str, str]:
        """What the ``Extension`` objects say about the cluster they live in (read by ``status`` and ``fleet``)."""
        fields = self.summary_fields()
        if not fields.get("cluster"):
            return {}
        return {ANNOTATION_CLUSTER: fields["cluster"], ANNOTATION_CLUSTER_LABELS: fields["cluster_labels"]}
