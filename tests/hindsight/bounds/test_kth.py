"""Lower bounds on the k-th completion (k-subset makespans, CP-SAT) and the completion caps they
give the LP, checked against exhaustive enumeration of every schedule of tiny instances."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import make_instance
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("ortools")

from kvopt.generate import synthetic
from kvopt.hindsight.bounds import best_bound
from kvopt.hindsight.bounds.deadline import (
    completion_cap_rows,
    kth_completion_bound,
    kth_completion_bounds,
)
from kvopt.hindsight.bounds.priced_lp import lp_bound
from kvopt.hindsight.exact.bruteforce import brute_force_optimum
from kvopt.hindsight.exact.cpsat import kth_completion_lower_bound
from kvopt.hindsight.milp.decode import encode
from kvopt.hindsight.milp.formulation import build
from kvopt.hindsight.solve import solve

ROWS = st.lists(st.tuples(st.integers(0, 2), st.integers(1, 3), st.integers(1, 3)),
                min_size=1, max_size=4)   # (arrival, prompt, output)


def every_schedule(inst):
    """Every feasible start vector with starts up to the serial horizon (own memory arithmetic):
    yields the sorted completion rounds of each."""
    a, s, o = inst.arrival.tolist(), inst.prompt.tolist(), inst.output.tolist()
    horizon = max(a) + sum(o)
    for starts in itertools.product(*[range(a[i], horizon + 1) for i in range(len(a))]):
        usage: dict[int, int] = {}
        for i, k in enumerate(starts):
            for j in range(1, o[i] + 1):
                usage[k + j] = usage.get(k + j, 0) + s[i] + j
        if max(usage.values()) <= inst.memory:
            yield starts, sorted(k + o[i] for i, k in enumerate(starts))


@given(rows=ROWS, memory=st.integers(4, 8))
@settings(max_examples=30, deadline=None)
def test_kth_bound_is_the_least_kth_completion(rows, memory):
    """Proven values equal the least k-th completion over every schedule; any value is below
    it; the sum bound, the LP with completion caps and the best bound stay below the optimum;
    every schedule satisfies every completion cap."""
    inst = make_instance([(a, s, min(o, memory - s)) for a, s, o in rows], memory=memory)
    schedules = list(every_schedule(inst))
    least = np.min([c for _, c in schedules], axis=0)
    for k in range(1, inst.num_requests + 1):
        value, proven = kth_completion_lower_bound(inst, k, time_limit_s=10)
        assert value <= least[k - 1]
        assert proven and value == least[k - 1]
    opt, _ = brute_force_optimum(inst)
    kth = kth_completion_bounds(inst, time_limit_s=10)
    assert kth.tolist() == least.tolist()
    assert kth_completion_bound(inst, time_limit_s=10).value <= opt
    # windows wide enough for every enumerated start (wait <= U - sum o)
    wide = build(inst, upper_bound=int(inst.arrival.max() + 2 * inst.output.sum()))
    rows_ = completion_cap_rows(inst, wide, kth)
    for starts, _ in schedules:
        x = encode(wide, np.array(starts))
        assert x is not None
        for cols, vals, upper in rows_:
            assert float(vals @ x[cols]) <= upper + 1e-9
    assert lp_bound(inst, build(inst, upper_bound=opt), kth=kth).value <= opt
    assert best_bound(inst, kth_time_limit_s=10).value <= opt


def test_kth_bound_with_a_partial_time_limit_stays_valid():
    """Cut short, the bounds are still lower bounds and never decrease in k."""
    inst = synthetic("zero", np.random.default_rng(100), num_requests=12)
    quick = kth_completion_bounds(inst, time_limit_s=0.05)
    assert (np.diff(quick) >= 0).all()
    full = kth_completion_bounds(inst, time_limit_s=60)
    assert (quick <= full).all()


def test_completion_caps_raise_the_lp_bound():
    """All arrivals at 0, n = 10: the plain bound (LP with headroom cuts) is 508 against the
    proven optimum 616; with the k-subset makespans it rises to within 3% of it."""
    inst = synthetic("zero", np.random.default_rng(100), num_requests=10)
    opt = solve(inst, "cpsat", time_limit_s=60)
    assert opt.status.value == "optimal"
    plain = best_bound(inst)
    with_kth = best_bound(inst, kth_time_limit_s=60)
    assert plain.value < with_kth.value <= opt.objective
    assert (opt.objective - with_kth.value) / opt.objective < 0.03
    assert "completion caps" in with_kth.source or "k-subset" in with_kth.source


def test_solve_with_kth_bounds_keeps_the_optimum(backend):
    """The k-th completion bounds only raise the bound: every backend still proves the
    brute-force optimum."""
    inst = make_instance([(0, 1, 5), (0, 3, 1), (0, 3, 1), (1, 2, 3), (2, 1, 2)], memory=7)
    result = solve(inst, backend, kth_time_limit_s=5)
    assert result.status.value == "optimal"
    assert result.objective == brute_force_optimum(inst)[0]
