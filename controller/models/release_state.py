"""Release state, then action: the two pure decisions every pass, plan and preview share.

``determine_state`` maps the facts about one extension (its desired release or hold, the release helm
reports, what the state store remembers, the policy and ``now``) to exactly one ``ReleaseState``;
``ACTION_FOR_STATE`` maps each state to exactly one ``ActionKind``. Nothing is decided later: the
executor performs the action, and the action logged and counted is the action performed.

Owns: the state and action vocabularies, the state → action table, the retry gate (backoff,
exhausted, permanent failure), stuck-lock ageing, adoption of unowned releases (``takeOwnership``),
what drift counts and what it leads to (``driftDetection`` mode, ignore list, out-of-band revisions), the
dependency gate, and the remediation step after a failed action. Must not: read the clock (``now`` is
handed in), call helm, or do I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

import semver

from controller.models.desired import LABEL_DEPENDS_ON, DesiredRelease, depends_on_label, settings_reason
from controller.models.drift import out_of_band
from controller.models.manifests import DriftMode
from controller.models.observed import ObservedRelease
from controller.models.remediation import ExtensionState, fingerprint


class ReleaseState(StrEnum):
    ABSENT = "absent"  # no release under the extension's name: install
    FOREIGN = "foreign"  # a release extctl (this instance, this extension) does not own holds the name
    UNOWNED = "unowned"  # a release no extctl instance owns holds the name, and takeOwnership adopts it
    LOCKED = "locked"  # pending-* and young: another helm operation may still be running
    LOCKED_STALE = "locked-stale"  # pending-* older than the lock timeout: its helm process died
    FAILED_FIRST_INSTALL = "failed-first-install"  # status failed, never deployed: nothing to upgrade from
    FAILED = "failed"  # status failed after an earlier deployed revision
    OUT_OF_SYNC = "out-of-sync"  # deployed, but chart, version, values or dependsOn differ from Git
    IN_SYNC = "in-sync"
    DRIFTED = "drifted"  # in sync with Git, but the cluster drifted from the release; driftDetection enabled
    DRIFT_REPORTED = "drift-reported"  # drifted, driftDetection warn: reported, not corrected
    SUSPENDED = "suspended"
    PENDING = "pending"  # waiting for a protected-settings Secret
    PENDING_EXPIRED = "pending-expired"  # waited longer than the pending timeout
    BLOCKED = "blocked"  # in Git, but no desired release: catalog, resolution or Secret read failed
    BACKING_OFF = "backing-off"
    RETRIES_EXHAUSTED = "retries-exhausted"
    FAILED_PERMANENTLY = "failed-permanently"  # the same input failed with a permanent error
    DEPENDENCY_NOT_READY = "dependency-not-ready"
    ORPHANED = "orphaned"  # an owned release no extension in Git claims (or left for another namespace)
    PRUNE_REFUSED = "prune-refused"  # orphaned, but the prune guard refused the revision's uninstalls


class ActionKind(StrEnum):
    INSTALL = "install"
    UPGRADE = "upgrade"
    DOWNGRADE = "downgrade"
    REINSTALL = "reinstall"  # uninstall a failed first install, then install
    UNLOCK = "unlock"  # roll a stale lock back to its last deployed revision, or uninstall it
    UNINSTALL = "uninstall"
    SKIP = "skip"
    FAIL = "fail"
    NOOP = "noop"


CHANGES = frozenset({ActionKind.INSTALL, ActionKind.UPGRADE, ActionKind.DOWNGRADE, ActionKind.REINSTALL,
                     ActionKind.UNLOCK, ActionKind.UNINSTALL})
# Actions that move a release to its desired version and values: gated by the retry record.
APPLIES_DESIRED = frozenset({ActionKind.INSTALL, ActionKind.UPGRADE, ActionKind.DOWNGRADE, ActionKind.REINSTALL})

ACTION_FOR_STATE: Mapping[ReleaseState, ActionKind] = {
    ReleaseState.ABSENT: ActionKind.INSTALL,
    ReleaseState.FOREIGN: ActionKind.FAIL,
    ReleaseState.UNOWNED: ActionKind.UPGRADE,  # helm upgrade --take-ownership: adds extctl's labels
    ReleaseState.LOCKED: ActionKind.SKIP,
    ReleaseState.LOCKED_STALE: ActionKind.UNLOCK,
    ReleaseState.FAILED_FIRST_INSTALL: ActionKind.REINSTALL,
    ReleaseState.FAILED: ActionKind.UPGRADE,  # or DOWNGRADE: see ``sync_action``
    ReleaseState.OUT_OF_SYNC: ActionKind.UPGRADE,  # or DOWNGRADE
    ReleaseState.IN_SYNC: ActionKind.NOOP,
    ReleaseState.DRIFTED: ActionKind.UPGRADE,  # the upgrade re-applies the chart: restores what drifted
    ReleaseState.DRIFT_REPORTED: ActionKind.NOOP,
    ReleaseState.SUSPENDED: ActionKind.SKIP,
    ReleaseState.PENDING: ActionKind.SKIP,
    ReleaseState.PENDING_EXPIRED: ActionKind.FAIL,
    ReleaseState.BLOCKED: ActionKind.FAIL,
    ReleaseState.BACKING_OFF: ActionKind.SKIP,
    ReleaseState.RETRIES_EXHAUSTED: ActionKind.FAIL,
    ReleaseState.FAILED_PERMANENTLY: ActionKind.FAIL,
    ReleaseState.DEPENDENCY_NOT_READY: ActionKind.SKIP,
    ReleaseState.ORPHANED: ActionKind.UNINSTALL,
    ReleaseState.PRUNE_REFUSED: ActionKind.SKIP,
}

# States in which the release matches Git's input (the input is known to work).
SYNCED_STATES = frozenset({ReleaseState.IN_SYNC, ReleaseState.DRIFT_REPORTED})

# The typed reason a FAIL state reports (as ``error_reason``, like the reasons of errors.py).
FAIL_REASON: Mapping[ReleaseState, str] = {
    ReleaseState.FOREIGN: "Conflict",
    ReleaseState.PENDING_EXPIRED: "PendingTimeout",
    ReleaseState.BLOCKED: "Blocked",
    ReleaseState.RETRIES_EXHAUSTED: "RetriesExhausted",
    ReleaseState.FAILED_PERMANENTLY: "FailedPermanently",
}


@dataclass(frozen=True)
class Policy:
    """Controller-wide settings the decisions depend on."""

    instance: str = "default"
    retries: int = 3
    lock_timeout_s: float = 300.0
    pending_timeout_s: float = 48 * 3600.0
    drift_mode: DriftMode = DriftMode.WARN  # --drift-detection: for extensions that do not set a mode
    take_ownership: bool = False  # --take-ownership: adopt unowned releases for every extension of this run


@dataclass(frozen=True)
class Facts:
    """Everything known about one extension (or one orphaned release) before deciding."""

    extension: str
    desired: DesiredRelease | None = None
    hold_kind: str | None = None  # "suspended", "pending" or "error" (HoldKind values) when no desired release
    hold_reason: str = ""
    observed: ObservedRelease | None = None
    remembered: ExtensionState = field(default_factory=ExtensionState)
    retries: int | None = None  # per-extension override of Policy.retries
    in_flight: bool = False  # this process is running a helm action on the release right now


@dataclass(frozen=True)
class StateDecision:
    state: ReleaseState
    action: ActionKind
    reasons: tuple[str, ...]
    error_reason: str | None = None  # for FAIL
    unlock_to: int | None = None  # UNLOCK: revision to roll back to; None means uninstall
    note: str | None = None  # e.g. "retry 1 of 3"
    drift: tuple[str, ...] = ()  # what drifted (objects, field paths, an out-of-band revision), when reported


def _version_precedence(current: str | None, desired: str) -> int:
    """-1 when ``desired`` is lower than ``current`` (a downgrade), 0 same/unknown, 1 higher."""
    if current is None:
        return 0
    try:
        return semver.Version.parse(desired).compare(semver.Version.parse(current))
    except (ValueError, TypeError):
        return 0


def sync_reasons(desired: DesiredRelease, current: ObservedRelease) -> list[str]:
    """Why a deployed (or failed) release differs from Git; empty when it is in sync."""
    reasons: list[str] = []
    if current.status == "failed":
        reasons.append(f"previous attempt failed (release status {current.status})")
    if current.chart_name is not None and current.chart_name != desired.chart.name:
        reasons.append(f"chart changed {current.chart_name} → {desired.chart.name}")
    if current.chart_version != desired.version:
        reasons.append(f"chart version {current.chart_version} → {desired.version} ({desired.resolution.explanation})")
    if current.values_digest != desired.values_digest:
        reasons.append(settings_reason(current.setting_digests, desired.setting_digests, current.values_digest,
                                       desired.values_digest))
    wanted = depends_on_label(desired.depends_on) if desired.depends_on else ""
    if current.labels.get(LABEL_DEPENDS_ON, "") != wanted:
        # The release label records dependsOn so uninstalls can run in reverse order; keep it current.
        before = ", ".join(current.depends_on) or "none"
        reasons.append(f"dependsOn changed {before} → {', '.join(sorted(desired.depends_on)) or 'none'}")
    return reasons


def _owner(current: ObservedRelease, instance: str) -> str:
    if current.owned_by(instance):
        return f"extension {current.extension!r}"
    return f"extctl instance {current.instance!r}" if current.managed else "something other than extctl"


def _decision(state: ReleaseState, reasons: tuple[str, ...], **kwargs: object) -> StateDecision:
    action = ACTION_FOR_STATE[state]
    return StateDecision(state, action, reasons, error_reason=FAIL_REASON.get(state), **kwargs)  # type: ignore[arg-type]


def _held(facts: Facts, policy: Policy, now: float) -> StateDecision:
    reasons = (facts.hold_reason,) if facts.hold_reason else ()
    if facts.hold_kind == "suspended":
        return _decision(ReleaseState.SUSPENDED, reasons)
    if facts.hold_kind == "pending":
        since = facts.remembered.pending_since
        if since is not None and now - since > policy.pending_timeout_s:
            hours = policy.pending_timeout_s / 3600
            return _decision(ReleaseState.PENDING_EXPIRED, (f"pending for more than {hours:g}h: {facts.hold_reason}",))
        return _decision(ReleaseState.PENDING, reasons)
    return _decision(ReleaseState.BLOCKED, reasons)


def _gated(facts: Facts, desired: DesiredRelease, policy: Policy, now: float,
           proposed: StateDecision) -> StateDecision:
    """Apply the retry record to an action that would apply the desired release."""
    record = facts.remembered.failure
    if record is None or record.fingerprint != fingerprint(desired):
        return proposed
    retries = policy.retries if facts.retries is None else facts.retries
    if record.permanent:
        return _decision(ReleaseState.FAILED_PERMANENTLY, (
            f"the last attempt failed permanently ({record.reason}): {record.last_error}; not retried until the "
            "spec, resolved version or settings change, or `extctl reconcile --reset NAME`",))
    if record.failures > retries:
        return _decision(ReleaseState.RETRIES_EXHAUSTED, (
            f"retries exhausted ({record.failures - 1} of {retries} retries failed); last error: {record.last_error}; "
            "not retried until the spec, resolved version or settings change, or `extctl reconcile --reset NAME`",))
    if now < record.next_retry_at:
        return _decision(ReleaseState.BACKING_OFF, (
            f"backing off after {record.failures} failure(s): next attempt in {record.next_retry_at - now:.0f}s; "
            f"last error: {record.last_error}",))
    return replace(proposed, note=f"retry {record.failures} of {retries}")


def determine_state(facts: Facts, policy: Policy, now: float) -> StateDecision:
    """The one state of an extension this pass, and the action it implies."""
    desired, current = facts.desired, facts.observed
    if desired is None:
        if facts.hold_kind is not None:
            return _held(facts, policy, now)
        # An owned release with no extension in Git (or moved away): uninstalled, but never while a
        # helm operation may still be working on it (a young lock, or this process's own action).
        if current is not None and current.locked:
            locked = _locked(facts, current, policy, now)
            if locked.state is ReleaseState.LOCKED:
                return locked
        return _decision(ReleaseState.ORPHANED, (facts.hold_reason or "owned release no longer in Git",))
    if current is None:
        return _gated(facts, desired, policy, now, _decision(ReleaseState.ABSENT, ("not installed",)))
    if not current.owned_by(policy.instance) or current.extension != desired.extension:
        return _not_owned(facts, desired, current, policy, now)
    if current.locked:
        return _locked(facts, current, policy, now)
    if current.status == "failed" and current.last_deployed_revision is None:
        return _gated(facts, desired, policy, now, _decision(ReleaseState.FAILED_FIRST_INSTALL, (
            "the first install failed and was never deployed: uninstall it, then install again",)))
    reasons = sync_reasons(desired, current)
    drift = drift_findings(desired, current, policy)
    mode = desired.drift.mode or policy.drift_mode
    if not reasons and not drift:
        return _decision(ReleaseState.IN_SYNC, (f"up to date ({desired.resolution.explanation})",))
    if not reasons and mode is DriftMode.WARN:
        return StateDecision(ReleaseState.DRIFT_REPORTED, ActionKind.NOOP, (
            f"drift (driftDetection warn: reported, not corrected): {'; '.join(drift)}",), drift=drift)
    if not reasons:
        return _gated(facts, desired, policy, now, StateDecision(ReleaseState.DRIFTED, ActionKind.UPGRADE, (
            f"drift (driftDetection enabled: an upgrade restores it): {'; '.join(drift)}",), drift=drift))
    if drift:  # the upgrade re-applies the chart, which restores the drift too
        reasons.append(f"drift: {'; '.join(drift)}")
    state = ReleaseState.FAILED if current.status == "failed" else ReleaseState.OUT_OF_SYNC
    action = ActionKind.DOWNGRADE if _version_precedence(current.chart_version, desired.version) < 0 \
        else ActionKind.UPGRADE
    return _gated(facts, desired, policy, now, StateDecision(state, action, tuple(reasons), drift=drift))


def drift_findings(desired: DesiredRelease, current: ObservedRelease, policy: Policy) -> tuple[str, ...]:
    """What drifted, one line each (an out-of-band helm revision, then objects), after the ignore list;
    nothing under ``driftDetection: disabled``."""
    if (desired.drift.mode or policy.drift_mode) is DriftMode.DISABLED:
        return ()
    found = [reason] if (reason := out_of_band(current)) else []
    if current.drift is not None:
        found += [str(o) for o in current.drift.without(desired.drift.ignore).objects]
    return tuple(found)


def drift_candidates(desired: Sequence[DesiredRelease], observed: Sequence[ObservedRelease],
                     policy: Policy) -> list[tuple[str, str]]:
    """Releases whose objects a drift check may compare: owned by this instance and extension, deployed, in
    sync with Git (an upgrade is coming anyway otherwise), ``driftDetection`` not ``disabled``."""
    by_key = {o.key: o for o in observed}
    found = []
    for wanted in desired:
        current = by_key.get((wanted.namespace, wanted.release_name))
        if current is None or not current.owned_by(policy.instance) or current.extension != wanted.extension \
                or current.status != "deployed" or (wanted.drift.mode or policy.drift_mode) is DriftMode.DISABLED:
            continue
        if not sync_reasons(wanted, current):
            found.append(current.key)
    return found


def _not_owned(facts: Facts, desired: DesiredRelease, current: ObservedRelease, policy: Policy,
               now: float) -> StateDecision:
    """A release someone else holds: adopted when no extctl instance owns it and takeOwnership says so
    (spec or ``--take-ownership``), else a Conflict whose message says how to adopt (or why it never is)."""
    where = f"release {current.namespace}/{current.name}"
    adopt = desired.take_ownership or policy.take_ownership
    if current.managed:
        return _decision(ReleaseState.FOREIGN, (
            f"{where} already exists and is managed by {_owner(current, policy.instance)}; extctl never takes "
            "over a release another extctl instance or extension owns: rename the extension, or uninstall the "
            "release by hand",))
    if not adopt:
        return _decision(ReleaseState.FOREIGN, (
            f"{where} already exists and is managed by something other than extctl; extctl does not modify it "
            "unless told to: to adopt it (an upgrade, no uninstall), set spec.takeOwnership: true on the "
            "extension or run with --take-ownership; or rename the extension, or uninstall the release by hand",))
    if current.locked:
        return _decision(ReleaseState.LOCKED, (
            f"{where} (not owned by extctl, takeOwnership set) is locked in status {current.status}; it is adopted "
            "once the helm operation holding it ends",))
    return _gated(facts, desired, policy, now, _decision(ReleaseState.UNOWNED, (
        f"{where} exists and no extctl instance owns it; takeOwnership: adopt it with helm upgrade "
        f"--take-ownership (adds extctl's labels; revision {current.revision} → {current.revision + 1}, its "
        "objects keep their uids)",)))


def _locked(facts: Facts, current: ObservedRelease, policy: Policy, now: float) -> StateDecision:
    age = None if current.updated_at is None else now - current.updated_at
    # A helm process may legitimately hold the lock for the extension's own timeout (it waits for readiness).
    timeout = facts.desired.timeout_s if facts.desired is not None and facts.desired.timeout_s is not None else 0.0
    limit = max(policy.lock_timeout_s, timeout)
    if facts.in_flight or age is None or age < limit:
        known = f", {age:.0f}s old" if age is not None else ""
        return _decision(ReleaseState.LOCKED, (
            f"release is locked in status {current.status}{known} (another helm operation is running or was "
            f"interrupted; it is recovered once older than the lock timeout of {limit:g}s)",))
    if current.status in {"pending-install", "uninstalling"} or current.last_deployed_revision is None:
        how = "uninstall it; the next pass installs it again"
        return _decision(ReleaseState.LOCKED_STALE, (
            f"release stuck in status {current.status} for {age:.0f}s with no deployed revision to return to: {how}",))
    target = current.last_deployed_revision
    return _decision(ReleaseState.LOCKED_STALE, (
        f"release stuck in status {current.status} for {age:.0f}s: roll back to revision {target}; the next pass "
        "upgrades it again",), unlock_to=target)


def satisfies_dependents(decision: StateDecision, observed_present: bool) -> bool:
    """Will this extension be ready for its dependents after the pass (as far as the plan can tell)?"""
    if decision.action in APPLIES_DESIRED or decision.action is ActionKind.NOOP:
        return True
    return decision.state is ReleaseState.SUSPENDED and observed_present


def dependency_not_ready(decision: StateDecision, blocked: list[str]) -> StateDecision:
    """An action that would change the cluster waits while a dependency is not ready."""
    if not blocked or decision.action not in CHANGES:
        return decision
    return _decision(ReleaseState.DEPENDENCY_NOT_READY, (f"waiting for dependencies: {', '.join(blocked)}",))


# ---------------------------------------------------------------------------------------- remediation
class RemediationStep(StrEnum):
    NONE = "none"
    UNINSTALL = "uninstall"
    ROLLBACK = "rollback"


def remediation_for(action: ActionKind, *, install_strategy: str, upgrade_strategy: str,
                    deployed_revision: int | None, latest_revision: int | None) -> RemediationStep:
    """What to do after a failed action so the next attempt can start clean (Flux-style remediation).

    ``deployed_revision`` is the revision deployed before the action, ``latest_revision`` helm's newest
    revision after the failure (None: the release is gone)."""
    if latest_revision is None:
        return RemediationStep.NONE
    if action in {ActionKind.INSTALL, ActionKind.REINSTALL}:
        return RemediationStep.UNINSTALL if install_strategy == "uninstall" else RemediationStep.NONE
    if action in {ActionKind.UPGRADE, ActionKind.DOWNGRADE} and upgrade_strategy == "rollback" \
            and deployed_revision is not None and latest_revision > deployed_revision:
        return RemediationStep.ROLLBACK
    return RemediationStep.NONE
