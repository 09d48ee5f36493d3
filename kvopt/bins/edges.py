r"""Bin edges and bin predictors for Multi-Bin Batching (spec Part B, B2 and B6).

**Edges.** ``k`` bins are cut by ``k + 1`` edges ``l_0 < l_1 < ... < l_k``; a request whose
predicted length is ``x`` goes to bin ``i`` (0-based) when ``l_i <= x < l_(i+1)``, and lengths
outside ``[l_0, l_k)`` go to the nearest end bin. Kinds:

- ``equal_mass`` (default): ``l_i = F^-1(i/k)``, equal shares of requests (for uniform lengths
  this is also the optimal equal-width split, Lemma 4.1);
- ``equal_width``: ``l_i = l_min + i (l_max - l_min) / k``;
- ``log``: geometric, ``l_i = l_min (l_max / l_min)^(i/k)``.

For an unbounded distribution ``equal_width`` and ``log`` use ``l_max = F^-1(1 - 1e-4)`` and the
top bin takes everything above it; ``log`` needs ``l_min > 0`` (``F^-1(1e-4)`` when the support
starts at 0).

**Predictors** turn each request's true bin into the bin it is assigned to:

- :class:`Oracle`: the true bin (predicted length = true length);
- :class:`SymmetricError` (Fig. 8): with probability ``p_e`` a neighbouring bin, left or right
  with equal chance, clamped at the ends (so an end bin keeps half of its errors); option
  ``uniform_other``: a bin drawn uniformly from the other ``k - 1``;
- :class:`ConfusionMatrix`: row ``i`` is the distribution of the assigned bin given true bin
  ``i``; :func:`table1_confusion` builds the spec's default from the paper's Table 1 (exact-bin
  accuracy on the diagonal, the rest of the within-one-bin accuracy split evenly over the
  neighbours that exist, the remainder spread evenly over the bins two or more away).

Every predictor also states its confusion matrix (:meth:`confusion`), which the theory uses.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Protocol, runtime_checkable

import numpy as np

from kvopt.bins.errors import BinsError
from kvopt.bins.lengths import LengthModel

__all__ = [
    "EDGE_KINDS",
    "TABLE1",
    "ConfusionMatrix",
    "Oracle",
    "Predictor",
    "SymmetricError",
    "assign_bins",
    "bin_edges",
    "table1_confusion",
]

EDGE_KINDS = ("equal_mass", "equal_width", "log")
_TAIL = 1e-4

#: App. C.1, Table 1 (BERT classifier on LMSYS-Chat-1M): k -> (exact-bin, within-one-bin)
TABLE1: dict[int, tuple[float, float]] = {2: (0.8614, 1.0), 4: (0.6297, 0.9591),
                                          8: (0.4229, 0.7942)}


def _check_k(num_bins: int) -> int:
    if isinstance(num_bins, bool) or not isinstance(num_bins, (int, np.integer)) or num_bins < 1:
        raise BinsError(f"bins must be a positive integer, got {num_bins!r}")
    return int(num_bins)


def bin_edges(lengths: LengthModel, num_bins: int, kind: str = "equal_mass") -> np.ndarray:
    """The ``num_bins + 1`` edges of ``kind`` for the distribution ``lengths`` (float64).

    Raises
    ------
    BinsError
        On an unknown kind, or ``log`` edges over lengths that can be 0.
    """
    k = _check_k(num_bins)
    lo, hi = lengths.support
    if kind == "equal_mass":
        inner = lengths.ppf(np.arange(1, k) / k) if k > 1 else np.empty(0)
        return np.concatenate([[lo], np.asarray(inner, dtype=np.float64), [hi]])
    if kind not in EDGE_KINDS:
        raise BinsError(f"unknown edge kind {kind!r}; expected one of {', '.join(EDGE_KINDS)}")
    top = hi if math.isfinite(hi) else float(lengths.isf(_TAIL))
    i = np.arange(k + 1) / k
    if kind == "equal_width":
        edges = lo + i * (top - lo)
    else:
        bottom = lo if lo > 0 else float(lengths.ppf(_TAIL))
        if not bottom > 0:
            raise BinsError(f"log edges need positive lengths; {lengths.name} starts at {lo}")
        edges = bottom * (top / bottom) ** i
        edges[0] = lo
    edges[-1] = hi
    return edges


def assign_bins(predicted: Any, edges: np.ndarray) -> np.ndarray:
    """Bin of every predicted length: ``i`` with ``edges[i] <= x < edges[i+1]``, clamped."""
    inner = np.asarray(edges, dtype=np.float64)[1:-1]
    return np.searchsorted(inner, np.asarray(predicted, dtype=np.float64), side="right"
                           ).astype(np.int64)


@runtime_checkable
class Predictor(Protocol):
    """Maps true bins to assigned bins; states its confusion matrix for the theory."""

    @property
    def name(self) -> str: ...

    def assign(self, true_bins: np.ndarray, num_bins: int, rng: np.random.Generator
               ) -> np.ndarray: ...

    def confusion(self, num_bins: int) -> np.ndarray: ...


@dataclasses.dataclass(frozen=True)
class Oracle:
    """Predicted length = true length: every request lands in its true bin."""

    name: str = "oracle"

    def assign(self, true_bins: np.ndarray, num_bins: int, rng: np.random.Generator
               ) -> np.ndarray:
        return np.asarray(true_bins, dtype=np.int64).copy()

    def confusion(self, num_bins: int) -> np.ndarray:
        return np.eye(_check_k(num_bins))


@dataclasses.dataclass(frozen=True)
class SymmetricError:
    """With probability ``p_e`` a request goes to a wrong bin (module docstring)."""

    p_e: float
    mode: str = "neighbour"

    def __post_init__(self) -> None:
        if not (isinstance(self.p_e, (int, float)) and 0 <= self.p_e <= 1):
            raise BinsError(f"assign-error probability must lie in [0, 1], got {self.p_e!r}")
        if self.mode not in ("neighbour", "uniform_other"):
            raise BinsError(f"unknown error mode {self.mode!r}; expected neighbour or "
                            "uniform_other")

    @property
    def name(self) -> str:
        return f"error-{self.mode}-{self.p_e:g}"

    def assign(self, true_bins: np.ndarray, num_bins: int, rng: np.random.Generator
               ) -> np.ndarray:
        k = _check_k(num_bins)
        bins = np.asarray(true_bins, dtype=np.int64)
        wrong = rng.random(len(bins)) < self.p_e
        if self.mode == "neighbour":
            step = np.where(rng.random(len(bins)) < 0.5, -1, 1)
            return np.where(wrong, np.clip(bins + step, 0, k - 1), bins)
        if k == 1:
            return bins.copy()
        other = rng.integers(0, k - 1, size=len(bins))
        other += other >= bins          # skip the true bin
        return np.where(wrong, other, bins)

    def confusion(self, num_bins: int) -> np.ndarray:
        k = _check_k(num_bins)
        if k == 1:
            return np.ones((1, 1))
        if self.mode == "uniform_other":
            c = np.full((k, k), self.p_e / (k - 1))
            np.fill_diagonal(c, 1 - self.p_e)
            return c
        c = np.zeros((k, k))
        for i in range(k):
            c[i, i] += 1 - self.p_e
            c[i, max(i - 1, 0)] += self.p_e / 2
            c[i, min(i + 1, k - 1)] += self.p_e / 2
        return c


def table1_confusion(num_bins: int, table: dict[int, tuple[float, float]] | None = None
                     ) -> np.ndarray:
    """The spec's default confusion matrix from Table 1 (module docstring), ``k`` in 2, 4, 8.

    Raises
    ------
    BinsError
        When Table 1 has no row for ``num_bins``.
    """
    table = TABLE1 if table is None else table
    k = _check_k(num_bins)
    if k not in table:
        raise BinsError(f"Table 1 gives accuracies for k in {sorted(table)} only, got k = {k}")
    exact, within_one = table[k]
    c = np.zeros((k, k))
    for i in range(k):
        neighbours = [j for j in (i - 1, i + 1) if 0 <= j < k]
        far = [j for j in range(k) if abs(j - i) >= 2]
        c[i, i] = exact
        near_share = within_one - exact if far else 1 - exact
        for j in neighbours:
            c[i, j] = near_share / len(neighbours)
        for j in far:
            c[i, j] = (1 - within_one) / len(far)
    return c


@dataclasses.dataclass(frozen=True, eq=False)
class ConfusionMatrix:
    """Assigned bin drawn from row ``true bin`` of ``matrix`` (rows sum to 1)."""

    matrix: np.ndarray
    name: str = "confusion"

    def __post_init__(self) -> None:
        m = np.array(self.matrix, dtype=np.float64)
        if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] < 1:
            raise BinsError(f"confusion matrix must be square, got shape {m.shape}")
        if np.any(m < 0) or not np.allclose(m.sum(axis=1), 1.0, atol=1e-9):
            raise BinsError("confusion matrix rows must be probabilities summing to 1")
        m.flags.writeable = False
        object.__setattr__(self, "matrix", m)

    @classmethod
    def table1(cls, num_bins: int) -> ConfusionMatrix:
        """The Table-1 predictor for ``num_bins`` in 2, 4, 8."""
        return cls(table1_confusion(num_bins), name=f"table1-k{num_bins}")

    def assign(self, true_bins: np.ndarray, num_bins: int, rng: np.random.Generator
               ) -> np.ndarray:
        k = self.confusion(num_bins).shape[0]
        bins = np.asarray(true_bins, dtype=np.int64)
        cum = np.cumsum(self.matrix, axis=1)
        cum[:, -1] = 1.0
        u = rng.random(len(bins))
        return np.minimum((u[:, None] >= cum[bins]).sum(axis=1), k - 1).astype(np.int64)

    def confusion(self, num_bins: int) -> np.ndarray:
        if self.matrix.shape[0] != num_bins:
            raise BinsError(f"confusion matrix has {self.matrix.shape[0]} bins, the run has "
                            f"{num_bins}")
        return self.matrix
