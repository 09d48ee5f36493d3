"""Bin edges, the half-open assignment rule, predictors and the Table-1 confusion matrix."""

from __future__ import annotations

import numpy as np
import pytest

from kvopt.bins.edges import (
    ConfusionMatrix,
    Oracle,
    SymmetricError,
    assign_bins,
    bin_edges,
    table1_confusion,
)
from kvopt.bins.errors import BinsError
from kvopt.bins.lengths import Empirical, Exponential, LogNormal, Uniform


def test_equal_mass_edges_of_a_uniform_are_equal_width():
    """Lemma 4.1: for uniform lengths the equal-mass split is the equal-width one."""
    u = Uniform(1, 20)
    np.testing.assert_allclose(bin_edges(u, 4), [1, 5.75, 10.5, 15.25, 20])
    np.testing.assert_allclose(bin_edges(u, 4, "equal_width"), bin_edges(u, 4))


def test_edge_kinds_on_an_unbounded_distribution():
    """Equal mass: F^-1(i/k); log: geometric; both end at the support's ends."""
    d = LogNormal(0.0, 0.5)
    em = bin_edges(d, 4)
    assert em[0] == 0 and em[-1] == np.inf
    np.testing.assert_allclose(d.prob_below(em[1:-1]), [0.25, 0.5, 0.75], rtol=1e-12)
    lg = bin_edges(d, 4, "log")
    ratios = lg[2:-1] / lg[1:-2]
    np.testing.assert_allclose(ratios, ratios[0])
    assert np.all(np.diff(bin_edges(Exponential(2.0), 3, "equal_width")) > 0)


def test_assignment_is_half_open_and_clamped():
    """l_i <= x < l_(i+1) goes to bin i; below l_0 to bin 0, at or above l_k to bin k - 1."""
    edges = np.array([1.0, 2.0, 3.0, 4.0])
    got = assign_bins([0.5, 1.0, 1.99, 2.0, 3.0, 3.5, 4.0, 9.0], edges)
    assert got.tolist() == [0, 0, 0, 1, 2, 2, 2, 2]


def test_trace_edges_split_the_atoms():
    """Equal-mass edges of a trace are generalised quantiles of its lengths."""
    e = Empirical(np.array([1, 2, 2, 3, 4, 4, 4, 10]))
    edges = bin_edges(e, 2)
    assert edges.tolist() == [1.0, 3.0, 10.0]
    assert np.bincount(assign_bins(e.values, edges)).tolist() == [3, 5]


def test_symmetric_errors_move_to_neighbours_at_rate_p_e():
    """About p_e of the requests move, each by one bin, clamped at the ends."""
    rng = np.random.default_rng(0)
    true = rng.integers(0, 8, size=200_000)
    got = SymmetricError(0.3).assign(true, 8, np.random.default_rng(1))
    assert np.all(np.abs(got - true) <= 1)
    inner = (true > 0) & (true < 7)
    assert np.mean(got[inner] != true[inner]) == pytest.approx(0.3, abs=0.005)
    ends = (true == 0) | (true == 7)
    assert np.mean(got[ends] != true[ends]) == pytest.approx(0.15, abs=0.005)
    other = SymmetricError(0.3, "uniform_other").assign(true, 8, np.random.default_rng(1))
    assert np.mean(other != true) == pytest.approx(0.3, abs=0.005)


@pytest.mark.parametrize("pred", [SymmetricError(0.2), SymmetricError(0.4, "uniform_other"),
                                  ConfusionMatrix.table1(4)])
def test_predictors_follow_their_confusion_matrix(pred):
    """Observed assignment frequencies match the stated matrix (theory uses the matrix)."""
    k = 4
    true = np.repeat(np.arange(k), 50_000)
    got = pred.assign(true, k, np.random.default_rng(3))
    observed = np.zeros((k, k))
    np.add.at(observed, (true, got), 1)
    np.testing.assert_allclose(observed / 50_000, pred.confusion(k), atol=0.006)


def test_table1_matrix():
    """The spec's default: the diagonal is exact-bin accuracy; neighbours share the rest of
    within-one; the remainder is spread over bins two or more away."""
    c2 = table1_confusion(2)
    np.testing.assert_allclose(c2, [[0.8614, 0.1386], [0.1386, 0.8614]])
    c4 = table1_confusion(4)
    np.testing.assert_allclose(c4[1], [0.1647, 0.6297, 0.1647, 0.0409])
    np.testing.assert_allclose(c4[0], [0.6297, 0.3294, 0.0409 / 2, 0.0409 / 2])
    c8 = table1_confusion(8)
    np.testing.assert_allclose(c8.sum(axis=1), 1.0)
    assert np.all(np.diag(c8) == 0.4229)
    with pytest.raises(BinsError, match="k in"):
        table1_confusion(3)


def test_oracle_and_errors():
    assert Oracle().assign(np.array([2, 0]), 3, np.random.default_rng(0)).tolist() == [2, 0]
    with pytest.raises(BinsError, match="assign-error"):
        SymmetricError(1.5)
    with pytest.raises(BinsError, match="edge kind"):
        bin_edges(Uniform(1, 2), 2, "quadratic")
    log = bin_edges(Uniform(0, 1), 4, "log")      # support from 0: geometric from F^-1(1e-4)
    assert log[0] == 0 and log[-1] == 1
    np.testing.assert_allclose(log[2] / log[1], log[3] / log[2])
