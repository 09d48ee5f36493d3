"""Interval generators G1, G2, G3 and misses: every interval holds its output, alpha is kept,
alpha = 1 is exact, a seed repeats its bytes, bad parameters are refused."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvopt.instance import Instance
from kvopt.sim.intervals import (
    ExactPredictions,
    IntervalPredictions,
    g1_intervals,
    g2_intervals,
    g3_intervals,
    geometric_edges,
    quantile_edges,
    with_intervals,
)

ALPHAS = (1, 0.8, 0.5, 0.25, 0.1, 0.05)
outputs = st.lists(st.integers(1, 3000), min_size=1, max_size=60).map(np.array)


@given(out=outputs, alpha=st.sampled_from(ALPHAS), seed=st.integers(0, 2**16),
       placement=st.sampled_from(["uniform", "low", "high"]))
@settings(max_examples=200, deadline=None)
def test_g3_holds_the_output_with_ratio_alpha(out, alpha, seed, placement):
    """lower <= o <= upper, and upper = floor(lower / alpha) exactly; low puts o at lower."""
    lower, upper = g3_intervals(out, alpha, np.random.default_rng(seed), placement=placement)
    a = Fraction(str(alpha))
    assert (lower >= 1).all() and (lower <= out).all() and (out <= upper).all()
    assert all(u == (lo * a.denominator) // a.numerator for lo, u in zip(lower, upper,
                                                                        strict=True))
    if placement == "low":
        assert (lower == out).all()
    if placement == "high":
        assert (lower == np.maximum(1, -((-out * a.numerator) // a.denominator))).all()


@given(out=outputs, alpha=st.sampled_from(ALPHAS))
@settings(max_examples=150, deadline=None)
def test_g2_geometric_classes_hold_the_output(out, alpha):
    """Each request gets the class holding its output; classes tile 1, 2, ...; alpha = 1 is
    exact; otherwise lower / upper is near alpha once classes are wide."""
    lower, upper = g2_intervals(out, alpha)
    assert (lower <= out).all() and (out <= upper).all()
    if alpha == 1:
        assert (lower == out).all() and (upper == out).all()
        return
    edges = geometric_edges(alpha, int(out.max()))
    assert edges[0] == 1 and (np.diff(edges) >= 1).all() and edges[-1] > out.max()
    assert set(lower.tolist()) <= set(edges.tolist())
    wide = lower >= 40 / (1 - alpha)            # rounding and the +1 floor no longer matter
    ratio = lower[wide] / (upper[wide] + 1)
    assert np.allclose(ratio, alpha, rtol=0.1)


def test_geometric_edges_at_one_half():
    """alpha = 1/2: powers of two."""
    assert geometric_edges(0.5, 100).tolist() == [1, 2, 4, 8, 16, 32, 64, 128]
    with pytest.raises(ValueError, match="alpha < 1"):
        geometric_edges(1, 10)


def test_g2_quantile_has_equal_mass():
    """K = 4 quantile classes of 1..1000 hold 250 outputs each."""
    out = np.arange(1, 1001)
    lower, upper = g2_intervals(out, 0.5, classes="quantile", num_classes=4)
    assert (lower <= out).all() and (out <= upper).all()
    _, counts = np.unique(lower, return_counts=True)
    assert counts.tolist() == [250, 250, 250, 250]
    assert quantile_edges(out, 1).tolist() == [1, 1001]


def test_g1_is_one_global_interval():
    out = np.array([7, 3, 12])
    lower, upper = g1_intervals(out)
    assert lower.tolist() == [3, 3, 3] and upper.tolist() == [12, 12, 12]


@given(out=outputs, seed=st.integers(0, 2**16),
       classes=st.sampled_from(["geometric", "quantile"]))
@settings(max_examples=100, deadline=None)
def test_a_miss_moves_to_a_neighbouring_class(out, seed, classes):
    """With miss_prob = 1 every request gets a neighbouring class (one class: no move)."""
    own_lo, own_hi = g2_intervals(out, 0.5, classes=classes)
    lower, upper = g2_intervals(out, 0.5, np.random.default_rng(seed), classes=classes,
                                miss_prob=1.0)
    edges = (geometric_edges(0.5, int(geometric_edges(0.5, int(out.max()))[-1]))
             if classes == "geometric" else quantile_edges(out, 4))
    own = np.searchsorted(edges, own_lo)
    new = np.searchsorted(edges, lower)
    if len(edges) == 2:
        assert (new == own).all()
    else:
        assert (np.abs(new - own) == 1).all()
        assert ((out < lower) | (out > upper)).all()
    assert (lower <= upper).all()


def test_same_seed_same_bytes_other_seed_other_draws():
    """A seed repeats the intervals byte for byte."""
    out = np.random.default_rng(0).integers(1, 1000, size=500)
    inst = Instance(5000, np.zeros(500, int), np.ones(500, int), out)
    for model in (IntervalPredictions(0.25), IntervalPredictions(0.5, "g2", miss_prob=0.3)):
        a = model.predict(inst, np.random.default_rng(11))
        b = model.predict(inst, np.random.default_rng(11))
        c = model.predict(inst, np.random.default_rng(12))
        for col in ("predicted", "lower", "upper"):
            assert getattr(a, col).tobytes() == getattr(b, col).tobytes()
        assert a.lower.tobytes() != c.lower.tobytes()


def test_prediction_model_gives_the_midpoint_and_intervals():
    inst = Instance(100, [0, 0], [1, 1], [10, 40])
    preds = IntervalPredictions(0.5, "g3", placement="low").predict(inst,
                                                                    np.random.default_rng(0))
    assert preds.lower.tolist() == [10, 40] and preds.upper.tolist() == [20, 80]
    assert preds.predicted.tolist() == [15, 60]
    exact = ExactPredictions().predict(inst, np.random.default_rng(0))
    assert exact.predicted.tolist() == exact.lower.tolist() == exact.upper.tolist() == [10, 40]


def test_with_intervals_writes_the_columns():
    inst = Instance(100, [0, 0], [1, 1], [10, 40])
    out = with_intervals(inst, IntervalPredictions(0.5, "g2"), np.random.default_rng(0))
    assert out.lower.tolist() == [8, 32] and out.upper.tolist() == [15, 63]
    assert out.output.tolist() == inst.output.tolist()


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"alpha": 0}, "alpha must be in"),
    ({"alpha": 1.5}, "alpha must be in"),
    ({"generator": "g4"}, "generator must be one of"),
    ({"placement": "middle"}, "placement must be"),
    ({"classes": "linear"}, "classes must be"),
    ({"num_classes": 0}, "num_classes must be"),
    ({"miss_prob": 1.5, "generator": "g2"}, "miss_prob must be in"),
    ({"miss_prob": 0.1, "generator": "g3"}, "needs the g2 generator"),
])
def test_bad_parameters_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        IntervalPredictions(**kwargs)
