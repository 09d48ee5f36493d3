"""The certified LP: pricing reaches the whole LP, cut rows join and leave, and the bound stays
valid."""

from __future__ import annotations

import numpy as np
from conftest import make_instance
from hindsight.cases import (
    ROWS,
    row_activity,
    small_instance,
)
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kvopt.generate import synthetic_set
from kvopt.hindsight.bounds.combinatorial import (
    sum_of_outputs_bound,
)
from kvopt.hindsight.bounds.priced_lp import lp_bound
from kvopt.hindsight.exact.bruteforce import brute_force_optimum
from kvopt.hindsight.milp.formulation import build


def test_purged_cut_rows_leave_the_lp_and_the_bound_valid(monkeypatch):
    """With every slack cut row dropped after one solve, the LP still returns a bound at most
    the optimum, and cut rows do leave it (the n = 10 benchmark instance, optimum 320)."""
    from kvopt.hindsight.bounds import priced_lp

    dropped = []
    purge = priced_lp._PricedLp.purge

    def counting(self, min_rounds):
        dropped.append(purge(self, min_rounds))
        return dropped[-1]

    monkeypatch.setattr(priced_lp, "CUT_PURGE_SOLVES", 1)
    monkeypatch.setattr(priced_lp._PricedLp, "purge", counting)
    inst = synthetic_set("zero", 20260111, 1, num_requests=10)[0]
    value = lp_bound(inst, upper_bound=330, cut_rounds=30).value
    assert sum(dropped) > 0
    assert 250 < value <= 320


def test_most_effective_rows_rank_violation_over_norm():
    """Efficacy is violation over the row's norm: a long row violated by more can rank below a
    short one violated by less; the kept indices come back in order, all of them when few."""
    from kvopt.hindsight.bounds.priced_lp import _most_effective

    x = np.array([1.0, 1.0, 1.0, 1.0, 0.5])
    rows = [(np.array([0, 1, 2, 3]), np.ones(4), 2.0),   # violation 2, norm 2: efficacy 1
            (np.array([4]), np.ones(1), 0.0),             # violation 0.5, norm 1: 0.5
            (np.array([0, 1]), np.ones(2), 0.0),          # violation 2, norm 1.41: 1.41
            (np.array([0]), np.ones(1), 1.0)]             # not violated: 0
    assert _most_effective(rows, x, 2).tolist() == [0, 2]
    assert _most_effective(rows, x, 1).tolist() == [2]
    assert _most_effective(rows, x, 4).tolist() == [0, 1, 2, 3]


def test_one_cut_row_a_round_still_converges_to_a_valid_bound(monkeypatch):
    """With one separated row joining per round, the rows left out are separated again: the LP
    keeps rising over the plain LP, and stays at most the optimum (the n = 10 benchmark
    instance, optimum 320)."""
    from kvopt.hindsight.bounds import priced_lp

    inst = synthetic_set("zero", 20260111, 1, num_requests=10)[0]
    plain = lp_bound(inst, upper_bound=330, cut_rounds=0).value
    added = []
    add_rows = priced_lp._PricedLp.add_rows

    def counting(self, rows):
        added.append(len(rows))
        add_rows(self, rows)

    monkeypatch.setattr(priced_lp, "CUT_MAX_ROWS", 1)
    monkeypatch.setattr(priced_lp._PricedLp, "add_rows", counting)
    value = lp_bound(inst, upper_bound=330, cut_rounds=30).value
    assert max(added) == 1 and len(added) > 10
    assert plain < value <= 320


def test_lp_bound_stops_when_asked(monkeypatch):
    """``stop`` is asked after each LP solve: returning True ends the run after the first
    solve, whose (valid) certificate is returned."""
    from kvopt.hindsight.bounds import priced_lp

    solves = []
    solve = priced_lp._PricedLp.solve

    def counting(self, time_left_s):
        solves.append(1)
        return solve(self, time_left_s)

    monkeypatch.setattr(priced_lp._PricedLp, "solve", counting)
    inst = synthetic_set("zero", 20260111, 1, num_requests=10)[0]
    asked = []
    stopped = lp_bound(inst, upper_bound=330, cut_rounds=30,
                       stop=lambda: asked.append(1) or True).value
    assert len(solves) == len(asked) == 1
    solves.clear()
    full = lp_bound(inst, upper_bound=330, cut_rounds=30).value
    assert len(solves) > 1 and stopped <= full <= 320


def test_lp_bound_beats_sum_of_outputs_when_memory_binds():
    """Two requests that cannot overlap at all: the LP sees part of the forced wait."""
    # M = 6, both (0, s=2, o=2): optimum 6 (one waits 2 rounds); sum of outputs 4.
    inst = make_instance([(0, 2, 2), (0, 2, 2)], memory=6)
    assert sum_of_outputs_bound(inst).value == 4
    assert 4 < lp_bound(inst, upper_bound=6).value <= 6


@given(rows=ROWS, memory=st.integers(5, 9))
@settings(max_examples=60, deadline=None)
def test_priced_lp_reaches_the_whole_lp(rows, memory):
    """The LP grown by pricing from a subset of columns ends at the LP optimum over all columns
    (same certified bound, cuts off), also with windows as narrow as the optimum allows."""
    inst = small_instance(rows, memory)
    opt, _ = brute_force_optimum(inst)
    for upper in (opt, None):
        priced = lp_bound(inst, upper_bound=upper, cut_rounds=0)
        whole = lp_bound(inst, upper_bound=upper, cut_rounds=0, pricing=False)
        assert priced.value == whole.value <= opt


@given(rows=ROWS, memory=st.integers(5, 9))
# after the first cuts the priced LP has no feasible point, yet HiGHS returns duals
@example(rows=[(0, 1, 3), (0, 1, 3), (0, 1, 1), (0, 1, 3)], memory=6)
@settings(max_examples=30, deadline=None)
def test_lp_point_is_the_lp_solution(rows, memory):
    """``with_point`` gives the same bound and the LP's last point: one start in all per
    request, every KV row of the model within ``M``, and its cost at most the bound."""
    inst = small_instance(rows, memory)
    opt, _ = brute_force_optimum(inst)
    model = build(inst, upper_bound=opt)
    bound, x = lp_bound(inst, model, with_point=True)
    assert bound.value == lp_bound(inst, model).value <= opt
    assert np.allclose(np.bincount(model.col_req, weights=x, minlength=inst.num_requests), 1)
    lhs = row_activity(model, x)
    assert np.all(lhs <= model.row_upper + 1e-6) and np.all(lhs >= model.row_lower - 1e-6)
    assert model.cost @ x + model.offset >= bound.value - 1 - 1e-6
