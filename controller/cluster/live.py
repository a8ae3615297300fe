"""Live objects of any kind, read by ``apiVersion``, ``kind``, name and namespace (for drift checks).

Owns: resolving a kind to its REST resource through API discovery (``/api/v1``, ``/apis/GROUP/VERSION``:
plural name and whether it is namespaced, cached per group-version for the life of the object, so one
discovery read per group-version and process), and reading one object: ``None`` when it does not exist,
also when its kind is no longer served (a removed CRD: its objects are gone too). Every other failure is a
``ClusterError`` naming the operation (``controller.cluster.failures``).
Must not: write anything, log or return Secret values anywhere but to the caller, or decide what differs
(``controller.models.drift`` does).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from controller.cluster.failures import Operation
from controller.cluster.kube import REQUEST_TIMEOUT, KubeCluster
from controller.cluster.rest import path


@dataclass(frozen=True)
class Served:
    """One served resource of a group-version: its plural and scope."""

    plural: str
    namespaced: bool


def _group_version_path(api_version: str) -> str:
    return "api/v1" if api_version == "v1" else f"apis/{api_version}"


class LiveObjects:
    """``read(api_version, kind, name, namespace)`` over one ``KubeCluster``; thread-safe."""

    def __init__(self, cluster: KubeCluster) -> None:
        self.cluster = cluster
        self._served: dict[str, dict[str, Served]] = {}
        self._lock = threading.Lock()

    def served(self, api_version: str, kind: str) -> Served | None:
        """The resource serving ``kind`` in ``api_version`` (None: not served)."""
        with self._lock:
            known = self._served.get(api_version)
        if known is None:
            # An APIResourceList has no metadata: its resource list is returned (a list is not checked for one).
            listing = self.cluster._call(  # the cluster layer's one request helper
                Operation("get", "discovery", api_version),
                lambda api: list(api.discover(path(_group_version_path(api_version)), timeout=REQUEST_TIMEOUT)
                                 .get("resources") or []), none_on=404)
            known = {}
            for resource in listing or []:
                name = str(resource.get("name", ""))
                if name and "/" not in name and resource.get("kind"):  # "deployments/status" is a subresource
                    known[str(resource["kind"])] = Served(name, bool(resource.get("namespaced")))
            with self._lock:
                self._served[api_version] = known
        return known.get(kind)

    def read(self, api_version: str, kind: str, name: str, namespace: str | None) -> dict[str, Any] | None:
        """The live object, or None when it (or its kind) does not exist. A namespaced kind without a
        namespace is read in ``namespace`` as given (the caller passes the release namespace)."""
        served = self.served(api_version, kind)
        if served is None:
            return None
        segments = ["namespaces", namespace or "default"] if served.namespaced else []
        resource = path(_group_version_path(api_version), *segments, served.plural, name)
        found: dict[str, Any] | None = self.cluster._call(
            Operation("get", served.plural, name, namespace if served.namespaced else None),
            lambda api: api.get(resource, timeout=REQUEST_TIMEOUT), none_on=404)
        return found
