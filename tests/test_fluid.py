"""The fluid calculator (specs/fluid-wait.md sections 2-4, 6): the revision's M*(lambda) table,
stability flags, heavy-traffic scaling and the threshold rules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kvopt.fluid import (
    FluidModel,
    fluid_wait_thresholds,
    m_star_from_fit,
    nested_memory,
    nested_thresholds,
    practical_wait_thresholds,
    wait_memory,
)

#: the revision's M*(lambda) on its LMSYS sample, and the spec's fit (section 6)
TABLE = {50: 34_377, 60: 55_758, 70: 100_327, 80: 250_509}
A, B = 298.8, 0.01131


def test_m_star_table_from_the_fit():
    """a lambda / (1 - b lambda) reproduces the table; the printed (a, b) are rounded, which the
    pole at 1/b amplifies to 0.23% at 80 req/s (the spec's "0.01%" holds for neither row)."""
    for rate, m in TABLE.items():
        assert m_star_from_fit(A, B, rate) == pytest.approx(m, rel=2.5e-3)
    # M* = C = 1.37e5 at about 74.1 req/s, the stability limit 1/b ~ 88 req/s
    c = 1.37e5
    assert c / (A + B * c) == pytest.approx(74.1, abs=0.05)
    assert m_star_from_fit(A, B, 1 / B + 1e-9) == math.inf


def test_one_type_model_is_the_fit():
    """One type with W = K: a = d0 K and b = d1 K give the same M* as the fluid model."""
    model = FluidModel([58], [147], [50.0], d0=0.01, d1=5e-7)
    k = float(model.work[0])
    assert k == (147 + 1) * (58 + 147 / 2)
    assert model.m_star == pytest.approx(m_star_from_fit(0.01 * k, 5e-7 * k, 50.0))
    assert model.dt_star == pytest.approx(0.01 / (1 - 5e-7 * 50 * k))
    assert model.n_star[0] == pytest.approx(model.dt_star * 50 * 148)
    assert model.throughput_star == 50 * 148


def test_unstable_is_flagged():
    """d1 S >= 1: not stable, M* and DT* infinite, a one-line error on demand."""
    model = FluidModel([512], [20], [25.0], d0=0.01, d1=1 / (25 * 21 * 522))
    assert model.load == pytest.approx(1.0)
    assert not model.stable and model.m_star == math.inf and model.dt_star == math.inf
    assert model.summary().startswith("unstable: d1*S = 1")
    with pytest.raises(ValueError, match=r"unstable fluid model: d1\*S = 1 >= 1"):
        model.require_stable()
    with pytest.raises(ValueError, match="unstable"):
        fluid_wait_thresholds(model)
    assert FluidModel([512], [20], [24.0], d0=0.01, d1=model.d1).stable


def test_two_slopes_and_heavy_traffic():
    """Prefill at its own slope; scaling by zeta keeps the load and M*, divides DT*."""
    one = FluidModel([512, 512], [20, 50], [7.0, 3.0], d0=0.01, d1=0.32e-6)
    two = FluidModel([512, 512], [20, 50], [7.0, 3.0], d0=0.01, d1=0.32e-6, d1_prefill=72e-6)
    assert two.load - one.load == pytest.approx((72e-6 - 0.32e-6) * 512 * 10)
    big = two.scaled(10.0)
    assert big.load == pytest.approx(two.load)
    assert big.m_star == pytest.approx(two.m_star)
    assert big.dt_star == pytest.approx(two.dt_star / 10)


def test_fluid_thresholds_meet_the_conditions():
    """Strict thresholds: DT(n) < n_j / lambda_j for every type and M^pi >= M*; none smaller
    in any one type would do."""
    model = FluidModel([10, 10], [10, 20], [1000.0, 1000.0], d0=0.01, d1=1e-7)
    n = fluid_wait_thresholds(model)
    dt = model.iteration_time(n)
    assert (dt < n / model.rates).all()
    assert wait_memory(model, n) >= model.m_star
    for j in range(2):
        fewer = n.copy()
        fewer[j] -= 1
        assert fewer[j] == 0 or model.iteration_time(fewer) >= fewer[j] / model.rates[j]


def test_practical_and_nested_rules():
    """B / (l' + 1) for one type under both rules; the spec's 0.7 p512d20 + 0.3 p512d50 example:
    n_2 / n_1 = 0.3 (eta = 0) and tl = 30 gives segment caps of about 21 and 9."""
    assert practical_wait_thresholds([20], [1.0], 128).tolist() == [6]
    assert practical_wait_thresholds([20], [1.0], 128, rule="stages").tolist() == [6]
    assert practical_wait_thresholds([20, 50], [0.7, 0.3], 128).tolist() == [4, 1]
    n = nested_thresholds([20, 30], [0.7, 0.3], 30, eta=0.0)
    assert n[1] / n[0] == pytest.approx(0.3)
    assert np.round(n * [20, 30]).tolist() == [21, 9]
    # eta raises the survival factor, capped at 0.99
    assert nested_thresholds([20, 30], [0.0, 1.0], 30)[1] / nested_thresholds(
        [20, 30], [0.0, 1.0], 30)[0] == pytest.approx(0.99)
    # one segment: M^pi of the midpoint rule is n (l' + 1)(l + l'/2) = n W
    assert nested_memory(512, [20], [2.0]) == pytest.approx(2 * 21 * (512 + 10))
