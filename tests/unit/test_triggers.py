"""Trigger coalescing: the pure ``Coalescer`` (tables over a hand-set clock) and the run loop's ``Triggers``
(a real asyncio loop; every wait has a deadline, nothing sleeps)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from controller.engine.triggers import Triggers, Wake
from controller.models.triggers import Coalescer

QUIET, MAX = 0.1, 1.0


def coalescer_after(times: list[float]) -> Coalescer:
    coalescer = Coalescer(quiet_s=QUIET, max_delay_s=MAX)
    for at in times:
        coalescer.notify(at)
    return coalescer


@pytest.mark.parametrize(("times", "now", "due"), [
    ([], 0.0, None),  # nothing pending
    ([0.0], 0.0, 0.1),  # one trigger: due after the quiet time
    ([0.0], 0.05, 0.05),
    ([0.0], 0.5, 0.0),  # overdue: now
    ([0.0, 0.05, 0.09], 0.09, 0.1),  # a burst: the quiet time restarts with every trigger
    ([0.0, 0.3, 0.6, 0.9], 0.9, 0.1),  # a steady stream, each within the quiet time of the last...
    ([0.0, 0.3, 0.6, 0.95], 0.95, 0.05),  # ...but never later than max_delay after the first
    ([0.0, 0.3, 0.6, 0.95, 1.2], 1.2, 0.0),
])
def test_due_in(times: list[float], now: float, due: float | None) -> None:
    got = coalescer_after(times).due_in(now)
    assert got == pytest.approx(due) if due is not None else got is None


def test_a_pass_covers_the_pending_triggers_and_later_ones_give_exactly_one_more() -> None:
    coalescer = coalescer_after([0.0, 0.01, 0.02])
    assert coalescer.pending == 3
    assert coalescer.take() == 3, "the burst is one pass"
    assert coalescer.due_in(0.5) is None, "nothing pending after the pass started"
    for at in (0.6, 0.7, 0.8):  # pushes during the pass
        coalescer.notify(at)
    assert coalescer.due_in(2.0) == 0.0, "due right after the pass"
    assert coalescer.take() == 3
    assert coalescer.due_in(3.0) is None, "one more pass, not three"


def test_a_quiet_time_longer_than_the_max_delay_wins() -> None:
    coalescer = Coalescer(quiet_s=2.0, max_delay_s=1.0)
    coalescer.notify(0.0)
    assert coalescer.due_in(0.0) == 2.0


T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, 10)
    return asyncio.run(bounded())


def test_triggers_wait_returns_on_the_interval_an_event_or_a_due_trigger() -> None:
    async def scenario() -> list[Wake]:
        triggers = Triggers(Coalescer(quiet_s=0.02, max_delay_s=0.5))
        stop = asyncio.Event()
        woke = [await triggers.wait(0.01, [stop])]  # nothing happens: the interval
        asyncio.get_running_loop().call_soon(triggers.notify)
        woke.append(await triggers.wait(30, [stop]))  # a trigger: due after its quiet time
        assert triggers.pass_started() == 1
        asyncio.get_running_loop().call_soon(stop.set)
        woke.append(await triggers.wait(30, [stop]))
        return woke

    assert run(scenario()) == [Wake.INTERVAL, Wake.TRIGGER, Wake.EVENT]


def test_a_burst_from_other_threads_wakes_the_loop_once() -> None:
    async def scenario() -> tuple[Wake, int, Wake]:
        triggers = Triggers(Coalescer(quiet_s=0.05, max_delay_s=1.0))
        await asyncio.gather(*(asyncio.to_thread(triggers.notify_threadsafe) for _ in range(5)))
        first = await triggers.wait(30)
        covered = triggers.pass_started()
        return first, covered, await triggers.wait(0.2)

    woke, covered, then = run(scenario())
    assert (woke, covered, then) == (Wake.TRIGGER, 5, Wake.INTERVAL)
