"""``controller.apply.scheduler.run_plan``: what runs, in which order, how many at once, and what a failure
(or a bug) in one action does to the others.

``execute`` is injected: the functions below stand in for the executor (they answer as told and record
what they were asked to run); helm is not involved. Every run has a deadline (``asyncio.wait_for``), so
a scheduler that waits forever fails the test instead of hanging it; nothing sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import pytest

from controller.apply.scheduler import run_plan
from controller.models.desired import DesiredRelease
from controller.models.observed import ObservedRelease
from controller.models.plan import ActionKind, Hold, HoldKind, Plan, PlannedAction, ReleaseState, guard_prune, plan
from controller.models.status import ActionResult, Outcome, summarize
from tests.unit.test_plan import NOW, desired, failure, observed

DEADLINE_S = 5.0
Execute = Callable[[PlannedAction], Awaitable[ActionResult]]


class Executor:
    """Records the keys it is asked to run; fails the ``failing`` ones, raises for the ``raising`` ones."""

    def __init__(self, *, failing: Sequence[str] = (), raising: dict[str, Exception] | None = None) -> None:
        self.failing = set(failing)
        self.raising = raising or {}
        self.calls: list[str] = []

    async def __call__(self, action: PlannedAction) -> ActionResult:
        self.calls.append(action.key)
        if action.key in self.raising:
            raise self.raising[action.key]
        if action.key in self.failing:
            return ActionResult(action, Outcome.FAILED, error=f"helm {action.kind.value}: boom", error_reason="Timeout",
                                transient=True)
        return ActionResult(action, Outcome.SUCCEEDED)


def run(the_plan: Plan, execute: Execute, *, concurrency: int = 4,
        on_result: Callable[[ActionResult], None] | None = None) -> list[ActionResult]:
    async def main() -> list[ActionResult]:
        return await asyncio.wait_for(
            run_plan(the_plan, execute, concurrency=concurrency, on_result=on_result or (lambda _r: None)),
            timeout=DEADLINE_S)

    return asyncio.run(main())


def by_key(results: list[ActionResult]) -> dict[str, ActionResult]:
    assert len({r.action.key for r in results}) == len(results), "one result per action"
    return {r.action.key: r for r in results}


# ------------------------------------------------------------------------------------------ containment
@pytest.mark.parametrize(
    "exc",
    [KeyError("chart"), AttributeError("'NoneType' object has no attribute 'version'"), ZeroDivisionError("x"),
     AssertionError("unreachable"), RuntimeError("event loop is closed")],
    ids=lambda e: type(e).__name__,
)
def test_a_bug_in_one_action_fails_it_and_skips_its_dependents(exc: Exception) -> None:
    the_plan = plan([desired("db"), desired("web", depends_on=("db",)), desired("api", depends_on=("web",)),
                     desired("other")], [])
    execute = Executor(raising={"db": exc})
    results = by_key(run(the_plan, execute))

    assert set(results) == {"db", "web", "api", "other"}, "every action gets an answer, and the call returns"
    db = results["db"]
    assert (db.outcome, db.error_reason) == (Outcome.FAILED, "InternalError")
    assert db.error is not None and f"install db: {type(exc).__name__}" in db.error
    for name, blocked in (("web", f"db (install: failed: {db.error})"), ("api", "web (skip: skipped)")):
        result = results[name]
        assert (result.outcome, result.action.kind, result.action.state) == (
            Outcome.SKIPPED, ActionKind.SKIP, ReleaseState.DEPENDENCY_NOT_READY), name
        assert result.action.reason == f"waiting for dependencies: {blocked}"
    assert results["other"].outcome is Outcome.SUCCEEDED
    assert sorted(execute.calls) == ["db", "other"], "a skipped dependent never runs"
    assert summarize(results.values()).as_dict() == {
        "installed": 1, "upgraded": 0, "downgraded": 0, "reinstalled": 0, "unlocked": 0, "uninstalled": 0,
        "unchanged": 0, "failed": 1, "skipped": 2, "pending": 0, "planned": 0, "drifted": 0}


def test_a_bug_in_every_action_still_returns() -> None:
    the_plan = plan([desired(n) for n in ("a", "b", "c")], [])
    results = run(the_plan, Executor(raising={k: KeyError(k) for k in ("a", "b", "c")}), concurrency=1)
    assert [r.error_reason for r in results] == ["InternalError"] * 3


# ----------------------------------------------------------------------------------------- concurrency
@pytest.mark.parametrize(("concurrency", "bound"), [(1, 1), (2, 2), (3, 3), (0, 1), (10, 6)],
                         ids=["1", "2", "3", "0 means 1", "more slots than actions"])
def test_concurrency_bound(concurrency: int, bound: int) -> None:
    the_plan = plan([desired(f"e{i}") for i in range(6)], [])
    running = peak = 0
    full = asyncio.Event()
    release = asyncio.Event()

    async def execute(action: PlannedAction) -> ActionResult:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        if running >= bound:
            full.set()
        await release.wait()
        running -= 1
        return ActionResult(action, Outcome.SUCCEEDED)

    async def main() -> list[ActionResult]:
        task = asyncio.create_task(run_plan(the_plan, execute, concurrency=concurrency))
        await asyncio.wait_for(full.wait(), DEADLINE_S)
        # Every action was started and had its chance to enter ``execute``; only ``bound`` are inside.
        assert running == bound
        release.set()
        return await asyncio.wait_for(task, DEADLINE_S)

    results = asyncio.run(main())
    assert peak == bound
    assert [r.outcome for r in results] == [Outcome.SUCCEEDED] * 6


def test_an_action_waiting_for_its_dependency_holds_no_slot() -> None:
    """With one slot, a dependent scheduled first must not take the slot its dependency needs."""
    the_plan = plan([desired("db"), desired("web", depends_on=("db",))], [])
    reversed_plan = Plan(tuple(reversed(the_plan.actions)))
    execute = Executor()
    results = run(reversed_plan, execute, concurrency=1)
    assert execute.calls == ["db", "web"]
    assert [r.action.key for r in results] == ["db", "web"]


# ------------------------------------------------------------------------------------ actions without helm
def test_noop_skip_and_fail_never_call_execute() -> None:
    backing_off = desired("backoff", version="1.2.0")
    exhausted = desired("exhausted", version="1.2.0")
    the_plan = plan(
        [desired("new"), desired("same"), desired("clash"), desired("locked", version="1.2.0"), backing_off,
         exhausted],
        [observed("same"), observed("clash", owner=None), observed("locked", status="pending-upgrade",
                                                                   updated_at=NOW - 5),
         observed("backoff"), observed("exhausted"), observed("sleeping"), observed("waiting"), observed("broken"),
         observed("gone")],
        {"sleeping": Hold(HoldKind.SUSPENDED, "suspended"), "waiting": Hold(HoldKind.PENDING, "Secret ns/x missing"),
         "broken": Hold(HoldKind.ERROR, "catalog unavailable")},
        remembered={"backoff": failure(backing_off, 1, retry_in=60), "exhausted": failure(exhausted, 4)}, now=NOW)
    the_plan = guard_prune(the_plan, managed_count=8, extensions_in_git=1, max_fraction=0.0, allowed=False).plan
    execute = Executor()
    results = by_key(run(the_plan, execute))

    assert execute.calls == ["new"]
    got = {key: (r.outcome, r.error_reason) for key, r in results.items()}
    assert got == {
        "new": (Outcome.SUCCEEDED, None),
        "same": (Outcome.UNCHANGED, None),
        "clash": (Outcome.FAILED, "Conflict"),
        "locked": (Outcome.SKIPPED, None),
        "backoff": (Outcome.SKIPPED, None),
        "exhausted": (Outcome.FAILED, "RetriesExhausted"),
        "sleeping": (Outcome.SKIPPED, None),
        "waiting": (Outcome.PENDING, None),
        "broken": (Outcome.FAILED, "Blocked"),
        "uninstall:ns/gone": (Outcome.SKIPPED, None),
    }
    assert results["uninstall:ns/gone"].action.state is ReleaseState.PRUNE_REFUSED
    clash = results["clash"]
    assert clash.error is not None and "managed by something other than extctl" in clash.error


# ------------------------------------------------------------------------------- dependencies at run time
@pytest.mark.parametrize(
    ("db_desired", "db_observed", "holds", "failing", "web_runs", "blocked"),
    [
        pytest.param([desired("db")], [], {}, (), True, None, id="dependency installed"),
        pytest.param([desired("db", version="1.2.0")], [observed("db")], {}, (), True, None,
                     id="dependency upgraded"),
        pytest.param([desired("db")], [observed("db")], {}, (), True, None, id="dependency unchanged"),
        pytest.param([], [observed("db")], {"db": Hold(HoldKind.SUSPENDED, "suspended")}, (), True, None,
                     id="suspended but installed dependency"),
        pytest.param([desired("db")], [], {}, ("db",), False, "db (install: failed: helm install: boom)",
                     id="dependency install failed: its error is the dependent's reason"),
        pytest.param([desired("db", version="1.2.0")], [observed("db")], {}, ("db",), False,
                     "db (upgrade: failed: helm upgrade: boom)", id="dependency upgrade failed"),
    ],
)
def test_dependents_run_only_after_a_ready_dependency(
        *, db_desired: list[DesiredRelease], db_observed: list[ObservedRelease], holds: dict[str, Hold],
        failing: tuple[str, ...], web_runs: bool, blocked: str | None) -> None:
    the_plan = plan([*db_desired, desired("web", depends_on=("db",))], db_observed, holds)
    assert the_plan.by_key()["web"].kind is ActionKind.INSTALL, "the plan expected the dependency to be ready"
    execute = Executor(failing=failing)
    results = run(the_plan, execute)
    order = [r.action.key for r in results]
    assert order.index("db") < order.index("web"), "a dependency's result comes first"
    web = by_key(results)["web"]
    if web_runs:
        assert (web.outcome, execute.calls[-1]) == (Outcome.SUCCEEDED, "web")
    else:
        assert "web" not in execute.calls
        assert (web.outcome, web.action.state, web.action.reason) == (
            Outcome.SKIPPED, ReleaseState.DEPENDENCY_NOT_READY, f"waiting for dependencies: {blocked}")


def test_a_dependent_planned_as_skipped_is_not_run_even_if_its_dependency_succeeds() -> None:
    the_plan = plan([desired("db"), desired("web", depends_on=("db",))], [observed("db", owner=None)])
    execute = Executor()
    results = by_key(run(the_plan, execute))
    assert execute.calls == []
    assert (results["db"].outcome, results["db"].error_reason) == (Outcome.FAILED, "Conflict")
    assert results["web"].action.state is ReleaseState.DEPENDENCY_NOT_READY


def test_uninstalls_wait_for_their_dependents_and_stop_when_one_fails() -> None:
    the_plan = plan([], [observed("db"), observed("web", depends_on="db"), observed("api", depends_on="db")])
    execute = Executor(failing=["uninstall:ns/api"])
    results = run(the_plan, execute)
    got = by_key(results)
    assert sorted(execute.calls) == ["uninstall:ns/api", "uninstall:ns/web"], "db is still needed by api"
    assert got["uninstall:ns/web"].outcome is Outcome.SUCCEEDED
    assert got["uninstall:ns/api"].outcome is Outcome.FAILED
    db = got["uninstall:ns/db"]
    assert (db.outcome, db.action.kind, db.action.state) == (Outcome.SKIPPED, ActionKind.SKIP,
                                                             ReleaseState.DEPENDENCY_NOT_READY)
    assert db.action.reason == "waiting for dependencies: api (uninstall: failed: helm uninstall: boom)"
    assert [r.action.key for r in results][-1] == "uninstall:ns/db"


# ------------------------------------------------------------------------------------------ result stream
def test_results_are_streamed_in_completion_order() -> None:
    """``on_result`` sees each result once, as it completes; the returned list is the same sequence."""
    the_plan = plan([desired("a"), desired("b"), desired("c", depends_on=("a",))], [])
    b_done = asyncio.Event()
    streamed: list[str] = []

    async def execute(action: PlannedAction) -> ActionResult:
        if action.key == "a":
            await b_done.wait()  # "a" finishes only after "b", although the plan lists it first
        if action.key == "b":
            b_done.set()
        return ActionResult(action, Outcome.SUCCEEDED)

    results = run(the_plan, execute, on_result=lambda r: streamed.append(r.action.key))
    assert [r.action.key for r in results] == ["b", "a", "c"]
    assert streamed == ["b", "a", "c"]


def test_an_empty_plan_returns_no_results() -> None:
    assert run(Plan(()), Executor()) == []


def test_a_bug_while_reporting_one_result_loses_no_results() -> None:
    the_plan = plan([desired("a"), desired("b")], [])

    def on_result(result: ActionResult) -> None:
        if result.action.key == "a":
            raise ValueError("log formatting bug")

    results = run(the_plan, Executor(), on_result=on_result)
    assert sorted(r.action.key for r in results) == ["a", "b"]
