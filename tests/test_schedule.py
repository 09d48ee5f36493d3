"""Schedules as run segments: runs are the special case, columns, order, JSON."""

from __future__ import annotations

import numpy as np
import pytest

from kvopt.exceptions import ScheduleError
from kvopt.schedule import GPU, HOST, Schedule


def test_from_starts_is_runs_with_default_columns():
    """One run per request: replica 0, progress 0, GPU; the JSON has starts and clearings only."""
    sched = Schedule.from_starts([3, 0], [2, 5])
    assert sched.is_runs and sched.num_segments == 2 and sched.num_clearings == 0
    assert sched.run_end.tolist() == [5, 5]
    for col in (sched.run_replica, sched.run_progress, sched.run_tier):
        assert col is not None and col.tolist() == [0, 0] and not col.flags.writeable
    assert sched.to_dict() == {"starts": [3, 0], "clearings": []}


def test_from_runs_sorts_and_lists_clearings():
    """Runs are sorted by request, then start; every run but each request's last is a
    clearing."""
    sched = Schedule.from_runs(2, [(1, 4, 9), (0, 2, 3), (0, 0, 1), (1, 0, 2)])
    assert sched.run_req.tolist() == [0, 0, 1, 1] and sched.run_start.tolist() == [0, 2, 0, 4]
    assert sched.clearings() == [(0, 0, 1), (1, 0, 2)] and sched.num_clearings == 2
    assert sched.final_starts().tolist() == [2, 4]
    assert sched.to_dict() == {"starts": [2, 4], "clearings": [[0, 0, 1], [1, 0, 2]]}


def test_segments_round_trip_and_swaps_are_not_clearings():
    """A swap out and in (host segment, then a GPU segment resuming at progress 2) is no
    clearing; the JSON adds the segments, tiers by name."""
    rows = [(0, 0, 4, 6, 2, "gpu"), (0, 0, 0, 2, 0, "gpu"), (0, 0, 2, 4, 2, "host")]
    sched = Schedule.from_segments(1, rows)
    assert not sched.is_runs and sched.num_clearings == 0 and sched.clearings() == []
    assert sched.run_tier is not None and sched.run_tier.tolist() == [GPU, HOST, GPU]
    assert sched.segments() == sorted(rows, key=lambda r: r[2])
    assert sched.final_starts().tolist() == [4]
    assert sched.to_dict()["segments"][1] == [0, 0, 2, 4, 2, "host"]


def test_restart_after_a_parked_segment_is_a_clearing():
    """Dropping a parked KV cache and restarting from progress 0 counts as a clearing."""
    sched = Schedule.from_segments(1, [(0, 0, 0, 2, 0, "gpu"), (0, 0, 2, 3, 2, "host"),
                                       (0, 0, 5, 9, 0, "gpu")])
    assert sched.clearings() == [(0, 2, 3)] and sched.num_clearings == 1


def test_bad_columns_are_rejected():
    """Lengths, requests, replicas, progress and tiers are checked on construction."""
    with pytest.raises(ScheduleError, match="differ in length"):
        Schedule(1, [0], [0, 1], [1])
    with pytest.raises(ScheduleError, match="outside the instance"):
        Schedule.from_runs(1, [(1, 0, 1)])
    with pytest.raises(ScheduleError, match="run_tier has 2 entries"):
        Schedule(1, [0], [0], [1], run_tier=np.array([0, 0]))
    with pytest.raises(ScheduleError, match="negative replica"):
        Schedule.from_segments(1, [(0, -1, 0, 1, 0, "gpu")])
    with pytest.raises(ScheduleError, match="negative progress"):
        Schedule.from_segments(1, [(0, 0, 0, 1, -2, "gpu")])
    with pytest.raises(ScheduleError, match="unknown memory tier 'disk'"):
        Schedule.from_segments(1, [(0, 0, 0, 1, 0, "disk")])
    with pytest.raises(ScheduleError, match="tier code 2"):
        Schedule.from_segments(1, [(0, 0, 0, 1, 0, 2)])
