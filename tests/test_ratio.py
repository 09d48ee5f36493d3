"""Competitive ratios: exact when the optimum is proven, an interval otherwise."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvopt.ratio import RatioReport, aggregate, competitive_ratio, format_interval
from kvopt.result import SolveResult, SolveStatus
from kvopt.schedule import Schedule


def _opt(status: SolveStatus, objective: float, bound: float | None) -> SolveResult:
    schedule = Schedule.from_starts([0], [1])
    return SolveResult(status, objective, bound, schedule, "test", "test", 0.0)


def test_proven_optimum_gives_one_number():
    """cost 12 against a proven 10: ratio 1.2, low == high."""
    rep = competitive_ratio(12, _opt(SolveStatus.OPTIMAL, 10.0, 10.0))
    assert rep.exact == pytest.approx(1.2)
    assert rep.low == rep.high == pytest.approx(1.2)
    assert not rep.exactly_optimal


def test_unproven_optimum_gives_an_interval():
    """cost 12, best schedule 11, bound 8: [12/11, 12/8], no exact number."""
    rep = competitive_ratio(12, _opt(SolveStatus.FEASIBLE, 11.0, 8.0))
    assert rep.exact is None
    assert rep.low == pytest.approx(12 / 11) and rep.high == pytest.approx(1.5)
    assert not rep.exactly_optimal


def test_unproven_optimum_without_bound_is_unbounded_above():
    """No bound: the upper end is infinite (reported as null in JSON)."""
    rep = competitive_ratio(12, _opt(SolveStatus.FEASIBLE, 12.0, None))
    assert rep.low == 1.0 and math.isinf(rep.high)
    assert rep.to_dict()["ratio_high"] is None


def test_exactly_optimal_needs_a_proof():
    """cost == objective counts as optimal only when the optimum is proven."""
    assert competitive_ratio(10, _opt(SolveStatus.OPTIMAL, 10.0, 10.0)).exactly_optimal
    assert not competitive_ratio(10, _opt(SolveStatus.FEASIBLE, 10.0, 9.0)).exactly_optimal


def test_policy_below_proven_optimum_is_a_bug():
    """A policy cheaper than a proven optimum means the models disagree: raise."""
    with pytest.raises(ValueError, match="below the proven optimum"):
        competitive_ratio(9, _opt(SolveStatus.OPTIMAL, 10.0, 10.0))


def test_no_hindsight_schedule_raises():
    """A solve without a schedule cannot anchor a ratio."""
    res = SolveResult(SolveStatus.NO_SOLUTION, math.inf, 5.0, None, "t", "t", 0.0)
    with pytest.raises(ValueError, match="no hindsight schedule"):
        competitive_ratio(9, res)


def test_evaluation_input(make_instance):
    """An Evaluation is accepted and its verified total latency used."""
    from kvopt.verify import verify

    inst = make_instance([(0, 1, 2)], memory=5)
    ev = verify(inst, Schedule.from_starts([1], inst.output))  # latency 3
    assert competitive_ratio(ev, _opt(SolveStatus.OPTIMAL, 2.0, 2.0)).low == 1.5


def test_round_trip_dict():
    """to_dict/from_dict keep the report."""
    rep = RatioReport(12, 11.0, 8.0, False)
    assert RatioReport.from_dict(rep.to_dict()) == rep


def test_aggregate_applies_statistics_to_each_end():
    """mean/best/worst over the lower ends and over the upper ends, separately."""
    reps = [RatioReport(10, 10.0, 10.0, True),     # 1.0 exactly optimal
            RatioReport(12, 10.0, 10.0, True),     # 1.2
            RatioReport(11, 11.0, 5.5, False)]     # [1.0, 2.0]
    s = aggregate(reps)
    assert s.num_instances == 3 and s.num_proven == 2 and s.num_exactly_optimal == 1
    assert s.mean == pytest.approx(((1.0 + 1.2 + 1.0) / 3, (1.0 + 1.2 + 2.0) / 3))
    assert s.best == pytest.approx((1.0, 1.0))
    assert s.worst == pytest.approx((1.2, 2.0))


def test_aggregate_empty():
    """No reports: counts zero, statistics NaN (printed as '-')."""
    s = aggregate([])
    assert s.num_instances == 0 and format_interval(s.mean) == "-"


def test_format_interval():
    """One number when the ends agree, else [lo, hi]."""
    assert format_interval((1.2, 1.2)) == "1.2000"
    assert format_interval((1.0, 1.5)) == "[1.0000, 1.5000]"
    assert format_interval(1.05) == "1.0500"


@given(cost=st.integers(1, 1000), objective=st.integers(1, 1000), bound=st.integers(1, 1000))
@settings(max_examples=200, deadline=None)
def test_interval_contains_every_possible_ratio(cost, objective, bound):
    """For any optimum in [bound, objective], cost/optimum lies in [low, high]."""
    if bound > objective:
        bound, objective = objective, bound
    rep = RatioReport(cost, float(objective), float(bound),
                      bound == objective and cost >= objective)
    for opt in (bound, objective, (bound + objective) / 2):
        assert rep.low - 1e-12 <= cost / opt <= rep.high + 1e-12
