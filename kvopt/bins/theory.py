r"""Closed forms of Multi-Bin Batching (spec Part B, B3 and B4) and the numerical integral.

Notation: batch size ``B``, ``k`` bins, ``m`` servers, lengths on ``[l_min, l_max]`` with
``Delta = l_max - l_min``, a batch lasts ``t0 + t_tok * (longest true length)``; the theory's
unit is ``t0 = 0``, ``t_tok = 1``.

Uniform lengths, ``k`` equal bins [B3]:

.. math::

    E[\max \text{ of } B \text{ i.i.d. } U[a, b]] = \frac{B b + a}{B + 1}, \qquad
    E[T_k] = E[l] + \frac{\Delta (B - 1)}{2 k (B + 1)}, \qquad
    c_k = \frac{m B}{E[T_k]} \to c_{\max} = \frac{m B}{E[l]}.

Any distribution ``F`` (quantile ``Q = F^-1``), equal-mass bins, oracle lengths:

.. math::

    E[T_k] = \frac{1}{k} \sum_{i=1}^{k} \int_0^1 Q\!\left(\frac{i - 1 + v}{k}\right)
             B v^{B-1}\, dv .

:func:`bin_batch_times` generalises it to any edges and any confusion matrix ``C`` (row ``i``:
the assigned bin of a request whose true bin is ``i``). Bin ``j`` receives the share
``pi_j = sum_i p_i C_ij`` of the requests, whose lengths have, as a function of ``p = F(x)``,
the piecewise-linear distribution ``G_j(p) = sum_i (p_i C_ij / pi_j) F_i(p)`` (``F_i`` rises
linearly from 0 to 1 across true bin ``i``); the longest of ``B`` has distribution ``G_j^B``, so
``E_j = int_0^1 Q(p) d G_j(p)^B``. Saturated, a batch comes from bin ``j`` with probability
``pi_j`` and ``c = m B / sum_j pi_j (t0 + t_tok E_j)``. For a trace (atoms) the integral is a
finite sum; for a continuous ``F`` it is composite Gauss-Legendre on cells graded
geometrically towards both ends of every bin, where ``Q`` may be unbounded (near ``p = 1`` the
quantile is evaluated from ``1 - p``, computed without cancellation).

Latency (infinitely many servers, light load; Lemma 5.1):
``E[latency] = E[T_k] + k (B - 1) / (2 lambda)``, smallest near
``k* = sqrt(lambda Delta / (B + 1))``. Bins for a share ``f`` of ``c_max`` (``m = 1``):
``k >= Delta (B - 1) f / ((B + 1)(l_max + l_min)(1 - f))``.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np

from kvopt.bins.edges import bin_edges
from kvopt.bins.errors import BinsError
from kvopt.bins.lengths import Empirical, LengthModel

__all__ = [
    "BinTheory",
    "best_latency_bins",
    "bin_batch_times",
    "bins_needed",
    "capacity_max_uniform",
    "capacity_uniform",
    "expected_batch_time_equal_mass",
    "expected_batch_time_uniform",
    "expected_max_uniform",
    "latency_law",
    "theory_capacity",
]

_GL_NODES = 24


def _positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise BinsError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _interval(lo: float, hi: float) -> float:
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise BinsError(f"lengths need l_min < l_max, got [{lo}, {hi}]")
    return hi - lo


# --------------------------------------------------------------------------- uniform closed forms
def expected_max_uniform(batch_size: int, lo: float, hi: float) -> float:
    """``E[max]`` of ``batch_size`` i.i.d. ``U[lo, hi]``: ``(B hi + lo) / (B + 1)``."""
    b = _positive_int("batch size", batch_size)
    _interval(lo, hi)
    return (b * hi + lo) / (b + 1)


def expected_batch_time_uniform(num_bins: int, batch_size: int, lo: float, hi: float) -> float:
    """``E[T_k] = E[l] + Delta (B - 1) / (2 k (B + 1))`` for ``k`` equal bins of ``U[lo, hi]``."""
    k = _positive_int("bins", num_bins)
    b = _positive_int("batch size", batch_size)
    delta = _interval(lo, hi)
    return (lo + hi) / 2 + delta * (b - 1) / (2 * k * (b + 1))


def capacity_uniform(num_bins: int, batch_size: int, lo: float, hi: float, *, servers: int = 1,
                     t0: float = 0.0, t_tok: float = 1.0) -> float:
    """``c_k = m B / (t0 + t_tok E[T_k])`` requests per unit time."""
    m = _positive_int("servers", servers)
    return m * batch_size / (t0 + t_tok * expected_batch_time_uniform(
        num_bins, batch_size, lo, hi))


def capacity_max_uniform(batch_size: int, lo: float, hi: float, *, servers: int = 1,
                         t0: float = 0.0, t_tok: float = 1.0) -> float:
    """``c_max = m B / (t0 + t_tok E[l])``, the limit of ``c_k`` as ``k`` grows."""
    m = _positive_int("servers", servers)
    b = _positive_int("batch size", batch_size)
    _interval(lo, hi)
    return m * b / (t0 + t_tok * (lo + hi) / 2)


def bins_needed(fraction: float, batch_size: int, lo: float, hi: float) -> int:
    """The fewest equal bins with ``c_k >= fraction * c_max`` (uniform lengths, ``t0 = 0``).

    ``k >= Delta (B - 1) f / ((B + 1)(l_max + l_min)(1 - f))``, the bound of B3 with
    ``eps = (1 - f) c_max``.
    """
    if not 0 < fraction < 1:
        raise BinsError(f"fraction of c_max must lie in (0, 1), got {fraction}")
    b = _positive_int("batch size", batch_size)
    delta = _interval(lo, hi)
    bound = delta * (b - 1) * fraction / ((b + 1) * (hi + lo) * (1 - fraction))
    return max(1, math.ceil(bound * (1 - 1e-12)))


def latency_law(num_bins: int, batch_size: int, rate: float, expected_batch_time: float
                ) -> float:
    """``E[T_k] + k (B - 1) / (2 lambda)``: service plus the wait for a bin to fill (B3)."""
    k = _positive_int("bins", num_bins)
    b = _positive_int("batch size", batch_size)
    if not rate > 0:
        raise BinsError(f"rate must be positive, got {rate}")
    return expected_batch_time + k * (b - 1) / (2 * rate)


def best_latency_bins(rate: float, batch_size: int, lo: float, hi: float) -> float:
    """``k* = sqrt(lambda Delta / (B + 1))``, where the latency law is smallest (uniform)."""
    b = _positive_int("batch size", batch_size)
    return math.sqrt(rate * _interval(lo, hi) / (b + 1))


# --------------------------------------------------------------------------- numerical integral
@functools.lru_cache(maxsize=1)
def _unit_nodes() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nodes ``u`` on (0, 1), their complements ``1 - u`` (no cancellation) and weights."""
    x, w = np.polynomial.legendre.leggauss(_GL_NODES)
    grade = [2.0**-j for j in range(1, 54)]
    breaks = np.unique(np.concatenate([[0.0, 1.0], grade, [1 - g for g in grade],
                                       np.arange(1, 64) / 64]))
    left, right = breaks[:-1], breaks[1:]
    width = (right - left)[:, None]
    u = (left[:, None] + width * (x + 1) / 2).ravel()
    one_minus_u = ((1 - right)[:, None] + width * (1 - x) / 2).ravel()
    weights = (width * w / 2).ravel()
    return u, one_minus_u, weights


@dataclasses.dataclass(frozen=True)
class BinTheory:
    """Per assigned bin: the share of requests and ``E[max of B true lengths]``."""

    share: np.ndarray
    expected_max: np.ndarray

    def expected_batch_time(self, t0: float = 0.0, t_tok: float = 1.0) -> float:
        """``sum_j pi_j (t0 + t_tok E_j)``: the mean batch time of a saturated run."""
        used = self.share > 0
        return float(np.sum(self.share[used] * (t0 + t_tok * self.expected_max[used])))


def _posterior(probs: np.ndarray, confusion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    share = probs @ confusion
    with np.errstate(invalid="ignore", divide="ignore"):
        omega = np.where(share > 0, probs[:, None] * confusion / share, 0.0)
    return share, omega


def _expected_max(lengths: LengthModel, cum: np.ndarray, batch_size: int,
                  confusion: np.ndarray) -> BinTheory:
    """``E_j`` for bins cut at probabilities ``cum`` (``cum[0] = 0``, ``cum[-1] = 1``)."""
    b = batch_size
    probs = np.diff(cum)
    share, omega = _posterior(probs, confusion)
    k = len(probs)
    expected = np.full(k, np.nan)
    if isinstance(lengths, Empirical):
        x, atom_p = lengths.atoms()
        c_atoms = np.cumsum(atom_p)
        c_atoms[-1] = 1.0
        lower = cum[:-1, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            f_src = np.where(probs[:, None] > 0,
                             np.clip((c_atoms[None, :] - lower) / probs[:, None], 0, 1), 1.0)
        for j in np.flatnonzero(share > 0):
            g = np.clip(omega[:, j] @ f_src, 0, 1)
            h = g**b
            expected[j] = float(x @ np.diff(np.concatenate([[0.0], h])))
        return BinTheory(share, expected)
    u, one_minus_u, weights = _unit_nodes()
    quantiles = []
    for s in range(k):
        p = cum[s] + u * probs[s]
        q = (1 - cum[s + 1]) + one_minus_u * probs[s]
        low = p < 0.5
        vals = np.empty_like(u)
        vals[low] = lengths.ppf(p[low])
        vals[~low] = lengths.isf(q[~low])
        quantiles.append(vals)
    for j in np.flatnonzero(share > 0):
        total = 0.0
        c = 0.0
        for s in range(k):
            w = omega[s, j]
            if w > 0:
                total += float(np.sum(weights * quantiles[s] * b * (c + w * u) ** (b - 1) * w))
            c += w
        expected[j] = total
    return BinTheory(share, expected)


def _confusion(num_bins: int, confusion: np.ndarray | None) -> np.ndarray:
    if confusion is None:
        return np.eye(num_bins)
    c = np.asarray(confusion, dtype=np.float64)
    if c.shape != (num_bins, num_bins):
        raise BinsError(f"confusion matrix has shape {c.shape}, expected ({num_bins}, {num_bins})")
    return c


def bin_batch_times(lengths: LengthModel, edges: np.ndarray, batch_size: int,
                    confusion: np.ndarray | None = None) -> BinTheory:
    """Share and ``E[max of B]`` of every bin cut at ``edges`` (module docstring).

    ``confusion`` (default: the identity, oracle lengths) is the predictor's matrix.
    """
    b = _positive_int("batch size", batch_size)
    edges = np.asarray(edges, dtype=np.float64)
    k = len(edges) - 1
    inner = lengths.prob_below(edges[1:-1]) if k > 1 else np.empty(0)
    cum = np.concatenate([[0.0], np.asarray(inner, dtype=np.float64), [1.0]])
    return _expected_max(lengths, cum, b, _confusion(k, confusion))


def expected_batch_time_equal_mass(lengths: LengthModel, num_bins: int, batch_size: int
                                   ) -> float:
    """The spec's integral: ``E[T_k]`` with equal-mass bins ``F^-1(i/k)``, oracle lengths."""
    k = _positive_int("bins", num_bins)
    b = _positive_int("batch size", batch_size)
    if isinstance(lengths, Empirical):
        return bin_batch_times(lengths, bin_edges(lengths, k), b).expected_batch_time()
    cum = np.arange(k + 1) / k
    return _expected_max(lengths, cum, b, np.eye(k)).expected_batch_time()


def theory_capacity(lengths: LengthModel, edges: np.ndarray, batch_size: int, *,
                    servers: int = 1, t0: float = 0.0, t_tok: float = 1.0,
                    confusion: np.ndarray | None = None) -> float:
    """Saturated capacity ``m B / sum_j pi_j (t0 + t_tok E_j)`` in requests per unit time."""
    m = _positive_int("servers", servers)
    theory = bin_batch_times(lengths, edges, batch_size, confusion)
    return m * batch_size / theory.expected_batch_time(t0, t_tok)
