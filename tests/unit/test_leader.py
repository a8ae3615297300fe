"""Leader election rules on a Lease record (``controller.models.leader``): tables over hand-set times."""

from __future__ import annotations

import pytest

from controller.models.leader import (
    LeaseRecord,
    Observation,
    Standing,
    Timings,
    acquired,
    observe,
    released,
    renewed,
    standing,
)

ME, OTHER = "pod-a_1234", "pod-b_5678"
HELD = LeaseRecord(holder=OTHER, duration_s=15, acquire_time="t0", renew_time="t1", transitions=2)


@pytest.mark.parametrize(("record", "since", "now", "expected"), [
    (None, 0.0, 0.0, Standing.FREE),  # no Lease yet
    (LeaseRecord(holder=""), 0.0, 0.0, Standing.FREE),  # released
    (LeaseRecord(holder=ME), 0.0, 100.0, Standing.MINE),
    (HELD, 0.0, 0.0, Standing.HELD),
    (HELD, 0.0, 14.9, Standing.HELD),
    (HELD, 0.0, 15.0, Standing.FREE),  # unchanged for its whole duration: expired
    (LeaseRecord(holder=OTHER, duration_s=0), 0.0, 9.9, Standing.HELD),  # no duration: ours (10s) applies
    (LeaseRecord(holder=OTHER, duration_s=0), 0.0, 10.0, Standing.FREE),
])
def test_standing(record: LeaseRecord | None, since: float, now: float, expected: Standing) -> None:
    assert standing(Observation(record, since), ME, now, default_duration_s=10.0) is expected


def test_the_expiry_clock_restarts_only_when_the_record_changes() -> None:
    seen = observe(None, HELD, 0.0)
    seen = observe(seen, HELD, 10.0)  # the same record read again: still aged from 0
    assert standing(seen, ME, 15.0, default_duration_s=15) is Standing.FREE
    seen = observe(seen, renewed(HELD, "t2"), 14.0)  # renewed: a new record, a new age
    assert seen.since == 14.0
    assert standing(seen, ME, 20.0, default_duration_s=15) is Standing.HELD


@pytest.mark.parametrize(("before", "transitions"), [(None, 0), (HELD, 3), (LeaseRecord(holder="", transitions=4), 5)])
def test_acquiring_counts_transitions_like_client_go(before: LeaseRecord | None, transitions: int) -> None:
    after = acquired(before, ME, "now", 15.0)
    assert (after.holder, after.duration_s, after.acquire_time, after.renew_time, after.transitions) == \
        (ME, 15, "now", "now", transitions)


def test_renewing_moves_only_the_renew_time_and_releasing_frees_the_lease() -> None:
    mine = acquired(HELD, ME, "t5", 15.0)
    assert acquired(mine, ME, "t6", 15.0) == renewed(mine, "t6"), "re-acquiring one's own Lease is a renewal"
    assert renewed(mine, "t6") == LeaseRecord(ME, 15, "t5", "t6", 3)
    free = released(mine, "t7")
    assert (free.holder, free.duration_s, free.transitions) == ("", 1, 3)
    assert standing(Observation(free, 0.0), OTHER, 0.0, default_duration_s=15) is Standing.FREE


@pytest.mark.parametrize(("lease", "renew", "retry", "problem"), [
    (15, 10, 2, None),
    (3, 2, 0.5, None),
    (10, 10, 2, "must be longer than the renew deadline"),
    (15, 2, 2, "longer than 1.2 x the retry period"),
    (15, 10, 0, "must be positive"),
])
def test_timings(lease: float, renew: float, retry: float, problem: str | None) -> None:
    found = Timings(lease, renew, retry).problem()
    assert (found is None) if problem is None else (found is not None and problem in found)
