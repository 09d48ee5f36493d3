"""The environment's predictions: noise, protection margin, models, resolution."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_instance

from kvopt.sim.predictions import (
    PointPredictions,
    Predictions,
    noisy_predictions,
    resolve_predictions,
    with_margin,
)


def test_noise_stays_within_relative_error():
    """Every noisy prediction is within eps of the truth (after rounding), and at least 1."""
    output = np.arange(1, 2001)
    pred = noisy_predictions(output, 0.3, np.random.default_rng(1))
    assert pred.min() >= 1
    assert np.all(np.abs(pred - output) <= np.ceil(0.3 * output) + 1)
    assert not np.array_equal(pred, output)


def test_noise_is_seeded():
    """Same seed, same predictions; eps 0 returns the truth."""
    output = np.array([5, 10, 100])
    a = noisy_predictions(output, 0.5, np.random.default_rng(3))
    b = noisy_predictions(output, 0.5, np.random.default_rng(3))
    assert np.array_equal(a, b)
    assert np.array_equal(noisy_predictions(output, 0.0, np.random.default_rng(3)), output)


def test_margin_is_exact_ceiling():
    """ceil(p (1 + margin)) with the decimal margin: 10 * 1.1 = 11 exactly, 3 * 1.5 = 4.5 -> 5."""
    assert with_margin(np.array([10, 3, 1]), 0.1).tolist() == [11, 4, 2]
    assert with_margin(np.array([3]), 0.5).tolist() == [5]
    assert with_margin(np.array([7]), 0.0).tolist() == [7]


def test_bad_eps_and_margin_raise():
    """Negative eps or margin raise ValueError."""
    with pytest.raises(ValueError, match="eps"):
        noisy_predictions(np.array([1]), -0.1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="margin"):
        with_margin(np.array([1]), -1.0)


def test_point_predictions_draw_like_mcsf_did():
    """PointPredictions(eps, margin) draws the n uniforms from the stream it is given, then adds
    the margin: the values MC-SF once drew itself at reset (so seeded runs are unchanged)."""
    inst = make_instance([(0, 2, 9), (0, 3, 5), (1, 1, 12)], 20)
    got = PointPredictions(eps=0.5, margin=0.1).predict(inst, np.random.default_rng(3))
    want = with_margin(noisy_predictions(inst.output, 0.5, np.random.default_rng(3)), 0.1)
    assert got.predicted.tolist() == want.tolist()
    assert got.lower is got.predicted and got.upper is got.predicted
    rng = np.random.default_rng(3)
    exact = PointPredictions().predict(inst.replace(predicted=[4, 4, 4]), rng)
    assert exact.predicted.tolist() == [4, 4, 4]
    assert rng.uniform() == np.random.default_rng(3).uniform()   # eps = 0 draws nothing
    with pytest.raises(ValueError, match="eps"):
        PointPredictions(eps=-1.0)
    with pytest.raises(ValueError, match="margin"):
        PointPredictions(margin=-0.1)


def test_resolve_predictions_and_instance_intervals():
    """None gives the instance's columns (intervals default to the points); arrays and
    Predictions are checked for length and range."""
    inst = make_instance([(0, 2, 9), (0, 3, 5)], 20)
    rng = np.random.default_rng(0)
    exact = resolve_predictions(inst, None, rng)
    assert exact.predicted.tolist() == [9, 5] and exact.upper is exact.predicted
    inst2 = inst.replace(predicted=[8, 6], lower=[2, 3], upper=[10, 7])
    given = resolve_predictions(inst2, None, rng)
    assert (given.predicted.tolist(), given.lower.tolist(), given.upper.tolist()) == \
        ([8, 6], [2, 3], [10, 7])
    assert resolve_predictions(inst, np.array([3, 4]), rng).lower.tolist() == [3, 4]
    with pytest.raises(ValueError, match="shape"):
        resolve_predictions(inst, np.array([3]), rng)
    with pytest.raises(ValueError, match=r"predicted\[1\] = 0 is below 1"):
        Predictions.point(np.array([3, 0]))
    with pytest.raises(ValueError, match="lower has shape"):
        Predictions(np.array([3, 4]), np.array([1]), np.array([5, 5]))
    with pytest.raises(ValueError, match="request 1: lower 5 is above upper 4"):
        Predictions(np.array([3, 4]), np.array([1, 5]), np.array([5, 4]))
    one_sided = resolve_predictions(inst.replace(predicted=[8, 6], lower=[9, 2]), None, rng)
    assert one_sided.upper.tolist() == [9, 6]
    preds = Predictions.point(np.array([3, 4]))
    assert not preds.predicted.flags.writeable and resolve_predictions(inst, preds, rng) is preds
