"""Leader election (issue 13): ``extctl run --leader-elect`` replicas against one sandbox, as subprocesses.

Exactly one replica applies while the others answer ``/readyz`` 503 (and refuse webhooks); a leader
SIGKILLed in the middle of a helm upgrade is replaced within the lease duration plus a retry, and the new
leader recovers the release the dead one left pending (rollback, then the upgrade again); a leader
stopped with SIGTERM turns not-ready first, finishes its running upgrade, releases the Lease, and the
next replica takes over at its next retry. helm's history shows every action exactly once.
Short timings: lease 3 s, renew deadline 2 s, retry 0.5 s.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.extctl import extension
from tests.support.git_remote import GitRemote
from tests.support.localnet import wait_for
from tests.support.sandbox import SandboxHandle
from tests.support.scenario import Scenario, helm_processes
from tests.support.webhooks import SECRET, agent_scenario, get, github_push

pytestmark = pytest.mark.integration

LEASE_S, RETRY_S = 3.0, 0.5


@pytest.fixture
def scenario(sandbox: SandboxHandle, git_remote: GitRemote, chart_repo_factory: Any, unique_name: str,
             tmp_path: Path) -> Scenario:
    return agent_scenario(sandbox, git_remote, chart_repo_factory, unique_name, tmp_path)


class Replica:
    def __init__(self, s: Scenario, tmp_path: Path, name: str) -> None:
        secret = tmp_path / "webhook-secret"
        secret.write_text(SECRET)
        self.name = name
        self.run = s.start_run(
            "--interval", "1s", "--min-interval", "1s",
            "--leader-elect", "--leader-election-lease-duration", f"{LEASE_S:g}s",
            "--leader-election-renew-deadline", "2s", "--leader-election-retry-period", f"{RETRY_S:g}s",
            "--lock-timeout", "1s", "--wait", "false", "--http-addr", "127.0.0.1:0",
            "--webhook-secret-file", str(secret), log_dir=tmp_path / name)
        self.base = f"http://127.0.0.1:{self.run.wait_for_event('http.listening', timeout=60)['port']}"
        self.identity = ""

    @property
    def leads(self) -> bool:
        acquired = self.run.events("leader.acquired")
        if acquired:
            self.identity = acquired[-1]["identity"]
        return bool(acquired)

    def ready(self) -> tuple[int, str]:
        return get(f"{self.base}/readyz")

    def changes(self) -> list[tuple[str, str]]:
        return [(e["action"], e["outcome"]) for e in self.run.events("extension.action") if e["action"] != "noop"]


def status_is(s: Scenario, expected: tuple[int, str]) -> bool:
    return s.statuses().get("agent") == expected


def commit(s: Scenario, level: str, delay: int = 0) -> str:
    settings: dict[str, Any] = {"logLevel": level}
    if delay:
        settings["annotations"] = {"sandbox.extctl.dev/delay-seconds": str(delay)}
    return s.remote.commit({"extensions/agent.yaml": extension("agent", "demo.agent", s.ns, settings=settings)},
                           message=level)


def test_one_leader_applies_a_killed_one_is_replaced_and_a_stopped_one_hands_over(
    scenario: Scenario, tmp_path: Path
) -> None:
    s = scenario
    a, b = Replica(s, tmp_path, "a"), Replica(s, tmp_path, "b")
    replicas = [a, b]
    try:
        leader = wait_for(lambda: next((r for r in (a, b) if r.leads), None), timeout=30, what="a leader")
        follower = b if leader is a else a
        leader.run.wait_for_event("reconcile.summary", outcome="applied", timeout=60)
        assert s.statuses() == {"agent": (1, "deployed")}
        wait_for(lambda: leader.ready()[0] == 200, timeout=30, what="the leader to be ready")
        status, text = follower.ready()
        assert status == 503 and f"is held by {leader.identity}" in text, text
        assert get(f"{follower.base}/healthz")[0] == 200, "a follower is alive"
        assert github_push(follower.base, "a" * 40)[0] == 503, "a follower refuses a webhook"
        assert not follower.run.events("reconcile.summary") and not follower.leads, "only the leader runs passes"

        # The leader dies in the middle of a helm upgrade (node loss: extctl and helm are SIGKILLed together).
        commit(s, "debug", delay=3)
        wait_for(lambda: status_is(s, (2, "pending-upgrade")), timeout=60, what="the upgrade", interval=0.2)
        assert helm_processes("upgrade", "agent")
        killed_at = time.monotonic()
        leader.run.kill_group()
        follower.run.wait_for_event("leader.acquired", timeout=30)
        took = time.monotonic() - killed_at
        assert took <= LEASE_S + 1.2 * RETRY_S + 2.0, f"took over after {took:.1f}s"
        wait_for(lambda: status_is(s, (4, "deployed")), timeout=60, what="the recovered upgrade", interval=0.2)
        assert s.values("agent")["logLevel"] == "debug"
        assert follower.changes() == [("unlock", "succeeded"), ("upgrade", "succeeded")]
        recovered = time.monotonic() - killed_at
        assert recovered <= LEASE_S + 1.2 * RETRY_S + 15, f"recovered after {recovered:.1f}s"

        # A third replica joins; the leader is stopped (SIGTERM) during another slow upgrade.
        new_leader, c = follower, Replica(s, tmp_path, "c")
        replicas.append(c)
        wait_for(lambda: new_leader.ready()[0] == 200, timeout=30, what="the new leader to be ready")
        wait_for(lambda: "held by" in c.ready()[1], timeout=30, what="the third replica to follow")
        commit(s, "warning", delay=4)  # a changed annotation: in the patch, so delayed again
        wait_for(lambda: status_is(s, (5, "pending-upgrade")), timeout=60, what="the second upgrade", interval=0.2)
        new_leader.run.process.terminate()
        status, text = wait_for(lambda: (answer := new_leader.ready())[0] == 503 and answer, timeout=10,
                                what="/readyz to fail on SIGTERM")
        assert text == "failed: shutting down\n"
        assert helm_processes("upgrade", "agent"), "/readyz failed first, while the upgrade still runs"
        stopped = new_leader.run.terminate(timeout=60)
        stopped_at = time.monotonic()
        assert stopped.returncode == 0 and "Traceback" not in stopped.stderr
        assert [e["event"] for e in stopped.events if e.get("event") in {"leader.released", "controller.stopped"}] \
            == ["leader.released", "controller.stopped"]
        assert s.statuses()["agent"] == (5, "deployed"), "the running upgrade finished"
        c.run.wait_for_event("leader.acquired", timeout=30)
        assert time.monotonic() - stopped_at < LEASE_S, "a released Lease is taken at the next retry"
        c.run.wait_for_event("reconcile.summary", outcome="applied", timeout=60)
        assert c.changes() == [], "the new leader finds everything in sync"
        assert s.values("agent")["logLevel"] == "warning"
    finally:
        for replica in replicas:
            replica.run.kill_group()
    history = [(h["revision"], h["status"], h["description"]) for h in s.history("agent")]
    assert [(rev, status) for rev, status, _ in history] == [
        (1, "superseded"), (2, "pending-upgrade"), (3, "superseded"), (4, "superseded"), (5, "deployed")], history
    assert [history[i][2] for i in (0, 2, 3, 4)] == ["Install complete", "Rollback to 1", "Upgrade complete",
                                                     "Upgrade complete"], history
    everyone = sorted(change for r in replicas for change in r.changes())
    assert everyone == [("install", "succeeded"), ("unlock", "succeeded"), ("upgrade", "succeeded"),
                        ("upgrade", "succeeded")], "every action once, by the replica that led at the time"


def test_a_leader_that_loses_the_lease_mid_pass_starts_no_new_action_and_steps_down(
    scenario: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Lease is taken from the leader while its first action runs; the action it has not started (its
    dependent) is skipped, the running one finishes, and the replica follows until the Lease is free again."""
    from controller.cluster import KubeCluster
    from controller.cluster.lease import LeaseApi, micro_time
    from controller.models.leader import LeaseRecord

    s = scenario
    s.remote.commit({"extensions/web.yaml": extension("web", "demo.agent", s.ns, depends_on=["agent"])},
                    message="web after agent")
    replica = Replica(s, tmp_path, "only")
    try:
        wait_for(lambda: replica.leads, timeout=30, what="the replica to lead")
        replica.run.wait_for_event("reconcile.summary", outcome="applied", timeout=60)
        assert {name: status for name, (_, status) in s.statuses().items()} == {"agent": "deployed",
                                                                               "web": "deployed"}
        s.remote.commit({
            "extensions/agent.yaml": extension("agent", "demo.agent", s.ns, settings={
                "logLevel": "debug", "annotations": {"sandbox.extctl.dev/delay-seconds": "3"}}),
            "extensions/web.yaml": extension("web", "demo.agent", s.ns, depends_on=["agent"],
                                             settings={"logLevel": "debug"})}, message="both change")
        wait_for(lambda: s.statuses().get("agent") == (2, "pending-upgrade"), timeout=60, what="agent's upgrade",
                 interval=0.2)
        monkeypatch.setenv("KUBECONFIG", s.sandbox.env["KUBECONFIG"])
        api = LeaseApi(KubeCluster(), "extctl-system", f"extctl-leader-{s.ns}", timeout=5)
        held = api.read()
        assert held is not None and held.record.holder == replica.identity
        taken = api.replace(LeaseRecord("intruder", int(LEASE_S), "x", micro_time(time.time()),
                                        held.record.transitions + 1), held.resource_version)
        assert taken is not None, "the Lease was taken (or renewed in between: the test would retry)"
        lost = replica.run.wait_for_event("leader.lost", timeout=10)
        assert "held by intruder" in lost["reason"]
        replica.run.wait_for_event("controller.stepped_down", timeout=30)
        actions = {e["extension"]: e for e in replica.run.events("extension.action")[2:]}
        assert (actions["agent"]["action"], actions["agent"]["outcome"]) == ("upgrade", "succeeded"), \
            "the running action finished"
        assert (actions["web"]["action"], actions["web"]["outcome"]) == ("upgrade", "skipped")
        assert "not started: the Lease is held by intruder now" in actions["web"]["reason"]
        assert s.statuses()["web"] == (1, "deployed"), "no helm action started after the loss"
        status, text = replica.ready()
        assert status == 503 and "held by intruder" in text, text
        # The intruder never renews: the replica takes the Lease back after the lease duration, and applies.
        again = replica.run.wait_for_event("leader.acquired", after=1, timeout=30)
        assert again["previous_holder"] == "intruder"
        wait_for(lambda: s.statuses().get("web") == (2, "deployed"), timeout=60, what="web's upgrade", interval=0.2)
        assert replica.run.process.poll() is None, "the replica stepped down, it did not exit"
        result = replica.run.terminate()
    finally:
        replica.run.kill_group()
    assert result.returncode == 0 and "Traceback" not in result.stderr
