r"""Combinatorial lower bounds on the hindsight optimum (total latency, rounds): cheap at any
scale, no LP.

Each bound is proved valid in its docstring and property-tested never to exceed the optimum
(``tests/hindsight/bounds/``). :class:`Bound` is the value every bound of
:mod:`kvopt.hindsight.bounds` returns.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from kvopt.hindsight.bounds.lp_certificate import LpCertificate
from kvopt.hindsight.cores import (
    core_candidates,
    order_statistics,
    split_bound,
    token_volumes,
    volume_lower_bound,
)
from kvopt.instance import Instance

__all__ = ["Bound", "core_bound", "headroom_bound", "headroom_order_statistics",
           "sum_of_outputs_bound", "volume_bound"]


@dataclasses.dataclass(frozen=True)
class Bound:
    """A proven lower bound ``value`` (integral: the objective is) from relaxation ``source``;
    an LP bound also carries its ``certificate`` (for
    :func:`~kvopt.hindsight.bounds.lp_certificate.reduced_cost_fixing`)."""

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
    value = volume_lower_bound(instance)
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
    value = int(headroom_order_statistics(instance).sum() - instance.arrival.sum())
    return Bound(value, "memory volume with growth headroom", time.perf_counter() - t0)


def headroom_order_statistics(instance: Instance) -> np.ndarray:
    """The per-``k`` lower bounds on :math:`c_{(k)}` summed by :func:`headroom_bound`."""
    n = instance.num_requests
    memory = instance.memory
    volumes = token_volumes(instance)
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
    fluid = order_statistics(instance.arrival, volumes / memory,
                              instance.arrival + instance.output)
    return np.maximum(fluid, headroom)


def core_bound(instance: Instance) -> Bound:
    r"""Disjoint cores for the large requests, memory volume for the rest.

    Split the requests into those whose peak :math:`s + o` reaches a threshold and the rest.
    Every schedule, restricted to either part, is a feasible schedule of that part alone (fewer
    requests only free memory), so the total latency is at least the sum of a bound for each:
    the large ones' cores never overlap (:func:`~kvopt.hindsight.cores.disjoint_cores`), a
    one-machine problem whose completions are bounded by order statistics
    (:func:`~kvopt.hindsight.cores.order_statistics_bound`); the rest get :func:`volume_bound`.
    The best threshold wins (O(n^2) per threshold).
    """
    t0 = time.perf_counter()
    best = max((split_bound(instance, m, r) for m, r in core_candidates(instance)), default=0)
    return Bound(int(best), "disjoint cores + memory volume", time.perf_counter() - t0)
