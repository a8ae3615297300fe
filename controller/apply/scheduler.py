"""The scheduler: runs a plan's actions with bounded concurrency, each after its dependencies.

Owns: waiting for the actions an action ``waits_for``, turning an action whose dependency did not
become ready this pass into a skip (the pure ``release_state.dependency_not_ready`` decides), the
results of actions that run no helm (noop, skip, fail), and containment: an unexpected exception in
one action becomes that action's ``InternalError`` result, and every dependent still gets an answer.
Must not: choose actions, call helm itself (``execute`` does), or log.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import replace

from controller.errors import InternalError
from controller.models.plan import Plan, PlannedAction
from controller.models.release_state import StateDecision, dependency_not_ready
from controller.models.status import ActionResult, Outcome, result_without_running

Execute = Callable[[PlannedAction], Awaitable[ActionResult]]


def _after_dependencies(action: PlannedAction, dependencies: list[ActionResult]) -> PlannedAction:
    blocked = [f"{d.action.extension} ({d.action.kind.value}: {d.outcome.value}"
               f"{f': {d.error}' if d.error else ''})" for d in dependencies if not d.satisfies_dependents]
    decision = StateDecision(action.state, action.kind, action.reasons, action.error_reason, action.unlock_to,
                             action.note)
    gated = dependency_not_ready(decision, blocked)
    if gated is decision:
        return action
    return replace(action, kind=gated.action, state=gated.state, reasons=gated.reasons, note=None,
                   error_reason=gated.error_reason)


async def run_plan(the_plan: Plan, execute: Execute, *, concurrency: int,
                   on_result: Callable[[ActionResult], None] = lambda _result: None) -> list[ActionResult]:
    semaphore = asyncio.Semaphore(max(1, concurrency))
    loop = asyncio.get_running_loop()
    futures: dict[str, asyncio.Future[ActionResult]] = {a.key: loop.create_future() for a in the_plan.actions}
    results: list[ActionResult] = []

    async def one(action: PlannedAction) -> None:
        result: ActionResult | None = None
        try:
            dependencies = [await futures[key] for key in action.waits_for if key in futures]
            action = _after_dependencies(action, dependencies)
            result = result_without_running(action)
            if result is None:
                async with semaphore:
                    result = await execute(action)
        except Exception as exc:  # noqa: BLE001 - containment: one action's bug must not stall the others
            error = InternalError(f"internal error in {action.kind.value} {action.extension}: "
                                  f"{type(exc).__name__}: {exc}")
            result = ActionResult(action, Outcome.FAILED, error=str(error), error_reason=error.reason,
                                  transient=error.transient)
        finally:
            if result is None:  # cancelled: answer the dependents before the cancellation propagates
                result = ActionResult(action, Outcome.SKIPPED, note="pass cancelled")
            results.append(result)
            if not futures[action.key].done():
                futures[action.key].set_result(result)
        # Reporting one result must not lose the pass's other results.
        with contextlib.suppress(Exception):
            on_result(result)

    await asyncio.gather(*(one(a) for a in the_plan.actions))
    return results
