"""The canonical log lines: ``extension.action`` per action, the remediation, unlock and drift
(``extension.drift``) lines that go with it, ``manifest.invalid`` per located error, notices, and one
``reconcile.summary`` per pass.

Owns: the field names and levels of these lines (the documented log schema, README "Log schema").
Must not: decide anything, or log values that are not already scrubbed (structlog's processor
redacts registered secrets as a second line of defence).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from controller.errors import ValidationIssue
from controller.logs import get_logger
from controller.models.desired_state import Notice
from controller.models.plan import ActionKind, ReleaseState
from controller.models.status import ActionResult, Outcome, Summary


def log_action(result: ActionResult) -> None:
    action = result.action
    log = get_logger(extension=action.extension)
    fields: dict[str, Any] = {
        "extension": action.extension, "action": action.kind.value, "state": action.state.value,
        "namespace": action.namespace, "from_version": action.from_version, "to_version": action.to_version,
        "outcome": result.outcome.value, "duration_ms": result.duration_ms,
        "reason": "; ".join(filter(None, (action.reason, result.note))),
    }
    if result.error:
        fields["error"] = result.error
        fields["error_reason"] = result.error_reason
        if result.transient is not None:
            fields["transient"] = result.transient
    if result.remediation is not None:
        _log_remediation(log, result)
    if action.kind is ActionKind.UNLOCK and result.outcome is Outcome.SUCCEEDED and action.observed is not None:
        recovery = (f"rolled back to revision {action.unlock_to}; the next pass upgrades it again"
                    if action.unlock_to is not None else "uninstalled; the next pass installs it again")
        log.warning("release.unlocked", namespace=action.namespace, release=action.release,
                    status=action.observed.status, recovery=recovery)
    if action.drift:
        _log_drift(log, result)
    (log.error if result.outcome is Outcome.FAILED else log.info)("extension.action", **fields)


def _log_drift(log: Any, result: ActionResult) -> None:
    """What drifted (objects and field paths; a Secret's values never), and whether this action restored it."""
    action = result.action
    corrected = action.changes_cluster and result.outcome is Outcome.SUCCEEDED
    if corrected:
        outcome = f"restored by the {action.kind.value}"
    elif action.changes_cluster:
        outcome = f"not restored: the {action.kind.value} {result.outcome.value}"
    else:
        outcome = "reported, not corrected (driftDetection: warn)" if action.state is ReleaseState.DRIFT_REPORTED \
            else f"not corrected ({action.state.value})"
    log.warning("extension.drift", extension=action.extension, namespace=action.namespace, release=action.release,
                drift=list(action.drift), corrected=corrected, outcome=outcome)


def _log_remediation(log: Any, result: ActionResult) -> None:
    if result.remediation_error is not None:
        log.error("remediation.failed", strategy=result.remediation, error=result.remediation_error)
    elif result.remediation == "nothing":
        reason = ("the failed upgrade did not change the release; nothing to roll back"
                  if result.remediation_revision is not None else "the failed action left no release behind")
        log.info("remediation.nothing_to_do", to_revision=result.remediation_revision, reason=reason)
    elif result.remediation == "uninstall":
        log.warning("remediation.uninstalled", strategy="uninstall",
                    reason="install failed; removed so the next attempt starts clean", error=result.error)
    else:
        log.warning("remediation.rolled_back", strategy="rollback", to_revision=result.remediation_revision,
                    reason="upgrade failed; rolled back to the last deployed revision", error=result.error)


def log_manifest_errors(issues: Iterable[ValidationIssue]) -> None:
    log = get_logger()
    for issue in issues:
        log.error("manifest.invalid", file=issue.location.file, line=issue.location.line,
                  column=issue.location.column, field=issue.field, error=issue.message)


def log_notices(notices: Iterable[Notice]) -> None:
    log = get_logger()
    for notice in notices:
        log.info(f"extension.{notice.kind}", extension=notice.extension, message=notice.message)


def log_summary(*, outcome: str, ok: bool, summary: Summary, duration_ms: int, helm_calls: int,
                extra: Mapping[str, Any]) -> None:
    """The one canonical line per pass."""
    fields: dict[str, Any] = {"outcome": outcome, **summary.as_dict(), "duration_ms": duration_ms,
                              "helm_calls": helm_calls, **extra}
    (get_logger().info if ok else get_logger().error)("reconcile.summary", **fields)
