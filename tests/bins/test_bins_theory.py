"""Closed forms of Multi-Bin Batching against the spec's table B4, and the numerical integral."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from kvopt.bins.edges import SymmetricError, bin_edges, table1_confusion
from kvopt.bins.errors import BinsError
from kvopt.bins.lengths import Empirical, Exponential, LogNormal, Uniform
from kvopt.bins.theory import (
    best_latency_bins,
    bin_batch_times,
    bins_needed,
    capacity_max_uniform,
    capacity_uniform,
    expected_batch_time_equal_mass,
    expected_batch_time_uniform,
    expected_max_uniform,
    latency_law,
    theory_capacity,
)

KS = (1, 2, 4, 8, 16, 32)


def test_table_b4_capacities_b128():
    """Row 1 of B4: c_k for B = 128 on [1, 20], m = 1, to the printed two decimals."""
    printed = (6.45, 8.43, 9.97, 10.97, 11.55, 11.86)
    assert tuple(round(capacity_uniform(k, 128, 1, 20), 2) for k in KS) == printed
    assert round(capacity_max_uniform(128, 1, 20), 2) == 12.19
    assert capacity_max_uniform(128, 1, 20) == pytest.approx(256 / 21, rel=1e-15)


@pytest.mark.parametrize(("batch", "printed"), [
    (128, (30.8, 54.6, 70.1, 79.1, 84.0, 89.1)),
    (8, (26.0, 44.9, 56.6, 63.2, 66.7, 70.4)),
])
def test_table_b4_gains(batch, printed):
    """Rows 2-3 of B4: gain over k = 1 in percent (last column: c_max)."""
    c1 = capacity_uniform(1, batch, 1, 20)
    gains = [100 * (capacity_uniform(k, batch, 1, 20) / c1 - 1) for k in KS[1:]]
    gains.append(100 * (capacity_max_uniform(batch, 1, 20) / c1 - 1))
    assert tuple(round(g, 1) for g in gains) == printed


def test_bins_needed_for_shares_of_c_max():
    """B4: 90% / 95% / 99% of c_max need k >= 9 / 17 / 89, and those k really reach it."""
    assert [bins_needed(f, 128, 1, 20) for f in (0.9, 0.95, 0.99)] == [9, 17, 89]
    c_max = capacity_max_uniform(128, 1, 20)
    for f in (0.9, 0.95, 0.99):
        k = bins_needed(f, 128, 1, 20)
        assert capacity_uniform(k, 128, 1, 20) >= f * c_max > capacity_uniform(k - 1, 128, 1, 20)


def test_k1_is_expected_max_and_two_bins_tend_to_a_third():
    """k = 1: (B l_max + l_min)/(B + 1); the k = 2 gain tends to 33.3% as B grows, l_min -> 0."""
    assert expected_batch_time_uniform(1, 128, 1, 20) == pytest.approx(
        expected_max_uniform(128, 1, 20), rel=1e-15)
    assert expected_max_uniform(128, 1, 20) == (128 * 20 + 1) / 129
    gain = capacity_uniform(2, 10**9, 0, 1) / capacity_uniform(1, 10**9, 0, 1) - 1
    assert gain == pytest.approx(1 / 3, abs=1e-6)


def test_latency_law_and_its_best_k():
    """E[T_k] + k(B - 1)/(2 lambda); k* = sqrt(lambda Delta/(B + 1)) minimises it over real k."""
    lam, b = 50.0, 8
    law = [latency_law(k, b, lam, expected_batch_time_uniform(k, b, 1, 20)) for k in range(1, 40)]
    k_star = best_latency_bins(lam, b, 1, 20)
    assert k_star == pytest.approx(math.sqrt(50 * 19 / 9))
    best = 1 + int(np.argmin(law))
    assert abs(best - k_star) < 1
    assert latency_law(4, 8, 2.0, 10.0) == 10.0 + 4 * 7 / 4


@pytest.mark.parametrize(("batch", "k"), list(itertools.product((1, 2, 8, 128), KS)))
def test_numerical_integral_reduces_to_the_uniform_closed_form(batch, k):
    """The spec's integral over F^-1 equals the closed form for a uniform F."""
    numeric = expected_batch_time_equal_mass(Uniform(1, 20), k, batch)
    assert numeric == pytest.approx(expected_batch_time_uniform(k, batch, 1, 20), rel=1e-12)


@pytest.mark.parametrize("batch", (1, 8, 128))
def test_numerical_integral_exponential_is_harmonic(batch):
    """Exponential: E[max of B] = mean * H_B; the top equal-mass bin is the tail above its edge,
    memoryless, so its E[max] is edge + mean * H_B."""
    mean = 3.0
    harmonic = sum(1 / i for i in range(1, batch + 1))
    dist = Exponential(mean)
    assert expected_batch_time_equal_mass(dist, 1, batch) == pytest.approx(mean * harmonic,
                                                                           rel=1e-9)
    k = 4
    theory = bin_batch_times(dist, bin_edges(dist, k), batch)
    top_edge = float(dist.ppf((k - 1) / k))
    assert theory.expected_max[-1] == pytest.approx(top_edge + mean * harmonic, rel=1e-9)
    assert theory.share == pytest.approx(np.full(k, 1 / k))


def test_numerical_integral_on_atoms_matches_enumeration():
    """A trace's atoms: E[max of 2] by enumerating every ordered pair, bin by bin."""
    values = np.array([1, 1, 2, 5, 5, 5, 9, 12])
    dist = Empirical(values)
    edges = np.array([1.0, 5.0, 12.0])        # bin 0: {1, 1, 2}; bin 1: {5, 5, 5, 9, 12}
    theory = bin_batch_times(dist, edges, 2)
    for j, members in enumerate(([1, 1, 2], [5, 5, 5, 9, 12])):
        pairs = [max(a, b) for a in members for b in members]
        assert theory.expected_max[j] == pytest.approx(np.mean(pairs), rel=1e-12)
    assert theory.share == pytest.approx([3 / 8, 5 / 8])


def test_mixed_up_bins_give_back_plain_batching():
    """If every request goes to a uniformly random bin, each bin holds the whole distribution:
    capacity equals k = 1's."""
    dist = LogNormal.with_mean(43, 0.46)
    k = 4
    c = np.full((k, k), 1 / k)
    mixed = theory_capacity(dist, bin_edges(dist, k), 8, confusion=c)
    assert mixed == pytest.approx(theory_capacity(dist, bin_edges(dist, 1), 8), rel=1e-9)


def test_errors_and_table1_lower_capacity_but_keep_it_above_k1():
    """Assignment errors cost capacity; more bins still help (Fig. 8's claim, in theory)."""
    dist = LogNormal.with_mean(43, 0.46)
    caps = {}
    for k in (1, 4, 8):
        edges = bin_edges(dist, k)
        caps[k] = [theory_capacity(dist, edges, 8, confusion=SymmetricError(p).confusion(k))
                   for p in (0.0, 0.2, 0.5)]
    for k in (4, 8):
        assert caps[k][0] > caps[k][1] > caps[k][2] > caps[1][0]
    table1 = theory_capacity(dist, bin_edges(dist, 4), 8, confusion=table1_confusion(4))
    assert caps[1][0] < table1 < caps[4][0]


def test_lognormal_fig6_ratios_within_2_percent_of_the_paper():
    """B6's default length model, oracle equal-mass bins, m = 8, B = 8: the ratios of the
    capacities are those of Fig. 6 (22.71 : 27.48 : ... : 39.65) within 2%."""
    paper = np.array([22.71, 27.48, 31.91, 35.27, 37.87, 39.65])
    dist = LogNormal(0.0, 0.46)   # the scale cancels in the ratios
    e = np.array([expected_batch_time_equal_mass(dist, k, 8) for k in KS])
    ours = paper[0] * e[0] / e
    assert np.all(np.abs(ours / paper - 1) < 0.02)


def test_bad_arguments_name_themselves():
    with pytest.raises(BinsError, match="batch size"):
        capacity_uniform(2, 0, 1, 20)
    with pytest.raises(BinsError, match="l_min < l_max"):
        expected_batch_time_uniform(2, 8, 20, 1)
    with pytest.raises(BinsError, match="fraction"):
        bins_needed(1.0, 8, 1, 20)
    with pytest.raises(BinsError, match="rate"):
        latency_law(2, 8, 0.0, 1.0)
