"""Coalescing pass triggers (webhook pushes, file changes) into as few passes as cover them (pure).

Owns: when a triggered pass is due. A trigger makes a pass due once no further trigger came for
``quiet_s`` (a burst of pushes gives one pass, hence one fetch), but never later than ``max_delay_s``
after the first trigger of the burst (a steady stream of pushes cannot postpone the pass forever). A
pass covers every trigger received before it started (``take``); a trigger received while a pass runs
stays pending, so the pass is followed by exactly one more, right after it (its quiet time has
usually passed by then). Times are handed in (seconds on any monotonic clock).
Must not: read the clock, sleep, or know where triggers come from.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_QUIET_S = 0.1
DEFAULT_MAX_DELAY_S = 1.0


@dataclass
class Coalescer:
    quiet_s: float = DEFAULT_QUIET_S
    max_delay_s: float = DEFAULT_MAX_DELAY_S
    _first: float | None = None
    _last: float | None = None
    _count: int = 0

    @property
    def pending(self) -> int:
        """How many triggers the next pass will cover."""
        return self._count

    def notify(self, now: float) -> None:
        if self._first is None:
            self._first = now
        self._last = now if self._last is None else max(self._last, now)
        self._count += 1

    def due_in(self, now: float) -> float | None:
        """Seconds until a triggered pass is due (0: now); None when no trigger is pending."""
        if self._first is None or self._last is None:
            return None
        due = min(self._last + self.quiet_s, self._first + max(self.max_delay_s, self.quiet_s))
        return max(0.0, due - now)

    def take(self) -> int:
        """A pass starts: it covers every pending trigger. Returns how many."""
        count = self._count
        self._first = self._last = None
        self._count = 0
        return count
