"""What a pass leaves in the state store (``controller.models.remember.next_states``), and the store's JSON
layout (``controller.state.Remembered``): written, read back, and read tolerantly when hand-edited or old."""

from __future__ import annotations

import json
from typing import Any

import pytest

from controller.models.plan import ActionKind, Hold, HoldKind, PlannedAction, ReleaseState, plan
from controller.models.release_state import Facts, Policy, determine_state
from controller.models.remediation import ExtensionState, FailureRecord, fingerprint
from controller.models.remember import next_states
from controller.models.status import ActionResult, Outcome, result_without_running
from controller.observe.releases import ReleaseFacts
from controller.state import Remembered
from tests.unit.test_plan import NOW, desired, failure, observed

LATER = NOW + 100
WANTED = desired("a", version="1.2.0")


def upgrade_of_a() -> PlannedAction:
    return plan([WANTED], [observed("a", version="1.1.0")], now=NOW).actions[0]


def action_for(kind: ActionKind) -> PlannedAction:
    """A planned action of ``kind`` that applies WANTED (install, upgrade, downgrade, reinstall)."""
    current = {ActionKind.INSTALL: [], ActionKind.UPGRADE: [observed("a", version="1.1.0")],
               ActionKind.DOWNGRADE: [observed("a", version="1.3.0")],
               ActionKind.REINSTALL: [observed("a", status="failed")]}[kind]
    action = plan([WANTED], current, now=NOW).actions[0]
    assert action.kind is kind
    return action


def failed(action: PlannedAction, *, transient: bool | None = True, reason: str = "Timeout",
           error: str = "helm upgrade: timed out") -> ActionResult:
    return ActionResult(action, Outcome.FAILED, error=error, error_reason=reason, transient=transient)


def record(states: dict[str, ExtensionState], name: str = "a") -> FailureRecord:
    found = states[name].failure
    assert found is not None
    return found


# ---------------------------------------------------------------------------------------------- failures
@pytest.mark.parametrize("kind", [ActionKind.INSTALL, ActionKind.UPGRADE, ActionKind.DOWNGRADE,
                                  ActionKind.REINSTALL], ids=str)
def test_success_clears_the_failure_record(kind: ActionKind) -> None:
    states = next_states({"a": failure(WANTED, 2)}, [ActionResult(action_for(kind), Outcome.SUCCEEDED)], now=LATER,
                         in_git={"a"})
    assert states == {}, "an empty record is not stored"


@pytest.mark.parametrize("kind", [ActionKind.INSTALL, ActionKind.UPGRADE, ActionKind.DOWNGRADE,
                                  ActionKind.REINSTALL], ids=str)
def test_a_first_transient_failure_starts_the_count(kind: ActionKind) -> None:
    states = next_states({}, [failed(action_for(kind))], now=LATER, in_git={"a"}, jitter=0.5)
    assert record(states) == FailureRecord(failures=1, fingerprint=fingerprint(WANTED),
                                           last_error="helm upgrade: timed out", last_failed_at=LATER,
                                           next_retry_at=LATER + 10.5, permanent=False, reason="Timeout")


@pytest.mark.parametrize(
    ("before", "jitter", "base_s", "failures", "delay"),
    [
        pytest.param(failure(WANTED, 1), 0.0, 10.0, 2, 20.0, id="second failure waits 20s"),
        pytest.param(failure(WANTED, 2), -1.0, 10.0, 3, 36.0, id="third failure waits 40s less 10% jitter"),
        pytest.param(failure(WANTED, 9), 0.0, 10.0, 10, 600.0, id="long streak capped at 10 minutes"),
        pytest.param(failure(WANTED, 1), 0.0, 0.3, 2, 0.6, id="--remediation-backoff 300ms"),
        pytest.param(failure(desired("a", version="1.1.5"), 5), 0.0, 10.0, 1, 10.0,
                     id="a different input starts a new count"),
        pytest.param(failure(WANTED, 1, permanent=True), 0.0, 10.0, 2, 20.0,
                     id="a transient failure after a permanent one is transient"),
    ],
)
def test_transient_failures_count_up_with_backoff(before: ExtensionState, jitter: float, base_s: float,
                                                  failures: int, delay: float) -> None:
    states = next_states({"a": before}, [failed(upgrade_of_a())], now=LATER, in_git={"a"}, jitter=jitter,
                         backoff_base_s=base_s)
    got = record(states)
    assert (got.failures, got.fingerprint, got.permanent) == (failures, fingerprint(WANTED), False)
    assert got.next_retry_at == pytest.approx(LATER + delay)


def test_a_permanent_failure_is_recorded_permanent() -> None:
    states = next_states({}, [failed(upgrade_of_a(), transient=False, reason="RenderFailed", error="bad template")],
                         now=LATER, in_git={"a"})
    got = record(states)
    assert (got.permanent, got.reason, got.last_error) == (True, "RenderFailed", "bad template")
    decision = determine_state(Facts("a", desired=WANTED, observed=observed("a"), remembered=states["a"]),
                               Policy(), LATER + 3600)
    assert decision.state is ReleaseState.FAILED_PERMANENTLY, "the next pass does not run helm again"


def test_an_error_of_unknown_class_is_retried() -> None:
    assert not record(next_states({}, [failed(upgrade_of_a(), transient=None)], now=LATER, in_git={"a"})).permanent


def test_the_recorded_failure_drives_the_next_pass() -> None:
    """Round trip through the gate: backing off until the recorded time, then a retry."""
    states = next_states({}, [failed(upgrade_of_a())], now=LATER, in_git={"a"})
    facts = Facts("a", desired=WANTED, observed=observed("a"), remembered=states["a"])
    assert determine_state(facts, Policy(), LATER + 5).state is ReleaseState.BACKING_OFF
    assert determine_state(facts, Policy(), LATER + 10).note == "retry 1 of 3"


# ------------------------------------------------------------------------------------- nothing ran: untouched
def _untouched_cases() -> list[Any]:
    exhausted = failure(WANTED, 4)
    gated = plan([WANTED], [observed("a")], remembered={"a": exhausted}, now=NOW).actions[0]
    backing_off = plan([WANTED], [observed("a")], remembered={"a": failure(WANTED, 1, retry_in=60)}, now=NOW).actions[0]
    conflict = plan([WANTED], [observed("a", owner=None)], now=NOW).actions[0]
    in_sync = plan([WANTED], [observed("a", version="1.2.0")], now=NOW).actions[0]
    stuck = observed("a", status="pending-upgrade", revision=2, deployed=1, updated_at=NOW - 3600)
    unlock = plan([WANTED], [stuck], now=NOW).actions[0]
    assert [a.kind for a in (gated, backing_off, conflict, in_sync, unlock)] == [
        ActionKind.FAIL, ActionKind.SKIP, ActionKind.FAIL, ActionKind.NOOP, ActionKind.UNLOCK]
    return [
        pytest.param(exhausted, result_without_running(gated), id="retries exhausted: the count stays"),
        pytest.param(failure(WANTED, 1, retry_in=60), result_without_running(backing_off), id="backing off"),
        pytest.param(failure(WANTED, 2), result_without_running(conflict), id="conflict is not a helm failure"),
        pytest.param(failure(WANTED, 2), ActionResult(upgrade_of_a(), Outcome.SKIPPED, note="pass cancelled"),
                     id="skipped at run time"),
        pytest.param(failure(WANTED, 2), failed(unlock, reason="RollbackFailed"), id="a failed unlock"),
        pytest.param(failure(WANTED, 2), ActionResult(unlock, Outcome.SUCCEEDED), id="a successful unlock"),
        pytest.param(failure(WANTED, 2), ActionResult(upgrade_of_a(), Outcome.PLANNED), id="only planned"),
    ]


@pytest.mark.parametrize(("before", "result"), _untouched_cases())
def test_a_result_where_the_desired_release_was_not_applied_keeps_the_record(before: ExtensionState,
                                                                            result: ActionResult) -> None:
    assert next_states({"a": before}, [result], now=LATER, in_git={"a"}) == {"a": before}


# ---------------------------------------------------------------------------------------------- pending
def _pending_result(since: float | None) -> ActionResult:
    action = plan([], [], {"a": Hold(HoldKind.PENDING, "Secret ns/creds missing")},
                  remembered={"a": ExtensionState(pending_since=since)} if since else None, now=LATER).actions[0]
    result = result_without_running(action)
    assert result is not None
    return result


def test_the_pending_timer_starts_on_the_first_pending_pass() -> None:
    result = _pending_result(None)
    assert result.outcome is Outcome.PENDING
    assert next_states({}, [result], now=LATER, in_git={"a"}) == {"a": ExtensionState(pending_since=LATER)}


def test_the_pending_timer_keeps_its_start() -> None:
    before = {"a": ExtensionState(failure=failure(WANTED, 1).failure, pending_since=NOW)}
    assert next_states(before, [_pending_result(NOW)], now=LATER, in_git={"a"}) == before


def test_an_expired_pending_timer_is_kept() -> None:
    since = LATER - 49 * 3600
    result = _pending_result(since)
    assert (result.action.state, result.outcome, result.error_reason) == (ReleaseState.PENDING_EXPIRED, Outcome.FAILED,
                                                                          "PendingTimeout")
    assert next_states({"a": ExtensionState(pending_since=since)}, [result], now=LATER, in_git={"a"}) == {
        "a": ExtensionState(pending_since=since)}


@pytest.mark.parametrize(
    "result",
    [
        pytest.param(ActionResult(upgrade_of_a(), Outcome.SUCCEEDED), id="installed once the Secret appeared"),
        pytest.param(ActionResult(plan([WANTED], [observed("a", version="1.2.0")]).actions[0], Outcome.UNCHANGED),
                     id="in sync once the Secret appeared"),
        pytest.param(result_without_running(plan([], [], {"a": Hold(HoldKind.SUSPENDED, "suspended")}).actions[0]),
                     id="suspended"),
    ],
)
def test_the_pending_timer_clears_when_no_longer_pending(result: ActionResult) -> None:
    assert next_states({"a": ExtensionState(pending_since=NOW)}, [result], now=LATER, in_git={"a"}) == {}


def test_a_failure_while_no_longer_pending_clears_the_timer_and_records_the_failure() -> None:
    states = next_states({"a": ExtensionState(pending_since=NOW)}, [failed(upgrade_of_a())], now=LATER, in_git={"a"})
    assert states["a"].pending_since is None and record(states).failures == 1


# ------------------------------------------------------------------------------- forgetting and removals
def test_extensions_gone_from_git_are_forgotten() -> None:
    before = {"gone": failure(WANTED, 2), "kept": failure(desired("kept"), 1),
              "pend": ExtensionState(pending_since=NOW)}
    assert next_states(before, [], now=LATER, in_git={"kept", "pend"}) == {"kept": before["kept"],
                                                                          "pend": before["pend"]}


def test_a_failure_of_an_extension_no_longer_in_git_is_not_stored() -> None:
    assert next_states({}, [failed(upgrade_of_a())], now=LATER, in_git=set()) == {}


@pytest.mark.parametrize("outcome", [Outcome.SUCCEEDED, Outcome.FAILED])
def test_removal_actions_are_ignored(outcome: Outcome) -> None:
    """An extension moved to another namespace: the old release's uninstall neither clears nor adds a failure."""
    moved = desired("a", ns="new")
    the_plan = plan([moved], [observed("a", ns="old")], now=NOW)
    removal = the_plan.by_key()["uninstall:old/a"]
    assert removal.removal
    before = {"a": ExtensionState(failure=failure(moved, 1).failure, pending_since=NOW)}
    result = ActionResult(removal, outcome, error="helm uninstall: boom" if outcome is Outcome.FAILED else None,
                          transient=False)
    assert next_states(before, [result], now=LATER, in_git={"a"}) == before
    orphan = plan([], [observed("b")], now=NOW).actions[0]
    assert next_states({}, [failed(orphan, transient=False)], now=LATER, in_git={"b"}) == {}


def test_previous_states_are_not_modified() -> None:
    before = {"a": failure(WANTED, 1)}
    copy = dict(before)
    next_states(before, [failed(upgrade_of_a())], now=LATER, in_git={"a"})
    assert before == copy


# ------------------------------------------------------------------------------------------ JSON layout
FULL = Remembered(
    extensions={"b": ExtensionState(pending_since=NOW),
                "a": ExtensionState(failure=FailureRecord(2, "repo|agent|1.2.0|d1", "boom", NOW, NOW + 20,
                                                          permanent=True, reason="RenderFailed"))},
    releases={"ns/a": ReleaseFacts(3, {"chart": "agent", "version": "1.2.0", "labels": {"x": "y"}}, 2, True),
              "ns/b": ReleaseFacts(1, {})},
    last_good_revision="main@sha1:0123abcd",
)


@pytest.mark.parametrize("remembered", [Remembered(), FULL, Remembered(extensions=FULL.extensions)],
                         ids=["empty", "full", "extensions only"])
def test_json_round_trip(remembered: Remembered) -> None:
    data = json.loads(json.dumps(remembered.to_json()))  # what the ConfigMap holds
    assert Remembered.from_json(data) == remembered


def test_json_layout() -> None:
    data = FULL.to_json()
    assert list(data) == ["version", "extensions", "releases", "last_good_revision"]
    assert list(data["extensions"]) == ["a", "b"], "sorted, so an unchanged state writes the same bytes"
    assert data["extensions"]["a"]["failure"]["permanent"] is True
    assert data["releases"]["ns/a"] == {"revision": 3, "metadata": {"chart": "agent", "version": "1.2.0",
                                                                    "labels": {"x": "y"}},
                                        "last_deployed_revision": 2, "history_read": True}
    assert "last_good_revision" not in Remembered().to_json()


def test_empty_extension_states_are_not_written() -> None:
    assert Remembered(extensions={"a": ExtensionState()}).to_json()["extensions"] == {}


LEGACY_RECORD = {"failure": {"failures": 2, "fingerprint": "fp", "last_error": "boom", "last_failed_at": NOW,
                             "next_retry_at": NOW + 20}, "pending_since": None}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param({}, Remembered(), id="absent ConfigMap"),
        pytest.param({"agent": LEGACY_RECORD, "db": {"failure": None, "pending_since": NOW}},
                     Remembered(extensions={"agent": ExtensionState(FailureRecord(2, "fp", "boom", NOW, NOW + 20)),
                                            "db": ExtensionState(pending_since=NOW)}),
                     id="legacy layout: bare extension records"),
        pytest.param({"agent": LEGACY_RECORD, "junk": "text", "list": [1]},
                     Remembered(extensions={"agent": ExtensionState(FailureRecord(2, "fp", "boom", NOW, NOW + 20))}),
                     id="legacy layout with junk entries"),
        pytest.param({"extensions": {"a": {"failure": {"failures": 1}}, "b": {"pending_since": NOW}}},
                     Remembered(extensions={"b": ExtensionState(pending_since=NOW)}),
                     id="incomplete failure record dropped"),
        pytest.param({"extensions": {"a": {"failure": "garbage", "pending_since": NOW}}},
                     Remembered(extensions={"a": ExtensionState(pending_since=NOW)}),
                     id="failure that is not a record ignored"),
        pytest.param({"extensions": ["a"], "releases": "x", "last_good_revision": 7}, Remembered(),
                     id="wrong types at the top"),
        pytest.param({"releases": {"ns/a": {"revision": "3", "metadata": {}}, "ns/b": {"revision": 1},
                                   "ns/c": {"revision": 1, "metadata": {}, "last_deployed_revision": "1"},
                                   "ns/d": {"revision": 2, "metadata": {"chart": "x"}}}},
                     Remembered(releases={"ns/d": ReleaseFacts(2, {"chart": "x"})}),
                     id="malformed release facts dropped"),
        pytest.param({"extensions": {}, "releases": {}, "last_good_revision": "main@sha1:abc", "future_key": 1},
                     Remembered(last_good_revision="main@sha1:abc"), id="unknown top-level keys ignored"),
    ],
)
def test_json_read_tolerantly(data: dict[str, Any], expected: Remembered) -> None:
    assert Remembered.from_json(data) == expected


FOR_WANTED = {**LEGACY_RECORD["failure"], "fingerprint": fingerprint(WANTED)}  # type: ignore[dict-item]


@pytest.mark.parametrize(
    "record",
    [
        pytest.param({"failure": {**FOR_WANTED, "failures": "2"}}, id="failures as text"),
        pytest.param({"failure": {**FOR_WANTED, "next_retry_at": "soon"}}, id="next_retry_at as text"),
        pytest.param({"pending_since": "yesterday"}, id="pending_since as text"),
    ],
)
def test_a_hand_edited_record_never_breaks_the_plan(record: dict[str, Any]) -> None:
    remembered = Remembered.from_json({"extensions": {"a": record}})
    state = remembered.extensions.get("a", ExtensionState())
    determine_state(Facts("a", desired=WANTED, observed=observed("a"), remembered=state), Policy(), LATER)
    determine_state(Facts("a", hold_kind="pending", hold_reason="Secret", remembered=state), Policy(), LATER)
