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

__all__ = [
    "Bound",
    "best_bound",
    "certified_dual_bound",
    "lp_bound",
    "sum_of_outputs_bound",
    "volume_bound",
]


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


def _srpt_completions(release: np.ndarray, work: np.ndarray) -> np.ndarray:
    """Sorted completion times of preemptive shortest-remaining-work-first on one unit-speed
    machine (event-driven, O(n log n))."""
    import heapq

    order = np.argsort(release, kind="stable").tolist()
    rel = release.tolist()
    wk = work.tolist()
    out: list[float] = []
    heap: list[tuple[float, int]] = []
    t, idx, n = 0.0, 0, len(order)
    while idx < n or heap:
        if not heap:
            t = max(t, rel[order[idx]])
        while idx < n and rel[order[idx]] <= t:
            j = order[idx]
            heapq.heappush(heap, (wk[j], j))
            idx += 1
        remaining, j = heapq.heappop(heap)
        next_release = rel[order[idx]] if idx < n else math.inf
        if t + remaining <= next_release:
            t += remaining
            out.append(t)
        else:
            heapq.heappush(heap, (remaining - (next_release - t), j))
            t = next_release
    return np.array(out)


def volume_bound(instance: Instance) -> Bound:
    r"""Memory volume with order statistics: cheap at any scale.

    Request :math:`i` holds :math:`s_i + j` tokens in the :math:`j`-th round of its run, a
    volume :math:`V_i = o_i s_i + o_i (o_i + 1) / 2` token-rounds, all of it in rounds after
    :math:`a_i`, at most :math:`M` per round. Read round :math:`r` as the time interval
    :math:`(r-1, r]` processing each running request at the rate of the tokens it holds: any
    schedule becomes a preemptive schedule of jobs with release :math:`a_i` and work
    :math:`V_i / M` on one unit-speed machine that completes request :math:`i` by :math:`c_i`.
    Shortest remaining work first completes, by every time, at least as many jobs as any
    preemptive schedule (Schrage, 1968), so the :math:`k`-th smallest :math:`c` is at least the
    :math:`k`-th SRPT completion :math:`C_{(k)}`. The :math:`k` requests completing first also
    each complete no earlier than :math:`a + o`, so :math:`c_{(k)} \ge e_{(k)}`, the
    :math:`k`-th smallest :math:`a_i + o_i`. Rounds are integers, hence
    :math:`\sum_i (c_i - a_i) \ge \sum_k \max(\lceil C_{(k)} \rceil, e_{(k)}) - \sum_i a_i`.
    """
    t0 = time.perf_counter()
    if instance.num_requests == 0:
        return Bound(0, "memory volume (SRPT order statistics)", 0.0)
    a = instance.arrival.astype(np.float64)
    s = instance.prompt.astype(np.float64)
    o = instance.output.astype(np.float64)
    work = (o * s + o * (o + 1) / 2) / instance.memory
    fluid = np.ceil(_srpt_completions(a, work) - 1e-9).astype(np.int64)
    earliest = np.sort(instance.arrival + instance.output)
    value = int(np.maximum(fluid, earliest).sum() - instance.arrival.sum())
    return Bound(value, "memory volume (SRPT order statistics)", time.perf_counter() - t0)


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
    return Bound(math.ceil(value - 1e-6), "LP relaxation (dual-certified)",
                 time.perf_counter() - t0)


def best_bound(instance: Instance, *, upper_bound: float | None = None,
               time_limit_s: float | None = None, use_lp: bool = True) -> Bound:
    """The largest of the bounds above (the LP one only with ``use_lp`` and if it finishes in
    ``time_limit_s``; the LP has one column per request and start round, too many for traces of
    thousands of requests)."""
    t0 = time.perf_counter()
    best = max(sum_of_outputs_bound(instance), volume_bound(instance), key=lambda b: b.value)
    if instance.num_requests and use_lp:
        lp = lp_bound(instance, upper_bound=upper_bound, time_limit_s=time_limit_s)
        if lp is not None and lp.value > best.value:
            best = lp
    return dataclasses.replace(best, runtime_s=time.perf_counter() - t0)
