"""Status summarising: per-action outcomes → the counts of the canonical summary line.

Owns: the outcome vocabulary (succeeded, unchanged, failed, skipped, pending, planned), the outcome of
an action that runs no helm (noop, skip, fail), and the summary counts, one per action performed
(installed, upgraded, downgraded, reinstalled, unlocked, uninstalled) plus unchanged, failed, skipped,
pending and planned, and how many extensions drifted (counted besides their action). Must not: log,
read the clock (durations are measured by the caller) or do I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from enum import StrEnum

from controller.models.plan import ActionKind, PlannedAction, ReleaseState


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    UNCHANGED = "unchanged"
    FAILED = "failed"
    SKIPPED = "skipped"
    PENDING = "pending"
    PLANNED = "planned"


@dataclass(frozen=True)
class AppliedRelease:
    """What a successful install or upgrade left in helm's storage, as ``helm get metadata`` reports it: the
    revision it created, the chart and version installed, and the release's labels (an upgrade's labels are
    merged into the previous revision's, as helm does). The observer records it, so the next pass reads no
    metadata for it; a revision other than this one (someone else's helm call in between) is read again."""

    revision: int
    chart: str
    version: str
    labels: tuple[tuple[str, str], ...]
    # The desired release's setting digests (path → digest); None: not recorded (``recordable_settings``).
    settings: tuple[tuple[str, str], ...] | None = None


@dataclass(frozen=True)
class ActionResult:
    action: PlannedAction
    outcome: Outcome
    duration_ms: int = 0
    error: str | None = None
    error_reason: str | None = None
    note: str | None = None
    transient: bool | None = None  # for a failed helm action: may the same input succeed on a retry?
    remediation: str | None = None  # after a failure: "uninstall" or "rollback" performed (or attempted)
    remediation_revision: int | None = None  # the revision a rollback returned to
    remediation_error: str | None = None  # the remediation itself failed
    applied: AppliedRelease | None = None  # a succeeded install or upgrade: the facts of the revision it made

    @property
    def satisfies_dependents(self) -> bool:
        """Is the extension ready for the extensions that depend on it, after this result?"""
        if self.outcome in {Outcome.SUCCEEDED, Outcome.UNCHANGED}:
            return self.action.kind is not ActionKind.UNLOCK
        return self.outcome is Outcome.SKIPPED and self.action.state is ReleaseState.SUSPENDED \
            and self.action.observed is not None


@dataclass(frozen=True)
class Summary:
    installed: int = 0
    upgraded: int = 0
    downgraded: int = 0
    reinstalled: int = 0
    unlocked: int = 0
    uninstalled: int = 0
    unchanged: int = 0
    failed: int = 0
    skipped: int = 0
    pending: int = 0
    planned: int = 0
    drifted: int = 0  # extensions whose cluster drifted from their release (reported or corrected), besides the above

    @property
    def ok(self) -> bool:
        """Everything succeeded or was unchanged (skipped suspended ones aside): no failure, nothing pending."""
        return self.failed == 0 and self.pending == 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


_SUCCESS_FIELD = {ActionKind.INSTALL: "installed", ActionKind.UPGRADE: "upgraded", ActionKind.DOWNGRADE: "downgraded",
                  ActionKind.REINSTALL: "reinstalled", ActionKind.UNLOCK: "unlocked",
                  ActionKind.UNINSTALL: "uninstalled"}
_OUTCOME_FIELD = {Outcome.UNCHANGED: "unchanged", Outcome.FAILED: "failed", Outcome.PENDING: "pending",
                  Outcome.PLANNED: "planned", Outcome.SKIPPED: "skipped"}


def summarize(results: Iterable[ActionResult]) -> Summary:
    counts = dict.fromkeys(Summary().as_dict(), 0)
    for result in results:
        if result.outcome is Outcome.SUCCEEDED and result.action.kind in _SUCCESS_FIELD:
            counts[_SUCCESS_FIELD[result.action.kind]] += 1
        else:
            counts[_OUTCOME_FIELD.get(result.outcome, "skipped")] += 1
        if result.action.drift:
            counts["drifted"] += 1
    return Summary(**counts)


def outcome_without_running(action: PlannedAction) -> Outcome | None:
    """The outcome of an action that needs no helm call; None when it must run."""
    if action.kind is ActionKind.NOOP:
        return Outcome.UNCHANGED
    if action.kind is ActionKind.FAIL:
        return Outcome.FAILED
    if action.kind is ActionKind.SKIP:
        return Outcome.PENDING if action.state is ReleaseState.PENDING else Outcome.SKIPPED
    return None


def result_without_running(action: PlannedAction) -> ActionResult | None:
    """The result of a noop, skip or fail action (the reason of a fail is its error)."""
    outcome = outcome_without_running(action)
    if outcome is None:
        return None
    if outcome is Outcome.FAILED:
        return ActionResult(action, outcome, error=action.reason, error_reason=action.error_reason)
    return ActionResult(action, outcome)
