"""When ``extctl run`` starts its next pass: after ``--interval``, or as soon as a coalesced trigger is due.

Owns: ``Triggers``, fed by webhook pushes (from the HTTP server's threads: ``notify_threadsafe``) and by
the local-directory file watcher (``notify``), and awaited by the run loop between passes (``wait``).
The coalescing rules are the pure ``models.triggers.Coalescer``: a burst gives one pass, and triggers
that arrive during a pass give exactly one more pass right after it (``pass_started`` marks which
triggers a pass covers). Must not: run passes, or know where a trigger came from.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterable
from enum import StrEnum

from controller.models.triggers import Coalescer


class Wake(StrEnum):
    TRIGGER = "trigger"
    INTERVAL = "interval"
    EVENT = "event"  # one of the events handed to ``wait`` (stop, lost leadership)


class Triggers:
    def __init__(self, coalescer: Coalescer | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.coalescer = coalescer or Coalescer()
        self.clock = clock
        self._changed = asyncio.Event()
        self._loop = asyncio.get_running_loop()

    def notify(self) -> None:
        """A trigger, in the event loop's thread."""
        self.coalescer.notify(self.clock())
        self._changed.set()

    def notify_threadsafe(self) -> None:
        """A trigger from another thread (the HTTP server's)."""
        self._loop.call_soon_threadsafe(self.notify)

    def pass_started(self) -> int:
        """A pass starts: it covers the pending triggers (returns how many)."""
        return self.coalescer.take()

    async def wait(self, timeout: float, events: Iterable[asyncio.Event] = ()) -> Wake:
        """Until a triggered pass is due, ``timeout`` seconds passed, or one of ``events`` is set."""
        deadline = self.clock() + timeout
        watched = list(events)
        while True:
            if any(e.is_set() for e in watched):
                return Wake.EVENT
            now = self.clock()
            due = self.coalescer.due_in(now)
            if due == 0:
                return Wake.TRIGGER
            remaining = deadline - now
            if remaining <= 0:
                return Wake.INTERVAL
            self._changed.clear()
            waiters = [asyncio.ensure_future(e.wait()) for e in (self._changed, *watched)]
            try:
                timeout = remaining if due is None else min(due, remaining)
                await asyncio.wait(waiters, timeout=None if math.isinf(timeout) else timeout,  # inf: until woken
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
