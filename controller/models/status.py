"""Status summarising: per-action outcomes → the counts of the canonical summary line.

Owns: the outcome vocabulary (succeeded, unchanged, failed, skipped, conflict, blocked) and the
summary counts (installed, upgraded, uninstalled, unchanged, failed, skipped, pending).
Must not: log, read the clock (durations are measured by the caller) or do I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from controller.models.plan import ActionKind, HoldKind, PlannedAction


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    UNCHANGED = "unchanged"
    FAILED = "failed"
    SKIPPED = "skipped"
    PENDING = "pending"
    PLANNED = "planned"


@dataclass(frozen=True)
class ActionResult:
    action: PlannedAction
    outcome: Outcome
    duration_ms: int = 0
    error: str | None = None
    error_reason: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class Summary:
    installed: int = 0
    upgraded: int = 0
    uninstalled: int = 0
    unchanged: int = 0
    failed: int = 0
    skipped: int = 0
    pending: int = 0
    planned: int = 0

    @property
    def ok(self) -> bool:
        """Everything succeeded or was unchanged (skipped suspended ones aside): no failure, nothing pending."""
        return self.failed == 0 and self.pending == 0

    def as_dict(self) -> dict[str, int]:
        return {
            "installed": self.installed, "upgraded": self.upgraded, "uninstalled": self.uninstalled,
            "unchanged": self.unchanged, "failed": self.failed, "skipped": self.skipped, "pending": self.pending,
            "planned": self.planned,
        }


_SUCCESS_FIELD = {ActionKind.INSTALL: "installed", ActionKind.UPGRADE: "upgraded", ActionKind.UNINSTALL: "uninstalled"}


def summarize(results: Iterable[ActionResult]) -> Summary:
    counts = dict.fromkeys(Summary().as_dict(), 0)
    for result in results:
        if result.outcome is Outcome.SUCCEEDED and result.action.kind in _SUCCESS_FIELD:
            counts[_SUCCESS_FIELD[result.action.kind]] += 1
        elif result.outcome is Outcome.UNCHANGED:
            counts["unchanged"] += 1
        elif result.outcome is Outcome.FAILED:
            counts["failed"] += 1
        elif result.outcome is Outcome.PENDING:
            counts["pending"] += 1
        elif result.outcome is Outcome.PLANNED:
            counts["planned"] += 1
        else:
            counts["skipped"] += 1
    return Summary(**counts)


def outcome_without_running(action: PlannedAction) -> Outcome | None:
    """The outcome of an action that needs no helm call; None when it must run."""
    if action.kind is ActionKind.NOOP:
        return Outcome.UNCHANGED
    if action.kind is ActionKind.CONFLICT:
        return Outcome.FAILED
    if action.kind is ActionKind.SKIP:
        return Outcome.SKIPPED
    if action.kind is ActionKind.BLOCKED:
        return Outcome.PENDING if action.hold is HoldKind.PENDING else Outcome.FAILED
    return None
