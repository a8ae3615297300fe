"""Liveness and readiness of the controller loop, for ``/healthz`` and ``/readyz``.

Owns: the two answers. Alive: no pass is running longer than ``deadline_s``, and, between passes, the
next pass started no later than ``idle_s + deadline_s`` after the last one finished (the loop waits at
most ``--interval`` between passes). Ready: the first pass finished (whatever its outcome: a controller
that cannot reach Git is running, and says so in its logs, status and metrics). The clock is injected.
Must not: serve HTTP or know what a pass does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    ok: bool
    detail: str


class Health:
    """Fed by the run loop (``started``/``finished``), read by the HTTP server thread."""

    def __init__(self, *, deadline_s: float, idle_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.deadline_s = deadline_s
        self.idle_s = idle_s
        self.clock = clock
        self._lock = threading.Lock()
        self._created = clock()
        self._running_since: float | None = None
        self._finished_at: float | None = None
        self._passes = 0

    def started(self) -> None:
        with self._lock:
            self._running_since = self.clock()

    def finished(self) -> None:
        with self._lock:
            self._running_since = None
            self._finished_at = self.clock()
            self._passes += 1

    def live(self) -> Verdict:
        with self._lock:
            now = self.clock()
            if self._running_since is not None:
                running = now - self._running_since
                if running > self.deadline_s:
                    return Verdict(False, f"a pass has been running for {running:.0f}s (deadline {self.deadline_s:g}s)")
                return Verdict(True, f"a pass is running ({running:.0f}s)")
            since = self._finished_at if self._finished_at is not None else self._created
            idle = now - since
            if idle > self.idle_s + self.deadline_s:
                return Verdict(False, f"no pass started for {idle:.0f}s (at most {self.idle_s + self.deadline_s:g}s)")
            return Verdict(True, f"idle for {idle:.0f}s after {self._passes} pass(es)")

    def ready(self) -> Verdict:
        with self._lock:
            if self._passes == 0:
                return Verdict(False, "the first pass has not finished yet")
            return Verdict(True, f"{self._passes} pass(es) finished")
