"""Disjoint cores: the one-machine relaxation shared by the bounds and CP-SAT."""

from __future__ import annotations

import numpy as np
from hindsight.cases import (
    schedule_rows,
    small_instance,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from kvopt.hindsight.cores import disjoint_cores
from kvopt.hindsight.incumbents import list_schedule


@given(rows=schedule_rows(min_size=2), memory=st.integers(6, 14),
       seed=st.integers(0, 2**32 - 1))
@settings(max_examples=80, deadline=None)
def test_cores_never_overlap_in_feasible_schedules(rows, memory, seed):
    """The lemma of disjoint_cores, on verified schedules of random priority lists."""
    inst = small_instance(rows, memory)
    order = np.random.default_rng(seed).permutation(inst.num_requests)
    schedule, _ = list_schedule(inst, order)          # verified inside
    ends = np.asarray(schedule.final_starts()) + inst.output
    members = np.arange(inst.num_requests)
    core = disjoint_cores(inst, members)
    taken: set[int] = set()
    for end, length in zip(ends.tolist(), core.tolist(), strict=False):
        rounds = set(range(end - length + 1, end + 1))
        assert not rounds & taken
        taken |= rounds
