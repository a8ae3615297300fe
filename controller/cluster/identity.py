"""The cluster's identity as stored in the cluster: ConfigMap ``<system namespace>/extctl-cluster``.

Owns: reading that ConfigMap (written by whoever installs extctl, e.g. its chart; ``data.name`` and
``data.labels`` as ``key=value,…``) into a ``ClusterIdentity``. A missing ConfigMap means "no identity
stored"; unreadable labels are a ``ClusterError`` naming the ConfigMap, the key and the expected form
(a controller must not guess who it is: placements would uninstall what belongs there). Every API
failure is a ``ClusterError`` (``KubeCluster._call``). Must not: write the ConfigMap, or decide what the
identity means (``controller.models.fleet``).
"""

from __future__ import annotations

from controller.cluster.failures import Operation
from controller.cluster.kube import REQUEST_TIMEOUT, KubeCluster
from controller.cluster.rest import path
from controller.errors import ClusterError
from controller.models.placement import ClusterIdentity, parse_labels

IDENTITY_CONFIGMAP = "extctl-cluster"


def read_identity(cluster: KubeCluster, namespace: str, name: str = IDENTITY_CONFIGMAP) -> ClusterIdentity | None:
    """The identity the ConfigMap ``namespace/name`` holds, or None when it does not exist or names nothing."""
    found = cluster._call(Operation("get", "configmaps", name, namespace),
                          lambda api: api.get(path("api/v1", "namespaces", namespace, "configmaps", name),
                                              timeout=REQUEST_TIMEOUT),
                          none_on=404)
    if found is None:
        return None
    data = found.get("data") or {}
    cluster_name = str(data.get("name") or "").strip() or None
    try:
        labels = parse_labels(str(data.get("labels") or ""))
    except ValueError as exc:
        raise ClusterError(f"ConfigMap {namespace}/{name}: data.labels: {exc}", reason="ClusterIdentityInvalid",
                           hint="expected key=value pairs separated by commas, e.g. env=prod,region=eu") from exc
    if cluster_name is None and not labels:
        return None
    return ClusterIdentity(cluster_name, labels, source=f"configmap {namespace}/{name}")
