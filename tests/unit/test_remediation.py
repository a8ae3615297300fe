"""Tables for the pure retry bookkeeping in ``controller.models.remediation`` (backoff, records, timers) and
the retry gate that reads it, which lives in ``release_state.determine_state``."""

from __future__ import annotations

import pytest

from controller.models.release_state import ActionKind, Facts, Policy, ReleaseState, determine_state
from controller.models.remediation import (
    BACKOFF_CAP_S,
    ExtensionState,
    FailureRecord,
    backoff_delay,
    clear_pending,
    fingerprint,
    mark_pending,
    pending_expired,
    record_failure,
    record_success,
)
from tests.unit.test_plan import desired, observed

NOW = 1_000_000.0
FP = "repo|agent|1.0.0|digest-a"


WANTED = desired("agent", version="1.2.0")  # the installed release is 1.1.0: an upgrade is due
FP = fingerprint(WANTED)


def failed(failures: int, *, fingerprint: str = FP, retry_in: float = 0.0, permanent: bool = False) -> ExtensionState:
    return ExtensionState(failure=FailureRecord(failures=failures, fingerprint=fingerprint, last_error="boom",
                                                last_failed_at=NOW - 1, next_retry_at=NOW + retry_in,
                                                permanent=permanent, reason="UpgradeFailed"))


@pytest.mark.parametrize(
    ("failures", "jitter", "base_s", "expected"),
    [
        (1, 0.0, 10.0, 10.0),
        (2, 0.0, 10.0, 20.0),
        (3, 0.0, 10.0, 40.0),
        (6, 0.0, 10.0, 320.0),
        (7, 0.0, 10.0, BACKOFF_CAP_S),       # 640s capped at 10 minutes
        (40, 0.0, 10.0, BACKOFF_CAP_S),      # no overflow for long failure streaks
        (0, 0.0, 10.0, 10.0),                # defensive: never below the base
        (1, 1.0, 10.0, 11.0),                # jitter spreads by at most +10%
        (1, -1.0, 10.0, 9.0),                # … or -10%
        (1, 7.0, 10.0, 11.0),                # out-of-range jitter is clamped
        (7, 1.0, 10.0, BACKOFF_CAP_S * 1.1),  # jitter applies after the cap (spreads a thundering herd)
        (1, 0.0, 0.3, 0.3),                  # --remediation-backoff 300ms
        (3, 0.0, 0.3, 1.2),
    ],
)
def test_backoff_delay(failures: int, jitter: float, base_s: float, expected: float) -> None:
    assert backoff_delay(failures, jitter, base_s) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("state", "retries", "expected_state", "reason_part", "note"),
    [
        pytest.param(ExtensionState(), 3, ReleaseState.OUT_OF_SYNC, "chart version 1.1.0 → 1.2.0", None,
                     id="never failed"),
        pytest.param(failed(1, retry_in=5), 3, ReleaseState.BACKING_OFF,
                     "backing off after 1 failure(s): next attempt in 5s; last error: boom", None,
                     id="failed, still backing off"),
        pytest.param(failed(1), 3, ReleaseState.OUT_OF_SYNC, "chart version 1.1.0 → 1.2.0", "retry 1 of 3",
                     id="backoff over: first retry"),
        pytest.param(failed(3), 3, ReleaseState.OUT_OF_SYNC, "chart version", "retry 3 of 3",
                     id="last retry allowed"),
        pytest.param(failed(4), 3, ReleaseState.RETRIES_EXHAUSTED, "retries exhausted (3 of 3 retries failed)", None,
                     id="retries exhausted"),
        pytest.param(failed(4, retry_in=100), 3, ReleaseState.RETRIES_EXHAUSTED, "last error: boom", None,
                     id="exhausted wins over backoff"),
        pytest.param(failed(1), 0, ReleaseState.RETRIES_EXHAUSTED, "--reset", None,
                     id="retries 0: the first failure is final"),
        pytest.param(failed(1, permanent=True), 3, ReleaseState.FAILED_PERMANENTLY,
                     "failed permanently (UpgradeFailed): boom", None, id="permanent failure is not retried"),
        pytest.param(failed(1, permanent=True, retry_in=100), 3, ReleaseState.FAILED_PERMANENTLY, "--reset", None,
                     id="permanent wins over backoff"),
        pytest.param(failed(1, fingerprint="old", retry_in=100), 3, ReleaseState.OUT_OF_SYNC, "chart version", None,
                     id="spec changed: the count no longer applies"),
        pytest.param(failed(9, fingerprint="old"), 3, ReleaseState.OUT_OF_SYNC, "chart version", None,
                     id="exhausted, then settings changed in Git"),
        pytest.param(failed(1, fingerprint="old", permanent=True), 3, ReleaseState.OUT_OF_SYNC, "chart version", None,
                     id="permanent, then settings changed in Git"),
        pytest.param(ExtensionState(pending_since=NOW - 10), 3, ReleaseState.OUT_OF_SYNC, "chart version", None,
                     id="pending only: no failure record"),
    ],
)
def test_gate_table(*, state: ExtensionState, retries: int, expected_state: ReleaseState, reason_part: str,
                    note: str | None) -> None:
    facts = Facts("agent", desired=WANTED, observed=observed("agent", version="1.1.0"), remembered=state)
    decision = determine_state(facts, Policy(retries=retries), NOW)
    expected_action = {ReleaseState.OUT_OF_SYNC: ActionKind.UPGRADE, ReleaseState.BACKING_OFF: ActionKind.SKIP,
                       ReleaseState.RETRIES_EXHAUSTED: ActionKind.FAIL,
                       ReleaseState.FAILED_PERMANENTLY: ActionKind.FAIL}[expected_state]
    assert (decision.state, decision.action) == (expected_state, expected_action)
    assert any(reason_part in r for r in decision.reasons), decision.reasons
    assert decision.note == note
    expected_error = {ReleaseState.RETRIES_EXHAUSTED: "RetriesExhausted",
                      ReleaseState.FAILED_PERMANENTLY: "FailedPermanently"}.get(expected_state)
    assert decision.error_reason == expected_error


def test_per_extension_retries_override_the_policy() -> None:
    facts = Facts("agent", desired=WANTED, observed=observed("agent"), remembered=failed(2), retries=5)
    assert determine_state(facts, Policy(retries=1), NOW).note == "retry 2 of 5"
    strict = Facts("agent", desired=WANTED, observed=observed("agent"), remembered=failed(2), retries=1)
    assert determine_state(strict, Policy(retries=5), NOW).state is ReleaseState.RETRIES_EXHAUSTED


@pytest.mark.parametrize(
    ("case", "before", "fingerprint", "expected_failures", "expected_delay"),
    [
        ("first failure", ExtensionState(), FP, 1, 10.0),
        ("same input fails again", failed(1), FP, 2, 20.0),
        ("third failure", failed(2), FP, 3, 40.0),
        ("new input starts a new count", failed(5, fingerprint="old"), FP, 1, 10.0),
    ],
)
def test_record_failure_table(case: str, before: ExtensionState, fingerprint: str, expected_failures: int,
                              expected_delay: float) -> None:
    after = record_failure(before, fingerprint, "helm upgrade: denied", NOW)
    assert after.failure is not None
    assert (after.failure.failures, after.failure.fingerprint) == (expected_failures, fingerprint), case
    assert after.failure.last_error == "helm upgrade: denied"
    assert after.failure.last_failed_at == NOW
    assert after.failure.next_retry_at == pytest.approx(NOW + expected_delay), case


@pytest.mark.parametrize(
    ("before", "permanent", "reason"),
    [
        pytest.param(ExtensionState(), True, "RenderFailed", id="permanent error recorded permanent"),
        pytest.param(failed(1, permanent=True), False, "Timeout", id="a transient failure after a permanent one"),
        pytest.param(failed(1), False, "", id="transient, no reason"),
    ],
)
def test_record_failure_keeps_the_error_class(before: ExtensionState, permanent: bool, reason: str) -> None:
    after = record_failure(before, FP, "helm: boom", NOW, permanent=permanent, reason=reason)
    assert after.failure is not None
    assert (after.failure.permanent, after.failure.reason) == (permanent, reason)


def test_record_failure_passes_base_and_jitter_through() -> None:
    after = record_failure(ExtensionState(), FP, "x", NOW, jitter=1.0, base_s=0.5)
    assert after.failure is not None and after.failure.next_retry_at == pytest.approx(NOW + 0.55)


def test_success_clears_the_failure_but_not_the_pending_timer() -> None:
    state = ExtensionState(failure=failed(2).failure, pending_since=NOW - 5)
    assert record_success(state) == ExtensionState(pending_since=NOW - 5)
    assert record_success(ExtensionState()).empty


@pytest.mark.parametrize(
    ("case", "pending_since", "now", "timeout_s", "expired"),
    [
        ("never pending", None, NOW, 1.0, False),
        ("young", NOW - 0.5, NOW, 1.0, False),
        ("exactly the timeout is not yet expired", NOW - 1.0, NOW, 1.0, False),
        ("past the timeout", NOW - 1.5, NOW, 1.0, True),
        ("default 48h", NOW - 48 * 3600 - 1, NOW, 48 * 3600.0, True),
    ],
)
def test_pending_expired_table(case: str, pending_since: float | None, now: float, timeout_s: float,
                               expired: bool) -> None:
    assert pending_expired(ExtensionState(pending_since=pending_since), now, timeout_s) is expired, case


def test_pending_timer_starts_once_and_clears() -> None:
    first = mark_pending(ExtensionState(), NOW)
    assert first.pending_since == NOW
    assert mark_pending(first, NOW + 100).pending_since == NOW, "the timer keeps its first start"
    assert clear_pending(first) == ExtensionState()
    untouched = ExtensionState()
    assert clear_pending(untouched) is untouched


@pytest.mark.parametrize(
    "state",
    [ExtensionState(), failed(3), ExtensionState(pending_since=NOW), ExtensionState(failed(1).failure, NOW - 3),
     failed(1, permanent=True)],
)
def test_state_json_round_trip(state: ExtensionState) -> None:
    assert ExtensionState.from_json(state.to_json()) == state


def test_state_from_partial_or_foreign_json() -> None:
    assert ExtensionState.from_json({}) == ExtensionState()
    assert ExtensionState.from_json({"failure": "garbage"}).failure is None
    # A record written before ``permanent``/``reason`` existed reads as transient; unknown keys are ignored.
    legacy = {"failure": {"failures": 2, "fingerprint": FP, "last_error": "boom", "last_failed_at": NOW - 1,
                          "next_retry_at": NOW + 5, "written_by": "a newer extctl"}, "pending_since": None}
    assert ExtensionState.from_json(legacy) == ExtensionState(failure=FailureRecord(2, FP, "boom", NOW - 1, NOW + 5))
    assert ExtensionState().empty and not failed(1).empty and not ExtensionState(pending_since=NOW).empty
