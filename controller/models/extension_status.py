"""The status of one Extension object: what a pass's result means for Arc's ``provisioningState``, the
versions, the failure count and the kstatus conditions ``Ready``, ``Reconciling`` and ``Stalled``.

Owns: the status vocabulary (``ProvisioningState``, condition types, the reasons of conditions that are
not typed errors), the pure transition (previous status, this pass's ``ActionResult``, the remembered
failure record, ``now``) → the next ``ExtensionStatus``, and its JSON form (``.status`` of the object).
Messages are built so that a pass that changes nothing yields an equal status: no relative times, and a
condition keeps its ``lastTransitionTime`` while its status stays the same.
Must not: read the clock (``now`` is an RFC 3339 string handed in), redact secrets (the writer scrubs
every string before it leaves the process), or do I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from controller.errors import SecretNotReady
from controller.models.observed import ObservedRelease
from controller.models.release_state import APPLIES_DESIRED, ActionKind, ReleaseState
from controller.models.remediation import ExtensionState, FailureRecord
from controller.models.status import ActionResult, Outcome

MAX_LAST_ACTIONS = 5
MAX_MESSAGE = 1000


class ProvisioningState(StrEnum):
    """Arc's values (Canceled aside: extctl never cancels), plus Suspended and Conflict."""

    PENDING = "Pending"
    CREATING = "Creating"
    UPDATING = "Updating"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    DELETING = "Deleting"
    SUSPENDED = "Suspended"
    CONFLICT = "Conflict"


READY, RECONCILING, STALLED = "Ready", "Reconciling", "Stalled"
CONDITION_TYPES = (READY, RECONCILING, STALLED)
SUCCEEDED_REASON = {ActionKind.INSTALL: "InstallSucceeded", ActionKind.UPGRADE: "UpgradeSucceeded",
                    ActionKind.DOWNGRADE: "DowngradeSucceeded", ActionKind.REINSTALL: "ReinstallSucceeded",
                    ActionKind.UNLOCK: "UnlockSucceeded", ActionKind.UNINSTALL: "UninstallSucceeded"}
IN_SYNC_REASON = "ReconciliationSucceeded"
PENDING_REASON = SecretNotReady.reason
_PAST = {ActionKind.INSTALL: "installed", ActionKind.UPGRADE: "upgraded", ActionKind.DOWNGRADE: "downgraded",
         ActionKind.REINSTALL: "reinstalled", ActionKind.UNLOCK: "unlocked", ActionKind.UNINSTALL: "uninstalled"}
RESET_HINT = ("not retried until the spec, resolved version or settings change, or "
              "`extctl reconcile --once --reset NAME`")


@dataclass(frozen=True)
class Condition:
    type: str
    status: str  # "True", "False" or "Unknown"
    reason: str
    message: str
    last_transition_time: str
    observed_generation: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "status": self.status, "reason": self.reason, "message": self.message,
                "lastTransitionTime": self.last_transition_time, "observedGeneration": self.observed_generation}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Condition | None:
        try:
            return cls(str(data["type"]), str(data["status"]), str(data.get("reason", "")),
                       str(data.get("message", "")), str(data.get("lastTransitionTime", "")),
                       int(data.get("observedGeneration", 0)))
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class LastAction:
    """One action that ran helm (or failed to), newest first in ``ExtensionStatus.last_actions``."""

    action: str
    outcome: str
    reason: str
    from_version: str | None
    to_version: str | None
    message: str
    time: str

    def to_json(self) -> dict[str, Any]:
        data = {"action": self.action, "outcome": self.outcome, "reason": self.reason, "message": self.message,
                "time": self.time, "fromVersion": self.from_version, "toVersion": self.to_version}
        return {k: v for k, v in data.items() if v is not None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LastAction | None:
        try:
            return cls(str(data["action"]), str(data["outcome"]), str(data.get("reason", "")),
                       _opt(data.get("fromVersion")), _opt(data.get("toVersion")), str(data.get("message", "")),
                       str(data.get("time", "")))
        except (KeyError, TypeError):
            return None


@dataclass(frozen=True)
class ExtensionStatus:
    provisioning_state: str = ProvisioningState.PENDING.value
    installed_version: str | None = None
    target_version: str | None = None
    newer_major_available: str | None = None
    last_applied_revision: str | None = None
    last_applied_time: str | None = None
    last_attempted_version: str | None = None
    failures: int = 0
    message: str = ""
    observed_generation: int = 0
    conditions: tuple[Condition, ...] = ()
    last_actions: tuple[LastAction, ...] = field(default=())

    def condition(self, type_: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == type_), None)

    @property
    def ready(self) -> bool:
        found = self.condition(READY)
        return found is not None and found.status == "True"

    @property
    def stalled(self) -> bool:
        found = self.condition(STALLED)
        return found is not None and found.status == "True"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "provisioningState": self.provisioning_state, "installedVersion": self.installed_version,
            "targetVersion": self.target_version, "newerMajorAvailable": self.newer_major_available,
            "lastAppliedRevision": self.last_applied_revision, "lastAppliedTime": self.last_applied_time,
            "lastAttemptedVersion": self.last_attempted_version, "failures": self.failures,
            "message": self.message, "observedGeneration": self.observed_generation,
            "conditions": [c.to_json() for c in self.conditions],
            "lastActions": [a.to_json() for a in self.last_actions],
        }
        return {k: v for k, v in data.items() if v is not None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> ExtensionStatus | None:
        """Tolerant: a status someone edited by hand never breaks a pass (a bad field reads as empty)."""
        if not isinstance(data, Mapping) or not data:
            return None
        conditions = tuple(c for raw in _list(data.get("conditions"))
                           if isinstance(raw, Mapping) and (c := Condition.from_json(raw)) is not None)
        actions = tuple(a for raw in _list(data.get("lastActions"))
                        if isinstance(raw, Mapping) and (a := LastAction.from_json(raw)) is not None)
        failures = data.get("failures", 0)
        generation = data.get("observedGeneration", 0)
        return cls(str(data.get("provisioningState", "")), _opt(data.get("installedVersion")),
                   _opt(data.get("targetVersion")), _opt(data.get("newerMajorAvailable")),
                   _opt(data.get("lastAppliedRevision")), _opt(data.get("lastAppliedTime")),
                   _opt(data.get("lastAttemptedVersion")), failures if isinstance(failures, int) else 0,
                   str(data.get("message", "")), generation if isinstance(generation, int) else 0,
                   conditions, actions)


@dataclass(frozen=True)
class Verdict:
    """What this pass says about an extension, before versions and times are filled in."""

    state: ProvisioningState
    ready: str  # "True", "False" or "Unknown"
    reason: str
    message: str
    reconciling: bool = False
    stalled: bool = False
    stalled_reason: str | None = None


@dataclass(frozen=True)
class StatusInput:
    """Everything the status of one extension in Git depends on."""

    result: ActionResult
    revision: str
    instance: str
    now: str
    generation: int = 0
    remembered: ExtensionState = field(default_factory=ExtensionState)
    previous: ExtensionStatus | None = None


def _opt(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MAX_MESSAGE else line[:MAX_MESSAGE - 1] + "…"


def _owned(observed: ObservedRelease | None, extension: str, instance: str) -> bool:
    return observed is not None and observed.owned_by(instance) and observed.extension == extension


def _failure_verdict(record: FailureRecord | None, result: ActionResult, state: ReleaseState) -> Verdict:
    """A failed attempt, or a pass that keeps the verdict of the last failed attempt (backing off,
    retries exhausted, failed permanently): all built from the remembered record, so they read the same."""
    error = record.last_error if record is not None else (result.error or result.action.reason)
    reason = (record.reason if record is not None else None) or result.error_reason or "Failed"
    permanent = (record.permanent if record is not None else False) or state is ReleaseState.FAILED_PERMANENTLY
    if state is ReleaseState.RETRIES_EXHAUSTED:
        failures = record.failures if record is not None else 0
        return Verdict(ProvisioningState.FAILED, "False", reason,
                       f"retries exhausted after {failures} failures; last error: {error}; {RESET_HINT}",
                       stalled=True, stalled_reason="RetriesExhausted")
    if permanent:
        return Verdict(ProvisioningState.FAILED, "False", reason, f"failed permanently ({reason}): {error}; "
                       f"{RESET_HINT}", stalled=True, stalled_reason="FailedPermanently")
    return Verdict(ProvisioningState.FAILED, "False", reason, f"{reason}: {error}; retried with backoff",
                   reconciling=True)


def verdict(result: ActionResult, remembered: ExtensionState, previous: ExtensionStatus | None) -> Verdict:
    """The provisioning state and conditions one action result stands for."""
    action, record = result.action, remembered.failure
    kind, state = action.kind, action.state
    if kind in APPLIES_DESIRED or kind is ActionKind.UNLOCK or kind is ActionKind.UNINSTALL:
        if result.outcome is Outcome.SUCCEEDED:
            if kind is ActionKind.UNLOCK:
                return Verdict(ProvisioningState.UPDATING, "False", SUCCEEDED_REASON[kind],
                               "a stuck helm operation was recovered; the next pass applies the release again",
                               reconciling=True)
            versions = action.to_version or action.from_version or ""
            return Verdict(ProvisioningState.SUCCEEDED, "True", SUCCEEDED_REASON[kind], f"{_PAST[kind]} {versions}")
        if kind in APPLIES_DESIRED:
            return _failure_verdict(record, result, state)
        return Verdict(ProvisioningState.DELETING if kind is ActionKind.UNINSTALL else ProvisioningState.FAILED,
                       "False", result.error_reason or "Failed", f"{kind.value} failed: {result.error}",
                       reconciling=True)
    if state is ReleaseState.IN_SYNC:
        kept = previous.condition(READY) if previous is not None else None
        if kept is not None and kept.status == "True":
            return Verdict(ProvisioningState.SUCCEEDED, "True", kept.reason, kept.message)
        return Verdict(ProvisioningState.SUCCEEDED, "True", IN_SYNC_REASON, "release is in sync with Git")
    if state is ReleaseState.DRIFT_REPORTED:  # running as Git says, but the cluster drifted (driftDetection: warn)
        return Verdict(ProvisioningState.SUCCEEDED, "True", "DriftDetected", action.reason)
    if state is ReleaseState.SUSPENDED:
        kept = previous.condition(READY) if previous is not None else None
        return Verdict(ProvisioningState.SUSPENDED, kept.status if kept is not None else "Unknown", "Suspended",
                       "suspended in Git (spec.suspend: true): the release is left exactly as it is")
    if state is ReleaseState.PENDING:
        return Verdict(ProvisioningState.PENDING, "False", PENDING_REASON, action.reason, reconciling=True)
    if state is ReleaseState.LOCKED:
        status = action.observed.status if action.observed is not None else "pending"
        return Verdict(ProvisioningState.UPDATING, "Unknown", "OperationInProgress",
                       f"release is locked in status {status}: a helm operation is running (or died; it is "
                       "recovered after the lock timeout)", reconciling=True)
    if state in {ReleaseState.BACKING_OFF, ReleaseState.RETRIES_EXHAUSTED, ReleaseState.FAILED_PERMANENTLY}:
        return _failure_verdict(record, result, state)
    if state is ReleaseState.DEPENDENCY_NOT_READY:
        installed = action.observed is not None
        return Verdict(ProvisioningState.UPDATING if installed else ProvisioningState.PENDING, "False",
                       "DependencyNotReady", action.reason, reconciling=True)
    if state is ReleaseState.FOREIGN:
        return Verdict(ProvisioningState.CONFLICT, "False", "Conflict", action.reason, stalled=True,
                       stalled_reason="Conflict")
    if state is ReleaseState.PRUNE_REFUSED:
        return Verdict(ProvisioningState.DELETING, "False", "PruneRefused", action.reason, stalled=True,
                       stalled_reason="PruneRefused")
    reason = result.error_reason or action.error_reason or "Failed"
    if result.outcome is Outcome.FAILED:  # blocked, pending-expired, and fail states added later
        return Verdict(ProvisioningState.FAILED, "False", reason, result.error or action.reason, stalled=True,
                       stalled_reason=reason)
    return Verdict(ProvisioningState.UPDATING, "Unknown", "Progressing", action.reason, reconciling=True)


def _conditions(v: Verdict, previous: ExtensionStatus | None, now: str, generation: int) -> tuple[Condition, ...]:
    wanted = (
        (READY, v.ready, v.reason, v.message),
        (RECONCILING, "True" if v.reconciling else "False", v.reason if v.reconciling else "Idle",
         v.message if v.reconciling else ""),
        (STALLED, "True" if v.stalled else "False", (v.stalled_reason or v.reason) if v.stalled else "Idle",
         v.message if v.stalled else ""),
    )
    conditions = []
    for type_, status, reason, message in wanted:
        before = previous.condition(type_) if previous is not None else None
        since = before.last_transition_time if before is not None and before.status == status else now
        conditions.append(Condition(type_, status, reason, _short(message), since, generation))
    return tuple(conditions)


def _installed(result: ActionResult, instance: str, previous: ExtensionStatus | None) -> str | None:
    """The chart version deployed for the extension after this pass (None: nothing of ours is deployed)."""
    action = result.action
    observed = action.observed
    if action.kind in APPLIES_DESIRED and result.outcome is Outcome.SUCCEEDED:
        return action.to_version
    if action.kind in {ActionKind.INSTALL, ActionKind.REINSTALL} and result.outcome is Outcome.FAILED:
        return None
    if not _owned(observed, action.extension, instance):
        return None
    assert observed is not None  # noqa: S101 - _owned checked it
    if observed.status == "deployed":
        return observed.chart_version
    return previous.installed_version if previous is not None else None


def _last_actions(result: ActionResult, previous: ExtensionStatus | None, v: Verdict,
                  now: str) -> tuple[LastAction, ...]:
    kept = previous.last_actions if previous is not None else ()
    action = result.action
    if not action.changes_cluster or result.outcome not in {Outcome.SUCCEEDED, Outcome.FAILED}:
        return kept
    message = v.message if result.outcome is Outcome.FAILED else f"{_PAST[action.kind]} in {result.duration_ms} ms"
    entry = LastAction(action.kind.value, result.outcome.value, v.reason if result.outcome is Outcome.FAILED
                       else SUCCEEDED_REASON[action.kind], action.from_version, action.to_version, _short(message), now)
    return (entry, *kept)[:MAX_LAST_ACTIONS]


def build_status(given: StatusInput) -> ExtensionStatus:
    """The status of one extension after a pass (its ``observedGeneration`` is ``given.generation``)."""
    result, previous = given.result, given.previous
    action = result.action
    v = verdict(result, given.remembered, previous)
    desired = action.desired
    applied = action.kind in APPLIES_DESIRED and result.outcome is Outcome.SUCCEEDED
    attempted = action.kind in APPLIES_DESIRED and result.outcome in {Outcome.SUCCEEDED, Outcome.FAILED}
    in_sync_first_seen = action.state is ReleaseState.IN_SYNC and (
        previous is None or not previous.last_applied_revision)
    last_revision = given.revision if applied or in_sync_first_seen else (
        previous.last_applied_revision if previous is not None else None)
    last_time = given.now if applied or in_sync_first_seen else (previous.last_applied_time if previous else None)
    failure = given.remembered.failure
    return ExtensionStatus(
        provisioning_state=v.state.value,
        installed_version=_installed(result, given.instance, previous),
        target_version=desired.version if desired is not None else (previous.target_version if previous else None),
        newer_major_available=(desired.resolution.newer_major_available if desired is not None
                               else previous.newer_major_available if previous is not None else None),
        last_applied_revision=last_revision,
        last_applied_time=last_time,
        last_attempted_version=action.to_version if attempted else (
            previous.last_attempted_version if previous is not None else None),
        failures=failure.failures if failure is not None else 0,
        message=_short(v.message),
        observed_generation=given.generation,
        conditions=_conditions(v, previous, given.now, given.generation),
        last_actions=_last_actions(result, previous, v, given.now),
    )


def with_generation(status: ExtensionStatus, generation: int) -> ExtensionStatus:
    """The same status observed at another ``metadata.generation`` (known only after the spec write)."""
    return replace(status, observed_generation=generation,
                   conditions=tuple(replace(c, observed_generation=generation) for c in status.conditions))
