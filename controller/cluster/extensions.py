"""The ``Extension`` objects, their CRD and their Events in the Kubernetes API.

Owns: applying (or upgrading) the ``extensions.extctl.dev`` CRD and waiting until it is served; listing
one instance's objects; server-side apply (field manager ``extctl``, ``force``) of an object and of its
status subresource; deleting an object; and kubectl-style Event dedup: an Event whose name (derived
from its aggregation key by ``models.extension_object``) exists gets its ``count`` bumped and its
``lastTimestamp`` moved instead of a new Event. Every failure is a ``ClusterError`` naming the operation
(``controller.cluster.failures``). Must not: decide what to write or when (``controller.status``).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from controller.cluster.crd import CRD_DIGEST, CRD_NAME, EXTENSION_CRD, is_current
from controller.cluster.failures import Operation
from controller.cluster.kube import MANAGED_BY_LABEL, REQUEST_TIMEOUT, KubeCluster
from controller.cluster.rest import APPLY_PATCH, MERGE_PATCH, path
from controller.errors import ClusterError
from controller.models.desired import LABEL_INSTANCE, LABEL_MANAGED_BY, MANAGED_BY_VALUE
from controller.models.extension_object import API_VERSION, EVENT_COMPONENT, GROUP, KIND, PLURAL, VERSION, EventSpec

FIELD_MANAGER = "extctl"
APPLY_QUERY = {"fieldManager": FIELD_MANAGER, "force": "true"}
CRD_SERVED_DEADLINE_S = 15.0
CRD_POLL_S = 0.25
_CRDS = "apis/apiextensions.k8s.io/v1"


def _objects(namespace: str | None = None) -> str:
    if namespace is None:
        return path(f"apis/{GROUP}/{VERSION}", PLURAL)
    return path(f"apis/{GROUP}/{VERSION}", "namespaces", namespace, PLURAL)


class ExtensionObjects:
    """The ``ExtensionBackend`` of ``controller.status.publisher`` on a ``KubeCluster``."""

    def __init__(self, cluster: KubeCluster, *, crd_served_deadline_s: float = CRD_SERVED_DEADLINE_S) -> None:
        self.cluster = cluster
        self.crd_digest = CRD_DIGEST  # written on every object: the CRD it was written under
        self.crd_served_deadline_s = crd_served_deadline_s

    def ensure_namespace(self, name: str) -> bool:
        return self.cluster.ensure_namespace(name)

    def ensure_extension_crd(self) -> None:
        """Apply the CRD (create or upgrade it), then wait until the API serves its resource; one read and
        no write when the cluster already has this version's CRD, established."""
        live = self.cluster._call(Operation("get", "customresourcedefinitions", CRD_NAME),
                                  lambda api: api.get(path(_CRDS, "customresourcedefinitions", CRD_NAME),
                                                      timeout=REQUEST_TIMEOUT), none_on=404)
        if is_current(live):
            return
        self.cluster._call(Operation("patch", "customresourcedefinitions", CRD_NAME),
                           lambda api: api.patch(path(_CRDS, "customresourcedefinitions", CRD_NAME), EXTENSION_CRD,
                                                 content_type=APPLY_PATCH, query=APPLY_QUERY, timeout=REQUEST_TIMEOUT))
        deadline = time.monotonic() + self.crd_served_deadline_s
        pause = threading.Event()
        while self._list({"limit": "1"}) is None:
            if time.monotonic() >= deadline:
                raise ClusterError(f"the API server does not serve {PLURAL}.{GROUP} {self.crd_served_deadline_s:g}s "
                                   f"after the CRD was applied", reason="ExtensionCRDNotServed",
                                   hint=f"check the CRD: kubectl get crd {CRD_NAME} -o yaml")
            pause.wait(CRD_POLL_S)  # the API server establishes a new CRD within a second or two

    def try_list_extensions(self, instance: str | None) -> list[dict[str, Any]] | None:
        """Like ``list_extensions``, but None when the resource is not served (no CRD yet)."""
        try:
            return self.list_extensions(instance)
        except ClusterError as exc:
            if exc.reason == "ExtensionCRDMissing":
                return None
            raise

    def list_extensions(self, instance: str | None) -> list[dict[str, Any]]:
        """The Extension objects of one extctl instance (``None``: of every instance), all namespaces."""
        selector = f"{LABEL_MANAGED_BY}={MANAGED_BY_VALUE}" + (f",{LABEL_INSTANCE}={instance}" if instance else "")
        found = self._list({"labelSelector": selector})
        if found is None:
            raise ClusterError(f"the API server does not serve {PLURAL}.{GROUP}: the CRD is not installed",
                               reason="ExtensionCRDMissing",
                               hint=f"apply deploy/extctl.yaml, or let extctl create it: grant 'patch' on "
                                    f"'customresourcedefinitions' (name {CRD_NAME})")
        items = found.get("items") or []
        return [i for i in items if isinstance(i, dict)]

    def _list(self, query: dict[str, str]) -> dict[str, Any] | None:
        return self.cluster._call(Operation("list", PLURAL, "", None),
                                  lambda api: api.request("GET", _objects(), query=query, timeout=REQUEST_TIMEOUT),
                                  none_on=404)

    def apply_extension(self, body: dict[str, Any]) -> dict[str, Any]:
        meta = body["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        return self.cluster._call(Operation("patch", PLURAL, name, namespace),
                                  lambda api: api.patch(path(_objects(namespace), name), body,
                                                        content_type=APPLY_PATCH, query=APPLY_QUERY,
                                                        timeout=REQUEST_TIMEOUT))

    def apply_extension_status(self, namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
        body = {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": name, "namespace": namespace},
                "status": status}
        return self.cluster._call(Operation("patch", f"{PLURAL}/status", name, namespace),
                                  lambda api: api.patch(path(_objects(namespace), name, "status"), body,
                                                        content_type=APPLY_PATCH, query=APPLY_QUERY,
                                                        timeout=REQUEST_TIMEOUT))

    def delete_extension(self, namespace: str, name: str) -> None:
        self.cluster._call(Operation("delete", PLURAL, name, namespace),
                           lambda api: api.delete(path(_objects(namespace), name), timeout=REQUEST_TIMEOUT),
                           none_on=404)

    def list_events(self, namespace: str, name: str) -> list[dict[str, Any]]:
        """The Events about one Extension object, oldest first."""
        selector = f"involvedObject.kind={KIND},involvedObject.name={name}"
        found = self.cluster._call(Operation("list", "events", "", namespace),
                                   lambda api: api.request("GET", path("api/v1", "namespaces", namespace, "events"),
                                                           query={"fieldSelector": selector}, timeout=REQUEST_TIMEOUT))
        items = [i for i in found.get("items") or [] if isinstance(i, dict)]
        return sorted(items, key=lambda e: str(e.get("lastTimestamp") or e.get("firstTimestamp") or ""))

    def record_event(self, event: EventSpec, *, object_uid: str, name: str, now: str) -> None:
        """Create the Event, or bump the count of the one with the same aggregation key (kubectl's dedup)."""
        events = path("api/v1", "namespaces", event.namespace, "events")
        found = self.cluster._call(Operation("get", "events", name, event.namespace),
                                   lambda api: api.get(path(events, name), timeout=REQUEST_TIMEOUT), none_on=404)
        if found is not None:
            count = found.get("count")
            patch = {"count": (count if isinstance(count, int) else 1) + 1, "lastTimestamp": now}
            self.cluster._call(Operation("patch", "events", name, event.namespace),
                               lambda api: api.patch(path(events, name), patch, content_type=MERGE_PATCH,
                                                     timeout=REQUEST_TIMEOUT))
            return
        body = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": event.namespace, "labels": {MANAGED_BY_LABEL: "extctl"}},
            "involvedObject": {"apiVersion": API_VERSION, "kind": KIND, "namespace": event.namespace,
                               "name": event.object_name, "uid": object_uid},
            "type": event.type, "reason": event.reason, "message": event.message, "count": 1,
            "firstTimestamp": now, "lastTimestamp": now, "source": {"component": EVENT_COMPONENT},
        }
        self.cluster._call(Operation("create", "events", name, event.namespace),
                           lambda api: api.create(events, body, timeout=REQUEST_TIMEOUT), none_on=409)
