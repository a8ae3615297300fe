"""The cluster-identity flags shared by ``run``, ``reconcile``, ``plan`` and ``preview``, and ``--cluster NAME``.

Owns: ``--cluster-name`` / ``--cluster-labels`` (env ``EXTCTL_CLUSTER_NAME`` / ``EXTCTL_CLUSTER_LABELS``;
each unset field is completed from the ConfigMap ``<system namespace>/extctl-cluster`` when the command
reads the cluster), their usage errors, and the ``ClusterScope`` a command's engine gets: ``plan
--cluster NAME`` plans as the inventory's cluster NAME would (its labels from Git; flags and ConfigMap
ignored). Must not: decide placement (``controller.models.fleet``).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from controller.engine.fleet import ClusterScope, IdentityReader
from controller.errors import ExtctlError
from controller.models.placement import ClusterIdentity, parse_labels


def _labels(text: str) -> dict[str, str]:
    try:
        return parse_labels(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected key=value,… (Kubernetes label syntax): {exc}") from exc


def add_cluster_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("fleet (docs/fleet.md)")
    group.add_argument("--cluster-name", default=None, metavar="NAME",
                       help="this cluster's name in the inventory (kind: Cluster in Git): placements and overrides "
                            "follow it (env EXTCTL_CLUSTER_NAME, else data.name of ConfigMap "
                            "extctl-system/extctl-cluster)")
    group.add_argument("--cluster-labels", type=_labels, default=None, metavar="K=V,…",
                       help="labels for keys the inventory does not set (env EXTCTL_CLUSTER_LABELS, else data.labels "
                            "of the same ConfigMap); the inventory's labels win")


def given_identity(args: Any) -> ClusterIdentity | None:
    """The identity from flags, else env; None when neither names anything (the ConfigMap may)."""
    name, source = getattr(args, "cluster_name", None), "--cluster-name"
    if not name and os.environ.get("EXTCTL_CLUSTER_NAME"):
        name, source = os.environ["EXTCTL_CLUSTER_NAME"].strip(), "env EXTCTL_CLUSTER_NAME"
    labels = getattr(args, "cluster_labels", None)
    if labels is None and os.environ.get("EXTCTL_CLUSTER_LABELS"):
        try:
            labels = parse_labels(os.environ["EXTCTL_CLUSTER_LABELS"])
        except ValueError as exc:
            raise ExtctlError(f"EXTCTL_CLUSTER_LABELS: {exc}", reason="UsageError",
                              hint="expected key=value,… in Kubernetes label syntax") from exc
    if not name and not labels:
        return None
    return ClusterIdentity(name or None, labels or {}, source)


def cluster_scope(args: Any, cluster: Any = None, *, system_namespace: str = "extctl-system") -> ClusterScope:
    """The scope of a command's passes: ``--cluster NAME`` (inventory only), else the flags/env identity
    completed from the cluster's ConfigMap when ``cluster`` (a ``KubeCluster``) is given."""
    inventory_name = getattr(args, "cluster", None)
    if isinstance(inventory_name, str):
        return ClusterScope(ClusterIdentity(inventory_name, {}, "--cluster"), inventory_only=True)
    reader: IdentityReader | None = None
    if cluster is not None:
        from controller.cluster.identity import read_identity  # noqa: PLC0415 - the kubernetes client: 0.5 s

        reader = lambda: read_identity(cluster, system_namespace)  # noqa: E731 - a one-line reader
    return ClusterScope(given_identity(args), reader)
