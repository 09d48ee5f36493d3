r"""The LP bound's certificate: weak duality recomputed in numpy, the Lagrangian bound, and the
fixing it licenses.

The LP bound is *certified*: it is not the solver's reported objective but a value recomputed in
numpy from the solver's dual vector by weak duality, which is valid for any dual vector with the
right signs, so solver tolerances cannot make it exceed the LP optimum by more than the rounding
guard of ``1e-6``. Rows are ``(columns, coefficients, upper side)`` triples, valid in every
schedule (the cut rows of :mod:`kvopt.hindsight.bounds.cuts` and
:mod:`kvopt.hindsight.bounds.deadline`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from kvopt.hindsight.milp.model import MilpModel

__all__ = ["LpCertificate", "Row", "certified_dual_bound", "lagrangian_bound", "lagrangian_parts",
           "reduced_cost_fixing", "with_rows"]

#: a row ``sum(coefficients * x[columns]) <= upper`` over a model's columns
Row = tuple[np.ndarray, np.ndarray, float]


@dataclasses.dataclass(frozen=True, eq=False)
class LpCertificate:
    """The dual vector behind an LP bound: ``row_dual`` over the integer program's rows followed
    by the cut ``rows`` (each ``(cols, values, upper)``, valid in every schedule) that LP held."""

    rows: list[Row]
    row_dual: np.ndarray


def certified_dual_bound(model: MilpModel, row_dual: np.ndarray, *,
                         with_reduced_costs: bool = False):
    r"""Weak duality for ``min c x + offset`` s.t. ``l <= A x <= u``, ``0 <= x <= 1``.

    For any :math:`y` with :math:`y_r \ge 0` on rows with only a finite lower side,
    :math:`y_r \le 0` on rows with only a finite upper side (and free on equality rows), and
    every feasible :math:`x`:
    :math:`c x = y^T A x + (c - A^T y) x \ge \sum_r y_r \beta_r + \sum_j \min(0, c_j - (A^T y)_j)`,
    where :math:`\beta_r` is the side :math:`y_r` multiplies (:math:`y^T A x \ge \sum_r y_r \beta_r`
    by the sign rule) and :math:`x_j \in [0, 1]` bounds the last term. Signs the rule forbids are
    set to 0, which keeps the inequality valid for any input vector. With
    ``with_reduced_costs`` also returns :math:`c - A^T y` (after that sign rule), per column.
    """
    y = np.asarray(row_dual, dtype=np.float64).copy()
    lo, hi = model.row_lower, model.row_upper
    eq = lo == hi
    lower_only = np.isfinite(lo) & ~np.isfinite(hi)
    upper_only = ~np.isfinite(lo) & np.isfinite(hi)
    y[lower_only & (y < 0)] = 0.0
    y[upper_only & (y > 0)] = 0.0
    y[~(eq | lower_only | upper_only)] = 0.0  # ranged rows: not used by the formulation
    side = np.where(y > 0, lo, hi)
    side = np.where(eq, lo, side)
    rhs_term = float(np.dot(y[y != 0], side[y != 0]))
    # A^T y from the CSR rows
    row_of = np.repeat(np.arange(model.num_rows), np.diff(model.row_ptr))
    aty = np.bincount(model.col_idx, weights=model.values * y[row_of], minlength=model.num_cols)
    reduced = model.cost - aty
    col_term = float(np.minimum(0.0, reduced) @ model.col_upper
                     + np.maximum(0.0, reduced) @ model.col_lower)
    if with_reduced_costs:
        return rhs_term + col_term + model.offset, reduced
    return rhs_term + col_term + model.offset


def lagrangian_bound(model: MilpModel, row_dual: np.ndarray) -> float:
    r"""The Lagrangian dual function at the multipliers ``row_dual`` of every row but the
    assignment rows, which stay in the subproblem.

    For multipliers :math:`\lambda` on the other rows (signs as in
    :func:`certified_dual_bound`), every point of the LP relaxation, integral or not, has
    :math:`c x \ge \lambda^T \beta + \sum_i \min_{k} (c - A^T \lambda)_{i,k}`: the
    first term as there, and each request's columns carry a convex combination (its assignment
    row sums them to 1, each in :math:`[0, 1]`), whose cost is at least its cheapest column's.
    So this is a lower bound on the LP optimum, hence on the optimum. It is at least
    :func:`certified_dual_bound` at the same vector: there, request :math:`i`'s part is
    :math:`\mu_i + \sum_k \min(0, r_{i,k} - \mu_i) \le \min(\mu_i, \min_k r_{i,k})`, with
    :math:`\mu_i` its assignment dual and :math:`r` the reduced costs without it. They differ
    when the vector is not optimal for the whole model (a time limit, or columns not yet
    priced in). Falls back to :func:`certified_dual_bound` if the first rows are not the
    assignment rows of :func:`kvopt.hindsight.milp.formulation.build` over ``[0, 1]`` columns.
    """
    parts = lagrangian_parts(model, row_dual)
    return certified_dual_bound(model, row_dual) if parts is None else parts[0]


def lagrangian_parts(model: MilpModel, row_dual: np.ndarray,
                      allowed: np.ndarray | None = None):
    """``(value, slack)`` of :func:`lagrangian_bound`, ``slack`` per column: its reduced cost
    above its request's cheapest column; ``None`` where that function falls back.

    With ``allowed`` (a mask over the columns, those outside it fixed at 0), each request's
    subproblem chooses among its allowed columns only: the same bound over the schedules that
    use allowed columns (:func:`kvopt.hindsight.probing.probe_fixing`).
    """
    n = int(model.col_req.max()) + 1 if model.num_cols else 0
    upper = model.col_upper if allowed is None else model.col_upper[allowed]
    if (n == 0 or model.num_rows < n
            or not all(name.startswith("assign_") for name in model.row_names[:n])
            or (model.col_lower != 0).any() or (upper != 1).any()):
        return None
    y = np.asarray(row_dual, dtype=np.float64).copy()
    y[:n] = 0.0   # the assignment rows stay in the subproblem
    value, reduced = certified_dual_bound(model, y, with_reduced_costs=True)
    # with y = 0 there, the certificate charges each column's negative reduced cost (over the
    # columns not fixed at 0); replace that charge by each request's cheapest allowed column
    charged = np.minimum(0.0, reduced)
    if allowed is not None:
        charged = charged[model.col_upper > 0]
    cheapest = np.full(n, np.inf)
    np.minimum.at(cheapest, model.col_req,
                  reduced if allowed is None else np.where(allowed, reduced, np.inf))
    value = value - float(charged.sum()) + float(cheapest.sum())
    return value, reduced - cheapest[model.col_req]


def reduced_cost_fixing(model: MilpModel, certificate: LpCertificate, upper_bound: float,
                        keep: np.ndarray | None = None) -> MilpModel:
    r"""``model`` with the certificate's cut rows appended and, fixed at 0, every column that
    lies in no schedule of total latency below ``upper_bound`` (except those ``keep`` marks,
    e.g. the incumbent's, so it stays feasible).

    Valid: at the certificate's multipliers :math:`\lambda` (assignment rows kept, as in
    :func:`lagrangian_bound`, value :math:`L`), a schedule :math:`x` satisfies every row, so
    :math:`c x \ge \lambda^T \beta + \sum_i r_{i,k_i} = L + \sum_i \sigma_{i,k_i}`, where
    :math:`\sigma_{i,k} = r_{i,k} - \min_{k'} r_{i,k'} \ge 0`. A schedule using column
    :math:`(i, k)` therefore costs at least :math:`L + \sigma_{i,k}`; when that exceeds
    :math:`U - 1` (a guard of ``1e-6`` against rounding), its integral cost is at least
    :math:`U`: it is no better than the schedule of cost :math:`U`. So the restricted program,
    which keeps that schedule's columns, has the same optimum as ``model``, and any bound on it
    bounds the optimum. The appended rows hold in every schedule (they are valid cuts).
    """
    extended = with_rows(model, certificate.rows)
    parts = lagrangian_parts(extended, certificate.row_dual)
    if parts is None:
        return extended
    value, slack = parts
    fixed = value + slack - 1e-6 > upper_bound - 1
    if keep is not None:
        fixed &= ~(np.asarray(keep) > 0.5)
    upper = extended.col_upper.copy()
    upper[fixed] = 0.0
    return dataclasses.replace(extended, col_upper=upper)


def with_rows(model: MilpModel, rows: list[Row]) -> MilpModel:
    """``model`` with extra ``<=`` rows appended."""
    if not rows:
        return model
    lengths = np.array([len(c) for c, _, _ in rows], dtype=np.int64)
    return dataclasses.replace(
        model,
        row_ptr=np.concatenate([model.row_ptr, model.row_ptr[-1] + np.cumsum(lengths)]),
        col_idx=np.concatenate([model.col_idx] + [c for c, _, _ in rows]),
        values=np.concatenate([model.values] + [v for _, v, _ in rows]),
        row_lower=np.concatenate([model.row_lower, np.full(len(rows), -np.inf)]),
        row_upper=np.concatenate([model.row_upper, [u for _, _, u in rows]]),
        row_names=model.row_names + tuple(f"cut_{j}" for j in range(len(rows))),
    )
