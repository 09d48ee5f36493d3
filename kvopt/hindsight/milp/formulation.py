r"""The hindsight integer program of ``specs/kv-scheduling.md`` section 3.

Symbols: request :math:`i` arrives at :math:`a_i`, has prompt :math:`s_i` and output :math:`o_i`;
memory :math:`M`. Binary :math:`x_{i,k} = 1` iff request :math:`i` starts at round :math:`k`,
for :math:`k \in K_i = \{a_i, \dots, a_i + W_i\}` (the start window, see
:func:`~kvopt.hindsight.windows.start_windows`).

.. math::

    \min \sum_i \sum_{k \in K_i} (k + o_i - a_i)\, x_{i,k}
    \quad\text{s.t.}\quad \sum_{k \in K_i} x_{i,k} = 1 \;\forall i, \qquad
    \sum_i \sum_{k \in K_i,\; t - o_i \le k \le t - 1} (s_i + t - k)\, x_{i,k} \le M \;\forall t.

Every reduction below keeps the optimum exact; each function's docstring gives the argument.
"""

from __future__ import annotations

import numpy as np

from kvopt.exceptions import KvoptError
from kvopt.hindsight.milp.model import MilpModel
from kvopt.hindsight.windows import identical_groups, start_windows
from kvopt.instance import Instance

__all__ = ["MAX_NONZEROS", "ModelTooLargeError", "build", "count_nonzeros", "kv_capacity_entries"]

#: models with more nonzeros are refused (about 100 bytes each while building: 2 GB)
MAX_NONZEROS = 20_000_000


class ModelTooLargeError(KvoptError):
    """The integer program would not fit in memory."""


def count_nonzeros(instance: Instance, upper_bound: float | None) -> int:
    """Nonzeros of :func:`build`'s matrix before redundant rows are dropped: per start column,
    one assignment entry and one KV entry per round of the run."""
    widths = start_windows(instance, upper_bound) - instance.arrival + 1
    return int((widths * (instance.output + 1)).sum())


def _start_columns(instance: Instance, last_start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Columns ``(col_req, col_start)``: request-major, start rounds ascending."""
    widths = last_start - instance.arrival + 1
    col_req = np.repeat(np.arange(instance.num_requests, dtype=np.int64), widths)
    first = np.repeat(np.cumsum(widths) - widths, widths)
    col_start = instance.arrival[col_req] + (np.arange(len(col_req)) - first)
    return col_req, col_start


def kv_capacity_entries(instance: Instance, col_req: np.ndarray, col_start: np.ndarray):
    r"""Nonzeros of the KV-capacity rows: one row per round :math:`t`.

    Started at :math:`k`, request :math:`i` holds :math:`s_i + t - k` tokens at
    :math:`t = k+1, \dots, k+o_i`, which gives coefficient :math:`s_i + t - k` of
    :math:`x_{i,k}` in the row of round :math:`t`. Returns ``(round, col, coef)`` triples.
    """
    o = instance.output[col_req]
    cols = np.repeat(np.arange(len(col_req), dtype=np.int64), o)
    first = np.repeat(np.cumsum(o) - o, o)
    j = np.arange(len(cols), dtype=np.int64) - first + 1  # 1 .. o_i
    rounds = col_start[cols] + j
    coef = instance.prompt[col_req[cols]] + j
    return rounds, cols, coef


def _redundant_rounds(instance: Instance, rounds: np.ndarray, cols: np.ndarray,
                      coef: np.ndarray, col_req: np.ndarray) -> np.ndarray:
    r"""Rounds whose capacity row can never bind.

    Since :math:`\sum_k x_{i,k} = 1`, request :math:`i` contributes at most
    :math:`\max_k` of its coefficients to the row of round :math:`t`. If the sum of these
    maxima is at most :math:`M` the row holds for every 0/1 point satisfying the assignment rows,
    so dropping it changes no integer solution.
    """
    n = instance.num_requests
    horizon = int(rounds.max()) + 1 if len(rounds) else 1
    key = rounds * n + col_req[cols]
    best = np.zeros(horizon * n, dtype=np.int64)
    np.maximum.at(best, key, coef)
    per_round = best.reshape(horizon, n).sum(axis=1)
    return per_round <= instance.memory


def build(instance: Instance, *, upper_bound: float | None = None,
          symmetry: bool = True) -> MilpModel:
    r"""The integer program as a :class:`MilpModel`.

    Raises :class:`ModelTooLargeError` (one line) above :data:`MAX_NONZEROS` nonzeros.

    Rows, in order: one assignment row per request (:math:`\sum_k x_{i,k} = 1`); the symmetry
    rows; one KV-capacity row per round that can bind (see :func:`_redundant_rounds`).

    Symmetry breaking (``symmetry=True``): for requests :math:`i < j` with identical
    :math:`(a, s, o)`, :math:`\sum_k k\,x_{i,k} \le \sum_k k\,x_{j,k}`. Exchanging the start rounds
    of two identical requests changes neither the memory held in any round nor the objective, so
    every schedule has a twin of equal cost with identical requests started in position order.

    Parameters
    ----------
    upper_bound
        Total latency of a known feasible schedule (e.g. MC-SF's): narrows the start windows
        (:func:`~kvopt.hindsight.windows.start_windows`).
    """
    n = instance.num_requests
    size = count_nonzeros(instance, upper_bound)
    if size > MAX_NONZEROS:
        raise ModelTooLargeError(
            f"{instance.name or 'instance'}: the integer program would have {size:,} nonzeros "
            f"(limit {MAX_NONZEROS:,}); use the bounds of `kvopt bound`, which scale")
    last_start = start_windows(instance, upper_bound)
    col_req, col_start = _start_columns(instance, last_start)
    ncols = len(col_req)
    cost = (col_start - instance.arrival[col_req]).astype(np.float64)  # wait k - a_i
    offset = float(instance.output.sum())                            # + sum_i o_i

    row_cols: list[np.ndarray] = []
    row_vals: list[np.ndarray] = []
    lower: list[float] = []
    upper: list[float] = []
    names: list[str] = []
    col_ptr = np.concatenate([[0], np.cumsum(last_start - instance.arrival + 1)])
    for i in range(n):
        row_cols.append(np.arange(col_ptr[i], col_ptr[i + 1], dtype=np.int64))
        row_vals.append(np.ones(col_ptr[i + 1] - col_ptr[i]))
        lower.append(1.0)
        upper.append(1.0)
        names.append(f"assign_{i}")
    if symmetry:
        for group in identical_groups(instance):
            for i, j in zip(group[:-1].tolist(), group[1:].tolist(), strict=False):
                ci = np.arange(col_ptr[i], col_ptr[i + 1], dtype=np.int64)
                cj = np.arange(col_ptr[j], col_ptr[j + 1], dtype=np.int64)
                row_cols.append(np.concatenate([ci, cj]))
                row_vals.append(np.concatenate([col_start[ci], -col_start[cj]]).astype(np.float64))
                lower.append(-np.inf)
                upper.append(0.0)
                names.append(f"order_{i}_{j}")

    rounds, cols, coef = kv_capacity_entries(instance, col_req, col_start)
    if len(rounds):
        redundant = _redundant_rounds(instance, rounds, cols, coef, col_req)
        keep = ~redundant[rounds]
        rounds, cols, coef = rounds[keep], cols[keep], coef[keep]
        order = np.lexsort((cols, rounds))
        rounds, cols, coef = rounds[order], cols[order], coef[order]
        binding, starts = np.unique(rounds, return_index=True)
        ends = np.append(starts[1:], len(rounds))
        for t, lo, hi in zip(binding.tolist(), starts.tolist(), ends.tolist(), strict=False):
            row_cols.append(cols[lo:hi])
            row_vals.append(coef[lo:hi].astype(np.float64))
            lower.append(-np.inf)
            upper.append(float(instance.memory))
            names.append(f"kv_{t}")

    lengths = np.array([len(c) for c in row_cols], dtype=np.int64)
    row_ptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return MilpModel(
        cost=cost,
        offset=offset,
        col_lower=np.zeros(ncols),
        col_upper=np.ones(ncols),
        integrality=np.ones(ncols, dtype=bool),
        row_ptr=row_ptr,
        col_idx=np.concatenate(row_cols) if row_cols else np.zeros(0, dtype=np.int64),
        values=np.concatenate(row_vals) if row_vals else np.zeros(0),
        row_lower=np.array(lower),
        row_upper=np.array(upper),
        row_names=tuple(names),
        col_req=col_req,
        col_start=col_start,
    )
