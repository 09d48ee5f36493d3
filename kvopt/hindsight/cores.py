r"""One-machine relaxations shared by the combinatorial bounds, the cut rows and CP-SAT.

Two arguments turn the KV-cache schedule into a schedule on one unit-speed machine, where
shortest remaining work first bounds every order statistic of the completions (Schrage, 1968):

* *memory volume*: request :math:`i` holds :math:`V_i = o_i s_i + o_i (o_i + 1) / 2`
  token-rounds, at most :math:`M` per round (:func:`volume_lower_bound`);
* *disjoint cores*: the last :math:`p_j` rounds of large requests' runs never overlap
  (:func:`disjoint_cores`); the strongest split into large requests (cores) and the rest
  (volume) is :func:`strongest_core_set`.

:mod:`kvopt.hindsight.bounds.combinatorial` turns them into certified bounds,
:mod:`kvopt.hindsight.bounds.cuts` into core-clique rows of the LP, and
:mod:`kvopt.hindsight.exact.cpsat` into a no-overlap constraint and a pairwise completion order.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator

import numpy as np

from kvopt.instance import Instance

__all__ = [
    "CORE_MAX_MEMBERS", "CORE_MAX_THRESHOLDS", "core_candidates", "core_set_bound",
    "disjoint_cores", "order_statistics", "order_statistics_bound", "split_bound",
    "srpt_completions", "strongest_core_set", "token_volumes", "volume_lower_bound",
]


def srpt_completions(release: np.ndarray, work: np.ndarray) -> np.ndarray:
    """Sorted completion times of preemptive shortest-remaining-work-first on one unit-speed
    machine (event-driven, O(n log n))."""
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


def token_volumes(instance: Instance) -> np.ndarray:
    """:math:`V_i = o_i s_i + o_i (o_i + 1) / 2`, the token-rounds request :math:`i` holds."""
    s = instance.prompt.astype(np.int64)
    o = instance.output.astype(np.int64)
    return o * s + o * (o + 1) // 2


def order_statistics_bound(release: np.ndarray, work: np.ndarray, earliest: np.ndarray) -> int:
    r""":math:`\sum_k \max(\lceil C_{(k)} \rceil, e_{(k)})`: a lower bound on the sum of the
    completion rounds of jobs that, in any schedule, occupy one unit-speed machine (preemption
    allowed) for ``work`` after ``release`` and complete no earlier than ``earliest``. Shortest
    remaining work first completes, by every time, at least as many jobs as any preemptive
    schedule (Schrage, 1968), so the :math:`k`-th smallest completion is at least its
    :math:`k`-th, :math:`C_{(k)}`, and at least the :math:`k`-th smallest ``earliest``."""
    return int(order_statistics(release, work, earliest).sum())


def order_statistics(release: np.ndarray, work: np.ndarray, earliest: np.ndarray) -> np.ndarray:
    """The per-``k`` lower bounds summed by :func:`order_statistics_bound`, ascending."""
    if len(work) == 0:
        return np.zeros(0, dtype=np.int64)
    fluid = np.ceil(srpt_completions(release.astype(np.float64), work.astype(np.float64))
                    - 1e-9).astype(np.int64)
    return np.maximum(fluid, np.sort(earliest))


def volume_lower_bound(instance: Instance) -> int:
    r"""The memory-volume bound on the total latency (the proof is
    :func:`kvopt.hindsight.bounds.combinatorial.volume_bound`'s):
    :math:`\sum_k \max(\lceil C_{(k)} \rceil, e_{(k)}) - \sum_i a_i`."""
    if instance.num_requests == 0:
        return 0
    value = order_statistics_bound(instance.arrival, token_volumes(instance) / instance.memory,
                                   instance.arrival + instance.output)
    return value - int(instance.arrival.sum())


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


def core_set_bound(instance: Instance, members: np.ndarray) -> int:
    """Lower bound on the total latency of ``members`` alone: their cores on one machine
    (:func:`disjoint_cores`, :func:`order_statistics_bound`); a request with an empty core
    counts its output."""
    a = instance.arrival[members]
    o = instance.output[members]
    p = disjoint_cores(instance, members)
    core = p > 0
    # the core of j cannot start before a_j + o_j - p_j; it ends at c_j >= a_j + o_j
    value = order_statistics_bound(a[core] + o[core] - p[core], p[core], a[core] + o[core])
    return int(value + (a + o)[~core].sum() - a.sum())


#: :func:`core_candidates` tries at most this many thresholds ...
CORE_MAX_THRESHOLDS = 64
#: ... and sets of at most this many members
CORE_MAX_MEMBERS = 2_000


def core_candidates(instance: Instance) -> Iterator[tuple[np.ndarray, np.ndarray]]:
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


def split_bound(instance: Instance, members: np.ndarray, rest: np.ndarray) -> int:
    """:func:`core_set_bound` of ``members`` plus :func:`volume_lower_bound` of ``rest``:
    every schedule restricted to either part is a schedule of that part alone (fewer requests
    only free memory), so the sum bounds the total latency
    (:func:`kvopt.hindsight.bounds.combinatorial.core_bound`)."""
    bound = core_set_bound(instance, members)
    if len(rest):
        sub = Instance(instance.memory, instance.arrival[rest], instance.prompt[rest],
                       instance.output[rest])
        bound += volume_lower_bound(sub)
    return bound


def strongest_core_set(instance: Instance) -> np.ndarray:
    """The members of the strongest split of :func:`split_bound` over
    :func:`core_candidates` (the split of
    :func:`kvopt.hindsight.bounds.combinatorial.core_bound`)."""
    best, best_members = -1, np.zeros(0, dtype=np.int64)
    for members, rest in core_candidates(instance):
        value = split_bound(instance, members, rest)
        if value > best:
            best, best_members = value, members
    return best_members
