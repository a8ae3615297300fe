"""Planner tables: which state and action each (desired, observed) pair yields, why, and in what order."""

from __future__ import annotations

from typing import NamedTuple

import pytest

from controller.models.desired import (
    LABEL_DEPENDS_ON,
    LABEL_DIGEST,
    LABEL_EXTENSION,
    LABEL_INSTANCE,
    LABEL_MANAGED_BY,
    DesiredRelease,
)
from controller.models.manifests import ChartRef
from controller.models.observed import ObservedRelease
from controller.models.plan import ActionKind, Hold, HoldKind, Policy, ReleaseState, plan
from controller.models.remediation import ExtensionState, FailureRecord, fingerprint
from controller.models.resolution import Resolution, ResolutionRule

CHART = ChartRef(repository="charts", name="agent")
NOW = 1_000_000.0


def desired(name: str, *, version: str = "1.1.0", digest: str = "d1", ns: str = "ns",
            depends_on: tuple[str, ...] = (), chart: ChartRef = CHART) -> DesiredRelease:
    resolution = Resolution(version=version, rule=ResolutionRule.LATEST_IN_TRAIN,
                            explanation=f"{version} is the newest on stable", train="stable")
    return DesiredRelease(extension=name, namespace=ns, chart=chart, version=version, resolution=resolution,
                          values={}, values_digest=digest, depends_on=depends_on)


def observed(name: str, *, version: str | None = "1.1.0", digest: str = "d1", ns: str = "ns",
             status: str = "deployed", owner: str | None = "self", depends_on: str = "", chart: str = "agent",
             instance: str = "default", revision: int = 1, deployed: int | None = None,
             updated_at: float | None = None) -> ObservedRelease:
    """A release as the observer reports it: a deployed release's last deployed revision is its own;
    for a failed or locked one it is ``deployed`` (read from helm history; None: never deployed)."""
    labels = {}
    if owner is not None:
        labels = {LABEL_MANAGED_BY: "extctl", LABEL_EXTENSION: name if owner == "self" else owner,
                  LABEL_DIGEST: digest, LABEL_INSTANCE: instance}
        if depends_on:
            labels[LABEL_DEPENDS_ON] = depends_on
    return ObservedRelease(name=name, namespace=ns, revision=revision, status=status, chart_name=chart,
                           chart_version=version, labels=labels, updated_at=updated_at,
                           last_deployed_revision=revision if status == "deployed" else deployed)


def failure(of: DesiredRelease, failures: int, *, retry_in: float = 0.0, permanent: bool = False,
            reason: str = "UpgradeFailed") -> ExtensionState:
    """What the state store remembers after ``failures`` failed attempts at ``of``."""
    return ExtensionState(failure=FailureRecord(failures=failures, fingerprint=fingerprint(of), last_error="boom",
                                                last_failed_at=NOW - 1, next_retry_at=NOW + retry_in,
                                                permanent=permanent, reason=reason))


class Want(NamedTuple):
    extension: str
    kind: ActionKind
    state: ReleaseState
    reason: str
    error_reason: str | None = None


@pytest.mark.parametrize(
    ("desired_set", "observed_set", "holds", "expected"),
    [
        pytest.param([desired("a")], [], {},
                     [Want("a", ActionKind.INSTALL, ReleaseState.ABSENT, "not installed")], id="fresh install"),
        pytest.param([desired("a")], [observed("a")], {},
                     [Want("a", ActionKind.NOOP, ReleaseState.IN_SYNC, "up to date")], id="unchanged"),
        pytest.param([desired("a", version="1.2.0")], [observed("a", version="1.1.0")], {},
                     [Want("a", ActionKind.UPGRADE, ReleaseState.OUT_OF_SYNC, "chart version 1.1.0 → 1.2.0")],
                     id="version bump"),
        pytest.param([desired("a", version="1.1.0")], [observed("a", version="1.2.0")], {},
                     [Want("a", ActionKind.DOWNGRADE, ReleaseState.OUT_OF_SYNC, "chart version 1.2.0 → 1.1.0")],
                     id="version pinned down"),
        pytest.param([desired("a", digest="d2")], [observed("a", digest="d1")], {},
                     [Want("a", ActionKind.UPGRADE, ReleaseState.OUT_OF_SYNC, "values digest changed d1 → d2")],
                     id="settings change"),
        pytest.param([desired("a")], [observed("a", status="failed", revision=2, deployed=1)], {},
                     [Want("a", ActionKind.UPGRADE, ReleaseState.FAILED, "previous attempt failed")],
                     id="failed upgrade retried"),
        pytest.param([desired("a")], [observed("a", status="failed", revision=1, deployed=None)], {},
                     [Want("a", ActionKind.REINSTALL, ReleaseState.FAILED_FIRST_INSTALL, "first install failed")],
                     id="failed first install reinstalled"),
        pytest.param([desired("a")], [observed("a", chart="other")], {},
                     [Want("a", ActionKind.UPGRADE, ReleaseState.OUT_OF_SYNC, "chart changed other → agent")],
                     id="chart swapped"),
        pytest.param([], [observed("a")], {},
                     [Want("a", ActionKind.UNINSTALL, ReleaseState.ORPHANED, "owned release no longer in Git")],
                     id="removed from git"),
        pytest.param([], [observed("a", owner=None)], {}, [], id="unowned release untouched"),
        pytest.param([desired("a")], [observed("a", owner=None)], {},
                     [Want("a", ActionKind.FAIL, ReleaseState.FOREIGN, "managed by something other than extctl",
                           "Conflict")],
                     id="unowned clash is a conflict"),
        pytest.param([desired("a")], [observed("a", owner="b")], {},
                     [Want("a", ActionKind.FAIL, ReleaseState.FOREIGN, "managed by extension 'b'", "Conflict"),
                      Want("b", ActionKind.UNINSTALL, ReleaseState.ORPHANED, "no longer in Git")],
                     id="release of a removed extension"),
        pytest.param([], [observed("a", instance="team-b")], {}, [], id="other instance's release is never pruned"),
        pytest.param([desired("a")], [observed("a", instance="team-b")], {},
                     [Want("a", ActionKind.FAIL, ReleaseState.FOREIGN, "managed by extctl instance 'team-b'",
                           "Conflict")],
                     id="other instance's release is a conflict"),
        pytest.param([], [observed("a")], {"a": Hold(HoldKind.SUSPENDED, "suspended")},
                     [Want("a", ActionKind.SKIP, ReleaseState.SUSPENDED, "suspended")],
                     id="suspended never uninstalled"),
        pytest.param([], [observed("a")], {"a": Hold(HoldKind.PENDING, "pending: Secret x")},
                     [Want("a", ActionKind.SKIP, ReleaseState.PENDING, "pending: Secret x")],
                     id="pending secret keeps release"),
        pytest.param([], [observed("a")], {"a": Hold(HoldKind.ERROR, "version resolution failed: none")},
                     [Want("a", ActionKind.FAIL, ReleaseState.BLOCKED, "version resolution failed", "Blocked")],
                     id="unresolvable extension keeps release and fails"),
        pytest.param([desired("a", depends_on=("b",)), desired("b")], [observed("a"), observed("b")], {},
                     [Want("b", ActionKind.NOOP, ReleaseState.IN_SYNC, "up to date"),
                      Want("a", ActionKind.UPGRADE, ReleaseState.OUT_OF_SYNC, "dependsOn changed none → b")],
                     id="dependsOn added"),
        pytest.param([desired("a", depends_on=("b",)), desired("b")], [observed("a", depends_on="b"), observed("b")],
                     {},
                     [Want("b", ActionKind.NOOP, ReleaseState.IN_SYNC, "up to date"),
                      Want("a", ActionKind.NOOP, ReleaseState.IN_SYNC, "up to date")],
                     id="dependsOn unchanged"),
        pytest.param([desired("a", version="1.2.0")], [observed("a", status="pending-upgrade")], {},
                     [Want("a", ActionKind.SKIP, ReleaseState.LOCKED, "locked in status pending-upgrade")],
                     id="locked release of unknown age skipped"),
        pytest.param([desired("a", ns="new")], [observed("a", ns="old")], {},
                     [Want("a", ActionKind.INSTALL, ReleaseState.ABSENT, "not installed"),
                      Want("a", ActionKind.UNINSTALL, ReleaseState.ORPHANED, "moved to namespace new")],
                     id="moved namespace"),
    ],
)
def test_plan_table(desired_set: list[DesiredRelease], observed_set: list[ObservedRelease],
                    holds: dict[str, Hold], expected: list[Want]) -> None:
    result = plan(desired_set, observed_set, holds, now=NOW)
    got = [(a.extension, a.kind, a.state) for a in result.actions]
    assert got == [(w.extension, w.kind, w.state) for w in expected]
    for action, want in zip(result.actions, expected, strict=True):
        assert want.reason in action.reason, action.reason
        assert action.error_reason == want.error_reason, action
        assert action.changes_cluster is (want.kind in {ActionKind.INSTALL, ActionKind.UPGRADE, ActionKind.DOWNGRADE,
                                                         ActionKind.REINSTALL, ActionKind.UNINSTALL})


def test_versions_shown_for_each_action() -> None:
    result = plan([desired("up", version="1.2.0"), desired("down", version="1.0.0"), desired("new")],
                  [observed("up"), observed("down"), observed("gone", version="3.0.0")]).by_key()
    assert (result["up"].from_version, result["up"].to_version) == ("1.1.0", "1.2.0")
    assert (result["down"].kind, result["down"].from_version, result["down"].to_version) == (
        ActionKind.DOWNGRADE, "1.1.0", "1.0.0")
    assert (result["new"].from_version, result["new"].to_version) == (None, "1.1.0")
    gone = result["uninstall:ns/gone"]
    assert (gone.kind, gone.removal, gone.from_version, gone.to_version) == (ActionKind.UNINSTALL, True, "3.0.0", None)


def test_stale_lock_is_unlocked_to_its_last_deployed_revision() -> None:
    stuck = observed("a", status="pending-upgrade", revision=4, deployed=3, updated_at=NOW - 600)
    action = plan([desired("a", version="1.2.0")], [stuck], now=NOW, policy=Policy(lock_timeout_s=300)).actions[0]
    assert (action.kind, action.state, action.unlock_to, action.to_version) == (
        ActionKind.UNLOCK, ReleaseState.LOCKED_STALE, 3, None)
    assert "roll back to revision 3" in action.reason
    assert action.changes_cluster


def test_in_flight_release_is_never_unlocked() -> None:
    stuck = observed("a", status="pending-upgrade", revision=4, deployed=3, updated_at=NOW - 3600)
    action = plan([desired("a", version="1.2.0")], [stuck], now=NOW, in_flight=frozenset({("ns", "a")})).actions[0]
    assert (action.kind, action.state) == (ActionKind.SKIP, ReleaseState.LOCKED)


def test_remembered_failures_gate_the_plan() -> None:
    wanted = [desired(name, version="1.2.0") for name in ("backoff", "retry", "strict", "broken")]
    remembered = {"backoff": failure(wanted[0], 1, retry_in=30), "retry": failure(wanted[1], 2),
                  "strict": failure(wanted[2], 1),
                  "broken": failure(wanted[3], 1, permanent=True, reason="RenderFailed")}
    result = plan(wanted, [observed(d.extension) for d in wanted], remembered=remembered, retries={"strict": 0},
                  now=NOW).by_key()
    assert (result["backoff"].kind, result["backoff"].state) == (ActionKind.SKIP, ReleaseState.BACKING_OFF)
    assert "next attempt in 30s" in result["backoff"].reason
    assert (result["retry"].kind, result["retry"].note) == (ActionKind.UPGRADE, "retry 2 of 3")
    assert result["retry"].reason.endswith("retry 2 of 3")
    assert (result["strict"].kind, result["strict"].error_reason) == (ActionKind.FAIL, "RetriesExhausted")
    assert (result["broken"].kind, result["broken"].error_reason) == (ActionKind.FAIL, "FailedPermanently")
    assert "RenderFailed" in result["broken"].reason


def test_instance_policy_decides_ownership() -> None:
    releases = [observed("mine", instance="team-b"), observed("theirs", instance="default")]
    result = plan([], releases, policy=Policy(instance="team-b"))
    assert [(a.extension, a.kind) for a in result.actions] == [("mine", ActionKind.UNINSTALL)]


def test_dependencies_first_ties_by_name_and_waits() -> None:
    result = plan([desired("web", depends_on=("db", "cache")), desired("db"), desired("cache"), desired("zeta")], [])
    assert [a.extension for a in result.actions] == ["cache", "db", "web", "zeta"]
    assert result.by_key()["web"].waits_for == ("cache", "db")
    assert result.by_key()["db"].waits_for == ()


def test_uninstalls_run_in_reverse_dependency_order() -> None:
    result = plan([], [observed("db"), observed("web", depends_on="db"), observed("api", depends_on="db_web")])
    assert [a.extension for a in result.actions] == ["api", "web", "db"]
    db = next(a for a in result.actions if a.extension == "db")
    assert set(db.waits_for) == {"uninstall:ns/api", "uninstall:ns/web"}


def test_plan_is_deterministic() -> None:
    items = [desired(n) for n in ("c", "a", "b")]
    assert plan(items, []).actions == plan(list(reversed(items)), []).actions
