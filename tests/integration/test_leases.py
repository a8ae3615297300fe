"""The Lease API and the elector against the sandbox's Kubernetes API emulator (real HTTP, real client).

Optimistic concurrency is what makes leader election safe: of two writers at the same resourceVersion
exactly one wins (the emulator answers 409 Conflict like the API server, ``sandbox/preconditions.py``).
Two in-process electors on one Lease: exactly one leads; stopping it releases the Lease and the other
takes over at its next retry, well before the lease duration.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from controller.cluster import KubeCluster
from controller.cluster.lease import LeaseApi, StoredLease, micro_time
from controller.leader import LeaderElector
from controller.models.leader import LeaseRecord, Timings, acquired
from tests.support.localnet import wait_for
from tests.support.sandbox import SandboxHandle

pytestmark = pytest.mark.integration


@pytest.fixture
def cluster(sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch) -> KubeCluster:
    monkeypatch.setenv("KUBECONFIG", sandbox.env["KUBECONFIG"])
    return KubeCluster()


def test_of_two_writers_at_the_same_version_exactly_one_wins(cluster: KubeCluster, unique_name: str) -> None:
    api = LeaseApi(cluster, unique_name, "extctl-leader-test", timeout=5)
    assert api.read() is None
    first = api.create(acquired(None, "a", micro_time(0), 15))
    assert first is not None and first.record.holder == "a"
    assert api.create(acquired(None, "b", micro_time(0), 15)) is None, "the Lease exists: create conflicts"
    read = api.read()
    assert read == first
    won = api.replace(acquired(read.record, "b", micro_time(1), 15), read.resource_version)
    lost = api.replace(acquired(read.record, "c", micro_time(1), 15), read.resource_version)
    assert won is not None and lost is None
    assert api.read() == won and won.record.holder == "b" and won.record.transitions == 1
    body = cluster._core.get(f"/apis/coordination.k8s.io/v1/namespaces/{unique_name}/leases/extctl-leader-test")
    assert body["spec"]["holderIdentity"] == "b" and body["spec"]["leaseDurationSeconds"] == 15
    assert body["spec"]["renewTime"].endswith("Z") and "." in body["spec"]["renewTime"]


class Recorder:
    def __init__(self) -> None:
        self.acquired = threading.Event()
        self.lost: list[str] = []

    def on_acquired(self) -> None:
        self.acquired.set()

    def on_lost(self, reason: str) -> None:
        self.lost.append(reason)


@pytest.fixture
def electors(cluster: KubeCluster, unique_name: str) -> Iterator[list[tuple[LeaderElector, Recorder]]]:
    made: list[tuple[LeaderElector, Recorder]] = []
    for name in ("replica-a", "replica-b"):
        recorder = Recorder()
        api = LeaseApi(cluster, unique_name, "extctl-leader-default", timeout=1.0)
        made.append((LeaderElector(api, name, Timings(6.0, 2.0, 0.2), on_acquired=recorder.on_acquired,
                                   on_lost=recorder.on_lost), recorder))
    yield made
    for elector, _ in made:
        elector.stop()


def test_one_leads_and_a_released_lease_is_taken_over_at_the_next_retry(
    electors: list[tuple[LeaderElector, Recorder]], cluster: KubeCluster, unique_name: str
) -> None:
    for elector, _ in electors:
        elector.start()
    wait_for(lambda: any(e.is_leader for e, _ in electors), timeout=20, what="a leader")
    leader, follower = sorted(electors, key=lambda pair: not pair[0].is_leader)
    wait_for(lambda: follower[0].holder == leader[0].identity, timeout=10, what="the follower to see the holder")
    assert not follower[0].is_leader and not follower[1].acquired.is_set()
    api = LeaseApi(cluster, unique_name, "extctl-leader-default", timeout=5)
    def renewal() -> StoredLease | None:
        lease = api.read()
        return lease if lease is not None and lease.record.renew_time != lease.record.acquire_time else None

    renewed = wait_for(renewal, timeout=10, what="a renewal", interval=0.1)
    assert renewed.record.holder == leader[0].identity

    stopped_at = time.monotonic()
    leader[0].stop()  # releases the Lease
    assert not leader[0].is_leader and leader[1].lost == []
    wait_for(lambda: follower[0].is_leader, timeout=10, what="the follower to take over")
    took = time.monotonic() - stopped_at
    assert took < 6.0, f"took {took:.1f}s: a released Lease is taken at the next retry, not after the lease duration"
    lease = api.read()
    assert lease is not None and lease.record.holder == follower[0].identity and lease.record.transitions == 1


def test_a_leader_whose_lease_is_taken_loses_it_and_says_why(
    electors: list[tuple[LeaderElector, Recorder]], cluster: KubeCluster, unique_name: str
) -> None:
    (elector, recorder), _ = electors
    elector.start()
    wait_for(lambda: elector.is_leader, timeout=20, what="the elector to lead")
    api = LeaseApi(cluster, unique_name, "extctl-leader-default", timeout=5)
    current = api.read()
    assert current is not None
    # Someone else takes the Lease (as a replica would after an expiry this one did not notice).
    stolen = api.replace(LeaseRecord("intruder", 15, "x", micro_time(0), current.record.transitions + 1),
                         current.resource_version)
    assert stolen is not None
    wait_for(lambda: recorder.lost, timeout=10, what="the loss to be noticed")
    assert not elector.is_leader and "held by intruder" in recorder.lost[0]
    elector.stop()
    after = api.read()
    assert after is not None and after.record.holder == "intruder", "a replica that lost the Lease does not release it"
