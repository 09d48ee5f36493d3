"""The LP certificate: weak duality and the Lagrangian bound for any multipliers, and the
reduced-cost fixing they license."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_instance
from hindsight.cases import (
    ROWS,
    better_schedules,
    row_activity,
    schedule_point,
    small_instance,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from kvopt.generate import synthetic_set
from kvopt.hindsight.bounds.lp_certificate import (
    LpCertificate,
    certified_dual_bound,
    lagrangian_bound,
    reduced_cost_fixing,
)
from kvopt.hindsight.bounds.priced_lp import lp_bound
from kvopt.hindsight.exact.bruteforce import brute_force_optimum
from kvopt.hindsight.milp.decode import encode
from kvopt.hindsight.milp.formulation import build
from kvopt.verify import verify


@given(rows=ROWS, memory=st.integers(5, 9), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=60, deadline=None)
def test_any_dual_vector_gives_valid_bounds(rows, memory, seed):
    """For arbitrary (even wrong-signed) dual vectors: weak duality holds, and box certificate
    <= Lagrangian bound <= LP optimum <= optimum."""
    inst = small_instance(rows, memory)
    opt, _ = brute_force_optimum(inst)
    model = build(inst, upper_bound=opt)
    y = np.random.default_rng(seed).normal(0, 3, size=model.num_rows)
    assert certified_dual_bound(model, y) <= opt + 1e-9
    lag = lagrangian_bound(model, y)
    assert certified_dual_bound(model, y) <= lag + 1e-9
    assert lag <= lp_bound(inst, model, cut_rounds=0, pricing=False).value + 1e-6 <= opt + 1e-6


def test_lagrangian_bound_keeps_each_request_on_one_start():
    """One request (0, s=1, o=2), M = 3, alone: the model's costs are the waits 0, 1, 2 of
    starts 0..2 plus the offset o = 2. With the assignment dual wrongly at 10 the box
    certificate charges every column's reduced cost: 10 + (0 - 10) + (1 - 10) + (2 - 10) + 2
    = -15; the Lagrangian bound takes the cheapest start: 0 + 2 = 2, the optimum."""
    inst = make_instance([(0, 1, 2)], memory=3)
    model = build(inst, upper_bound=4)
    assert model.row_names[0] == "assign_0" and model.offset == 2
    assert model.cost.tolist() == [0.0, 1.0, 2.0]
    y = np.zeros(model.num_rows)
    y[0] = 10.0
    assert certified_dual_bound(model, y) == -15.0
    assert lagrangian_bound(model, y) == 2.0


@given(rows=ROWS, memory=st.integers(5, 9), seed=st.integers(0, 2**32 - 1),
       perturbed=st.booleans())
@settings(max_examples=100, deadline=None)
def test_reduced_cost_fixing_keeps_every_better_schedule(rows, memory, seed, perturbed):
    """Whatever the multipliers (the LP's with its cuts, or those perturbed): no column
    of a schedule cheaper than the incumbent is fixed, the incumbent's columns stay, and every
    such schedule satisfies the appended cut rows."""
    inst, model, point = schedule_point(rows, memory, seed)
    upper = round(model.cost @ point + model.offset)   # the list schedule's total latency
    certificate = lp_bound(inst, model, cut_rounds=5).certificate
    if perturbed:   # any multipliers are valid: the LP's with noise of either sign
        noise = np.random.default_rng(seed).normal(0, 1, size=len(certificate.row_dual))
        certificate = LpCertificate(certificate.rows, certificate.row_dual + noise)
    mip = reduced_cost_fixing(model, certificate, upper, keep=point)
    assert (mip.col_upper[point > 0.5] == 1).all()
    for starts in better_schedules(inst, upper, seed):
        x = encode(mip, starts)
        assert x is not None and (mip.col_upper[x > 0.5] == 1).all()
        assert (row_activity(mip, x) <= mip.row_upper + 1e-9).all()


@pytest.mark.parametrize("mip_backend", ["highs", "cbc"])
def test_reduced_cost_fixing_fixes_most_columns_and_keeps_the_optimum(mip_backend):
    """On a 10-request paper instance (optimum 154, MC-SF 165), the LP's multipliers fix
    most columns, and the restricted program proves the same optimum on every backend."""
    from kvopt.hindsight.incumbents import warm_start_schedule
    from kvopt.hindsight.milp.backends import get_backend

    inst = synthetic_set("zero", 20260111, 4, num_requests=10)[3]
    schedule = warm_start_schedule(inst)
    upper = verify(inst, schedule).total_latency
    assert upper == 165
    model = build(inst, upper_bound=upper)
    warm = encode(model, schedule.final_starts())
    mip = reduced_cost_fixing(model, lp_bound(inst, model).certificate, upper, keep=warm)
    assert (mip.col_upper == 0).sum() > model.num_cols / 2
    assert mip.num_rows > model.num_rows          # the LP's cuts joined
    raw = get_backend(mip_backend).solve(mip, time_limit_s=60, mip_rel_gap=0, warm_start=warm,
                                         threads=1, seed=0)
    assert raw.proven and round(raw.objective) == 154
