"""The independent verifier: arrivals, memory in every round, completions, clearings."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_instance
from hypothesis import given, settings
from hypothesis import strategies as st

from kvopt.exceptions import ScheduleError
from kvopt.schedule import Schedule
from kvopt.verify import memory_profile, verify

# M = 6, two requests (0, 2, 2). Started at k a request holds 2 + t - k at t = k+1, k+2.
PAIR = make_instance([(0, 2, 2), (0, 2, 2)], memory=6)


def test_sequential_schedule_latency():
    """Starts 0 and 2: completions 2 and 4, latency 6; peak 4 tokens."""
    ev = verify(PAIR, Schedule.from_starts([0, 2], PAIR.output))
    assert ev.completion.tolist() == [2, 4] and ev.total_latency == 6
    assert ev.average_latency == 3.0 and ev.peak_memory_tokens == 4 and ev.num_clearings == 0


def test_memory_overflow_names_the_round():
    """Starts 0 and 1: round 2 holds 4 + 3 = 7 > 6."""
    with pytest.raises(ScheduleError, match="round 2 holds 7 KV tokens"):
        verify(PAIR, Schedule.from_starts([0, 1], PAIR.output))


def test_memory_profile_by_hand():
    """Starts 0 and 2: rounds 0..4 hold 0, 3, 4, 3, 4."""
    assert memory_profile(PAIR, Schedule.from_starts([0, 2], PAIR.output)).tolist() == \
        [0, 3, 4, 3, 4]


def test_start_before_arrival():
    """A request cannot start before it arrives."""
    inst = make_instance([(0, 1, 1), (3, 1, 1)], memory=5)
    with pytest.raises(ScheduleError, match="request 1 starts at round 2 before its arrival 3"):
        verify(inst, Schedule.from_starts([0, 2], inst.output))


def test_incomplete_and_missing_runs():
    """The last run must complete; every request must run."""
    with pytest.raises(ScheduleError, match="needs 2 rounds"):
        verify(PAIR, Schedule.from_runs(2, [(0, 0, 2), (1, 2, 3)]))
    with pytest.raises(ScheduleError, match="request 1 never runs"):
        verify(PAIR, Schedule.from_runs(2, [(0, 0, 2)]))
    with pytest.raises(ScheduleError, match="schedule has 1 requests"):
        verify(PAIR, Schedule.from_starts([0], [2]))


def test_clearing_restarts_from_scratch():
    """Request 0 (o = 3) runs 0..1, is cleared at 1, restarts at 1 and completes at 4."""
    inst = make_instance([(0, 1, 3)], memory=5)
    ev = verify(inst, Schedule.from_runs(1, [(0, 0, 1), (0, 1, 4)]))
    assert ev.total_latency == 4 and ev.num_clearings == 1


def test_bad_clearings():
    """A cleared run ends strictly inside its run; a restart waits for the clearing."""
    inst = make_instance([(0, 1, 3)], memory=9)
    with pytest.raises(ScheduleError, match="strictly"):
        verify(inst, Schedule.from_runs(1, [(0, 0, 3), (0, 3, 6)]))
    with pytest.raises(ScheduleError, match="restarts at round 1 before"):
        verify(inst, Schedule.from_runs(1, [(0, 0, 2), (0, 1, 4)]))


rows = st.lists(st.tuples(st.integers(0, 4), st.integers(1, 3), st.integers(1, 3)),
                min_size=1, max_size=6)


@given(rows=rows, capacity=st.integers(6, 12), gaps=st.lists(st.integers(0, 6), min_size=6,
                                                             max_size=6))
@settings(max_examples=100, deadline=None)
def test_verdict_equals_a_plain_loop(rows, capacity, gaps):
    """verify() accepts a schedule exactly when a per-round loop over the rules does, and then
    reports the loop's total latency."""
    inst = make_instance(rows, memory=capacity)
    starts = inst.arrival + np.array(gaps[: len(rows)])
    horizon = int((starts + inst.output).max()) + 1
    held = [0] * (horizon + 1)
    for i in range(len(rows)):
        for j in range(1, int(inst.output[i]) + 1):
            held[int(starts[i]) + j] += int(inst.prompt[i]) + j
    fits = max(held) <= capacity
    schedule = Schedule.from_starts(starts, inst.output)
    if fits:
        assert verify(inst, schedule).total_latency == int((starts + inst.output - inst.arrival).sum())
    else:
        with pytest.raises(ScheduleError):
            verify(inst, schedule)
