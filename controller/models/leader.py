"""Leader election on a Lease record (pure): who holds it, may this replica take it, what to write.

Owns: the rules of client-go's leader election, on ``coordination.k8s.io/v1`` Lease fields. A lease is
*free* when it does not exist, names no holder (released) or has expired; it has expired when its record
has not changed for ``leaseDurationSeconds`` on this replica's own monotonic clock since it first saw that
record (so clocks of different nodes never need to agree). The records to write: acquiring (a new
holder counts one more transition), renewing (only ``renewTime`` moves) and releasing (no holder, a
one-second duration, so a waiting replica takes over at its next retry). Writes are conditional on the
``resourceVersion`` read (``controller/cluster/lease.py``), so two replicas can never both acquire.
Times are handed in: ``now`` is monotonic seconds, ``stamp`` the wall-clock ``MicroTime`` text to write.
Must not: read the clock, talk to the API, log, or decide what the controller does as leader.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum


@dataclass(frozen=True)
class LeaseRecord:
    """The Lease's ``spec``: ``holder`` is empty when nobody holds it."""

    holder: str = ""
    duration_s: int = 15
    acquire_time: str | None = None
    renew_time: str | None = None
    transitions: int = 0


@dataclass(frozen=True)
class Observation:
    """A record as this replica first saw it, and when (monotonic seconds)."""

    record: LeaseRecord | None
    since: float


class Standing(StrEnum):
    MINE = "mine"
    HELD = "held"  # by another replica, and not expired
    FREE = "free"  # absent, released or expired: this replica may try to acquire it


@dataclass(frozen=True)
class Timings:
    """``--leader-election-lease-duration`` / ``-renew-deadline`` / ``-retry-period`` (client-go's defaults)."""

    lease_duration_s: float = 15.0
    renew_deadline_s: float = 10.0
    retry_period_s: float = 2.0

    def problem(self) -> str | None:
        """Why these timings cannot work (as client-go requires), or None."""
        if min(self.lease_duration_s, self.renew_deadline_s, self.retry_period_s) <= 0:
            return "every leader election duration must be positive"
        if self.lease_duration_s <= self.renew_deadline_s:
            return (f"the lease duration ({self.lease_duration_s:g}s) must be longer than the renew deadline "
                    f"({self.renew_deadline_s:g}s): a leader must give up before another replica may take over")
        if self.renew_deadline_s <= 1.2 * self.retry_period_s:
            return (f"the renew deadline ({self.renew_deadline_s:g}s) must be longer than 1.2 x the retry period "
                    f"({self.retry_period_s:g}s): a leader must get more than one try to renew")
        return None


def observe(previous: Observation | None, record: LeaseRecord | None, now: float) -> Observation:
    """The observation after reading ``record``: its age restarts only when the record changed."""
    if previous is not None and previous.record == record:
        return previous
    return Observation(record, now)


def standing(observation: Observation, me: str, now: float, *, default_duration_s: float) -> Standing:
    record = observation.record
    if record is None or not record.holder:
        return Standing.FREE
    if record.holder == me:
        return Standing.MINE
    duration = record.duration_s if record.duration_s > 0 else default_duration_s
    return Standing.HELD if now < observation.since + duration else Standing.FREE


def acquired(record: LeaseRecord | None, me: str, stamp: str, duration_s: float) -> LeaseRecord:
    """The record that makes ``me`` the holder."""
    if record is not None and record.holder == me:
        return renewed(record, stamp)
    transitions = record.transitions + 1 if record is not None else 0  # as client-go counts them
    return LeaseRecord(holder=me, duration_s=max(1, round(duration_s)), acquire_time=stamp, renew_time=stamp,
                       transitions=transitions)


def renewed(record: LeaseRecord, stamp: str) -> LeaseRecord:
    return replace(record, renew_time=stamp)


def released(record: LeaseRecord, stamp: str) -> LeaseRecord:
    """No holder; another replica acquires it at its next retry instead of waiting out the lease."""
    return replace(record, holder="", duration_s=1, renew_time=stamp)
