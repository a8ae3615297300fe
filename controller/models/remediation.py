"""Retry bookkeeping: failure records, exponential backoff, exhaustion, and the Pending → Failed timeout.

Owns: the per-extension state that survives between passes and processes (serialised to JSON by the
caller), the fingerprint that says "the spec, resolved version or settings changed" (which resets a
failure count), and the gate that says whether an action may run now. Must not: read the clock
(``now`` is epoch seconds handed in), draw random numbers itself (``jitter`` is handed in), or do I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

from controller.models.desired import DesiredRelease

DEFAULT_RETRIES = 3
BACKOFF_BASE_S = 10.0
BACKOFF_CAP_S = 600.0
DEFAULT_PENDING_TIMEOUT_S = 48 * 3600.0


def fingerprint(desired: DesiredRelease) -> str:
    """Changes when the chart, the resolved version or the values digest change."""
    return f"{desired.chart.repository}|{desired.chart.name}|{desired.version}|{desired.values_digest}"


def backoff_delay(failures: int, jitter: float = 0.0, base_s: float = BACKOFF_BASE_S) -> float:
    """Seconds to wait after the ``failures``-th failure: 10s, 20s, 40s … capped at 10 min.
    ``jitter`` in [-1, 1] spreads it by up to ±10%."""
    delay: float = min(BACKOFF_CAP_S, base_s * float(2 ** max(0, failures - 1)))
    return delay * (1 + 0.1 * max(-1.0, min(1.0, jitter)))


@dataclass(frozen=True)
class FailureRecord:
    failures: int
    fingerprint: str
    last_error: str
    last_failed_at: float
    next_retry_at: float


@dataclass(frozen=True)
class ExtensionState:
    failure: FailureRecord | None = None
    pending_since: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExtensionState:
        failure = data.get("failure")
        return cls(
            failure=FailureRecord(**failure) if isinstance(failure, dict) else None,
            pending_since=data.get("pending_since"),
        )

    @property
    def empty(self) -> bool:
        return self.failure is None and self.pending_since is None


class Gate(StrEnum):
    RUN = "run"
    BACKOFF = "backoff"
    EXHAUSTED = "exhausted"


@dataclass(frozen=True)
class GateDecision:
    gate: Gate
    reason: str = ""


def gate(state: ExtensionState, current_fingerprint: str, now: float, retries: int) -> GateDecision:
    """May an install/upgrade with ``current_fingerprint`` run now?"""
    record = state.failure
    if record is None or record.fingerprint != current_fingerprint:
        return GateDecision(Gate.RUN)
    if record.failures > retries:
        return GateDecision(Gate.EXHAUSTED, (
            f"retries exhausted ({record.failures - 1} of {retries} retries failed); last error: {record.last_error}; "
            "not retried until the spec, resolved version or settings change, or `extctl reconcile --reset NAME`"))
    if now < record.next_retry_at:
        return GateDecision(Gate.BACKOFF, (
            f"backing off after {record.failures} failure(s): next attempt in {record.next_retry_at - now:.0f}s; "
            f"last error: {record.last_error}"))
    return GateDecision(Gate.RUN, f"retry {record.failures} of {retries}")


def record_failure(state: ExtensionState, current_fingerprint: str, error: str, now: float,
                   *, jitter: float = 0.0, base_s: float = BACKOFF_BASE_S) -> ExtensionState:
    previous = state.failure
    failures = previous.failures + 1 if previous is not None and previous.fingerprint == current_fingerprint else 1
    return replace(state, failure=FailureRecord(
        failures=failures, fingerprint=current_fingerprint, last_error=error, last_failed_at=now,
        next_retry_at=now + backoff_delay(failures, jitter, base_s)))


def record_success(state: ExtensionState) -> ExtensionState:
    return replace(state, failure=None)


def pending_expired(state: ExtensionState, now: float, timeout_s: float) -> bool:
    return state.pending_since is not None and now - state.pending_since > timeout_s


def mark_pending(state: ExtensionState, now: float) -> ExtensionState:
    return state if state.pending_since is not None else replace(state, pending_since=now)


def clear_pending(state: ExtensionState) -> ExtensionState:
    return replace(state, pending_since=None) if state.pending_since is not None else state
