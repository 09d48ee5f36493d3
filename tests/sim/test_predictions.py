"""Noisy predictions and the protection margin."""

from __future__ import annotations

import numpy as np
import pytest

from kvopt.sim.predictions import noisy_predictions, with_margin


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
