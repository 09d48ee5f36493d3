"""The staged solve: one time budget, the largest certified bound of every stage, the cheapest
verified schedule, and each stage skipped once the incumbent is proven."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from conftest import make_instance

from kvopt.hindsight import solve as solve_module
from kvopt.hindsight.bounds.combinatorial import Bound, core_bound, headroom_bound, volume_bound
from kvopt.hindsight.exact.bruteforce import brute_force_optimum
from kvopt.hindsight.milp.model import MilpModel, RawSolve
from kvopt.hindsight.solve import Budget, SolveContext, SolveOptions, solve
from kvopt.read import read_instance
from kvopt.result import SolveStatus
from kvopt.schedule import Schedule
from kvopt.verify import verify

DEMO = (Path(__file__).resolve().parents[2] / "kvopt" / "data" / "instances" / "demo"
        / "paper-zero-n10.json")
SUBOPTIMAL = [(1, 1, 5), (2, 1, 3)]   # tests/data/mcsf_suboptimal.json: MC-SF 12, optimum 10


def _context(instance=None) -> SolveContext:
    instance = instance or make_instance(SUBOPTIMAL, memory=7)
    return SolveContext(instance, SolveOptions(), Budget(None), None, None)


def test_budget_shares_what_is_left_and_keeps_back_at_most_half():
    """Without a limit every share is unlimited; with one, what is kept back for the deadline
    LP is at most half of what is left, and the solver gets the rest."""
    free = Budget(None)
    free.keep_back(3.0)
    assert free.remaining() is None and free.share(0.5) is None and free.for_solver() is None
    assert free.reserve_s == 3.0 and free.capped(3.0) == 3.0
    timed = Budget(100.0)
    timed.keep_back(80.0)
    assert timed.reserve_s is not None and 49.0 < timed.reserve_s <= 50.0
    left, solver = timed.remaining(), timed.for_solver()
    assert left is not None and solver is not None and abs(left - timed.reserve_s - solver) < 0.1
    timed.keep_back(None)
    assert timed.reserve_s is None
    assert Budget(0.0).remaining() == 0.01   # never zero: a solver needs a positive limit


def test_the_context_keeps_the_largest_bound_and_the_cheapest_schedule():
    """A lower bound offered later changes nothing (nor the words); a dearer schedule neither."""
    ctx = _context()
    assert ctx.raise_bound(8, "first", "first words")
    assert not ctx.raise_bound(7, "lower", "lower words")
    assert not ctx.raise_bound(8, "equal", "equal words")   # the first of equals stays
    assert (ctx.bound, ctx.bound_source, ctx.words) == (8.0, "first", "first words")
    cheap = Schedule.from_starts([1, 2], [5, 3])
    ctx.offer(cheap, 12)
    ctx.offer(Schedule.from_starts([1, 6], [5, 3]), 16)
    assert ctx.schedule is cheap and ctx.cost == 12 and not ctx.proven
    ctx.raise_bound(12, "meets it")
    assert ctx.proven and ctx.result().status is SolveStatus.OPTIMAL


def test_a_bound_above_the_schedule_raises():
    ctx = _context()
    ctx.offer(Schedule.from_starts([1, 2], [5, 3]), 12)
    ctx.raise_bound(13, "wrong")
    with pytest.raises(Exception, match="exceeds the verified schedule cost"):
        ctx.result()


def test_cheap_bounds_are_the_largest_combinatorial_bound():
    """The first stage: the sum of outputs, then the largest of volume, headroom and cores."""
    inst = read_instance(DEMO)
    ctx = _context(inst)
    solve_module._cheap_bounds(ctx)
    expected = max(int(inst.output.sum()), volume_bound(inst).value, headroom_bound(inst).value,
                   core_bound(inst).value)
    assert ctx.bound == expected and ctx.schedule is None


def test_incumbent_stage_never_worse_than_mcsf_and_verified():
    """The second stage starts from MC-SF's schedule and keeps only cheaper verified ones."""
    inst = read_instance(DEMO)
    ctx = _context(inst)
    solve_module._cheap_bounds(ctx)
    solve_module._incumbent(ctx)
    assert ctx.schedule is not None
    assert ctx.cost == verify(inst, ctx.schedule).total_latency <= 156   # MC-SF: 156
    assert ctx.words.startswith("the incumbent meets the ")


class _StoppedBackend:
    """A MIP backend that stops at once with a weak bound and no schedule."""

    name = "stopped"

    def solve(self, model: MilpModel, **kwargs) -> RawSolve:
        return RawSolve(None, None, 1.0, False, False, "stopped at once")


def test_reported_bound_is_the_largest_certified_source(monkeypatch):
    """A solver that stops with a bound below the LP's does not lower the reported bound, and
    the LP bound (faked below the cheap bounds) does not either."""
    inst = read_instance(DEMO)
    cheap = max(int(inst.output.sum()), volume_bound(inst).value, headroom_bound(inst).value,
                core_bound(inst).value)
    monkeypatch.setattr(solve_module, "get_backend", lambda name: _StoppedBackend())
    monkeypatch.setattr(solve_module, "lp_bound", lambda *a, **k: Bound(cheap - 5, "weak LP", 0))
    result = solve(inst, "highs", serial_moves=0)
    assert result.status is SolveStatus.FEASIBLE and result.backend_status == "stopped at once"
    assert result.bound == cheap
    monkeypatch.setattr(solve_module, "lp_bound", lambda *a, **k: Bound(cheap + 1, "fake LP", 0))
    result = solve(inst, "highs", serial_moves=0)
    assert result.bound == cheap + 1 and result.bound_source == "fake LP"


def test_no_lp_or_solver_once_a_cheap_bound_meets_the_incumbent(monkeypatch):
    """Every stage after the proof is skipped: the LP, the fixing and the solver."""
    def refuse(*args, **kwargs):
        raise AssertionError("no stage should run once the incumbent is proven")

    for name in ("lp_bound", "build", "reduced_cost_fixing", "probe_fixing",
                 "kth_completion_bounds"):
        monkeypatch.setattr(solve_module, name, refuse)
    inst = make_instance([(0, 1, 5), (0, 1, 3)], memory=20)   # both fit at once: sum of outputs
    result = solve(inst, "highs", kth_time_limit_s=5)
    assert result.status is SolveStatus.OPTIMAL and result.objective == result.bound == 8
    assert result.backend_status == "the incumbent meets the sum of outputs bound"


def test_stages_prove_the_brute_force_optimum(backend):
    """The stages together prove the optimum of a small instance on every backend (those of the
    integer program and those working on the instance), memory binding."""
    inst = make_instance([(0, 2, 3), (0, 2, 3), (1, 1, 4), (2, 3, 2)], memory=6)
    result = solve(inst, backend)
    assert result.status is SolveStatus.OPTIMAL
    assert result.objective == result.bound == brute_force_optimum(inst)[0]


def test_a_time_limited_solve_reports_the_kth_bound(monkeypatch):
    """HiGHS cut short at n = 14 (all at round 0), 4 s with 2 of them for the k-th completion
    bounds: it reports at least their sum (on a quiet machine 843, against 827 without them;
    schedule 888). The bounds are computed beforehand, so that what the test checks does not
    depend on how far CP-SAT gets on a loaded machine."""
    pytest.importorskip("ortools")
    from kvopt.generate import synthetic
    from kvopt.hindsight.bounds.deadline import kth_completion_bounds, sorted_completion_bound

    inst = synthetic("zero", np.random.default_rng(100), num_requests=14)
    kth = kth_completion_bounds(inst, time_limit_s=10)
    monkeypatch.setattr(solve_module, "kth_completion_bounds", lambda *a, **k: kth)
    helped = solve(inst, "highs", time_limit_s=4, kth_time_limit_s=2)
    assert helped.status is SolveStatus.FEASIBLE
    assert sorted_completion_bound(inst, kth).value <= helped.bound <= helped.objective


def test_an_empty_instance_is_optimal_at_once():
    inst = make_instance([], memory=5)
    result = solve(inst, "highs")
    assert result.status is SolveStatus.OPTIMAL and result.objective == result.bound == 0
    assert math.isfinite(result.runtime_s)
