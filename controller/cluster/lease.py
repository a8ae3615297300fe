"""The leader-election Lease (``coordination.k8s.io/v1``) in the Kubernetes API, with optimistic concurrency.

Owns: reading, creating and replacing one Lease; every write is conditional on the ``resourceVersion``
that was read (a replace) or on the Lease not existing (a create), so of two replicas writing at once one
wins and the other gets ``None`` (HTTP 409), never a silent overwrite. Creating the Lease creates its
namespace when missing. The Lease ``spec`` ↔ ``LeaseRecord`` mapping and the ``MicroTime`` text format.
Every failure but a conflict is a ``ClusterError`` naming the operation (403: the missing RBAC verb on
``leases``). Must not: decide who leads (``models/leader.py``, ``controller/leader/``), retry, or log.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from controller.cluster.failures import Operation
from controller.cluster.kube import MANAGED_BY_LABEL, KubeCluster
from controller.cluster.rest import path
from controller.models.leader import LeaseRecord

API_VERSION = "coordination.k8s.io/v1"
_LEASES = "apis/coordination.k8s.io/v1"


@dataclass(frozen=True)
class StoredLease:
    record: LeaseRecord
    resource_version: str


def micro_time(epoch_s: float) -> str:
    """Kubernetes ``MicroTime``: RFC 3339 in UTC with microseconds (``2026-11-24T01:38:02.213926Z``)."""
    return datetime.datetime.fromtimestamp(epoch_s, tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record_of(body: dict[str, Any]) -> LeaseRecord:
    spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
    assert isinstance(spec, dict)  # noqa: S101 - narrowed above, for mypy
    duration, transitions = spec.get("leaseDurationSeconds"), spec.get("leaseTransitions")
    return LeaseRecord(holder=str(spec.get("holderIdentity") or ""),
                       duration_s=duration if isinstance(duration, int) else 0,
                       acquire_time=_text(spec.get("acquireTime")), renew_time=_text(spec.get("renewTime")),
                       transitions=transitions if isinstance(transitions, int) else 0)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


class LeaseApi:
    """One Lease, ``namespace/name``; ``timeout`` (seconds) per request."""

    def __init__(self, cluster: KubeCluster, namespace: str, name: str, *, timeout: float) -> None:
        self.cluster, self.namespace, self.name = cluster, namespace, name
        self.timeout = timeout

    @property
    def described(self) -> str:
        return f"Lease {self.namespace}/{self.name}"

    def _collection(self) -> str:
        return path(_LEASES, "namespaces", self.namespace, "leases")

    def _body(self, record: LeaseRecord, resource_version: str | None) -> dict[str, Any]:
        metadata: dict[str, Any] = {"name": self.name, "namespace": self.namespace,
                                    "labels": {MANAGED_BY_LABEL: "extctl"}}
        if resource_version is not None:
            metadata["resourceVersion"] = resource_version
        spec: dict[str, Any] = {"holderIdentity": record.holder, "leaseDurationSeconds": record.duration_s,
                                "leaseTransitions": record.transitions}
        if record.acquire_time is not None:
            spec["acquireTime"] = record.acquire_time
        if record.renew_time is not None:
            spec["renewTime"] = record.renew_time
        return {"apiVersion": API_VERSION, "kind": "Lease", "metadata": metadata, "spec": spec}

    def read(self, *, timeout: float | None = None) -> StoredLease | None:
        """The Lease, or None when it does not exist."""
        limit = timeout or self.timeout
        found = self.cluster._call(Operation("get", "leases", self.name, self.namespace),
                                   lambda api: api.get(path(self._collection(), self.name), timeout=limit),
                                   none_on=404)
        return _stored(found) if found is not None else None

    def create(self, record: LeaseRecord) -> StoredLease | None:
        """Create the Lease (and its namespace when missing); None when another replica created it first."""
        self.cluster.ensure_namespace(self.namespace)
        body = self._body(record, None)
        op = Operation("create", "leases", self.name, self.namespace)
        created = self.cluster._call(op, lambda api: api.create(self._collection(), body, timeout=self.timeout),
                                     none_on=409)
        return _stored(created) if created is not None else None

    def replace(self, record: LeaseRecord, resource_version: str, *,
                timeout: float | None = None) -> StoredLease | None:
        """Write ``record`` if the Lease is still at ``resource_version``; None when it changed (HTTP 409)."""
        body = self._body(record, resource_version)
        limit = timeout or self.timeout
        replaced = self.cluster._call(Operation("update", "leases", self.name, self.namespace),
                                      lambda api: api.replace(path(self._collection(), self.name), body,
                                                              timeout=limit),
                                      none_on=409)
        return _stored(replaced) if replaced is not None else None


def _stored(body: dict[str, Any]) -> StoredLease:
    return StoredLease(record_of(body), str(body["metadata"].get("resourceVersion") or ""))
