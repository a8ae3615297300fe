"""The leader elector: campaigns for the Lease, renews it while leading, gives it up on loss or shutdown.

Owns: one daemon thread (so a busy pass or a blocked event loop never delays a renewal) that, every
retry period, either tries to acquire the Lease (when ``models.leader`` says it is free) or renews it.
The leader renews with a request deadline that never reaches past its renew deadline; when it could not
renew for ``renew_deadline_s``, or finds another holder, it has lost: ``on_lost`` is called at once (the
run loop stops starting helm actions) and the thread campaigns again as a follower. ``stop`` ends the
thread and releases a held Lease (no holder, so a follower takes over at its next retry instead of
after the lease duration). The lines ``leader.acquired``, ``leader.lost``, ``leader.released`` and,
once per failure reason, ``leader.error``.
Must not: talk to the API but through ``controller.cluster.lease``, decide what a leader does, or
block the caller of ``is_leader``/``holder``.
"""

from __future__ import annotations

import os
import random
import secrets
import threading
import time
from collections.abc import Callable

from controller.cluster.lease import LeaseApi, StoredLease, micro_time
from controller.errors import ClusterError, ExtctlError, InternalError
from controller.logs import get_logger
from controller.models.leader import Observation, Standing, Timings, acquired, observe, released, renewed, standing

JITTER = 0.2  # followers wait retry_period x [1, 1.2]: contending replicas spread out, as client-go does
MIN_REQUEST_TIMEOUT_S = 0.2


def default_identity() -> str:
    """The pod name (``POD_NAME``, from the downward API) or the host name, plus a random suffix: a
    restarted process never mistakes the Lease of its previous life for its own."""
    base = os.environ.get("POD_NAME") or os.uname().nodename or "extctl"
    return f"{base}_{secrets.token_hex(4)}"


def lease_name(instance: str) -> str:
    return f"extctl-leader-{instance}"


class LeaderElector:
    def __init__(self, api: LeaseApi, identity: str, timings: Timings, *, on_acquired: Callable[[], None],
                 on_lost: Callable[[str], None], clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.api, self.identity, self.timings = api, identity, timings
        self.on_acquired, self.on_lost = on_acquired, on_lost
        self.clock, self.wall = clock, wall
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._leading = False
        self._holder = ""
        self._stored: StoredLease | None = None
        self._observation: Observation | None = None
        self._last_renew = 0.0
        self._reported: str | None = None
        self._thread = threading.Thread(target=self._run, name="extctl-leader", daemon=True)

    @property
    def is_leader(self) -> bool:
        with self._lock:
            return self._leading

    @property
    def holder(self) -> str:
        """The holder this replica last saw (empty: none)."""
        with self._lock:
            return self._holder

    def start(self) -> None:
        get_logger().info("leader.campaigning", lease=self.api.described, identity=self.identity,
                          lease_duration_s=self.timings.lease_duration_s,
                          renew_deadline_s=self.timings.renew_deadline_s, retry_period_s=self.timings.retry_period_s)
        self._thread.start()

    def stop(self) -> None:
        """End the campaign; a held Lease is released. Blocks until the thread is done (a few requests)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=3 * self.timings.retry_period_s + self.api.timeout)

    # ------------------------------------------------------------------ the thread
    @property
    def running(self) -> bool:
        """The campaign thread runs (``/healthz`` fails if it ever stopped before ``stop``)."""
        return self._thread.is_alive() or self._stop.is_set()

    def _run(self) -> None:
        while not self._stop.is_set():
            leading = self.is_leader
            try:
                if leading:
                    self._renew()
                else:
                    self._campaign()
            except Exception as exc:  # noqa: BLE001 - the thread must not die: a dead one would never step down
                self._report(InternalError(f"leader election: {type(exc).__name__}: {exc}"))
                if leading and self.clock() >= self._last_renew + self.timings.renew_deadline_s:
                    self._lose(f"not renewed for {self.timings.renew_deadline_s:g}s: internal error")
            jitter = 0.0 if leading else random.uniform(0, JITTER)  # noqa: S311 - jitter, not crypto
            self._stop.wait(self.timings.retry_period_s * (1 + jitter))
        if self.is_leader:
            self._release()

    def _campaign(self) -> None:
        now = self.clock()
        try:
            current = self.api.read()
            record = current.record if current is not None else None
            self._observation = observe(self._observation, record, now)
            with self._lock:
                self._holder = record.holder if record is not None else ""
            if standing(self._observation, self.identity, now,
                        default_duration_s=self.timings.lease_duration_s) is Standing.HELD:
                return
            previous = record.holder if record is not None else ""
            stamp = micro_time(self.wall())
            claim = acquired(record, self.identity, stamp, self.timings.lease_duration_s)
            won = self.api.create(claim) if current is None else self.api.replace(claim, current.resource_version)
        except ClusterError as exc:
            self._report(exc)
            return
        if won is None:
            return  # another replica wrote first: it leads, or the next retry sees the new record
        self._reported = None
        with self._lock:
            self._stored, self._leading, self._holder = won, True, self.identity
            self._last_renew = now
        get_logger().info("leader.acquired", lease=self.api.described, identity=self.identity,
                          previous_holder=previous or None, transitions=won.record.transitions)
        self.on_acquired()

    def _renew(self) -> None:
        now = self.clock()
        deadline = self._last_renew + self.timings.renew_deadline_s
        try:
            outcome = self._try_renew(max(MIN_REQUEST_TIMEOUT_S, min(self.api.timeout, deadline - now)))
        except ClusterError as exc:
            self._report(exc)
            outcome, why = None, f"not renewed for {self.timings.renew_deadline_s:g}s: {exc.message}"
        else:
            why = f"not renewed for {self.timings.renew_deadline_s:g}s"
        if outcome is True:
            self._reported = None
            self._last_renew = now
            return
        if outcome is False:
            self._lose(f"the Lease is held by {self.holder or 'nobody'} now")
        elif self.clock() >= deadline:
            self._lose(why)

    def _try_renew(self, timeout: float) -> bool | None:
        """True: renewed; False: another replica holds the Lease; None: not this time (conflict, retry)."""
        stamp = micro_time(self.wall())
        stored = self._stored
        if stored is not None:
            written = self.api.replace(renewed(stored.record, stamp), stored.resource_version, timeout=timeout)
            if written is not None:
                self._stored = written
                return True
        current = self.api.read(timeout=timeout)  # the Lease changed under us: is it still ours?
        with self._lock:
            self._holder = current.record.holder if current is not None else ""
        if current is None or current.record.holder != self.identity:
            return False
        written = self.api.replace(renewed(current.record, stamp), current.resource_version, timeout=timeout)
        self._stored = written if written is not None else current
        return True if written is not None else None

    def _lose(self, reason: str) -> None:
        with self._lock:
            self._leading = False
            self._stored = None
        self._observation = None
        get_logger().warning("leader.lost", lease=self.api.described, identity=self.identity, reason=reason)
        self.on_lost(reason)

    def _release(self) -> None:
        stored = self._stored
        with self._lock:
            self._leading = False
        if stored is None:
            return
        try:
            written = self.api.replace(released(stored.record, micro_time(self.wall())), stored.resource_version)
        except ClusterError as exc:
            get_logger().warning("leader.release_failed", lease=self.api.described, identity=self.identity,
                                 error=exc.message, reason=exc.reason,
                                 hint="the other replica takes over when the lease expires")
            return
        if written is not None:
            get_logger().info("leader.released", lease=self.api.described, identity=self.identity)

    def _report(self, exc: ExtctlError) -> None:
        """One ``leader.error`` line per failure reason until a request succeeds again."""
        if self._reported == exc.reason:
            return
        self._reported = exc.reason
        get_logger().warning("leader.error", lease=self.api.described, identity=self.identity, error=exc.message,
                             reason=exc.reason, hint=exc.hint)
