"""Tables for the pure retry bookkeeping in ``controller.models.remediation``: backoff, the gate, records."""

from __future__ import annotations

import pytest

from controller.models.remediation import (
    BACKOFF_CAP_S,
    ExtensionState,
    FailureRecord,
    Gate,
    backoff_delay,
    clear_pending,
    gate,
    mark_pending,
    pending_expired,
    record_failure,
    record_success,
)

NOW = 1_000_000.0
FP = "repo|agent|1.0.0|digest-a"


def failed(failures: int, *, fingerprint: str = FP, retry_in: float = 0.0) -> ExtensionState:
    return ExtensionState(failure=FailureRecord(failures=failures, fingerprint=fingerprint, last_error="boom",
                                                last_failed_at=NOW - 1, next_retry_at=NOW + retry_in))


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
    ("case", "state", "fingerprint", "retries", "expected_gate", "reason_part"),
    [
        ("never failed", ExtensionState(), FP, 3, Gate.RUN, ""),
        ("failed, still backing off", failed(1, retry_in=5), FP, 3, Gate.BACKOFF,
         "backing off after 1 failure(s): next attempt in 5s; last error: boom"),
        ("backoff over: first retry", failed(1), FP, 3, Gate.RUN, "retry 1 of 3"),
        ("last retry allowed", failed(3), FP, 3, Gate.RUN, "retry 3 of 3"),
        ("retries exhausted", failed(4), FP, 3, Gate.EXHAUSTED, "retries exhausted (3 of 3 retries failed)"),
        ("exhausted wins over backoff", failed(4, retry_in=100), FP, 3, Gate.EXHAUSTED, "last error: boom"),
        ("retries 0: the first failure is final", failed(1), FP, 0, Gate.EXHAUSTED, "--reset"),
        ("spec changed: the count no longer applies", failed(1, fingerprint="old", retry_in=100), FP, 3,
         Gate.RUN, ""),
        ("exhausted, then settings changed in Git", failed(9, fingerprint="old"), FP, 3, Gate.RUN, ""),
        ("pending only: no failure record", ExtensionState(pending_since=NOW - 10), FP, 3, Gate.RUN, ""),
    ],
)
def test_gate_table(*, case: str, state: ExtensionState, fingerprint: str, retries: int, expected_gate: Gate,
                    reason_part: str) -> None:
    decision = gate(state, fingerprint, NOW, retries)
    assert decision.gate is expected_gate, case
    if reason_part:
        assert reason_part in decision.reason, (case, decision.reason)
    else:
        assert decision.reason == "", (case, decision.reason)


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
    [ExtensionState(), failed(3), ExtensionState(pending_since=NOW), ExtensionState(failed(1).failure, NOW - 3)],
)
def test_state_json_round_trip(state: ExtensionState) -> None:
    assert ExtensionState.from_json(state.to_json()) == state


def test_state_from_partial_or_foreign_json() -> None:
    assert ExtensionState.from_json({}) == ExtensionState()
    assert ExtensionState.from_json({"failure": "garbage"}).failure is None
    assert ExtensionState().empty and not failed(1).empty and not ExtensionState(pending_since=NOW).empty
