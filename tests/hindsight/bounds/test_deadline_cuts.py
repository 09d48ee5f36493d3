"""Deadline cuts: CP-SAT's count of requests that can meet their deadlines, and the LP rows it
gives, checked against exhaustive enumeration of every schedule of tiny instances."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_instance
from hypothesis import given, settings
from hypothesis import strategies as st
from test_kth import ROWS, every_schedule

pytest.importorskip("ortools")

from kvopt.generate import synthetic
from kvopt.hindsight.bounds.deadline import DeadlineCuts
from kvopt.hindsight.bounds.priced_lp import lp_bound
from kvopt.hindsight.exact.bruteforce import brute_force_optimum
from kvopt.hindsight.exact.cpsat import most_meeting_deadlines
from kvopt.hindsight.milp.decode import encode
from kvopt.hindsight.milp.formulation import build
from kvopt.hindsight.solve import solve
from kvopt.verify import verify


def completions(inst, starts):
    return np.asarray(starts) + inst.output


@given(rows=ROWS, memory=st.integers(4, 8), data=st.data())
@settings(max_examples=40, deadline=None)
def test_most_meeting_deadlines_is_the_enumerated_maximum(rows, memory, data):
    """Proven on tiny instances, the count equals the most requests any schedule completes
    by their deadlines (a negative deadline leaves the request out); the choice returned
    meets its deadlines and fits."""
    inst = make_instance([(a, s, min(o, memory - s)) for a, s, o in rows], memory=memory)
    n = inst.num_requests
    deadline = np.array(data.draw(st.lists(st.integers(-1, 8), min_size=n, max_size=n)))
    best = max(int(((completions(inst, starts) <= deadline) & (deadline >= 0)).sum())
               for starts, _ in every_schedule(inst))
    nu, found = most_meeting_deadlines(inst, deadline, time_limit_s=10)
    assert nu == best
    assert found is not None and int((found >= 0).sum()) == best
    chosen = np.flatnonzero(found >= 0)
    assert (found[chosen] <= deadline[chosen]).all()
    sub = inst.subset(chosen)
    verify(sub, _schedule(found[chosen] - sub.output, sub.output))


def _schedule(starts, outputs):
    from kvopt.schedule import Schedule
    return Schedule.from_starts(np.asarray(starts), outputs)


@given(rows=ROWS, memory=st.integers(4, 8))
@settings(max_examples=25, deadline=None)
def test_deadline_cuts_hold_at_every_schedule(rows, memory):
    """Every row separated (at the LP point without them) holds at every feasible schedule,
    and the LP with them stays below the optimum."""
    inst = make_instance([(a, s, min(o, memory - s)) for a, s, o in rows], memory=memory)
    opt, _ = brute_force_optimum(inst)
    wide = build(inst, upper_bound=int(inst.arrival.max() + 2 * inst.output.sum()))
    _, x = lp_bound(inst, wide, cut_rounds=0, pricing=False, with_point=True)
    cuts = DeadlineCuts(inst, wide).cuts(x)
    for starts, _ in every_schedule(inst):
        point = encode(wide, np.array(starts))
        for cols, vals, upper in cuts:
            assert float(vals @ point[cols]) <= upper + 1e-9
    assert lp_bound(inst, build(inst, upper_bound=opt), deadline_cuts=True).value <= opt


def test_deadline_cuts_raise_the_lp_bound():
    """All arrivals at 0, n = 10 (proven optimum 616): the LP with cliques and headroom cuts
    converges well below it; deadline cuts raise it, and not above the optimum."""
    inst = synthetic("zero", np.random.default_rng(100), num_requests=10)
    model = build(inst, upper_bound=616)
    plain = lp_bound(inst, model, cut_rounds=100)
    with_ = lp_bound(inst, model, cut_rounds=100, deadline_cuts=True)
    assert plain.value < with_.value <= 616
    assert "deadline cuts" in with_.source


def test_solve_keeps_time_for_deadline_cuts(monkeypatch):
    """n = 16, all arrivals at 0, 6 s with 3 s kept back: CP-SAT proves nothing, then the LP
    with deadline cuts runs on the best schedule's windows, with that schedule as a witness,
    and its bound is the one reported (it raises the bound: the test above)."""
    import kvopt.hindsight.solve as solve_module

    calls = []

    def recording(*args, **kwargs):
        result = real(*args, **kwargs)
        calls.append((kwargs, result))
        return result

    real = solve_module.lp_bound
    monkeypatch.setattr(solve_module, "lp_bound", recording)
    inst = synthetic("zero", np.random.default_rng(7), num_requests=16)
    late = solve(inst, "cpsat", time_limit_s=6, deadline_time_limit_s=3)
    assert late.status.value == "feasible"
    (first, _), (second, bound) = calls
    assert not first.get("deadline_cuts") and second["deadline_cuts"]
    assert (second["witnesses"][0] == late.schedule.final_starts() + inst.output).all()
    assert bound is not None and late.bound >= bound.value
    assert late.bound <= late.objective == verify(inst, late.schedule).total_latency


@given(rows=ROWS, memory=st.integers(4, 8))
@settings(max_examples=10, deadline=None)
def test_solve_with_deadline_cuts_finds_the_optimum(rows, memory, backend):
    """Time kept for deadline cuts changes no proven optimum, on every backend."""
    inst = make_instance([(a, s, min(o, memory - s)) for a, s, o in rows], memory=memory)
    opt, _ = brute_force_optimum(inst)
    result = solve(inst, backend, deadline_time_limit_s=5)
    assert result.status.value == "optimal" and result.objective == opt
