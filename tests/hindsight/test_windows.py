"""Start windows, the serial horizon and identical groups keep an optimal schedule."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import make_instance
from hypothesis import given, settings
from hypothesis import strategies as st

from kvopt.hindsight.exact.bruteforce import brute_force_optimum
from kvopt.hindsight.windows import identical_groups, serial_horizon, start_windows
from kvopt.schedule import Schedule
from kvopt.verify import verify

ROWS = st.lists(st.tuples(st.integers(0, 3), st.integers(1, 3), st.integers(1, 3)),
                min_size=1, max_size=4)   # (arrival, prompt, output)


def _optimal_start_vectors(inst, optimum):
    """Every start vector of total latency ``optimum`` (start rounds up to the serial horizon,
    checked by the verifier)."""
    a = inst.arrival.tolist()
    horizon = serial_horizon(inst)
    for starts in itertools.product(*[range(ai, horizon + 1) for ai in a]):
        if sum(starts) - sum(a) + int(inst.output.sum()) != optimum:
            continue
        try:
            verify(inst, Schedule.from_starts(list(starts), inst.output))
        except Exception:
            continue
        yield np.array(starts)


@given(rows=ROWS, memory=st.integers(5, 8))
@settings(max_examples=40, deadline=None)
def test_windows_keep_every_optimal_schedule(rows, memory):
    """With the optimum itself as the upper bound, every optimal start vector lies within the
    windows (and within the serial horizon's, the windows without a bound)."""
    inst = make_instance([(a, s, min(o, memory - s)) for a, s, o in rows], memory=memory)
    optimum, _ = brute_force_optimum(inst)
    last = start_windows(inst, optimum)
    assert (last >= inst.arrival).all()
    assert (start_windows(inst, None) == serial_horizon(inst)).all()
    found = 0
    for starts in _optimal_start_vectors(inst, optimum):
        found += 1
        assert (starts <= last).all()
    assert found >= 1


def test_serial_horizon_is_the_last_arrival_plus_every_output():
    inst = make_instance([(0, 1, 3), (4, 2, 2), (2, 1, 5)], memory=8)
    assert serial_horizon(inst) == 4 + 3 + 2 + 5
    assert serial_horizon(make_instance([], memory=3)) == 0


def test_identical_groups_are_the_repeated_rows():
    """Groups of two or more requests with the same arrival, prompt and output, by position."""
    inst = make_instance([(0, 1, 3), (1, 1, 3), (0, 1, 3), (0, 2, 3), (0, 1, 3), (1, 1, 3)],
                         memory=8)
    groups = sorted(group.tolist() for group in identical_groups(inst))
    assert groups == [[0, 2, 4], [1, 5]]


def test_start_windows_reject_bound_below_outputs():
    """An upper bound below the sum of outputs cannot come from a schedule."""
    with pytest.raises(ValueError, match="below the sum of outputs"):
        start_windows(make_instance([(0, 1, 3)], memory=5), upper_bound=2)
