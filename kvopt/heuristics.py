"""Primal heuristics for the hindsight problem: better schedules than MC-SF's, fast.

A *priority list* fixes an order of the requests; its schedule comes from running MC-SF's
admission rule (exact output lengths, future-peak check, stop at the first request that does
not fit) with the waiting requests sorted by that order instead of by length. MC-SF is the list
sorted by (output, arrival, position). A seeded local search moves requests in the list (swap,
insertion) and keeps a move when the verified total latency does not get worse. Every schedule
it returns has passed :func:`kvopt.verify.verify`; the heuristic proves nothing about optimality.
"""

from __future__ import annotations

import math
import time

import numpy as np

from kvopt.instance import Instance
from kvopt.policies.mcsf import McSf
from kvopt.schedule import Schedule
from kvopt.sim.engine import simulate
from kvopt.verify import verify

__all__ = [
    "BACKFILL_SCAN", "VOLUME_WEIGHTS", "PriorityList", "backfill_schedule", "best_priority_list",
    "best_priority_order", "improve_order", "improved_priority_list", "list_schedule", "local_search",
]


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


def backfill_schedule(instance: Instance, order: np.ndarray, scan: int) -> tuple[Schedule, int]:
    """The schedule of priority list ``order`` with *backfilling*, and its verified cost.

    Like :func:`list_schedule` (MC-SF's admission rule with exact lengths: a request starts
    when, next to the running ones and those started before it this round, every future
    completion round stays within ``M``), except that a request that does not fit is passed
    over, up to ``scan`` of them per round, and later ones in the list may start.
    ``scan = 1`` is exactly :func:`list_schedule` (tested). Rounds where nothing can change are
    skipped: with the running set fixed, no passed-over request fits before its first-fit round
    (:meth:`~kvopt.policies.mcsf.Checkpoints.first_fit_round`), and nothing else changes before
    the next arrival or completion. For a hindsight incumbent only: the paper's policies never
    backfill.
    """
    import bisect

    from kvopt.policies.mcsf import Checkpoints

    if scan < 1:
        raise ValueError(f"scan must be at least 1, got {scan}")
    n, memory = instance.num_requests, instance.memory
    s, o, a = instance.prompt.tolist(), instance.output.tolist(), instance.arrival.tolist()
    rank = np.empty(n, dtype=np.int64)
    rank[np.asarray(order, dtype=np.int64)] = np.arange(n)
    by_arrival = np.argsort(instance.arrival, kind="stable").tolist()
    starts = [-1] * n
    waiting: list[tuple[int, int]] = []            # (rank, request), sorted
    running: dict[int, tuple[int, int]] = {}      # request -> (end, s - start)
    nxt, t, started = 0, (min(a) if n else 0), 0
    while started < n:
        while nxt < n and a[by_arrival[nxt]] <= t:
            i = by_arrival[nxt]
            bisect.insort(waiting, (int(rank[i]), i))
            nxt += 1
        for i in [i for i, (end, _) in running.items() if end <= t]:
            del running[i]
        points = Checkpoints(memory, running.values(), t)
        passed: list[int] = []
        x = 0
        while x < len(waiting) and len(passed) < scan:
            i = waiting[x][1]
            if points.try_add(t + o[i], s[i] - t, s[i] + o[i]):
                running[i] = (t + o[i], s[i] - t)
                starts[i] = t
                started += 1
                del waiting[x]
            else:
                passed.append(i)
                x += 1
        events = [a[by_arrival[nxt]]] if nxt < n else []
        events += [end for end, _ in running.values()]
        for i in passed:
            fit = points.first_fit_round(t, s[i], o[i])
            if fit is not None:
                events.append(fit)
        t = max(t + 1, min(events)) if events else t + 1
    schedule = Schedule.from_starts(starts, instance.output)
    return schedule, verify(instance, schedule).total_latency


#: requests passed over per round by :func:`best_priority_list`'s backfilling candidate
BACKFILL_SCAN = 32


#: weights ``w`` of the volume keys ``o s + w o^2`` tried by :func:`best_priority_list`
VOLUME_WEIGHTS = (0.25, 0.5, 1.0)


def best_priority_order(instance: Instance) -> tuple[np.ndarray, int, Schedule, int, str]:
    """The best of a few priority lists: MC-SF's (shortest output first) and *smallest memory
    volume first*, keys :math:`o s + w o^2` for ``w`` in :data:`VOLUME_WEIGHTS`
    (:math:`w = 1/2` is the volume a request holds over its run, up to :math:`o/2`), then the
    winning order again with backfilling (:func:`backfill_schedule`, :data:`BACKFILL_SCAN`).
    Returns the winning order, its backfilling scan (1: none), the verified schedule, its cost
    and the winner's name. Shortest-volume-first is Smith's rule for the memory-volume
    relaxation (:func:`kvopt.bounds.volume_bound`); on a heavily loaded 10,000-request trace it
    beats MC-SF's order by 11%, and by 12.5% with backfilling (``benchmarks/trace_bound.py``).
    """
    n = instance.num_requests
    s = instance.prompt.astype(np.float64)
    o = instance.output.astype(np.float64)
    keys = {"output": instance.output}
    keys.update({f"volume w={w}": o * s + w * o * o for w in VOLUME_WEIGHTS})
    best: tuple[np.ndarray, int, Schedule, int, str] | None = None
    for name, key in keys.items():
        order = np.lexsort((np.arange(n), instance.arrival, key))
        schedule, cost = list_schedule(instance, order)
        if best is None or cost < best[3]:
            best = (order, 1, schedule, cost, name)
    assert best is not None
    # the winning order again, with backfilling
    order = best[0]
    schedule, cost = backfill_schedule(instance, order, BACKFILL_SCAN)
    if cost < best[3]:
        best = (order, BACKFILL_SCAN, schedule, cost, f"{best[4]}, backfilling {BACKFILL_SCAN}")
    return best


def best_priority_list(instance: Instance) -> tuple[Schedule, int, str]:
    """:func:`best_priority_order`'s verified schedule, its cost and the winner's name."""
    return best_priority_order(instance)[2:]


def improved_priority_list(instance: Instance, rng: np.random.Generator, *, moves: int,
                           span: int | None = None, restarts: int = 1,
                           workers: int | None = None) -> tuple[Schedule, int, str]:
    """:func:`best_priority_order`'s list improved by ``moves`` local moves of at most ``span``
    positions (default: a fiftieth of the list) with :func:`improve_order`, under the winner's
    backfilling. With ``restarts > 1``, that many independent searches from the same list (one
    seed each, drawn from ``rng``), run on ``workers`` processes (default: one per restart, at
    most the CPU count); the best is kept. Returns the verified schedule, its cost and a
    description. Seeded: the same ``rng`` state, ``moves`` and ``restarts`` give the same
    schedule, whatever ``workers``. On the heavily loaded 10,000-request trace of
    ``benchmarks/trace_bound.py`` (0.3-0.5 s per move), 1,000 moves take the best list 0.5-1%
    lower, depending on the seed; parameter grids over the keys stop at about 0.3%."""
    order, scan, schedule, cost, name = best_priority_order(instance)
    if moves <= 0 or instance.num_requests < 2:
        return schedule, cost, name
    span = span if span is not None else max(1, instance.num_requests // 50)
    if restarts == 1:
        results = [_search(instance, order, scan, span, moves, rng)]
    else:
        jobs = [(instance, order, scan, span, moves, seed)
                for seed in rng.integers(2**63, size=restarts).tolist()]
        import multiprocessing
        import os

        procs = min(restarts, workers or os.cpu_count() or 1)
        if procs == 1:
            results = [_search_seeded(*job) for job in jobs]
        else:
            with multiprocessing.get_context("spawn").Pool(procs) as pool:
                results = pool.starmap(_search_seeded, jobs)
    best = min(range(len(results)), key=lambda r: (results[r][1], r))
    schedule, cost = results[best]
    how = f"{moves} local moves, span {span}" + (f", best of {restarts}" if restarts > 1 else "")
    return schedule, cost, f"{name}, {how}"


def _search(instance: Instance, order: np.ndarray, scan: int, span: int, moves: int,
            rng: np.random.Generator) -> tuple[Schedule, int]:
    _, schedule, cost = improve_order(instance, order, rng, scan=scan, span=span,
                                      max_evaluations=moves)
    return schedule, cost


def _search_seeded(instance: Instance, order: np.ndarray, scan: int, span: int, moves: int,
                   seed: int) -> tuple[Schedule, int]:
    """:func:`_search` in a worker process, from an integer seed."""
    return _search(instance, order, scan, span, moves, np.random.default_rng(seed))


def improve_order(instance: Instance, order: np.ndarray, rng: np.random.Generator, *,
                  scan: int = 1, span: int | None = None, time_limit_s: float | None = None,
                  max_evaluations: int | None = None) -> tuple[np.ndarray, Schedule, int]:
    """Hill-climb on priority list ``order``: random moves, each evaluated by the verified cost
    of its schedule (:func:`list_schedule`, or :func:`backfill_schedule` when ``scan > 1``),
    kept when the cost does not get worse (sideways moves allowed). Returns the final order,
    the best schedule and its cost.

    ``span=None`` draws two positions anywhere and swaps them or moves the first to the second
    (half each); ``span = d`` moves a random request by at most ``d`` positions, the move that
    pays on a long list where a random swap almost always hurts. Deterministic for a given
    ``rng`` state when ``max_evaluations`` bounds the work (a time limit alone makes the result
    depend on the machine's speed); with neither, one evaluation.
    """
    n = instance.num_requests

    def evaluate(cand: np.ndarray) -> tuple[Schedule, int]:
        return list_schedule(instance, cand) if scan == 1 else backfill_schedule(instance, cand,
                                                                                 scan)

    order = np.asarray(order, dtype=np.int64)
    best_schedule, best_cost = evaluate(order)
    if n < 2:
        return order, best_schedule, best_cost
    if time_limit_s is None and max_evaluations is None:
        max_evaluations = 1
    deadline = time.perf_counter() + (time_limit_s if time_limit_s is not None else math.inf)
    evaluations = 0
    while time.perf_counter() < deadline and (max_evaluations is None
                                              or evaluations < max_evaluations):
        cand = order.copy()
        if span is None:
            i, j = rng.choice(n, size=2, replace=False)
            swap = rng.random() < 0.5
        else:
            i = int(rng.integers(n))
            j = min(n - 1, max(0, i + int(rng.integers(-span, span + 1))))
            swap = False
        if swap:
            cand[i], cand[j] = cand[j], cand[i]
        else:
            item = cand[i]
            cand = np.insert(np.delete(cand, i), j, item)
        schedule, cost = evaluate(cand)
        evaluations += 1
        if cost <= best_cost:
            order = cand
            if cost < best_cost:
                best_schedule, best_cost = schedule, cost
    return order, best_schedule, best_cost


def local_search(instance: Instance, rng: np.random.Generator, *, time_limit_s: float = 1.0,
                 max_evaluations: int | None = None) -> tuple[Schedule, int]:
    """Improve MC-SF's priority list by random swaps and insertions anywhere in the list
    (:func:`improve_order`); return the best schedule found and its verified cost.

    Deterministic for a given ``rng`` state when ``max_evaluations`` bounds the work (a time
    limit alone makes the result depend on the machine's speed).
    """
    n = instance.num_requests
    order = np.lexsort((np.arange(n), instance.arrival, instance.output))  # MC-SF's list
    _, schedule, cost = improve_order(instance, order, rng, time_limit_s=time_limit_s,
                                      max_evaluations=max_evaluations)
    return schedule, cost
