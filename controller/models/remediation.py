"""Retry bookkeeping: failure records, exponential backoff, exhaustion, and the Pending → Failed timeout.

Owns: the per-extension state that survives between passes and processes (serialised to JSON by the
caller), the fingerprint that says "the spec, resolved version or settings changed" (which resets a
failure count), and the transitions of that state after an action. The gate that reads it lives in
``release_state``. Must not: read the clock
(``now`` is epoch seconds handed in), draw random numbers itself (``jitter`` is handed in), or do I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from controller.models.desired import DesiredRelease

DEFAULT_RETRIES = 3
BACKOFF_BASE_S = 10.0
BACKOFF_CAP_S = 600.0
DEFAULT_PENDING_TIMEOUT_S = 48 * 3600.0


def fingerprint(desired: DesiredRelease) -> str:
    """Changes when the chart, the resolved version or the values digest change."""
    return f"{desired.chart.repository}|{desired.chart.name}|{desired.version}|{desired.values_digest}"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _failure_from_json(failure: object) -> FailureRecord | None:
    if not isinstance(failure, Mapping):
        return None
    fields = {"failures": failure.get("failures"), "fingerprint": failure.get("fingerprint"),
              "last_error": failure.get("last_error"), "last_failed_at": failure.get("last_failed_at"),
              "next_retry_at": failure.get("next_retry_at"), "permanent": failure.get("permanent", False),
              "reason": failure.get("reason", "")}
    valid = (isinstance(fields["failures"], int) and not isinstance(fields["failures"], bool)
             and isinstance(fields["fingerprint"], str) and isinstance(fields["last_error"], str)
             and _is_number(fields["last_failed_at"]) and _is_number(fields["next_retry_at"])
             and isinstance(fields["permanent"], bool) and isinstance(fields["reason"], str))
    return FailureRecord(**fields) if valid else None


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
    permanent: bool = False  # the error class said retrying the same input gives the same failure
    reason: str = ""  # the typed error reason (RenderFailed, Timeout, …)


@dataclass(frozen=True)
class ExtensionState:
    failure: FailureRecord | None = None
    pending_since: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExtensionState:
        """Tolerant, field by field: a failure record or timer of the wrong shape or types is dropped
        (a hand-edited or foreign ConfigMap must never break a pass); unknown keys are ignored."""
        pending_since = data.get("pending_since")
        return cls(failure=_failure_from_json(data.get("failure")),
                   pending_since=pending_since if _is_number(pending_since) else None)

    @property
    def empty(self) -> bool:
        return self.failure is None and self.pending_since is None


def record_failure(state: ExtensionState, current_fingerprint: str, error: str, now: float,
                   *, jitter: float = 0.0, base_s: float = BACKOFF_BASE_S, permanent: bool = False,
                   reason: str = "") -> ExtensionState:
    previous = state.failure
    failures = previous.failures + 1 if previous is not None and previous.fingerprint == current_fingerprint else 1
    return replace(state, failure=FailureRecord(
        failures=failures, fingerprint=current_fingerprint, last_error=error, last_failed_at=now,
        next_retry_at=now + backoff_delay(failures, jitter, base_s), permanent=permanent, reason=reason))


def record_success(state: ExtensionState) -> ExtensionState:
    return replace(state, failure=None)


def pending_expired(state: ExtensionState, now: float, timeout_s: float) -> bool:
    return state.pending_since is not None and now - state.pending_since > timeout_s


def mark_pending(state: ExtensionState, now: float) -> ExtensionState:
    return state if state.pending_since is not None else replace(state, pending_since=now)


def clear_pending(state: ExtensionState) -> ExtensionState:
    return replace(state, pending_since=None) if state.pending_since is not None else state
