"""Primal heuristics for the hindsight problem: better schedules than MC-SF's, fast.

A *priority list* fixes an order of the requests; its schedule comes from running MC-SF's
admission rule (exact output lengths, future-peak check, stop at the first request that does
not fit) with the waiting requests sorted by that order instead of by length. MC-SF is the list
sorted by (output, arrival, position). A seeded local search moves requests in the list (swap,
insertion) and keeps a move when the verified total latency does not get worse. Every schedule
it returns has passed :func:`kvopt.verify.verify`; the heuristic proves nothing about optimality.
"""

from __future__ import annotations

import time

import numpy as np

from kvopt.instance import Instance
from kvopt.policies.mcsf import McSf
from kvopt.schedule import Schedule
from kvopt.sim.engine import simulate
from kvopt.verify import verify

__all__ = ["PriorityList", "list_schedule", "local_search"]


class PriorityList(McSf):
    """MC-SF's admission with waiting requests ordered by ``rank`` (lower first)."""

    name = "priority-list"

    def __init__(self, rank: np.ndarray) -> None:
        super().__init__()
        self._rank = np.asarray(rank, dtype=np.int64).tolist()

    def _key(self, i: int) -> tuple[int, ...]:
        return (self._rank[i], i)


def list_schedule(instance: Instance, order: np.ndarray) -> tuple[Schedule, int]:
    """The schedule of priority list ``order`` (request positions, first = highest priority)
    and its verified total latency."""
    rank = np.empty(len(order), dtype=np.int64)
    rank[np.asarray(order, dtype=np.int64)] = np.arange(len(order))
    schedule = simulate(instance, PriorityList(rank))
    return schedule, verify(instance, schedule).total_latency


def local_search(instance: Instance, rng: np.random.Generator, *, time_limit_s: float = 1.0,
                 max_evaluations: int | None = None) -> tuple[Schedule, int]:
    """Improve MC-SF's priority list by random swaps and insertions (first improvement,
    sideways moves allowed); return the best schedule found and its verified cost.

    Deterministic for a given ``rng`` state when ``max_evaluations`` bounds the work (a time
    limit alone makes the result depend on the machine's speed).
    """
    n = instance.num_requests
    order = np.lexsort((np.arange(n), instance.arrival, instance.output))  # MC-SF's list
    best_schedule, best_cost = list_schedule(instance, order)
    if n < 2:
        return best_schedule, best_cost
    deadline = time.perf_counter() + time_limit_s
    evaluations = 0
    while time.perf_counter() < deadline and (max_evaluations is None
                                              or evaluations < max_evaluations):
        cand = order.copy()
        i, j = rng.choice(n, size=2, replace=False)
        if rng.random() < 0.5:
            cand[i], cand[j] = cand[j], cand[i]
        else:
            item = cand[i]
            cand = np.insert(np.delete(cand, i), j, item)
        schedule, cost = list_schedule(instance, cand)
        evaluations += 1
        if cost <= best_cost:
            order = cand
            if cost < best_cost:
                best_schedule, best_cost = schedule, cost
    return best_schedule, best_cost
