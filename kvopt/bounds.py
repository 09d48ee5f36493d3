r"""Certified lower bounds on the hindsight optimum (total latency, rounds).

Each bound is proved valid in its docstring and property-tested never to exceed the optimum
(``tests/test_bounds.py``). :func:`best_bound` returns the largest one with its name.

The LP bound is *certified*: it is not the solver's reported objective but a value recomputed in
numpy from the solver's dual vector by weak duality, which is valid for any dual vector with the
right signs, so solver tolerances cannot make it exceed the LP optimum by more than the rounding
guard below.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from kvopt.instance import Instance
from kvopt.milp.model import MilpModel

__all__ = ["Bound", "sum_of_outputs_bound", "lp_bound", "certified_dual_bound", "best_bound"]


@dataclasses.dataclass(frozen=True)
class Bound:
    """A proven lower bound ``value`` (integral: the objective is) from relaxation ``source``."""

    value: int
    source: str
    runtime_s: float

    def to_dict(self) -> dict:
        return {"bound": self.value, "source": self.source, "seconds": round(self.runtime_s, 6)}


def sum_of_outputs_bound(instance: Instance) -> Bound:
    r""":math:`\sum_i o_i`: request :math:`i` starts no earlier than :math:`a_i` and runs
    :math:`o_i` rounds, so its latency is at least :math:`o_i`."""
    return Bound(int(instance.output.sum()), "sum of outputs", 0.0)


def certified_dual_bound(model: MilpModel, row_dual: np.ndarray) -> float:
    r"""Weak duality for ``min c x + offset`` s.t. ``l <= A x <= u``, ``0 <= x <= 1``.

    For any :math:`y` with :math:`y_r \ge 0` on rows with only a finite lower side,
    :math:`y_r \le 0` on rows with only a finite upper side (and free on equality rows), and
    every feasible :math:`x`:
    :math:`c x = y^T A x + (c - A^T y) x \ge \sum_r y_r \beta_r + \sum_j \min(0, c_j - (A^T y)_j)`,
    where :math:`\beta_r` is the side :math:`y_r` multiplies (:math:`y^T A x \ge \sum_r y_r \beta_r`
    by the sign rule) and :math:`x_j \in [0, 1]` bounds the last term. Signs the rule forbids are
    set to 0, which keeps the inequality valid for any input vector.
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
    aty = np.zeros(model.num_cols)
    np.add.at(aty, model.col_idx, model.values * y[row_of])
    reduced = model.cost - aty
    col_term = float(np.minimum(0.0, reduced) @ model.col_upper + np.maximum(0.0, reduced) @ model.col_lower)
    return rhs_term + col_term + model.offset


def lp_bound(instance: Instance, model: MilpModel | None = None, *,
             upper_bound: float | None = None, time_limit_s: float | None = None) -> Bound | None:
    r"""The LP relaxation of the hindsight integer program, certified by weak duality.

    Valid: every schedule is a 0/1 point of the integer program (whose start windows keep every
    optimal schedule, see :func:`kvopt.milp.formulation.start_windows`), so the LP minimum is at
    most the optimum; :func:`certified_dual_bound` is at most the LP minimum; and the objective is
    integral, so the bound rounds up (after a guard of ``1e-6`` for floating-point sums).
    Returns ``None`` if the LP solver gives no dual vector in the time limit.
    """
    import highspy

    from kvopt.milp.backends.highs import to_highs
    from kvopt.milp.formulation import build

    t0 = time.perf_counter()
    if model is None:
        model = build(instance, upper_bound=upper_bound)
    h = to_highs(model)
    lp = h.getLp()
    lp.integrality_ = []
    relax = highspy.Highs()
    relax.setOptionValue("output_flag", False)
    relax.setOptionValue("solver", "simplex")
    if time_limit_s is not None:
        relax.setOptionValue("time_limit", float(time_limit_s))
    relax.passModel(lp)
    relax.run()
    sol = relax.getSolution()
    if not sol.dual_valid:
        return None
    value = certified_dual_bound(model, np.array(sol.row_dual))
    return Bound(int(math.ceil(value - 1e-6)), "LP relaxation (dual-certified)",
                 time.perf_counter() - t0)


def best_bound(instance: Instance, *, upper_bound: float | None = None,
               time_limit_s: float | None = None) -> Bound:
    """The largest of the bounds above (the LP one only if it finishes in ``time_limit_s``)."""
    t0 = time.perf_counter()
    best = sum_of_outputs_bound(instance)
    if instance.num_requests:
        lp = lp_bound(instance, upper_bound=upper_bound, time_limit_s=time_limit_s)
        if lp is not None and lp.value > best.value:
            best = lp
    return dataclasses.replace(best, runtime_s=time.perf_counter() - t0)
