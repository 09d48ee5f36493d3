"""LP probing keeps every schedule better than the incumbent and proves optima."""

from __future__ import annotations

import numpy as np
from hindsight.cases import (
    ROWS,
    better_schedules,
    schedule_point,
    small_instance,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from kvopt.generate import synthetic_set
from kvopt.hindsight.bounds.lp_certificate import (
    reduced_cost_fixing,
)
from kvopt.hindsight.bounds.priced_lp import lp_bound
from kvopt.hindsight.exact.bruteforce import brute_force_optimum
from kvopt.hindsight.incumbents import list_schedule
from kvopt.hindsight.milp.decode import encode
from kvopt.hindsight.milp.formulation import build
from kvopt.schedule import Schedule
from kvopt.verify import verify


@given(rows=ROWS, memory=st.integers(5, 9), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=100, deadline=None)
def test_probing_keeps_every_better_schedule(rows, memory, seed):
    """After reduced-cost fixing, probing fixes no column of a schedule cheaper than the
    incumbent, keeps the incumbent's columns, claims a proof only when no cheaper schedule
    exists, and its bound never exceeds the brute-force optimum."""
    from kvopt.hindsight.probing import probe_fixing

    inst, model, point = schedule_point(rows, memory, seed)
    upper = round(model.cost @ point + model.offset)
    mip = reduced_cost_fixing(model, lp_bound(inst, model, cut_rounds=5).certificate, upper,
                              keep=point)
    probed = probe_fixing(mip, upper, keep=point)
    assert probed.complete and (probed.model.col_upper[point > 0.5] == 1).all()
    assert probed.fixed == int(((mip.col_upper > 0.5) & (probed.model.col_upper < 0.5)).sum())
    opt, _ = brute_force_optimum(inst)
    assert probed.bound <= opt + 1e-6
    if probed.proven:
        assert opt == upper and probed.bound == upper
    for starts in better_schedules(inst, upper, seed):
        x = encode(probed.model, starts)
        assert x is not None and (probed.model.col_upper[x > 0.5] == 1).all()


@given(rows=ROWS, memory=st.integers(5, 9), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=100, deadline=None)
def test_probing_certificate_holds_for_any_multipliers(rows, memory, seed):
    """The Lagrangian certificate probing uses, at random multipliers of either sign and over
    random allowed columns that contain a schedule: the schedule costs at least the bound
    the certificate gives each of its columns (the lemma behind every fixing)."""
    from kvopt.hindsight.bounds.lp_certificate import lagrangian_parts
    from kvopt.hindsight.windows import identical_groups

    inst = small_instance(rows, memory)
    schedule, _ = list_schedule(inst, np.random.default_rng(seed).permutation(inst.num_requests))
    starts = schedule.final_starts()
    for group in identical_groups(inst):   # twins in position order, as the program's rows ask
        starts[group] = np.sort(starts[group])
    model = build(inst, upper_bound=verify(inst, Schedule.from_starts(starts, inst.output))
                  .total_latency)
    point = encode(model, starts)
    rng = np.random.default_rng(seed)
    allowed = (rng.random(model.num_cols) < 0.5) | (point > 0.5)
    value, excess = lagrangian_parts(model, rng.normal(0, 2, size=model.num_rows), allowed)
    cost = model.cost @ point + model.offset
    assert (value + excess[point > 0.5] <= cost + 1e-6).all()


def test_probing_proves_a_paper_instance_without_the_solver():
    """On a 10-request paper instance with Poisson arrivals the LP with its cuts is 2% below
    the optimum (267), but probing leaves some request no column of a cheaper schedule: the
    solve is proven before HiGHS or CBC runs, and without probing HiGHS proves the same
    optimum."""
    from kvopt.hindsight.solve import solve

    inst = synthetic_set("poisson", 20260111, 1, num_requests=10)[0]
    probed = solve(inst, "highs")
    assert probed.status.value == "optimal" and probed.objective == 267
    assert probed.bound_source == "LP probing"
    plain = solve(inst, "highs", probing=False)
    assert plain.status.value == "optimal" and plain.objective == 267
    assert plain.bound_source == "highs"


def test_probing_stops_at_its_time_limit_with_a_valid_model():
    """With no time, probing stops before its first probe: the model keeps its columns."""
    from kvopt.hindsight.probing import probe_fixing

    inst = synthetic_set("zero", 20260111, 1, num_requests=10)[0]
    schedule = list_schedule(inst, np.arange(inst.num_requests))[0]
    upper = verify(inst, schedule).total_latency
    model = build(inst, upper_bound=upper)
    warm = encode(model, schedule.final_starts())
    probed = probe_fixing(model, upper, keep=warm, time_limit_s=0.0)
    assert not probed.complete and probed.probes == 0
    assert (probed.model.col_upper[warm > 0.5] == 1).all()
