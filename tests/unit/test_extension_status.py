"""The pure status core (issue 12): action result → provisioning state and conditions, a steady state is
an equal status (nothing to write, no Event), Events and their dedup names, what a pass writes; plus the
health verdicts and the HTTP route table (no socket)."""

from __future__ import annotations

from typing import Any

import pytest

from controller.http.health import Health
from controller.http.server import Request, Response, Route, dispatch
from controller.models.extension_object import (
    DesiredObject,
    EventSpec,
    LiveObject,
    Writes,
    event_for,
    plan_writes,
    stale_objects,
    written_under,
)
from controller.models.extension_status import ExtensionStatus, StatusInput, build_status, with_generation
from controller.models.observed import ObservedRelease
from controller.models.plan import ActionKind, PlannedAction, ReleaseState
from controller.models.remediation import ExtensionState, FailureRecord
from controller.models.status import ActionResult, Outcome

OURS = {"extctl.dev/managed-by": "extctl", "extctl.dev/instance": "default", "extctl.dev/extension": "agent"}
DEPLOYED = ObservedRelease("agent", "ns", 1, "deployed", "demo", "1.0.0", OURS)
FAILURE = ExtensionState(FailureRecord(1, "fp", "render failed: boom", 10.0, 20.0, permanent=True,
                                       reason="RenderFailed"))
NOTHING = ExtensionState()
TRANSIENT = ExtensionState(FailureRecord(2, "fp", "timed out", 10.0, 50.0, reason="Timeout"))


def result(kind: ActionKind, state: ReleaseState, outcome: Outcome, *, observed: ObservedRelease | None = DEPLOYED,
           to: str | None = "1.1.0", error: str | None = None, reason: str | None = None,
           transient: bool | None = None, why: str = "because") -> ActionResult:
    action = PlannedAction(kind, "agent", "ns", "agent", (why,),
                           from_version=observed.chart_version if observed else None, to_version=to, state=state,
                           error_reason=reason if outcome is Outcome.FAILED else None, observed=observed)
    return ActionResult(action, outcome, error=error, error_reason=reason, transient=transient)


def status_of(item: ActionResult, remembered: ExtensionState = NOTHING,
              previous: ExtensionStatus | None = None, now: str = "2026-01-01T00:00:00Z") -> ExtensionStatus:
    return build_status(StatusInput(item, "main@sha1:abc", "default", now, 1, remembered, previous))


CASES = [
    # (result, remembered, state, ready, ready reason, reconciling, stalled, installed)
    (result(ActionKind.INSTALL, ReleaseState.ABSENT, Outcome.SUCCEEDED, observed=None), ExtensionState(),
     "Succeeded", "True", "InstallSucceeded", "False", "False", "1.1.0"),
    (result(ActionKind.UPGRADE, ReleaseState.OUT_OF_SYNC, Outcome.FAILED, error="render failed: boom",
            reason="RenderFailed", transient=False), FAILURE,
     "Failed", "False", "RenderFailed", "False", "True", "1.0.0"),
    (result(ActionKind.INSTALL, ReleaseState.ABSENT, Outcome.FAILED, observed=None, error="timed out",
            reason="Timeout", transient=True), TRANSIENT, "Failed", "False", "Timeout", "True", "False", None),
    (result(ActionKind.SKIP, ReleaseState.BACKING_OFF, Outcome.SKIPPED), TRANSIENT,
     "Failed", "False", "Timeout", "True", "False", "1.0.0"),
    (result(ActionKind.FAIL, ReleaseState.FAILED_PERMANENTLY, Outcome.FAILED, reason="FailedPermanently"), FAILURE,
     "Failed", "False", "RenderFailed", "False", "True", "1.0.0"),
    (result(ActionKind.SKIP, ReleaseState.PENDING, Outcome.PENDING, observed=None, to=None,
            why="pending: Secret ns/creds not found"), ExtensionState(), "Pending", "False", "SecretNotFound",
     "True", "False", None),
    (result(ActionKind.FAIL, ReleaseState.FOREIGN, Outcome.FAILED, reason="Conflict",
            observed=ObservedRelease("agent", "ns", 1, "deployed", "x", "9.0.0", {})), ExtensionState(),
     "Conflict", "False", "Conflict", "False", "True", None),
    (result(ActionKind.SKIP, ReleaseState.SUSPENDED, Outcome.SKIPPED), ExtensionState(),
     "Suspended", "Unknown", "Suspended", "False", "False", "1.0.0"),
    (result(ActionKind.SKIP, ReleaseState.LOCKED, Outcome.SKIPPED,
            observed=ObservedRelease("agent", "ns", 2, "pending-upgrade", "demo", "1.1.0", OURS)), ExtensionState(),
     "Updating", "Unknown", "OperationInProgress", "True", "False", None),
    (result(ActionKind.NOOP, ReleaseState.IN_SYNC, Outcome.UNCHANGED, to="1.0.0"), ExtensionState(),
     "Succeeded", "True", "ReconciliationSucceeded", "False", "False", "1.0.0"),
    (result(ActionKind.NOOP, ReleaseState.DRIFT_REPORTED, Outcome.UNCHANGED, to="1.0.0",
            why="drift (driftDetection warn: reported, not corrected): ConfigMap ns/a deleted"), ExtensionState(),
     "Succeeded", "True", "DriftDetected", "False", "False", "1.0.0"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case[0].action.state.value)
def test_a_result_maps_to_one_state_and_its_conditions(case: tuple[Any, ...]) -> None:
    item, remembered, state, ready, reason, reconciling, stalled, installed = case
    status = status_of(item, remembered)
    conditions = {c.type: c for c in status.conditions}
    assert (status.provisioning_state, conditions["Ready"].status, conditions["Ready"].reason) == (state, ready, reason)
    assert (conditions["Reconciling"].status, conditions["Stalled"].status) == (reconciling, stalled)
    assert status.installed_version == installed
    assert ExtensionStatus.from_json(status.to_json()) == status, "round trip through the object's JSON"


def test_the_pass_after_a_failure_reads_the_same_so_nothing_is_written() -> None:
    failed = status_of(CASES[1][0], FAILURE)
    later = status_of(result(ActionKind.FAIL, ReleaseState.FAILED_PERMANENTLY, Outcome.FAILED,
                             reason="FailedPermanently"), FAILURE, previous=failed, now="2026-01-01T01:00:00Z")
    assert later.to_json() == failed.to_json()
    assert event_for("ns", "agent", None, failed, later) is None


def test_in_sync_keeps_the_ready_condition_of_the_install_and_its_time() -> None:
    installed = status_of(CASES[0][0])
    steady = status_of(result(ActionKind.NOOP, ReleaseState.IN_SYNC, Outcome.UNCHANGED, to="1.1.0",
                              observed=ObservedRelease("agent", "ns", 1, "deployed", "demo", "1.1.0", OURS)),
                       previous=installed, now="2026-01-02T00:00:00Z")
    assert steady.to_json() == installed.to_json()


def test_events_one_per_action_or_state_change_with_a_stable_dedup_name() -> None:
    pending = status_of(CASES[5][0])
    event = event_for("ns", "agent", CASES[5][0], None, pending)
    assert event == EventSpec("ns", "agent", "Warning", "SecretNotFound",
                              "Pending: pending: Secret ns/creds not found")
    assert event.event_name("uid-1") == event.event_name("uid-1") != event.event_name("uid-2")
    assert event_for("ns", "agent", CASES[5][0], pending, pending) is None, "no state change, no action: no Event"
    install = event_for("ns", "agent", CASES[0][0], pending, status_of(CASES[0][0]))
    assert install is not None and (install.type, install.reason) == ("Normal", "InstallSucceeded")


def test_plan_writes_only_what_changed() -> None:
    desired = DesiredObject("ns", "agent", {"a": "b"}, {"c": "d"}, {"extensionType": "t"})
    status = with_generation(status_of(CASES[0][0]), 3)
    live = LiveObject("ns", "agent", "uid", 3, {"a": "b"}, {"c": "d", "kubectl": "x"}, {"extensionType": "t"},
                      status.to_json())
    assert plan_writes(desired, status, live) == Writes(False, False)
    edited = LiveObject("ns", "agent", "uid", 3, {"a": "b"}, {"c": "d"}, {"extensionType": "edited"}, status.to_json())
    assert plan_writes(desired, status, edited) == Writes(True, True)
    assert plan_writes(desired, status, None) == Writes(True, True)
    gone = LiveObject("ns", "old", labels={"extctl.dev/managed-by": "extctl", "extctl.dev/instance": "default"})
    other = LiveObject("ns", "x", labels={"extctl.dev/managed-by": "extctl", "extctl.dev/instance": "other"})
    assert stale_objects([gone, other, live], [("ns", "agent")], "default") == [gone]


def test_objects_written_under_this_crd_spare_a_fresh_process_the_crd_read() -> None:
    def obj(name: str, digest: str | None) -> LiveObject:
        return LiveObject("ns", name, annotations={"extctl.dev/crd-digest": digest} if digest else {})

    assert written_under([obj("a", "new"), obj("b", "new")], "new")
    assert not written_under([obj("a", "new"), obj("b", "old")], "new"), "one object from before an upgrade"
    assert not written_under([obj("a", None)], "new"), "written by an extctl before the digest existed"
    assert not written_under([], "new"), "no object proves nothing: the CRD is read (and applied if needed)"


def test_health_live_and_ready_follow_the_loop() -> None:
    now = [0.0]
    health = Health(deadline_s=10, idle_s=60, clock=lambda: now[0])
    assert (health.live().ok, health.ready().ok) == (True, False)
    health.started()
    now[0] = 11
    assert not health.live().ok, "a pass running past its deadline"
    health.finished()
    assert (health.live().ok, health.ready().ok) == (True, True)
    now[0] = 11 + 71
    assert not health.live().ok, "no pass started within interval + deadline"


def test_route_table_dispatch() -> None:
    routes = [Route("GET", "/metrics", lambda r: Response(200, b"m")),
              Route("POST", "/hooks/", lambda r: Response(202, r.body), prefix=True)]
    assert dispatch(routes, Request("GET", "/metrics", "", {})).body == b"m"
    assert dispatch(routes, Request("POST", "/hooks/github", "", {}, b"x")).status == 202
    assert dispatch(routes, Request("GET", "/hooks/github", "", {})).status == 405
    assert dispatch(routes, Request("GET", "/nope", "", {})).status == 404
