r"""Certified lower bounds on the hindsight optimum (total latency, rounds).

Each bound is proved valid in its docstring and property-tested never to exceed the optimum
(``tests/hindsight/bounds/``). :func:`best_bound` returns the largest one with its name.

The LP bound is *certified*: it is not the solver's reported objective but a value recomputed in
numpy from the solver's dual vector by weak duality, which is valid for any dual vector with the
right signs, so solver tolerances cannot make it exceed the LP optimum by more than the rounding
guard below.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable

import numpy as np

from kvopt.hindsight.milp.model import MilpModel
from kvopt.instance import Instance

__all__ = [
    "KTH_SOURCE",
    "Bound",
    "DeadlineCuts",
    "LpCertificate",
    "best_bound",
    "certified_dual_bound",
    "column_conflicts",
    "completion_cap_rows",
    "conflict_clique_cuts",
    "core_bound",
    "core_clique_rows",
    "cpsat_available",
    "disjoint_cores",
    "headroom_bound",
    "headroom_cuts",
    "kth_completion_bound",
    "kth_completion_bounds",
    "lagrangian_bound",
    "lp_bound",
    "reduced_cost_fixing",
    "sorted_completion_bound",
    "strongest_core_set",
    "sum_of_outputs_bound",
    "volume_bound",
]


@dataclasses.dataclass(frozen=True, eq=False)
class LpCertificate:
    """The dual vector behind an LP bound: ``row_dual`` over the integer program's rows followed
    by the cut ``rows`` (each ``(cols, values, upper)``, valid in every schedule) that LP held."""

    rows: list
    row_dual: np.ndarray


@dataclasses.dataclass(frozen=True)
class Bound:
    """A proven lower bound ``value`` (integral: the objective is) from relaxation ``source``;
    an LP bound also carries its ``certificate`` (for :func:`reduced_cost_fixing`)."""

    value: int
    source: str
    runtime_s: float
    certificate: LpCertificate | None = dataclasses.field(default=None, compare=False, repr=False)

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


def _volumes(instance: Instance) -> np.ndarray:
    """:math:`V_i = o_i s_i + o_i (o_i + 1) / 2`, the token-rounds request :math:`i` holds."""
    s = instance.prompt.astype(np.int64)
    o = instance.output.astype(np.int64)
    return o * s + o * (o + 1) // 2


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
    value = _order_statistics_bound(instance.arrival, _volumes(instance) / instance.memory,
                                    instance.arrival + instance.output)
    value -= int(instance.arrival.sum())
    return Bound(value, "memory volume (SRPT order statistics)", time.perf_counter() - t0)


def _gap_capacity(gap: np.ndarray, memory: int) -> np.ndarray:
    r""":math:`F(g) = \sum_{d=0}^{g-1} \max(0, M - d)` (see :func:`headroom_bound`)."""
    d = np.minimum(np.asarray(gap, dtype=np.int64), memory + 1)
    return d * memory - d * (d - 1) // 2


def headroom_bound(instance: Instance) -> Bound:
    r"""Memory volume, less the headroom that running requests need to grow.

    *Headroom.* Let :math:`\delta_t = c_{next}(t) - t`, where :math:`c_{next}(t)` is the first
    completion round :math:`\ge t` (of any request). If some request runs in round :math:`t`,
    let :math:`c^*` be the first completion among the running ones: each of them runs in every
    round up to :math:`c^*` holding one more token per round, so
    :math:`M \ge \text{mem}(c^*) \ge \text{mem}(t) + (c^* - t)`, and
    :math:`c^* \ge c_{next}(t)`; if none runs, :math:`\text{mem}(t) = 0`. Hence
    :math:`\text{mem}(t) \le \max(0, M - \delta_t)`.

    *Order statistics.* Let :math:`c_{(1)} \le c_{(2)} \le \dots` be the completion rounds and
    :math:`c_{(0)} = \min_i a_i`. The :math:`k` requests completing first hold at least
    :math:`W_k`, the sum of the :math:`k` smallest volumes
    :math:`V_i = o_i s_i + o_i (o_i + 1) / 2`, all in rounds :math:`c_{(0)}+1 .. c_{(k)}`. In
    the :math:`g_j = c_{(j)} - c_{(j-1)}` rounds of the :math:`j`-th gap, :math:`\delta_t` takes
    the values :math:`g_j - 1, \dots, 0`, so the gap holds at most
    :math:`F(g_j) = \sum_{d=0}^{g_j-1} \max(0, M - d)`. :math:`F` is concave (its increments
    :math:`\max(0, M - g)` do not grow), so for a given :math:`L = \sum_{j \le k} g_j` the sum
    :math:`\sum_j F(g_j)` is largest when the gaps are balanced: :math:`G_k(L)`. Thus
    :math:`G_k(c_{(k)} - c_{(0)}) \ge W_k`, and :math:`c_{(k)} \ge c_{(0)} + L_k` with
    :math:`L_k` the least :math:`L` where :math:`G_k(L) \ge W_k` (:math:`G_k` grows with
    :math:`L`; :math:`L = k (M + 1)` always suffices since :math:`V_i \le F(M + 1)`).

    Each :math:`c_{(k)}` is also at least the :func:`volume_bound`'s order statistics, so the
    bound is :math:`\sum_k \max(c_{(0)} + L_k, \lceil C_{(k)} \rceil, e_{(k)}) - \sum_i a_i`,
    never below :func:`volume_bound`. It gains where completions are sparse (large requests,
    small :math:`M`); on a trace with :math:`M` in the thousands it adds nothing.
    """
    t0 = time.perf_counter()
    if instance.num_requests == 0:
        return Bound(0, "memory volume with growth headroom", 0.0)
    value = int(_headroom_order_statistics(instance).sum() - instance.arrival.sum())
    return Bound(value, "memory volume with growth headroom", time.perf_counter() - t0)


def _headroom_order_statistics(instance: Instance) -> np.ndarray:
    """The per-``k`` lower bounds on :math:`c_{(k)}` summed by :func:`headroom_bound`."""
    n = instance.num_requests
    memory = instance.memory
    volumes = _volumes(instance)
    need = np.cumsum(np.sort(volumes))      # W_k
    k = np.arange(1, n + 1, dtype=np.int64)
    lo = np.zeros(n, dtype=np.int64)
    hi = k * (memory + 1)
    while np.any(lo < hi):
        mid = (lo + hi) // 2
        q, r = mid // k, mid % k
        enough = (k - r) * _gap_capacity(q, memory) + r * _gap_capacity(q + 1, memory) >= need
        hi = np.where(enough, mid, hi)
        lo = np.where(enough, lo, mid + 1)
    headroom = int(instance.arrival.min()) + lo
    fluid = _order_statistics(instance.arrival, volumes / memory,
                              instance.arrival + instance.output)
    return np.maximum(fluid, headroom)


def _order_statistics_bound(release: np.ndarray, work: np.ndarray, earliest: np.ndarray) -> int:
    r""":math:`\sum_k \max(\lceil C_{(k)} \rceil, e_{(k)})`: a lower bound on the sum of the
    completion rounds of jobs that, in any schedule, occupy one unit-speed machine (preemption
    allowed) for ``work`` after ``release`` and complete no earlier than ``earliest``. Shortest
    remaining work first completes, by every time, at least as many jobs as any preemptive
    schedule (Schrage, 1968), so the :math:`k`-th smallest completion is at least its
    :math:`k`-th, :math:`C_{(k)}`, and at least the :math:`k`-th smallest ``earliest``."""
    return int(_order_statistics(release, work, earliest).sum())


def _order_statistics(release: np.ndarray, work: np.ndarray, earliest: np.ndarray) -> np.ndarray:
    """The per-``k`` lower bounds summed by :func:`_order_statistics_bound`, ascending."""
    if len(work) == 0:
        return np.zeros(0, dtype=np.int64)
    fluid = np.ceil(_srpt_completions(release.astype(np.float64), work.astype(np.float64))
                    - 1e-9).astype(np.int64)
    return np.maximum(fluid, np.sort(earliest))


def disjoint_cores(instance: Instance, members: np.ndarray) -> np.ndarray:
    r"""Core lengths :math:`p_j` of the requests ``members``: in every feasible schedule the
    *cores*, rounds :math:`c_j - p_j + 1, \dots, c_j` (the last :math:`p_j` rounds of each
    run), are pairwise disjoint.

    With :math:`P_i = s_i + o_i` (what :math:`i` holds in its last round) let
    :math:`D_{ij} = \min(o_j, \max(0, M - P_i - s_j))` and
    :math:`p_j = o_j - \max_{i \ne j} D_{ij}` over members :math:`i`.

    Proof. Take members :math:`i \ne j` with :math:`c_i \le c_j`. If :math:`k_j \ge c_i`, all of
    :math:`j`'s run, so its core, comes after round :math:`c_i`. Otherwise
    :math:`k_j < c_i \le c_j`: :math:`j` runs in round :math:`c_i`, holding
    :math:`s_j + (c_i - k_j)` next to :math:`i`'s :math:`P_i`, so
    :math:`1 \le c_i - k_j \le M - P_i - s_j`, and :math:`c_i - k_j \le o_j`: hence
    :math:`c_i - k_j \le D_{ij} \le o_j - p_j`, i.e. :math:`c_i \le c_j - p_j`, and :math:`j`'s
    core again starts after round :math:`c_i`, where :math:`i`'s core ends. :math:`\square`
    """
    members = np.asarray(members, dtype=np.int64)
    s = instance.prompt[members]
    o = instance.output[members]
    if len(members) < 2:
        return o.copy()
    peak = s + o
    overlap = np.clip(instance.memory - peak[:, None] - s[None, :], 0, o[None, :])
    np.fill_diagonal(overlap, 0)
    return o - overlap.max(axis=0)


def _core_set_bound(instance: Instance, members: np.ndarray) -> int:
    """Lower bound on the total latency of ``members`` alone: their cores on one machine
    (:func:`disjoint_cores`, :func:`_order_statistics_bound`); a request with an empty core
    counts its output."""
    a = instance.arrival[members]
    o = instance.output[members]
    p = disjoint_cores(instance, members)
    core = p > 0
    # the core of j cannot start before a_j + o_j - p_j; it ends at c_j >= a_j + o_j
    value = _order_statistics_bound(a[core] + o[core] - p[core], p[core], a[core] + o[core])
    return int(value + (a + o)[~core].sum() - a.sum())


CORE_MAX_THRESHOLDS = 64
CORE_MAX_MEMBERS = 2_000


def _core_candidates(instance: Instance):
    """``(members, rest)`` pairs: the requests whose peak :math:`s + o` reaches a threshold, and
    the others. Thresholds are the distinct peaks above :math:`M/4` (below, two requests can
    overlap almost entirely and cores are empty), at most ``CORE_MAX_THRESHOLDS`` of them spread
    evenly, with at most ``CORE_MAX_MEMBERS`` members (the cores cost O(members^2))."""
    peak = instance.prompt + instance.output
    levels = np.unique(peak[4 * peak > instance.memory])
    if len(levels) > CORE_MAX_THRESHOLDS:
        levels = levels[np.linspace(0, len(levels) - 1, CORE_MAX_THRESHOLDS).round().astype(int)]
    for threshold in levels.tolist():
        members = np.flatnonzero(peak >= threshold)
        if 2 <= len(members) <= CORE_MAX_MEMBERS:
            yield members, np.flatnonzero(peak < threshold)


def _split_bound(instance: Instance, members: np.ndarray, rest: np.ndarray) -> int:
    bound = _core_set_bound(instance, members)
    if len(rest):
        sub = Instance(instance.memory, instance.arrival[rest], instance.prompt[rest],
                       instance.output[rest])
        bound += volume_bound(sub).value
    return bound


def strongest_core_set(instance: Instance) -> np.ndarray:
    """The members of the strongest split of :func:`core_bound`."""
    best, best_members = -1, np.zeros(0, dtype=np.int64)
    for members, rest in _core_candidates(instance):
        value = _split_bound(instance, members, rest)
        if value > best:
            best, best_members = value, members
    return best_members


def core_bound(instance: Instance) -> Bound:
    r"""Disjoint cores for the large requests, memory volume for the rest.

    Split the requests into those whose peak :math:`s + o` reaches a threshold and the rest.
    Every schedule, restricted to either part, is a feasible schedule of that part alone (fewer
    requests only free memory), so the total latency is at least the sum of a bound for each:
    the large ones' cores never overlap (:func:`disjoint_cores`), a one-machine problem whose
    completions are bounded by order statistics (:func:`_order_statistics_bound`); the rest get
    :func:`volume_bound`. The best threshold wins (O(n^2) per threshold).
    """
    t0 = time.perf_counter()
    best = max((_split_bound(instance, m, r) for m, r in _core_candidates(instance)), default=0)
    return Bound(int(best), "disjoint cores + memory volume", time.perf_counter() - t0)


def cpsat_available() -> bool:
    """Whether OR-Tools (the optional ``[cpsat]`` extra) can be imported."""
    try:
        import ortools.sat.python.cp_model  # noqa: F401
    except ImportError:
        return False
    return True


#: the source named by bounds from :func:`kth_completion_bounds`
KTH_SOURCE = "k-subset makespans (CP-SAT)"


def kth_completion_bounds(instance: Instance, *, time_limit_s: float) -> np.ndarray:
    r"""Lower bounds :math:`L_k` on :math:`c_{(k)}`, the :math:`k`-th smallest completion round
    of any feasible schedule, non-decreasing in :math:`k` (:math:`k = 1..n`).

    Each :math:`L_k` is the largest of the per-:math:`k` statistics of :func:`volume_bound` and
    :func:`headroom_bound` and CP-SAT's proven bound on the least makespan of any :math:`k`
    requests (:func:`kvopt.hindsight.exact.cpsat.kth_completion_lower_bound`), then the running
    maximum: :math:`c_{(k)} \ge c_{(j)}` for :math:`j < k`. Each :math:`k` gets an equal share
    of the time left of ``time_limit_s``, so what an easy :math:`k` leaves goes to the later
    ones (the values then depend on the machine's speed, never their validity). Needs OR-Tools
    (``[cpsat]``). Measured: exact (every :math:`k`) at n = 10 in 0.1-8 s; at n = 20, 10-16
    of the 20 in 2-3 s each; at the paper's sizes only the first 15-19.
    """
    from kvopt.hindsight.exact.cpsat import kth_completion_lower_bound

    n = instance.num_requests
    cheap = _headroom_order_statistics(instance) if n else np.zeros(0, dtype=np.int64)
    out = np.zeros(n, dtype=np.int64)
    lower = 0
    deadline = time.perf_counter() + time_limit_s
    for k in range(1, n + 1):
        lower = max(lower, int(cheap[k - 1]))
        # what earlier k left unused goes to the later ones
        share = max(0.0, deadline - time.perf_counter()) / (n - k + 1)
        lower, _ = kth_completion_lower_bound(instance, k, lower=lower, time_limit_s=share)
        out[k - 1] = lower
    return out


def kth_completion_bound(instance: Instance, *, time_limit_s: float) -> Bound:
    r""":math:`\sum_k L_k - \sum_i a_i` with :math:`L_k` of :func:`kth_completion_bounds`: the
    completion rounds sorted are at least the :math:`L_k` one by one. Strong where every
    :math:`L_k` is proven (within 0.2-5% of the optimum at n = 10 with all arrivals at round 0,
    where the LP is 8-22% below); :func:`lp_bound` also takes them as *completion caps*."""
    t0 = time.perf_counter()
    return sorted_completion_bound(instance, kth_completion_bounds(instance,
                                                                   time_limit_s=time_limit_s),
                                   time.perf_counter() - t0)


def sorted_completion_bound(instance: Instance, kth: np.ndarray, runtime_s: float = 0.0) -> Bound:
    r""":math:`\sum_k L_k - \sum_i a_i` for lower bounds ``kth`` on the sorted completion rounds
    (:func:`kth_completion_bounds`)."""
    return Bound(int(np.asarray(kth).sum() - instance.arrival.sum()), KTH_SOURCE, runtime_s)


def core_clique_rows(instance: Instance, model: MilpModel,
                     members: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray, float]]:
    r"""*Core cliques*: the cores of ``members`` (default :func:`strongest_core_set`) are
    pairwise disjoint in every feasible schedule (:func:`disjoint_cores`), so no round lies in
    two of them. As rows of the integer program: for each round :math:`t`, the columns
    :math:`x_{j,k}` of members whose core (rounds :math:`k + o_j - p_j + 1 .. k + o_j`)
    contains :math:`t` sum to at most 1; rounds that only one request's cores can reach are
    left out. Valid for every schedule, so they keep the optimum. :func:`lp_bound` separates
    them (only violated rows join the LP). Measured: the certified LP (with headroom cuts)
    closes 3-8 points of gap at the paper's sizes (for example 28.8% to 23.2% at n = 50,
    33.3% to 24.9% at n = 76), in about twice the LP time."""
    if members is None:
        members = strongest_core_set(instance)
    if len(members) < 2:
        return []
    core = np.zeros(instance.num_requests, dtype=np.int64)
    core[members] = disjoint_cores(instance, members)
    cols = np.flatnonzero(core[model.col_req] > 0)
    if len(cols) == 0:
        return []
    length = core[model.col_req[cols]]
    entry_col = np.repeat(cols, length)
    # the core's rounds: end - p + 1 .. end, end = k + o
    offset = np.arange(len(entry_col)) - np.repeat(np.cumsum(length) - length, length)
    end = model.col_start[entry_col] + instance.output[model.col_req[entry_col]]
    rounds = end - core[model.col_req[entry_col]] + 1 + offset
    order = np.lexsort((entry_col, rounds))
    rounds, entry_col = rounds[order], entry_col[order]
    bounds = np.flatnonzero(np.diff(rounds)) + 1
    rows = []
    for chunk in np.split(entry_col, bounds):
        if len(np.unique(model.col_req[chunk])) >= 2:
            rows.append((chunk, np.ones(len(chunk)), 1.0))
    return rows


def completion_cap_rows(instance: Instance, model: MilpModel,
                        kth: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, float]]:
    r"""*Completion caps*: with :math:`L_k` non-decreasing lower bounds on :math:`c_{(k)}`
    (:func:`kth_completion_bounds`), at most :math:`K` requests complete by round
    :math:`L_{K+1} - 1` (if :math:`K + 1` did, :math:`c_{(K+1)}` would be below
    :math:`L_{K+1}`). As rows of the integer program: the columns completing by
    :math:`L_{K+1} - 1` sum to at most :math:`K`, for each :math:`K < n` with
    :math:`L_{K+1} > L_K` (the other rounds' caps follow from these, :math:`x \ge 0`).
    Valid for every schedule, so they keep the optimum."""
    completion = model.col_start + instance.output[model.col_req]
    kth = np.asarray(kth, dtype=np.int64)
    rows = []
    for cap in range(len(kth)):
        if cap == 0 or kth[cap] > kth[cap - 1]:     # kth[cap] is L_{cap+1}
            cols = np.flatnonzero(completion <= kth[cap] - 1)
            if len(cols) and len(np.unique(model.col_req[cols])) > cap:
                rows.append((cols, np.ones(len(cols)), float(cap)))
    return rows


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
    col_term = float(np.minimum(0.0, reduced) @ model.col_upper + np.maximum(0.0, reduced) @ model.col_lower)
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
    parts = _lagrangian_parts(model, row_dual)
    return certified_dual_bound(model, row_dual) if parts is None else parts[0]


def _lagrangian_parts(model: MilpModel, row_dual: np.ndarray,
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
    with_rows = _with_rows(model, certificate.rows)
    parts = _lagrangian_parts(with_rows, certificate.row_dual)
    if parts is None:
        return with_rows
    value, slack = parts
    fixed = value + slack - 1e-6 > upper_bound - 1
    if keep is not None:
        fixed &= ~(np.asarray(keep) > 0.5)
    upper = with_rows.col_upper.copy()
    upper[fixed] = 0.0
    return dataclasses.replace(with_rows, col_upper=upper)


#: separation rounds of :func:`headroom_cuts` in :func:`lp_bound` (0: the plain LP)
HEADROOM_CUT_ROUNDS = 15
#: the largest ``d`` tried per round by :func:`headroom_cuts` (any ``d <= M`` is valid)
HEADROOM_CUT_MAX_D = 256


def _cut_index(instance: Instance, model: MilpModel) -> tuple:
    """What :func:`headroom_cuts` needs of ``model`` besides the LP point: the KV entries
    ``(round, column, coefficient)``, the entries in round order, and the columns in completion
    order. Built once per model (:func:`lp_bound` separates many times)."""
    from kvopt.hindsight.milp.formulation import kv_capacity_entries

    rounds, cols, coef = kv_capacity_entries(instance, model.col_req, model.col_start)
    completion = model.col_start + instance.output[model.col_req]
    order = np.argsort(rounds, kind="stable")
    comp_order = np.argsort(completion, kind="stable")
    return rounds, cols, coef, completion, order, rounds[order], comp_order, completion[comp_order]


def headroom_cuts(instance: Instance, model: MilpModel, x: np.ndarray, *,
                  tolerance: float = 1e-6,
                  index: tuple | None = None) -> list[tuple[np.ndarray, np.ndarray, float]]:
    r"""Violated *headroom cuts* at the LP point ``x``: at most one per round, the most violated.

    For a round :math:`t` and :math:`1 \le d \le M`, with :math:`\text{mem}(t)` the KV row of
    round :math:`t` and :math:`C_t^d = \sum x_{i,k}` over columns completing in
    :math:`t .. t+d-1` (:math:`k + o_i` in that range):

    .. math:: \text{mem}(t) - d\, C_t^d \le M - d.

    Valid for every schedule. If nothing runs in round :math:`t`, the left side is at most 0.
    If some request completes in :math:`t .. t+d-1`, it is at most :math:`\text{mem}(t) - d
    \le M - d`. Otherwise some request runs in round :math:`t` and none completes before
    :math:`t + d`: every running one runs up to the first completion :math:`c^* \ge t + d`
    among them, one token more each round, so :math:`M \ge \text{mem}(c^*) \ge \text{mem}(t) +
    d` (the argument of :func:`headroom_bound`, written in the LP's variables).

    Returns rows ``(columns, coefficients, upper side)``; ``index`` is :func:`_cut_index`
    of ``model``, built here if not given.
    """
    memory = instance.memory
    if index is None:
        index = _cut_index(instance, model)
    rounds, cols, coef, completion, order, by_round, comp_order, comp_sorted = index
    horizon = int(rounds.max()) + 1 if len(rounds) else 1
    mem = np.bincount(rounds, weights=coef * x[cols], minlength=horizon)
    dmax = min(memory, HEADROOM_CUT_MAX_D)
    done = np.bincount(completion, weights=x, minlength=horizon + dmax + 1)
    cum = np.concatenate([[0.0], np.cumsum(done)])
    t = np.arange(horizon)[:, None]
    d = np.arange(1, dmax + 1)[None, :]
    violation = mem[:, None] - d * (cum[t + d] - cum[t]) - (memory - d)
    best_d = violation.argmax(axis=1)
    worst = violation[np.arange(horizon), best_d]
    out = []
    for r in np.flatnonzero((worst > tolerance) & (mem > tolerance)).tolist():
        dd = int(best_d[r]) + 1
        lo, hi = np.searchsorted(by_round, [r, r + 1])
        run_cols, run_coef = cols[order[lo:hi]], coef[order[lo:hi]].astype(np.float64)
        clo, chi = np.searchsorted(comp_sorted, [r, r + dd])
        ends = comp_order[clo:chi]
        merged = np.concatenate([run_cols, ends])
        values = np.concatenate([run_coef, np.full(len(ends), -float(dd))])
        uniq, inverse = np.unique(merged, return_inverse=True)
        summed = np.zeros(len(uniq))
        np.add.at(summed, inverse, values)
        out.append((uniq, summed, float(memory - dd)))
    return out


#: at most this many conflict cliques join the LP per separation round (measured at n = 50, 30 s
#: of LP: 100 gives a gap of 17.8% and 16.1%, 300 gives 16.1% and 15.8%; 1,000 finds no more)
CONFLICT_MAX_CUTS = 300
#: the LP support searched for conflict cliques (the largest values first)
CONFLICT_MAX_SUPPORT = 4_000
#: cliques are grown from support columns of at least this value
CONFLICT_MIN_SEED = 0.05


def column_conflicts(instance: Instance, model: MilpModel, left: np.ndarray,
                     right: np.ndarray) -> np.ndarray:
    r"""``conflict[a, b]``: columns ``left[a]`` and ``right[b]`` are never both 1 in a feasible
    schedule.

    Two distinct columns of one request conflict (it starts once). Columns :math:`x_{i,k}` and
    :math:`x_{j,k'}` of two requests conflict exactly when their runs share a round and the two
    together exceed :math:`M` at the first completion :math:`c = \min(k + o_i, k' + o_j)`:
    :math:`s_i + c - k + s_j + c - k' > M`. Both run in rounds :math:`\max(k, k') + 1 .. c`
    and each grows by one token a round, so their sum peaks at :math:`c`; if it exceeds
    :math:`M` no schedule holds both (others only add memory), and if it does not, the two
    alone fit. A column never conflicts with itself.
    """
    ri, rj = model.col_req[left][:, None], model.col_req[right][None, :]
    ki, kj = model.col_start[left][:, None], model.col_start[right][None, :]
    first = np.minimum(ki + instance.output[ri], kj + instance.output[rj])
    held = instance.prompt[ri] + first - ki + instance.prompt[rj] + first - kj
    both = (np.maximum(ki, kj) < first) & (held > instance.memory)
    return (both & (ri != rj)) | ((ri == rj) & (left[:, None] != right[None, :]))


def _lift_clique(instance: Instance, model: MilpModel, clique: np.ndarray,
                 x: np.ndarray) -> np.ndarray:
    """``clique`` grown by columns of the model that conflict with every member so far (the
    largest LP value first, then by position): still a clique."""
    # a column conflicting with the first member shares a round with its run or belongs to
    # its request: only those columns are checked against every member
    i, k = int(model.col_req[clique[0]]), int(model.col_start[clique[0]])
    near = np.flatnonzero((model.col_req == i) | (
        (model.col_start > k - instance.output[model.col_req])
        & (model.col_start < k + int(instance.output[i]))))
    open_ = near[column_conflicts(instance, model, clique, near).all(axis=0)]
    if len(open_) == 0:
        return np.sort(clique)
    open_ = open_[np.argsort(-x[open_], kind="stable")]
    among = column_conflicts(instance, model, open_, open_)
    alive = np.ones(len(open_), dtype=bool)
    chosen = []
    for a in range(len(open_)):
        if alive[a]:
            chosen.append(a)
            alive &= among[a]
    return np.sort(np.concatenate([clique, open_[chosen]]))


def conflict_clique_cuts(instance: Instance, model: MilpModel, x: np.ndarray, *,
                         tolerance: float = 1e-6,
                         max_cuts: int = CONFLICT_MAX_CUTS) -> list[tuple[np.ndarray, np.ndarray,
                                                                          float]]:
    r"""Violated *conflict cliques* at the LP point ``x``: sets of columns that pairwise
    conflict (:func:`column_conflicts`), so that at most one of them is 1 in any schedule:
    :math:`\sum_{x \in Q} x \le 1`.

    Valid for every schedule: two columns of a clique both at 1 would be a conflicting pair.
    They generalise :func:`core_clique_rows` (two members' cores in one round conflict) to every
    pair of requests, including pairs that only collide at a completion.

    Separation (a heuristic; any clique found is valid): from each column of the LP support of
    value at least :data:`CONFLICT_MIN_SEED`, by decreasing value, grow a clique greedily on
    the support, the largest value first; then *lift* it: add, one at a time, columns of the
    model that conflict with every member so far (a larger clique, a stronger row). Returns
    the ``max_cuts`` most violated, as rows ``(columns, coefficients, upper side)``. Measured
    on the certified LP (15 rounds, gap to the best priority list): 16-21% become 12-15% at
    n = 20, 25% becomes 16% at n = 45.
    """
    support = np.flatnonzero(x > tolerance)
    if len(support) > CONFLICT_MAX_SUPPORT:
        support = support[np.argsort(-x[support], kind="stable")[:CONFLICT_MAX_SUPPORT]]
    if len(support) < 2:
        return []
    value = x[support]
    conflict = column_conflicts(instance, model, support, support)
    found: dict[tuple[int, ...], float] = {}
    for seed in np.argsort(-value, kind="stable").tolist():
        if value[seed] < CONFLICT_MIN_SEED:
            break
        members, open_ = [seed], conflict[seed].copy()
        while open_.any():
            candidates = np.flatnonzero(open_)
            pick = int(candidates[np.argmax(value[candidates])])
            members.append(pick)
            open_ &= conflict[pick]
        if value[members].sum() > 1 + tolerance:
            found.setdefault(tuple(sorted(members)), float(value[members].sum()))
    rows = []
    for members in sorted(found, key=lambda m: -found[m])[:max_cuts]:
        clique = _lift_clique(instance, model, support[list(members)], x)
        if len(np.unique(model.col_req[clique])) >= 2 and x[clique].sum() > 1 + tolerance:
            rows.append((clique, np.ones(len(clique)), 1.0))
    return rows


#: CP-SAT seconds for one deadline check of :class:`DeadlineCuts` (measured with 30 s of LP
#: on an n = 20 and an n = 16 instance: 0.15 s gives bounds of 980 and 725, 0.5 s 983 and
#: 735, 1 s 977 and 729, 2 s 978 and 729)
DEADLINE_CHECK_SECONDS = 0.5
#: at most this many deadline cuts join the LP per separation round
DEADLINE_MAX_CUTS = 40
#: at most this many CP-SAT checks per separation round
DEADLINE_MAX_CHECKS = 200
#: :func:`lp_bound` separates deadline cuts in rounds with fewer other violated cuts than this
DEADLINE_TRIGGER = 5
#: cut rounds of :func:`best_bound`'s LP with deadline cuts
DEADLINE_CUT_ROUNDS = 100
#: the deadline sets tried besides the prefixes: each request's LP completion quantiles
DEADLINE_QUANTILES = (0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 0.99)


class DeadlineCuts:
    r"""*Deadline cuts*: for deadlines :math:`d_i` (a request without one is left out), with
    :math:`\nu(d)` a proven upper bound on how many requests can meet their deadlines in one
    schedule (:func:`kvopt.hindsight.exact.cpsat.most_meeting_deadlines`, CP-SAT),

    .. math:: \sum_i \sum_{k:\, k + o_i \le d_i} x_{i,k} \le \nu(d).

    Valid for every schedule: the left side counts the requests that complete by their
    deadlines, at most :math:`\nu(d)`. With one deadline :math:`\tau` for a set :math:`S` they
    say how many of :math:`S` can be done by :math:`\tau`; with every request and
    :math:`\tau = L_{K+1} - 1` they are the completion caps of :func:`completion_cap_rows`.
    They bound the requests' progress over many rounds together, which the cliques and
    headroom cuts (a few requests, one round) do not see.

    Separation (a heuristic; every row returned is valid): with :math:`F_i(\tau)` the LP mass
    of request :math:`i` completing by :math:`\tau`, for each completion round :math:`\tau` of
    the LP support, the sets of the :math:`m` requests of largest :math:`F_i(\tau)`; and, for
    each quantile :math:`q` of :data:`DEADLINE_QUANTILES`, every request with the round by
    which its LP mass reaches :math:`q`. A candidate is violated only if
    :math:`\nu(d) < \lceil\sum F\rceil`. Schedules already known (the ``witnesses``: a
    schedule's completion rounds, and every choice CP-SAT returns) show :math:`\nu(d) \ge`
    their count and skip most candidates without CP-SAT, as do bounds already proven for
    deadlines at least as late; the rest, most promising first, get
    :data:`DEADLINE_CHECK_SECONDS` each (a prefix set larger than one CP-SAT left open at the
    same round is skipped), at most :data:`DEADLINE_MAX_CHECKS` checks and
    :data:`DEADLINE_MAX_CUTS` cuts a round.

    Measured (:func:`lp_bound`, 100 rounds, no time limit), the converged LP with cliques and
    headroom cuts, then with deadline cuts: n = 10, 602 -> 615 (optimum 616, 5 s); the first
    two n = 12 benchmark instances of each arrival model, 471 -> 482 (optimum 498, 11 s),
    439 -> 464 (optimum 483, 18 s), 411 -> 428 (optimum 449, 5 s), 484 -> 495 (best 518,
    33 s); n = 20, 977 -> 988 (best schedule 1,062, 97 s). At n = 50 the other cuts are
    still being separated after 550 s, so none are tried there.
    """

    def __init__(self, instance: Instance, model: MilpModel,
                 witnesses: list[np.ndarray] | None = None) -> None:
        self.instance = instance
        self.model = model
        self.completion = model.col_start + instance.output[model.col_req]
        n = instance.num_requests
        self.witness = np.zeros((0, n), dtype=np.int64)   # completion rounds; never: int max
        for known in witnesses or []:
            self._add_witness(known)
        self.checked: set[bytes] = set()
        self.proven = np.zeros((0, n), dtype=np.int64)    # deadlines checked by CP-SAT ...
        self.proven_nu = np.zeros(0, dtype=np.int64)      # ... and their bounds nu

    def _add_witness(self, completion: np.ndarray) -> None:
        """A choice's completion rounds (negative: not chosen)."""
        completion = np.asarray(completion, dtype=np.int64)
        row = np.where(completion < 0, np.iinfo(np.int64).max, completion)
        self.witness = np.vstack([self.witness, row[None, :]])

    def _known_bound(self, deadline: np.ndarray) -> int:
        """The least bound nu proven for deadlines at least as late for every request (fewer
        can meet earlier deadlines; a request left out counts as the earliest)."""
        if len(self.proven) == 0:
            return self.instance.num_requests
        covered = (deadline[None, :] <= self.proven).all(axis=1)
        return int(self.proven_nu[covered].min()) if covered.any() else self.instance.num_requests

    def _witnessed(self, deadline: np.ndarray) -> int:
        """The most requests meeting ``deadline`` in one known choice (a lower bound on nu)."""
        if len(self.witness) == 0:
            return 0
        return int(((self.witness <= deadline[None, :]) & (deadline >= 0)[None, :])
                   .sum(axis=1).max())

    def _candidates(self, x: np.ndarray, tolerance: float) -> list[tuple]:
        """``(promise, deadline, (tau, m) or None)``, the most promising first."""
        n = self.instance.num_requests
        req, comp = self.model.col_req, self.completion
        support = np.flatnonzero(x > tolerance)
        out = []
        for tau in np.unique(comp[support]).tolist():
            mass = np.bincount(req[support], weights=x[support] * (comp[support] <= tau),
                               minlength=n)
            order = np.argsort(-mass, kind="stable")
            total = np.cumsum(mass[order])
            if len(self.witness):
                met = np.cumsum((self.witness[:, order] <= tau), axis=1).max(axis=0)
            else:
                met = np.zeros(n, dtype=np.int64)
            need = np.ceil(total - 1e-6)
            for m in np.flatnonzero((need > met) & (total > 1 + tolerance)).tolist():
                deadline = np.full(n, -1, dtype=np.int64)
                deadline[order[:m + 1]] = tau
                out.append((float(total[m] - met[m]), deadline, (tau, m)))
        if len(support):
            order = support[np.lexsort((comp[support], req[support]))]
            cum = np.cumsum(x[order])
            first = np.searchsorted(req[order], np.arange(n))
            base = np.concatenate([[0.0], cum])[first]
            for q in DEADLINE_QUANTILES:
                deadline = np.full(n, -1, dtype=np.int64)
                for i in range(n):
                    lo, hi = first[i], (first[i + 1] if i + 1 < n else len(order))
                    if hi > lo:
                        at = lo + int(np.searchsorted(cum[lo:hi] - base[i], q - 1e-9))
                        deadline[i] = comp[order[min(at, hi - 1)]]
                total = float(x[support][comp[support] <= deadline[req[support]]].sum())
                met = self._witnessed(deadline)
                if np.ceil(total - 1e-6) > met and total > 1 + tolerance:
                    out.append((total - met, deadline, None))
        out.sort(key=lambda c: -c[0])
        return out

    def cuts(self, x: np.ndarray, *, until: float | None = None, tolerance: float = 1e-6,
             max_cuts: int = DEADLINE_MAX_CUTS) -> list[tuple[np.ndarray, np.ndarray, float]]:
        """Violated deadline cuts at the LP point ``x`` (rows ``(columns, coefficients, upper
        side)``), checking candidates until ``until`` (a ``time.perf_counter()`` value)."""
        from kvopt.hindsight.exact.cpsat import most_meeting_deadlines

        rows = []
        req = self.model.col_req
        n_all = self.instance.num_requests
        checks = 0
        hard: dict[int, int] = {}     # tau -> the least prefix size CP-SAT left open
        for _, deadline, prefix in self._candidates(x, tolerance):
            if prefix is not None and prefix[1] > hard.get(prefix[0], n_all):
                continue    # a larger set at a deadline already too hard this round
            left = None if until is None else until - time.perf_counter()
            if (len(rows) >= max_cuts or checks >= DEADLINE_MAX_CHECKS
                    or (left is not None and left <= 0.01)):
                break
            key = deadline.tobytes()
            if key in self.checked:
                continue
            counted = self.completion <= deadline[req]
            total = float(x[counted].sum())
            if self._witnessed(deadline) >= np.ceil(total - 1e-6):
                continue    # a choice found since shows it is not violated
            self.checked.add(key)
            nu = self._known_bound(deadline)
            if total <= nu + tolerance:     # not implied by a check already made: CP-SAT
                checks += 1
                seconds = (DEADLINE_CHECK_SECONDS if left is None
                           else min(DEADLINE_CHECK_SECONDS, left))
                nu, found = most_meeting_deadlines(self.instance, deadline, time_limit_s=seconds)
                if found is not None:
                    self._add_witness(found)
                if nu < int((deadline >= 0).sum()):
                    self.proven = np.vstack([self.proven, deadline[None, :]])
                    self.proven_nu = np.append(self.proven_nu, nu)
                if (prefix is not None and nu >= np.ceil(total - 1e-6)
                        and (found is None or (found >= 0).sum() < np.ceil(total - 1e-6))):
                    hard[prefix[0]] = min(prefix[1], hard.get(prefix[0], n_all))
            if total > nu + tolerance:
                cols = np.flatnonzero(counted)
                rows.append((cols, np.ones(len(cols)), float(nu)))
        return rows


def _flatten_rows(rows: list[tuple[np.ndarray, np.ndarray, float]]):
    """``rows`` (columns, coefficients, upper side) flattened, for :func:`_row_values`."""
    if not rows:
        return None
    lengths = np.array([len(c) for c, _, _ in rows])
    return (np.repeat(np.arange(len(rows)), lengths), np.concatenate([c for c, _, _ in rows]),
            np.concatenate([v for _, v, _ in rows]))


def _row_values(flat, x: np.ndarray, num_rows: int) -> np.ndarray:
    """The left sides of the rows of :func:`_flatten_rows` at the point ``x``."""
    row, cols, vals = flat
    return np.bincount(row, weights=vals * x[cols], minlength=num_rows)


def _with_rows(model: MilpModel, rows: list[tuple[np.ndarray, np.ndarray, float]]) -> MilpModel:
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


#: pricing adds at most this many columns per LP solve (the most negative reduced costs)
PRICING_MAX_COLUMNS = 5_000
#: a cut row slack (zero dual) in this many LP solves in a row leaves the LP (0: never).
#: Measured with 60 s of LP at the paper's sizes (five instances, two at a time): the rows
#: never purged grow to thousands and each re-solve slows; purging after 1, 3 or 6 solves
#: gives about the same, 0.1-1.5 points of gap above never (7,914 -> 7,995 at n = 50,
#: 16,548 -> 16,904 at n = 76). Dropping columns of large reduced cost as well was worse.
CUT_PURGE_SOLVES = 3
#: at most this many of the separated clique and headroom rows join the LP per cut round, the
#: most *effective* first (violation over the row's Euclidean norm; deadline cuts always join).
#: Measured with 60 s of LP on six paper-size instances: the first round at n = 76 separates
#: 1,486 rows with 2.0 million entries (more than the LP's own), and its re-solve takes 19.7 s
#: of simplex; with 300 a round the bound is equal or higher on all six at 10 s (7,943 ->
#: 8,228 at n = 49, 7,225 -> 7,341 at n = 50, 5,777 -> 5,883 at n = 44) and on five at 60 s
#: (17,145 -> 17,468 at n = 76; 9,438 -> 9,418 at n = 49). The 300 most violated, not
#: normalised, were lower at 30 s (15,152 and 16,198 against 16,258 at n = 76 for 100 and 300).
CUT_MAX_ROWS = 300


def _most_effective(rows: list[tuple[np.ndarray, np.ndarray, float]], x: np.ndarray,
                    limit: int) -> np.ndarray:
    """The indices (in order) of the ``limit`` rows of largest efficacy at ``x``: violation
    ``a x - b`` over ``||a||``; all of them if there are no more than ``limit``."""
    if len(rows) <= limit:
        return np.arange(len(rows))
    flat = _flatten_rows(rows)
    violation = _row_values(flat, x, len(rows)) - np.array([upper for _, _, upper in rows])
    norm = np.sqrt(np.bincount(flat[0], weights=flat[2] ** 2, minlength=len(rows)))
    efficacy = violation / np.maximum(norm, 1e-12)
    return np.sort(np.argsort(-efficacy, kind="stable")[:limit])


def _initial_columns(instance: Instance, model: MilpModel) -> np.ndarray:
    """The columns the priced LP starts from: each request's starts up to ``max o`` rounds after
    its arrival, and the starts of a serial schedule (in arrival order, each request after the
    previous one completes), which fits alone in every round, so the restricted LP has a
    feasible point whenever those starts lie in the model's windows."""
    order = np.argsort(instance.arrival, kind="stable")
    serial = np.zeros(instance.num_requests, dtype=np.int64)
    clock = 0
    for i in order.tolist():
        serial[i] = max(clock, int(instance.arrival[i]))
        clock = serial[i] + int(instance.output[i])
    wait = model.col_start - instance.arrival[model.col_req]
    early = wait <= int(instance.output.max(initial=0))
    return np.flatnonzero(early | (model.col_start == serial[model.col_req]))


class _PricedLp:
    """The LP relaxation of ``model`` plus cut rows, over a subset of its columns that grows by
    pricing (``initial=None``: all columns from the start).

    Rows are kept in the whole model's column space (``rows``) and handed to HiGHS restricted
    to the active columns; a column entering later brings its entries in every row. Each
    solve's dual vector is certified on the *whole* model with these rows
    (:func:`certified_dual_bound`: the absent columns' negative reduced costs are charged), so
    the bound is valid whatever columns are active; the columns with negative reduced cost are
    the ones to add next (none: the restricted optimum is the whole LP's optimum)."""

    def __init__(self, model: MilpModel, initial: np.ndarray | None) -> None:
        import highspy

        self.model = model
        self.rows: list[tuple[np.ndarray, np.ndarray, float]] = []
        self.slack_rounds = np.zeros(0, dtype=np.int64)   # per cut row: solves slack in a row
        self.active = np.zeros(model.num_cols, dtype=bool)
        self.position = np.full(model.num_cols, -1, dtype=np.int64)
        self.columns: list[int] = []
        self.x = np.zeros(model.num_cols)
        self.dual = np.zeros(0)   # the last solve's row duals (model rows, then cut rows)
        row_of = np.repeat(np.arange(model.num_rows), np.diff(model.row_ptr))
        by_col = np.argsort(model.col_idx, kind="stable")
        self.csc_row, self.csc_val = row_of[by_col], model.values[by_col]
        self.csc_ptr = np.concatenate([[0], np.cumsum(np.bincount(model.col_idx,
                                                                  minlength=model.num_cols))])
        self.highs = highspy.Highs()
        self.highs.setOptionValue("output_flag", False)
        self.highs.setOptionValue("solver", "simplex")
        inf = highspy.kHighsInf
        self.highs.addRows(model.num_rows, np.where(np.isinf(model.row_lower), -inf, model.row_lower),
                           np.where(np.isinf(model.row_upper), inf, model.row_upper), 0,
                           np.zeros(model.num_rows, dtype=np.int32), np.zeros(0, dtype=np.int32),
                           np.zeros(0))
        self.add_columns(np.arange(model.num_cols) if initial is None else initial)

    def add_columns(self, cols: np.ndarray) -> None:
        cols = np.unique(np.asarray(cols, dtype=np.int64))
        cols = cols[~self.active[cols]]
        if len(cols) == 0:
            return
        counts = self.csc_ptr[cols + 1] - self.csc_ptr[cols]
        take = np.repeat(self.csc_ptr[cols], counts) + (
            np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
        entry_col = np.repeat(np.arange(len(cols)), counts)
        entry_row, entry_val = self.csc_row[take], self.csc_val[take]
        flat = _flatten_rows(self.rows)
        if flat is not None:
            row_id, cut_cols, cut_vals = flat
            local = np.full(self.model.num_cols, -1, dtype=np.int64)
            local[cols] = np.arange(len(cols))
            hit = local[cut_cols] >= 0
            entry_col = np.concatenate([entry_col, local[cut_cols[hit]]])
            entry_row = np.concatenate([entry_row, self.model.num_rows + row_id[hit]])
            entry_val = np.concatenate([entry_val, cut_vals[hit]])
        order = np.lexsort((entry_row, entry_col))
        starts = np.searchsorted(entry_col[order], np.arange(len(cols)))
        m = self.model
        self.highs.addCols(len(cols), m.cost[cols], m.col_lower[cols], m.col_upper[cols],
                           len(order), starts.astype(np.int32),
                           entry_row[order].astype(np.int32), entry_val[order])
        self.position[cols] = len(self.columns) + np.arange(len(cols))
        self.columns.extend(cols.tolist())
        self.active[cols] = True

    def add_rows(self, rows: list[tuple[np.ndarray, np.ndarray, float]]) -> None:
        import highspy

        if rows:
            on = [self.active[cols] for cols, _, _ in rows]
            kept = [(self.position[cols[o]], vals[o]) for (cols, vals, _), o in zip(rows, on, strict=False)]
            counts = np.array([len(idx) for idx, _ in kept], dtype=np.int64)
            self.highs.addRows(len(rows), np.full(len(rows), -highspy.kHighsInf),
                               np.array([upper for _, _, upper in rows], dtype=np.float64),
                               int(counts.sum()),
                               np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int32),
                               np.concatenate([idx for idx, _ in kept]).astype(np.int32),
                               np.concatenate([val for _, val in kept]).astype(np.float64))
        self.rows.extend(rows)
        self.slack_rounds = np.concatenate([self.slack_rounds, np.zeros(len(rows), np.int64)])

    def purge(self, min_rounds: int) -> int:
        """Drop the cut rows that were slack with a zero dual in each of the last
        ``min_rounds`` solves; returns how many. Any subset of valid rows gives a valid LP bound,
        and a dropped row that is violated again is separated again."""
        drop = np.flatnonzero(self.slack_rounds >= min_rounds)
        if len(drop) == 0:
            return 0
        self.highs.deleteRows(len(drop), (self.model.num_rows + drop).astype(np.int32))
        keep = np.ones(len(self.rows), dtype=bool)
        keep[drop] = False
        self.rows = [row for row, k in zip(self.rows, keep.tolist(), strict=False) if k]
        self.slack_rounds = self.slack_rounds[keep]
        return len(drop)

    def solve(self, time_left_s: float | None) -> tuple[float, np.ndarray] | None:
        """Solve; ``(certified bound, columns to add)``, or ``None`` if out of time or no
        dual vector came back. A restricted LP without a feasible point gets every column."""
        import highspy

        if time_left_s is not None:
            if time_left_s <= 0:
                return None
            # HiGHS measures its time limit on the clock of all this object's runs together
            self.highs.setOptionValue("time_limit", float(time_left_s) + self.highs.getRunTime())
        self.highs.run()
        sol = self.highs.getSolution()
        # an infeasible restricted LP can still come with "valid" duals (HiGHS 1.15), whose
        # point is no LP solution: check the status first
        if self.highs.getModelStatus() == highspy.HighsModelStatus.kInfeasible:
            if self.active.all():
                return None
            self.add_columns(np.flatnonzero(~self.active))   # no feasible point yet
            return self.solve(time_left_s)
        if not sol.dual_valid:
            return None
        self.x = np.zeros(self.model.num_cols)
        self.x[self.columns] = sol.col_value
        dual = np.array(sol.row_dual)
        self.dual = dual
        full = _with_rows(self.model, self.rows)
        if len(self.rows):
            first = self.model.num_rows
            slack = ((np.array(sol.row_value)[first:] < full.row_upper[first:] - 1e-6)
                     & (np.abs(dual[first:]) < 1e-9))
            self.slack_rounds = np.where(slack, self.slack_rounds + 1, 0)
        _, reduced = certified_dual_bound(full, dual, with_reduced_costs=True)
        value = lagrangian_bound(full, dual)
        entering = np.flatnonzero(~self.active & (reduced < -1e-9))
        if len(entering) > PRICING_MAX_COLUMNS:
            entering = entering[np.argsort(reduced[entering], kind="stable")[:PRICING_MAX_COLUMNS]]
        return value, entering


def lp_bound(instance: Instance, model: MilpModel | None = None, *,
             upper_bound: float | None = None, time_limit_s: float | None = None,
             cut_rounds: int = HEADROOM_CUT_ROUNDS,
             kth: np.ndarray | None = None, core_cliques: bool = True,
             conflict_cliques: bool = True, pricing: bool = True, with_point: bool = False,
             deadline_cuts: bool = False, witnesses: list[np.ndarray] | None = None,
             stop: Callable[[], bool] | None = None):
    r"""The LP relaxation of the hindsight integer program, strengthened by headroom cuts and
    certified by weak duality.

    Valid: every schedule is a 0/1 point of the integer program (whose start windows keep every
    optimal schedule, see :func:`kvopt.hindsight.milp.formulation.start_windows`) and satisfies every
    cut of :func:`headroom_cuts`, so the LP minimum with any set of those cuts is at most the
    optimum; :func:`certified_dual_bound` is at most that LP minimum; and the objective is
    integral, so the bound rounds up (after a guard of ``1e-6`` for floating-point sums). The
    cuts are separated for up to ``cut_rounds`` rounds (measured: 5-7% above the plain LP at the
    paper's sizes, in 0.3-10 s); every round's certificate counts, the largest is returned.
    With ``core_cliques`` the LP also gets the rows of :func:`core_clique_rows`, and with
    ``kth`` (lower bounds on the sorted completion rounds, :func:`kth_completion_bounds`) the
    completion caps of :func:`completion_cap_rows`, and with ``conflict_cliques`` the violated
    cliques of :func:`conflict_clique_cuts`; all hold in every schedule too. Of the rows
    separated in a round, the :data:`CUT_MAX_ROWS` most effective join (:func:`_most_effective`;
    any subset of valid rows keeps the bound valid, and a row left out is separated again
    while violated). With ``pricing``
    the LP starts from a subset of the columns and grows by pricing (:class:`_PricedLp`); every
    certificate is taken on the whole model, so the subset never makes a bound invalid.
    With ``deadline_cuts`` (needs OR-Tools) the violated rows of :class:`DeadlineCuts` join
    too, in rounds where fewer than :data:`DEADLINE_TRIGGER` other cuts are violated (measured
    at n = 50: separating them as soon as the bound stalls, before the other cuts are done,
    leaves it lower after 550 s); ``witnesses`` are known schedules' completion
    rounds, which spare CP-SAT checks. ``stop`` is asked after every LP solve; ``True`` ends
    the separation there (as a time limit does).
    Returns ``None`` if the LP solver gives no dual vector in the time limit, or if the model
    is too large to build (:data:`kvopt.hindsight.milp.formulation.MAX_NONZEROS`). With ``with_point``
    returns ``(bound, x)``, ``x`` the last LP solution over all the model's columns (``None``
    in place of the bound as above).
    """

    from kvopt.hindsight.milp.formulation import ModelTooLargeError, build

    t0 = time.perf_counter()
    deadline = None if time_limit_s is None else t0 + time_limit_s
    if model is None:
        try:
            model = build(instance, upper_bound=upper_bound)
        except ModelTooLargeError:
            return (None, None) if with_point else None
    relax = _PricedLp(model, _initial_columns(instance, model) if pricing else None)
    relax.add_rows(completion_cap_rows(instance, model, kth) if kth is not None else [])
    caps = list(relax.rows)
    # core cliques are many dense rows: only the violated ones join the LP, as cuts
    cliques = core_clique_rows(instance, model) if core_cliques and cut_rounds > 0 else []
    clique_flat = _flatten_rows(cliques)
    used = {"core cliques": 0, "conflict cliques": 0, "headroom cuts": 0, "deadline cuts": 0}
    deadlines = DeadlineCuts(instance, model, witnesses) if deadline_cuts and cut_rounds else None
    best: float | None = None
    certificate: LpCertificate | None = None
    index = _cut_index(instance, model) if cut_rounds > 0 else None
    for round_ in range(cut_rounds + 1):
        # price columns in until none has a negative reduced cost: x is then the LP optimum
        # of the whole model with these rows (every solve's certificate counts either way)
        while True:
            solved = relax.solve(None if deadline is None else deadline - time.perf_counter())
            if solved is None:
                break
            value, entering = solved
            if best is None or value > best:
                best, certificate = value, LpCertificate(list(relax.rows), relax.dual)
            if stop is not None and stop():
                solved = None
                break
            if len(entering) == 0:
                break
            relax.add_columns(entering)
        if solved is None or round_ == cut_rounds:
            break
        x = relax.x
        violated = ([cliques[r] for r in np.flatnonzero(
            _row_values(clique_flat, x, len(cliques)) > 1 + 1e-6)] if cliques else [])
        conflicts = conflict_clique_cuts(instance, model, x) if conflict_cliques else []
        cuts = headroom_cuts(instance, model, x, index=index)
        late = []
        if deadlines is not None and len(violated) + len(conflicts) + len(cuts) < DEADLINE_TRIGGER:
            late = deadlines.cuts(x, until=deadline)   # each one costs CP-SAT: all join
        if not violated and not conflicts and not cuts and not late:
            break
        # the most effective rows join; the others are separated again while still violated
        family = np.repeat(np.arange(3), [len(violated), len(conflicts), len(cuts)])
        separated = violated + conflicts + cuts
        keep = _most_effective(separated, x, CUT_MAX_ROWS)
        for name, count in zip(("core cliques", "conflict cliques", "headroom cuts"),
                               np.bincount(family[keep], minlength=3).tolist(), strict=False):
            used[name] += count
        used["deadline cuts"] += len(late)
        if CUT_PURGE_SOLVES:
            relax.purge(CUT_PURGE_SOLVES)
        relax.add_rows([separated[r] for r in keep.tolist()] + late)
    if best is None:
        return (None, relax.x) if with_point else None
    extras = ((["completion caps"] if caps else [])
              + [name for name, count in used.items() if count])
    source = " + ".join(["LP relaxation", *extras]) + " (dual-certified)"
    bound = Bound(math.ceil(best - 1e-6), source, time.perf_counter() - t0, certificate)
    return (bound, relax.x) if with_point else bound


def best_bound(instance: Instance, *, upper_bound: float | None = None,
               time_limit_s: float | None = None, use_lp: bool = True,
               kth_time_limit_s: float | None = None, deadline_cuts: bool = False) -> Bound:
    """The largest of the bounds above (the LP one only with ``use_lp`` and if it finishes in
    ``time_limit_s``; the LP has one column per request and start round, too many for traces of
    thousands of requests). With ``kth_time_limit_s`` also :func:`kth_completion_bound`
    (CP-SAT, that many seconds in all), whose :math:`L_k` the LP then takes as completion
    caps; with ``deadline_cuts`` the LP also separates :class:`DeadlineCuts` (CP-SAT), for up
    to :data:`DEADLINE_CUT_ROUNDS` cut rounds (they start once the other cuts are nearly
    done, which takes more than the default 15 rounds)."""
    t0 = time.perf_counter()
    best = max(sum_of_outputs_bound(instance), volume_bound(instance), headroom_bound(instance),
               core_bound(instance), key=lambda b: b.value)
    kth = None
    if instance.num_requests and kth_time_limit_s is not None:
        t1 = time.perf_counter()
        kth = kth_completion_bounds(instance, time_limit_s=kth_time_limit_s)
        best = max(best, sorted_completion_bound(instance, kth, time.perf_counter() - t1),
                   key=lambda b: b.value)
    if instance.num_requests and use_lp:
        lp = lp_bound(instance, upper_bound=upper_bound, time_limit_s=time_limit_s, kth=kth,
                      deadline_cuts=deadline_cuts,
                      cut_rounds=DEADLINE_CUT_ROUNDS if deadline_cuts else HEADROOM_CUT_ROUNDS)
        if lp is not None and lp.value > best.value:
            best = lp
    return dataclasses.replace(best, runtime_s=time.perf_counter() - t0)
