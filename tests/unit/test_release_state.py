"""Tables for ``controller.models.release_state``: facts → one release state → one action, and the gates.

Every ``ReleaseState`` is reached by at least one case below (``test_every_state_is_covered``), and
the state → action table is spelled out here in full, so a change to either shows up as a test diff.
"""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

import pytest

from controller.models.desired import LABEL_HELM_REVISION, DesiredRelease
from controller.models.drift import FieldChange, ObjectDrift, ObjectRef, ReleaseDrift
from controller.models.manifests import ChartRef, DriftDetection, DriftIgnoreRule, DriftMode
from controller.models.observed import ObservedRelease
from controller.models.plan import Hold, HoldKind, guard_prune, plan
from controller.models.release_state import (
    ACTION_FOR_STATE,
    FAIL_REASON,
    ActionKind,
    Facts,
    Policy,
    ReleaseState,
    RemediationStep,
    StateDecision,
    dependency_not_ready,
    determine_state,
    remediation_for,
    satisfies_dependents,
)
from controller.models.remediation import ExtensionState, FailureRecord, fingerprint
from tests.unit.test_plan import CHART, NOW, desired, failure, observed

S = ReleaseState
A = ActionKind
POLICY = Policy()  # instance "default", 3 retries, 300 s lock timeout, 48 h pending timeout, drift warn
WANTED = desired("a", version="1.2.0")
ADOPT = replace(WANTED, take_ownership=True)
DRIFT = ReleaseDrift((ObjectDrift(ObjectRef("v1", "ConfigMap", "a-settings", "ns"), deleted=True),
                      ObjectDrift(ObjectRef("apps/v1", "Deployment", "a", "ns"),
                                  changes=(FieldChange("/spec/replicas", "1", "9"),))))


def mode(wanted: DesiredRelease, drift_mode: str, ignore: tuple[DriftIgnoreRule, ...] = ()) -> DesiredRelease:
    return replace(wanted, drift=DriftDetection(DriftMode(drift_mode), ignore))


def made_by_extctl(made: int, *, revision: int) -> ObservedRelease:
    """An owned, deployed release at ``revision`` whose last extctl install/upgrade made revision ``made``."""
    current = observed("a", version="1.2.0", revision=revision)
    return replace(current, labels={**current.labels, LABEL_HELM_REVISION: str(made)})


def drifted(*, version: str = "1.2.0", revision: int = 1, labels: dict[str, str] | None = None) -> ObservedRelease:
    """An owned, deployed release whose drift check found ``DRIFT`` (extra ``labels`` on the release)."""
    current = observed("a", version=version, revision=revision)
    return replace(current, drift=DRIFT, labels={**current.labels, **(labels or {})})

EXPECTED_ACTION: dict[ReleaseState, ActionKind] = {
    S.ABSENT: A.INSTALL,
    S.FOREIGN: A.FAIL,
    S.UNOWNED: A.UPGRADE,
    S.LOCKED: A.SKIP,
    S.LOCKED_STALE: A.UNLOCK,
    S.FAILED_FIRST_INSTALL: A.REINSTALL,
    S.FAILED: A.UPGRADE,
    S.OUT_OF_SYNC: A.UPGRADE,
    S.IN_SYNC: A.NOOP,
    S.DRIFTED: A.UPGRADE,
    S.DRIFT_REPORTED: A.NOOP,
    S.SUSPENDED: A.SKIP,
    S.PENDING: A.SKIP,
    S.PENDING_EXPIRED: A.FAIL,
    S.BLOCKED: A.FAIL,
    S.BACKING_OFF: A.SKIP,
    S.RETRIES_EXHAUSTED: A.FAIL,
    S.FAILED_PERMANENTLY: A.FAIL,
    S.DEPENDENCY_NOT_READY: A.SKIP,
    S.ORPHANED: A.UNINSTALL,
    S.PRUNE_REFUSED: A.SKIP,
}
EXPECTED_FAIL_REASON = {
    S.FOREIGN: "Conflict",
    S.PENDING_EXPIRED: "PendingTimeout",
    S.BLOCKED: "Blocked",
    S.RETRIES_EXHAUSTED: "RetriesExhausted",
    S.FAILED_PERMANENTLY: "FailedPermanently",
}


class Want(NamedTuple):
    state: ReleaseState
    action: ActionKind
    reason: str  # a part of one of the decision's reasons
    unlock_to: int | None = None
    note: str | None = None


def held(kind: str, reason: str, *, current: ObservedRelease | None = None,
         pending_since: float | None = None) -> Facts:
    return Facts("a", hold_kind=kind, hold_reason=reason, observed=current,
                 remembered=ExtensionState(pending_since=pending_since))


def check(decision: StateDecision, want: Want) -> None:
    """The decision a user sees: state, action, reason, and the fields that go with them."""
    assert (decision.state, decision.action) == (want.state, want.action), decision
    assert any(want.reason in r for r in decision.reasons), decision.reasons
    assert decision.error_reason == EXPECTED_FAIL_REASON.get(want.state), decision
    assert (decision.error_reason is not None) is (decision.action is A.FAIL), "a fail carries its reason, only a fail"
    assert decision.unlock_to == want.unlock_to
    assert decision.note == want.note


# ------------------------------------------------------------------------------------ one case per state
STATE_CASES = [
    pytest.param(Facts("a", desired=WANTED), POLICY, Want(S.ABSENT, A.INSTALL, "not installed"), id="absent"),
    pytest.param(Facts("a", desired=WANTED, observed=observed("a", owner=None)), POLICY,
                 Want(S.FOREIGN, A.FAIL, "managed by something other than extctl; extctl does not modify it unless "
                      "told to: to adopt it (an upgrade, no uninstall), set spec.takeOwnership: true on the extension "
                      "or run with --take-ownership"), id="foreign: not extctl's, with the hint to adopt it"),
    pytest.param(Facts("a", desired=ADOPT, observed=observed("a", owner=None, revision=4)), POLICY,
                 Want(S.UNOWNED, A.UPGRADE, "no extctl instance owns it; takeOwnership: adopt it with helm upgrade "
                      "--take-ownership (adds extctl's labels; revision 4 → 5, its objects keep their uids)"),
                 id="unowned: spec.takeOwnership adopts it"),
    pytest.param(Facts("a", desired=WANTED, observed=observed("a", owner=None)), Policy(take_ownership=True),
                 Want(S.UNOWNED, A.UPGRADE, "takeOwnership: adopt it"), id="unowned: --take-ownership adopts it"),
    pytest.param(Facts("a", desired=ADOPT, observed=observed("a", instance="team-b")), Policy(take_ownership=True),
                 Want(S.FOREIGN, A.FAIL, "extctl never takes over a release another extctl instance or extension "
                      "owns"), id="another instance's release is never adopted"),
    pytest.param(Facts("a", desired=ADOPT, observed=observed("a", owner="b")), POLICY,
                 Want(S.FOREIGN, A.FAIL, "managed by extension 'b'"),
                 id="another extension's release is never adopted"),
    pytest.param(Facts("a", desired=ADOPT, observed=observed("a", owner=None, status="pending-upgrade",
                                                             updated_at=NOW - 3600)), POLICY,
                 Want(S.LOCKED, A.SKIP, "adopted once the helm operation holding it ends"),
                 id="an unowned release is adopted only once it is unlocked"),
    pytest.param(Facts("a", desired=ADOPT, observed=observed("a", owner=None),
                       remembered=failure(ADOPT, 1, retry_in=9)), POLICY,
                 Want(S.BACKING_OFF, A.SKIP, "backing off"), id="a failed adoption backs off"),
    pytest.param(Facts("a", desired=WANTED, observed=drifted()), POLICY,
                 Want(S.DRIFT_REPORTED, A.NOOP, "drift (driftDetection warn: reported, not corrected): ConfigMap "
                      "ns/a-settings deleted; Deployment ns/a: /spec/replicas (1 → 9)"), id="drift-reported: warn"),
    pytest.param(Facts("a", desired=mode(WANTED, "enabled"), observed=drifted()), POLICY,
                 Want(S.DRIFTED, A.UPGRADE, "drift (driftDetection enabled: an upgrade restores it): ConfigMap "
                      "ns/a-settings deleted"), id="drifted: enabled corrects it"),
    pytest.param(Facts("a", desired=WANTED, observed=drifted()), Policy(drift_mode=DriftMode.ENABLED),
                 Want(S.DRIFTED, A.UPGRADE, "an upgrade restores it"), id="drifted: --drift-detection enabled"),
    pytest.param(Facts("a", desired=mode(WANTED, "disabled"), observed=drifted(labels={LABEL_HELM_REVISION: "1"},
                                                                              revision=3)),
                 Policy(drift_mode=DriftMode.ENABLED), Want(S.IN_SYNC, A.NOOP, "up to date"),
                 id="drift disabled says nothing"),
    pytest.param(Facts("a", desired=mode(WANTED, "enabled"), observed=made_by_extctl(2, revision=3)),
                 POLICY, Want(S.DRIFTED, A.UPGRADE, "helm revision 3 was not made by extctl (its last install or "
                              "upgrade made revision 2)"), id="out-of-band helm revision is drift"),
    pytest.param(Facts("a", desired=WANTED, observed=made_by_extctl(3, revision=3)),
                 POLICY, Want(S.IN_SYNC, A.NOOP, "up to date"), id="the revision extctl made is not drift"),
    pytest.param(Facts("a", desired=mode(WANTED, "enabled", ignore=(
        DriftIgnoreRule(("/spec/replicas",), kind="Deployment"), DriftIgnoreRule(("",), name="a-settings"))),
        observed=drifted()), POLICY, Want(S.IN_SYNC, A.NOOP, "up to date"), id="ignored drift is no drift"),
    pytest.param(Facts("a", desired=mode(WANTED, "enabled"), observed=drifted(),
                       remembered=failure(WANTED, 4)), POLICY,
                 Want(S.RETRIES_EXHAUSTED, A.FAIL, "retries exhausted"), id="drift correction has the retry gate"),
    pytest.param(Facts("a", desired=WANTED, observed=drifted(version="1.1.0")), POLICY,
                 Want(S.OUT_OF_SYNC, A.UPGRADE, "drift: ConfigMap ns/a-settings deleted"),
                 id="out of sync and drifted: one upgrade for both"),
    pytest.param(Facts("a", desired=WANTED, observed=observed("a", instance="team-b")), POLICY,
                 Want(S.FOREIGN, A.FAIL, "managed by extctl instance 'team-b'"), id="foreign: other instance"),
    pytest.param(Facts("a", desired=WANTED, observed=observed("a", owner="b")), POLICY,
                 Want(S.FOREIGN, A.FAIL, "managed by extension 'b'"), id="foreign: other extension"),
    pytest.param(Facts("a", desired=WANTED, observed=observed("a", instance="team-b", version="1.2.0")),
                 Policy(instance="team-b"), Want(S.IN_SYNC, A.NOOP, "up to date"), id="own instance is not foreign"),
    pytest.param(Facts("a", desired=WANTED, observed=observed("a", owner=None, status="pending-upgrade",
                                                              updated_at=NOW - 3600)), POLICY,
                 Want(S.FOREIGN, A.FAIL, "something other than extctl"), id="foreign stale lock is never unlocked"),
    pytest.param(Facts("a", desired=WANTED, observed=observed("a", status="pending-upgrade", revision=2, deployed=1,
                                                              updated_at=NOW - 10)), POLICY,
                 Want(S.LOCKED, A.SKIP, "locked in status pending-upgrade, 10s old"), id="locked"),
    pytest.param(Facts("a", desired=WANTED, observed=observed("a", status="pending-upgrade", revision=2, deployed=1,
                                                              updated_at=NOW - 600)), POLICY,
                 Want(S.LOCKED_STALE, A.UNLOCK, "stuck in status pending-upgrade for 600s: roll back to revision 1",
                      unlock_to=1), id="locked-stale"),
    pytest.param(Facts("a", desired=WANTED, observed=observed("a", status="failed", deployed=None)), POLICY,
                 Want(S.FAILED_FIRST_INSTALL, A.REINSTALL, "first install failed and was never deployed"),
                 id="failed-first-install"),
    pytest.param(Facts("a", desired=WANTED, observed=observed("a", version="1.2.0", status="failed", revision=2,
                                                              deployed=1)), POLICY,
                 Want(S.FAILED, A.UPGRADE, "previous attempt failed (release status failed)"), id="failed"),
    pytest.param(Facts("a", desired=WANTED, observed=observed("a", version="1.1.0")), POLICY,
                 Want(S.OUT_OF_SYNC, A.UPGRADE, "chart version 1.1.0 → 1.2.0 (1.2.0 is the newest on stable)"),
                 id="out-of-sync"),
    pytest.param(Facts("a", desired=WANTED, observed=observed("a", version="1.2.0")), POLICY,
                 Want(S.IN_SYNC, A.NOOP, "up to date (1.2.0 is the newest on stable)"), id="in-sync"),
    pytest.param(held("suspended", "suspended in Git", current=observed("a")), POLICY,
                 Want(S.SUSPENDED, A.SKIP, "suspended in Git"), id="suspended"),
    pytest.param(held("suspended", "suspended in Git", current=observed("a", status="pending-upgrade",
                                                                        updated_at=NOW - 3600)), POLICY,
                 Want(S.SUSPENDED, A.SKIP, "suspended in Git"), id="suspended stale lock is left alone"),
    pytest.param(held("pending", "waiting for Secret ns/creds"), POLICY,
                 Want(S.PENDING, A.SKIP, "waiting for Secret ns/creds"), id="pending"),
    pytest.param(held("pending", "waiting for Secret ns/creds", pending_since=NOW - 48 * 3600 - 1), POLICY,
                 Want(S.PENDING_EXPIRED, A.FAIL, "pending for more than 48h: waiting for Secret ns/creds"),
                 id="pending-expired"),
    pytest.param(held("error", "version resolution failed: no 2.x", current=observed("a")), POLICY,
                 Want(S.BLOCKED, A.FAIL, "version resolution failed: no 2.x"), id="blocked"),
    pytest.param(Facts("a", desired=WANTED, observed=observed("a"), remembered=failure(WANTED, 2, retry_in=40)),
                 POLICY, Want(S.BACKING_OFF, A.SKIP, "backing off after 2 failure(s): next attempt in 40s"),
                 id="backing-off"),
    pytest.param(Facts("a", desired=WANTED, observed=observed("a"), remembered=failure(WANTED, 4)), POLICY,
                 Want(S.RETRIES_EXHAUSTED, A.FAIL, "retries exhausted (3 of 3 retries failed); last error: boom"),
                 id="retries-exhausted"),
    pytest.param(Facts("a", desired=WANTED, observed=observed("a"),
                       remembered=failure(WANTED, 1, permanent=True, reason="RenderFailed")), POLICY,
                 Want(S.FAILED_PERMANENTLY, A.FAIL, "failed permanently (RenderFailed): boom"),
                 id="failed-permanently"),
    pytest.param(Facts("a", observed=observed("a")), POLICY, Want(S.ORPHANED, A.UNINSTALL, "no longer in Git"),
                 id="orphaned"),
    pytest.param(Facts("a", observed=observed("a", ns="old"), hold_reason="extension a moved to namespace new"),
                 POLICY, Want(S.ORPHANED, A.UNINSTALL, "moved to namespace new"), id="orphaned by a move"),
    pytest.param(Facts("a", desired=WANTED, observed=observed("a", owner=None), remembered=failure(WANTED, 9)),
                 POLICY, Want(S.FOREIGN, A.FAIL, "something other than extctl"),
                 id="foreign is reported before the retry gate"),
    pytest.param(Facts("a", desired=WANTED, observed=observed("a", version="1.2.0"), remembered=failure(WANTED, 9)),
                 POLICY, Want(S.IN_SYNC, A.NOOP, "up to date"), id="in sync needs no retry gate"),
    pytest.param(Facts("a", desired=WANTED, observed=observed("a", status="pending-upgrade", updated_at=NOW - 10),
                       remembered=failure(WANTED, 9)), POLICY,
                 Want(S.LOCKED, A.SKIP, "locked in status pending-upgrade"), id="locked is reported before the gate"),
]


@pytest.mark.parametrize(("facts", "policy", "want"), STATE_CASES)
def test_state_table(facts: Facts, policy: Policy, want: Want) -> None:
    check(determine_state(facts, policy, NOW), want)


# --------------------------------------------------------------------------------- the state → action table
@pytest.mark.parametrize("state", list(ReleaseState), ids=str)
def test_action_for_state(state: ReleaseState) -> None:
    assert ACTION_FOR_STATE[state] is EXPECTED_ACTION[state]


def test_the_action_table_is_complete() -> None:
    assert set(ACTION_FOR_STATE) == set(ReleaseState), "every state has exactly one action"
    assert dict(ACTION_FOR_STATE) == EXPECTED_ACTION


def test_every_fail_state_has_a_reason() -> None:
    assert dict(FAIL_REASON) == EXPECTED_FAIL_REASON
    assert set(FAIL_REASON) == {s for s, a in ACTION_FOR_STATE.items() if a is A.FAIL}


# ------------------------------------------------------------------------------------- upgrade or downgrade
@pytest.mark.parametrize(
    ("installed", "wanted", "action"),
    [
        pytest.param("1.1.0", "1.2.0", A.UPGRADE, id="minor up"),
        pytest.param("1.2.0", "1.1.0", A.DOWNGRADE, id="minor down"),
        pytest.param("2.0.0", "1.9.9", A.DOWNGRADE, id="major down"),
        pytest.param("1.9.0", "1.10.0", A.UPGRADE, id="numeric not lexical: 1.9 → 1.10 is up"),
        pytest.param("1.10.0", "1.9.0", A.DOWNGRADE, id="numeric not lexical: 1.10 → 1.9 is down"),
        pytest.param("1.2.0", "1.2.0-rc.1", A.DOWNGRADE, id="release to its prerelease is down"),
        pytest.param("1.2.0-rc.1", "1.2.0", A.UPGRADE, id="prerelease to its release is up"),
        pytest.param("1.2.0-rc.2", "1.2.0-rc.10", A.UPGRADE, id="prerelease numbers compare numerically up"),
        pytest.param("1.2.0-rc.10", "1.2.0-rc.2", A.DOWNGRADE, id="prerelease numbers compare numerically down"),
        pytest.param("1.2.0-beta", "1.2.0-alpha", A.DOWNGRADE, id="prerelease identifiers compare as text"),
        pytest.param("1.2.0+build.2", "1.2.0+build.1", A.UPGRADE, id="build metadata has no order: upgrade"),
        pytest.param("latest", "1.0.0", A.UPGRADE, id="unparsable installed version: upgrade"),
        pytest.param("v2.0.0", "v1.0.0", A.UPGRADE, id="unparsable v-prefixed versions: upgrade"),
        pytest.param("2.0", "1.0.0", A.UPGRADE, id="not full semver: upgrade"),
        pytest.param(None, "1.0.0", A.UPGRADE, id="unknown installed version: upgrade"),
    ],
)
@pytest.mark.parametrize("status", ["deployed", "failed"])
def test_downgrade_or_upgrade(installed: str | None, wanted: str, action: ActionKind, status: str) -> None:
    facts = Facts("a", desired=desired("a", version=wanted),
                  observed=observed("a", version=installed, status=status, revision=2, deployed=1))
    decision = determine_state(facts, POLICY, NOW)
    assert decision.state is (S.FAILED if status == "failed" else S.OUT_OF_SYNC)
    assert decision.action is action
    assert any(f"chart version {installed} → {wanted}" in r for r in decision.reasons), decision.reasons


def test_a_failed_first_install_is_reinstalled_whatever_the_version() -> None:
    facts = Facts("a", desired=desired("a", version="1.0.0"), observed=observed("a", version="2.0.0", status="failed"))
    assert determine_state(facts, POLICY, NOW).action is A.REINSTALL


# -------------------------------------------------------------------------------------------------- locks
LOCK_CASES = [
    pytest.param("pending-upgrade", 10.0, False, 1, POLICY, Want(S.LOCKED, A.SKIP, "10s old"), id="young lock"),
    pytest.param("pending-upgrade", 299.0, False, 1, POLICY, Want(S.LOCKED, A.SKIP, "lock timeout of 300s"),
                 id="just under the lock timeout"),
    pytest.param("pending-upgrade", 301.0, False, 1, POLICY,
                 Want(S.LOCKED_STALE, A.UNLOCK, "roll back to revision 1; the next pass upgrades it again", 1),
                 id="stale upgrade rolls back to the last deployed revision"),
    pytest.param("pending-rollback", 3600.0, False, 3, POLICY,
                 Want(S.LOCKED_STALE, A.UNLOCK, "roll back to revision 3", 3),
                 id="stale rollback rolls back to the last deployed revision"),
    pytest.param("pending-upgrade", 3600.0, False, None, POLICY,
                 Want(S.LOCKED_STALE, A.UNLOCK, "no deployed revision to return to: uninstall it"),
                 id="stale upgrade never deployed is uninstalled"),
    pytest.param("pending-install", 3600.0, False, None, POLICY,
                 Want(S.LOCKED_STALE, A.UNLOCK, "pending-install for 3600s with no deployed revision"),
                 id="stale install is uninstalled"),
    pytest.param("uninstalling", 3600.0, False, 4, POLICY,
                 Want(S.LOCKED_STALE, A.UNLOCK, "uninstall it; the next pass installs it again"),
                 id="stale uninstall is finished, not rolled back"),
    pytest.param("pending-upgrade", 3600.0, True, 1, POLICY, Want(S.LOCKED, A.SKIP, "another helm operation"),
                 id="in flight in this process: never unlocked however old"),
    pytest.param("pending-install", None, False, None, POLICY, Want(S.LOCKED, A.SKIP, "pending-install ("),
                 id="unknown age: left locked"),
    pytest.param("pending-upgrade", 60.0, False, 1, Policy(lock_timeout_s=30),
                 Want(S.LOCKED_STALE, A.UNLOCK, "stuck in status pending-upgrade for 60s", 1),
                 id="shorter --lock-timeout"),
    pytest.param("pending-upgrade", 600.0, False, 1, Policy(lock_timeout_s=3600),
                 Want(S.LOCKED, A.SKIP, "lock timeout of 3600s"), id="longer --lock-timeout"),
    pytest.param("pending-upgrade", -5.0, False, 1, POLICY, Want(S.LOCKED, A.SKIP, "locked"),
                 id="updated in the future (clock skew): young"),
]


def test_a_lock_is_young_for_as_long_as_the_extensions_own_timeout() -> None:
    slow = replace(WANTED, timeout_s=900.0)  # spec.timeout: 15m, longer than --lock-timeout (300 s)
    current = observed("a", status="pending-upgrade", revision=5, deployed=4, updated_at=NOW - 600)
    check(determine_state(Facts("a", desired=slow, observed=current), POLICY, NOW),
          Want(S.LOCKED, A.SKIP, "lock timeout of 900s"))
    current = replace(current, updated_at=NOW - 901)
    check(determine_state(Facts("a", desired=slow, observed=current), POLICY, NOW),
          Want(S.LOCKED_STALE, A.UNLOCK, "roll back to revision 4", 4))


@pytest.mark.parametrize(("status", "age", "in_flight", "deployed", "policy", "want"), LOCK_CASES)
def test_lock_table(*, status: str, age: float | None, in_flight: bool, deployed: int | None, policy: Policy,
                    want: Want) -> None:
    current = observed("a", status=status, revision=5, deployed=deployed,
                       updated_at=None if age is None else NOW - age)
    check(determine_state(Facts("a", desired=WANTED, observed=current, in_flight=in_flight), policy, NOW), want)


@pytest.mark.parametrize(
    ("current", "in_flight"),
    [
        pytest.param(observed("a", status="pending-upgrade", revision=2, deployed=1, updated_at=NOW - 10), False,
                     id="young lock"),
        pytest.param(observed("a", status="pending-install", updated_at=None), False, id="lock of unknown age"),
        pytest.param(observed("a", status="pending-upgrade", revision=2, deployed=1, updated_at=NOW - 3600), True,
                     id="in flight in this process"),
    ],
)
def test_an_orphaned_release_that_is_locked_waits_for_its_lock(current: ObservedRelease, in_flight: bool) -> None:
    action = plan([], [current], now=NOW, in_flight=frozenset({current.key}) if in_flight else frozenset()).actions[0]
    assert (action.kind, action.state) == (A.SKIP, S.LOCKED)


# ------------------------------------------------------------------------------------------------ pending
PENDING_CASES = [
    pytest.param(None, POLICY, S.PENDING, id="first pass pending"),
    pytest.param(NOW - 3600, POLICY, S.PENDING, id="pending 1h of 48h"),
    pytest.param(NOW - 48 * 3600, POLICY, S.PENDING, id="exactly 48h is not yet expired"),
    pytest.param(NOW - 48 * 3600 - 1, POLICY, S.PENDING_EXPIRED, id="past 48h expires"),
    pytest.param(NOW - 61, Policy(pending_timeout_s=60), S.PENDING_EXPIRED, id="shorter --pending-timeout"),
    pytest.param(NOW - 59, Policy(pending_timeout_s=60), S.PENDING, id="within a shorter --pending-timeout"),
]


@pytest.mark.parametrize(("since", "policy", "state"), PENDING_CASES)
def test_pending_table(since: float | None, policy: Policy, state: ReleaseState) -> None:
    decision = determine_state(held("pending", "Secret ns/creds has no key token", pending_since=since), policy, NOW)
    assert (decision.state, decision.action, decision.error_reason) == (
        state, EXPECTED_ACTION[state], EXPECTED_FAIL_REASON.get(state))
    assert any("Secret ns/creds has no key token" in r for r in decision.reasons)


# -------------------------------------------------------------------------------------------- retry gate
def _previous(**changes: object) -> DesiredRelease:
    """The desired release a remembered failure was recorded for (``changes`` differ from WANTED)."""
    return replace(WANTED, **changes)  # type: ignore[arg-type]


PROPOSALS = [
    pytest.param(None, S.ABSENT, A.INSTALL, id="install"),
    pytest.param(observed("a", version="1.1.0"), S.OUT_OF_SYNC, A.UPGRADE, id="upgrade"),
    pytest.param(observed("a", version="1.3.0"), S.OUT_OF_SYNC, A.DOWNGRADE, id="downgrade"),
    pytest.param(observed("a", version="1.1.0", status="failed", revision=2, deployed=1), S.FAILED, A.UPGRADE,
                 id="upgrade a failed release"),
    pytest.param(observed("a", status="failed", deployed=None), S.FAILED_FIRST_INSTALL, A.REINSTALL, id="reinstall"),
]
GATES = [
    pytest.param(ExtensionState(), None, None, id="never failed: runs"),
    pytest.param(failure(WANTED, 1, retry_in=30), S.BACKING_OFF, None, id="backing off"),
    pytest.param(failure(WANTED, 1), None, "retry 1 of 3", id="backoff over: retry 1"),
    pytest.param(failure(WANTED, 3), None, "retry 3 of 3", id="last retry"),
    pytest.param(failure(WANTED, 4), S.RETRIES_EXHAUSTED, None, id="exhausted"),
    pytest.param(failure(WANTED, 1, permanent=True), S.FAILED_PERMANENTLY, None, id="permanent"),
    pytest.param(failure(_previous(version="1.1.5"), 4), None, None, id="exhausted, version changed: runs"),
    pytest.param(failure(_previous(values_digest="d0"), 1, permanent=True), None, None,
                 id="permanent, settings changed: runs"),
    pytest.param(failure(_previous(chart=ChartRef("charts", "agent-v2")), 1, retry_in=30), None, None,
                 id="backing off, chart renamed: runs"),
    pytest.param(failure(_previous(chart=ChartRef("oci://mirror/charts", CHART.name)), 4), None, None,
                 id="exhausted, repository changed: runs"),
]


@pytest.mark.parametrize(("remembered", "gated_state", "note"), GATES)
@pytest.mark.parametrize(("current", "state", "action"), PROPOSALS)
def test_retry_gate(*, current: ObservedRelease | None, state: ReleaseState, action: ActionKind,
                    remembered: ExtensionState, gated_state: ReleaseState | None, note: str | None) -> None:
    decision = determine_state(Facts("a", desired=WANTED, observed=current, remembered=remembered), POLICY, NOW)
    if gated_state is None:
        assert (decision.state, decision.action, decision.note) == (state, action, note)
        assert decision.error_reason is None
    else:
        assert (decision.state, decision.action) == (gated_state, EXPECTED_ACTION[gated_state])
        assert decision.error_reason == EXPECTED_FAIL_REASON.get(gated_state)
        assert decision.note is None


def test_gate_reason_names_the_way_out() -> None:
    for record in (failure(WANTED, 4), failure(WANTED, 1, permanent=True)):
        decision = determine_state(Facts("a", desired=WANTED, remembered=record), POLICY, NOW)
        assert "`extctl reconcile --reset NAME`" in decision.reasons[0]
        assert "spec, resolved version or settings change" in decision.reasons[0]


def test_the_gate_does_not_hold_back_an_unlock() -> None:
    """A stale lock is recovered even while the extension's upgrades are exhausted: recovery applies nothing new."""
    stuck = observed("a", status="pending-upgrade", revision=3, deployed=2, updated_at=NOW - 3600)
    decision = determine_state(Facts("a", desired=WANTED, observed=stuck, remembered=failure(WANTED, 9)), POLICY, NOW)
    assert (decision.state, decision.action, decision.unlock_to) == (S.LOCKED_STALE, A.UNLOCK, 2)


# ------------------------------------------------------------------------------------- dependency gating
DB = desired("db", version="1.2.0")
DEPENDENCY_CASES = [
    pytest.param([DB], [], {}, {}, None, id="dependency installing: dependent installs after it"),
    pytest.param([DB], [observed("db", version="1.1.0")], {}, {}, None, id="dependency upgrading"),
    pytest.param([DB], [observed("db", version="1.3.0")], {}, {}, None, id="dependency downgrading"),
    pytest.param([DB], [observed("db", status="failed")], {}, {}, None, id="dependency reinstalling"),
    pytest.param([DB], [observed("db", version="1.2.0")], {}, {}, None, id="dependency in sync"),
    pytest.param([DB], [observed("db", version="1.1.0")], {}, {"db": failure(DB, 2)}, None,
                 id="dependency retrying"),
    pytest.param([], [observed("db")], {"db": Hold(HoldKind.SUSPENDED, "suspended")}, {}, None,
                 id="suspended but installed dependency satisfies"),
    pytest.param([], [], {"db": Hold(HoldKind.SUSPENDED, "suspended")}, {}, "db (skip: suspended)",
                 id="suspended and not installed dependency does not"),
    pytest.param([DB], [observed("db", owner=None)], {}, {}, "db (fail: foreign)", id="dependency is a conflict"),
    pytest.param([], [observed("db")], {"db": Hold(HoldKind.ERROR, "catalog down")}, {}, "db (fail: blocked)",
                 id="dependency blocked"),
    pytest.param([], [observed("db")], {"db": Hold(HoldKind.PENDING, "Secret")}, {}, "db (skip: pending)",
                 id="dependency pending a Secret"),
    pytest.param([DB], [observed("db", version="1.1.0")], {}, {"db": failure(DB, 1, retry_in=60)},
                 "db (skip: backing-off)", id="dependency backing off"),
    pytest.param([DB], [observed("db", version="1.1.0")], {}, {"db": failure(DB, 4)},
                 "db (fail: retries-exhausted)", id="dependency exhausted"),
    pytest.param([DB], [observed("db", version="1.1.0")], {}, {"db": failure(DB, 1, permanent=True)},
                 "db (fail: failed-permanently)", id="dependency failed permanently"),
    pytest.param([DB], [observed("db", status="pending-upgrade", updated_at=NOW - 5)], {}, {},
                 "db (skip: locked)", id="dependency locked"),
    pytest.param([DB], [observed("db", status="pending-upgrade", revision=2, deployed=1, updated_at=NOW - 3600)], {},
                 {}, "db (unlock: locked-stale)", id="dependency being unlocked"),
]


@pytest.mark.parametrize(("dbs", "current", "holds", "remembered", "blocked"), DEPENDENCY_CASES)
def test_dependency_gate_in_plan(dbs: list[DesiredRelease], current: list[ObservedRelease], holds: dict[str, Hold],
                                 remembered: dict[str, ExtensionState], blocked: str | None) -> None:
    result = plan([*dbs, desired("web", depends_on=("db",))], current, holds, remembered=remembered, now=NOW)
    assert [a.extension for a in result.actions] == ["db", "web"], "dependencies first"
    web = result.by_key()["web"]
    assert web.waits_for == ("db",)
    if blocked is None:
        assert (web.kind, web.state) == (A.INSTALL, S.ABSENT)
    else:
        assert (web.kind, web.state, web.error_reason) == (A.SKIP, S.DEPENDENCY_NOT_READY, None)
        assert web.reasons == (f"waiting for dependencies: {blocked}",)
        assert not web.changes_cluster


def test_dependency_gate_is_transitive() -> None:
    result = plan([desired("cache"), desired("db", depends_on=("cache",)), desired("web", depends_on=("db",))],
                  [observed("cache", owner=None)]).by_key()
    assert result["cache"].state is S.FOREIGN
    assert (result["db"].state, result["db"].reason) == (
        S.DEPENDENCY_NOT_READY, "waiting for dependencies: cache (fail: foreign)")
    assert (result["web"].state, result["web"].reason) == (
        S.DEPENDENCY_NOT_READY, "waiting for dependencies: db (skip: dependency-not-ready)")


def test_dependency_gate_names_every_blocking_dependency() -> None:
    result = plan([desired("a"), desired("b"), desired("c"), desired("web", depends_on=("c", "b", "a"))],
                  [observed("a", owner=None), observed("c", owner=None)]).by_key()
    assert result["web"].reason == "waiting for dependencies: a (fail: foreign), c (fail: foreign)"


def test_dependency_gate_only_holds_back_changes() -> None:
    """What would not change the cluster keeps its own state: in sync, a conflict, a backoff."""
    web_failed = desired("web", depends_on=("db",), version="1.2.0")
    wanted = [desired("db"), desired("ok", depends_on=("db",)), desired("clash", depends_on=("db",)), web_failed]
    current = [observed("db", owner=None), observed("ok", depends_on="db"), observed("clash", owner="zz"),
               observed("web", depends_on="db")]
    result = plan(wanted, current, remembered={"web": failure(web_failed, 1, retry_in=60)}, now=NOW).by_key()
    assert (result["ok"].kind, result["ok"].state) == (A.NOOP, S.IN_SYNC)
    assert (result["clash"].kind, result["clash"].state, result["clash"].error_reason) == (A.FAIL, S.FOREIGN,
                                                                                           "Conflict")
    assert (result["web"].kind, result["web"].state) == (A.SKIP, S.BACKING_OFF)


def test_dependency_gate_holds_back_an_unlock_and_drops_the_retry_note() -> None:
    web = desired("web", depends_on=("db",), version="1.2.0")
    stuck = observed("api", status="pending-install", updated_at=NOW - 3600)
    result = plan([desired("db"), web, desired("api", depends_on=("db",))],
                  [observed("db", owner=None), observed("web", depends_on="db"), stuck],
                  remembered={"web": failure(web, 1)}, now=NOW).by_key()
    assert (result["web"].kind, result["web"].state, result["web"].note) == (A.SKIP, S.DEPENDENCY_NOT_READY, None)
    assert "retry" not in result["web"].reason
    assert (result["api"].kind, result["api"].state, result["api"].unlock_to) == (A.SKIP, S.DEPENDENCY_NOT_READY,
                                                                                  None)


@pytest.mark.parametrize("state", list(ReleaseState), ids=str)
@pytest.mark.parametrize("installed", [True, False], ids=["installed", "not installed"])
def test_satisfies_dependents_table(state: ReleaseState, installed: bool) -> None:
    ready = {S.ABSENT, S.FAILED_FIRST_INSTALL, S.FAILED, S.OUT_OF_SYNC, S.IN_SYNC, S.UNOWNED, S.DRIFTED,
             S.DRIFT_REPORTED} | (
        {S.SUSPENDED} if installed else set())
    decision = StateDecision(state, ACTION_FOR_STATE[state], ())
    assert satisfies_dependents(decision, installed) is (state in ready)


def test_a_planned_downgrade_satisfies_dependents() -> None:
    assert satisfies_dependents(StateDecision(S.OUT_OF_SYNC, A.DOWNGRADE, ()), True)


@pytest.mark.parametrize("state", list(ReleaseState), ids=str)
def test_dependency_not_ready_table(state: ReleaseState) -> None:
    decision = StateDecision(state, ACTION_FOR_STATE[state], ("own reason",), note="retry 1 of 3")
    assert dependency_not_ready(decision, []) is decision, "nothing blocked: unchanged"
    gated = dependency_not_ready(decision, ["db (fail: foreign)"])
    if decision.action in {A.INSTALL, A.UPGRADE, A.DOWNGRADE, A.REINSTALL, A.UNLOCK, A.UNINSTALL}:
        assert (gated.state, gated.action, gated.reasons, gated.note) == (
            S.DEPENDENCY_NOT_READY, A.SKIP, ("waiting for dependencies: db (fail: foreign)",), None)
    else:
        assert gated is decision


# ----------------------------------------------------------------------------------------- prune refused
def test_prune_refused_state() -> None:
    guarded = guard_prune(plan([], [observed("a"), observed("b")]), managed_count=2, extensions_in_git=0,
                          max_fraction=0.5, allowed=False).plan
    assert {(a.state, a.kind) for a in guarded.actions} == {(S.PRUNE_REFUSED, A.SKIP)}


# ------------------------------------------------------------------------------------------- remediation
@pytest.mark.parametrize(
    ("action", "install", "upgrade", "deployed", "latest", "step"),
    [
        pytest.param(A.INSTALL, "uninstall", "rollback", None, 1, RemediationStep.UNINSTALL,
                     id="failed install is uninstalled"),
        pytest.param(A.INSTALL, "none", "rollback", None, 1, RemediationStep.NONE,
                     id="failed install kept with strategy none"),
        pytest.param(A.INSTALL, "uninstall", "rollback", None, None, RemediationStep.NONE,
                     id="failed install left no release"),
        pytest.param(A.REINSTALL, "uninstall", "rollback", None, 1, RemediationStep.UNINSTALL,
                     id="failed reinstall is uninstalled"),
        pytest.param(A.REINSTALL, "none", "rollback", None, 1, RemediationStep.NONE,
                     id="failed reinstall kept with strategy none"),
        pytest.param(A.UPGRADE, "uninstall", "rollback", 2, 3, RemediationStep.ROLLBACK,
                     id="failed upgrade is rolled back"),
        pytest.param(A.DOWNGRADE, "uninstall", "rollback", 2, 3, RemediationStep.ROLLBACK,
                     id="failed downgrade is rolled back"),
        pytest.param(A.UPGRADE, "uninstall", "none", 2, 3, RemediationStep.NONE,
                     id="failed upgrade kept with strategy none"),
        pytest.param(A.UPGRADE, "uninstall", "rollback", 2, 2, RemediationStep.NONE,
                     id="upgrade failed before helm recorded a revision"),
        pytest.param(A.UPGRADE, "uninstall", "rollback", None, 3, RemediationStep.NONE,
                     id="nothing deployed to roll back to"),
        pytest.param(A.UPGRADE, "uninstall", "rollback", 2, None, RemediationStep.NONE,
                     id="release gone after the failure"),
        pytest.param(A.UPGRADE, "uninstall", "uninstall", 2, 3, RemediationStep.NONE,
                     id="an install strategy does not apply to upgrades"),
        pytest.param(A.INSTALL, "rollback", "rollback", None, 1, RemediationStep.NONE,
                     id="an upgrade strategy does not apply to installs"),
        pytest.param(A.UNLOCK, "uninstall", "rollback", 2, 3, RemediationStep.NONE, id="failed unlock: nothing"),
        pytest.param(A.UNINSTALL, "uninstall", "rollback", 2, 3, RemediationStep.NONE,
                     id="failed uninstall: nothing"),
    ],
)
def test_remediation_for(*, action: ActionKind, install: str, upgrade: str, deployed: int | None, latest: int | None,
                         step: RemediationStep) -> None:
    assert remediation_for(action, install_strategy=install, upgrade_strategy=upgrade, deployed_revision=deployed,
                           latest_revision=latest) is step


# ------------------------------------------------------------------------------------------------ coverage
def _states_of(cases: list[object], position: int) -> set[ReleaseState]:
    found: set[ReleaseState] = set()
    for case in cases:
        value = case.values[position]  # type: ignore[attr-defined]
        found.add(value.state if isinstance(value, Want) else value)
    return found


def test_every_state_is_covered() -> None:
    covered = (_states_of(STATE_CASES, 2) | _states_of(LOCK_CASES, 5) | _states_of(PENDING_CASES, 2)
               | _states_of(PROPOSALS, 1) | {g.values[1] for g in GATES if g.values[1] is not None}
               | {S.DEPENDENCY_NOT_READY}  # test_dependency_gate_in_plan
               | {S.PRUNE_REFUSED})  # test_prune_refused_state
    assert covered == set(ReleaseState), set(ReleaseState) - covered


def test_failed_record_fields_are_what_the_gate_reads() -> None:
    """Guard for the helpers above: ``failure`` records the fingerprint the gate compares."""
    record = failure(WANTED, 1).failure
    assert isinstance(record, FailureRecord) and record.fingerprint == fingerprint(WANTED)
