"""What a pass leaves in the state store: per-extension failure records and pending timers.

Owns: the pure transition (remembered state, this pass's results, ``now``) → the next remembered
state: a success clears the failure record, a helm failure adds to it (permanent or transient, as the
error class said), a pending extension starts (or keeps) its timer, anything else clears it, and
extensions gone from Git are forgotten. Must not: read the clock or draw random numbers (``now`` and
``jitter`` are handed in), or do I/O.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from controller.models.plan import ReleaseState
from controller.models.release_state import APPLIES_DESIRED, SYNCED_STATES
from controller.models.remediation import (
    BACKOFF_BASE_S,
    ExtensionState,
    clear_pending,
    fingerprint,
    mark_pending,
    record_failure,
    record_success,
)
from controller.models.status import ActionResult, Outcome

PENDING_STATES = frozenset({ReleaseState.PENDING, ReleaseState.PENDING_EXPIRED})


def next_states(previous: Mapping[str, ExtensionState], results: Iterable[ActionResult], *, now: float,
                in_git: Collection[str], jitter: float = 0.0, backoff_base_s: float = BACKOFF_BASE_S,
                ) -> dict[str, ExtensionState]:
    states = dict(previous)
    for result in results:
        action = result.action
        if action.removal:
            continue
        state = states.get(action.extension, ExtensionState())
        ran = action.kind in APPLIES_DESIRED and action.desired is not None
        if (ran and result.outcome is Outcome.SUCCEEDED) or action.state in SYNCED_STATES:
            state = record_success(state)  # in sync (drifted or not): the release shows the input works
        elif ran and result.outcome is Outcome.FAILED and result.error is not None and action.desired is not None:
            state = record_failure(state, fingerprint(action.desired), result.error, now, jitter=jitter,
                                   base_s=backoff_base_s, permanent=result.transient is False,
                                   reason=result.error_reason or "")
        state = mark_pending(state, now) if action.state in PENDING_STATES else clear_pending(state)
        states[action.extension] = state
    return {name: state for name, state in states.items() if name in in_git and not state.empty}
