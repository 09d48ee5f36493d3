"""Cases shared by the hindsight tests: random tiny instances, verified schedules as 0/1 points
of the integer program, the LP point, and schedules better than an incumbent."""

from __future__ import annotations

import numpy as np
from conftest import make_instance
from hypothesis import strategies as st

from kvopt.hindsight.bounds.priced_lp import lp_bound
from kvopt.hindsight.exact.bruteforce import brute_force_optimum
from kvopt.hindsight.incumbents import list_schedule
from kvopt.hindsight.milp.decode import encode
from kvopt.hindsight.milp.formulation import build

ROWS = st.lists(st.tuples(st.integers(0, 4), st.integers(1, 3), st.integers(1, 4)),
                min_size=1, max_size=5)   # (arrival, prompt, output)


def schedule_rows(min_size: int):
    """Rows for random priority-list schedules: (arrival, prompt, output)."""
    return st.lists(st.tuples(st.integers(0, 6), st.integers(1, 4), st.integers(1, 9)),
                    min_size=min_size, max_size=8)


def small_instance(rows, memory):
    return make_instance([(a, s, min(o, memory - s)) for a, s, o in rows], memory=memory)


def schedule_point(rows, memory, seed):
    """The instance, its integer program and the 0/1 point of a verified random list
    schedule."""
    inst = small_instance(rows, memory)
    order = np.random.default_rng(seed).permutation(inst.num_requests)
    schedule, cost = list_schedule(inst, order)          # verified inside
    model = build(inst, upper_bound=cost)
    return inst, model, encode(model, schedule.final_starts())


def lp_point(inst, model):
    """The plain LP relaxation's optimal point (no cuts, every column)."""
    return lp_bound(inst, model, cut_rounds=0, pricing=False, with_point=True)[1]


def better_schedules(inst, upper, seed):
    """Start rounds of schedules cheaper than ``upper`` (the brute-force optimum and random list
    schedules), identical requests in position order as the program's rows ask."""
    from kvopt.hindsight.windows import identical_groups

    opt, starts = brute_force_optimum(inst)
    found = [np.asarray(starts)] if opt < upper else []
    rng = np.random.default_rng(seed)
    for _ in range(20):
        schedule, cost = list_schedule(inst, rng.permutation(inst.num_requests))
        if cost < upper:
            found.append(schedule.final_starts())
    for starts in found:
        for group in identical_groups(inst):
            starts[group] = np.sort(starts[group])
    return found


def row_activity(model, x):
    """``A x`` of the model's rows."""
    row_of = np.repeat(np.arange(model.num_rows), np.diff(model.row_ptr))
    return np.bincount(row_of, weights=model.values * x[model.col_idx], minlength=model.num_rows)
