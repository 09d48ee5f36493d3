"""Primal heuristics for the hindsight problem: better schedules than MC-SF's, fast.

A *priority list* fixes an order of the requests; its schedule comes from running MC-SF's
admission rule (exact output lengths, future-peak check, stop at the first request that does
not fit) with the waiting requests sorted by that order instead of by length. MC-SF is the list
sorted by (output, arrival, position). A seeded local search moves requests in the list (swap,
insertion) and keeps a move when the verified total latency does not get worse. A *serial*
list (:func:`serial_schedule`) places the requests one at a time instead, each at its earliest
fit next to those before it, so it can hold rounds for a request still to arrive. Every schedule
they return has passed :func:`kvopt.verify.verify`; they prove nothing about optimality.
"""

from __future__ import annotations

import math
import time

import numpy as np

from kvopt.hindsight.windows import identical_groups
from kvopt.instance import Instance
from kvopt.policies.mcsf import McSf
from kvopt.schedule import Schedule
from kvopt.sim.engine import simulate
from kvopt.verify import verify

__all__ = [
    "BACKFILL_SCAN", "SERIAL_MAX_REQUESTS", "SERIAL_MOVES", "VOLUME_WEIGHTS", "PriorityList",
    "backfill_schedule", "best_priority_list", "best_priority_order", "improve_order",
    "improved_priority_list", "list_schedule", "local_search", "serial_schedule", "serial_search",
    "twins_in_order", "warm_start_schedule",
]


def twins_in_order(instance: Instance, schedule: Schedule) -> Schedule:
    """The same schedule with identical requests' starts sorted by position: same memory in
    every round and same cost, and it satisfies the formulation's symmetry rows."""
    starts = schedule.final_starts().copy()
    for group in identical_groups(instance):
        starts[group] = np.sort(starts[group])
    return Schedule.from_starts(starts, instance.output)


def warm_start_schedule(instance: Instance) -> Schedule:
    """MC-SF's schedule, identical requests in position order (:func:`twins_in_order`): the
    first incumbent of every solve, and the upper bound that narrows the start windows of
    ``kvopt bound`` and ``kvopt export``."""
    return twins_in_order(instance, simulate(instance, McSf()))


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


#: moves of :func:`serial_search` before every :func:`kvopt.hindsight.solve.solve` (0.15 s at
#: n = 10); its arrays span the serial horizon, so solve runs it only up to
#: :data:`SERIAL_MAX_REQUESTS`
SERIAL_MOVES = 1000
#: after its ``moves`` list moves, :func:`serial_search` makes this many times as many again,
#: this share of them changing one request's delay instead of the list
SERIAL_DELAY_EXTRA = 1.0
SERIAL_DELAY_SHARE = 0.3
SERIAL_MAX_REQUESTS = 300

#: weights ``w`` of the volume keys ``o s + w o^2`` tried by :func:`best_priority_list`
VOLUME_WEIGHTS = (0.25, 0.5, 1.0)


def _key_orders(instance: Instance) -> dict[str, np.ndarray]:
    """MC-SF's list (key ``output``) and the volume lists (keys ``o s + w o^2``, ``w`` in
    :data:`VOLUME_WEIGHTS`), each sorted by key, then arrival, then position."""
    s = instance.prompt.astype(np.float64)
    o = instance.output.astype(np.float64)
    keys = {"output": instance.output}
    keys.update({f"volume w={w}": o * s + w * o * o for w in VOLUME_WEIGHTS})
    positions = np.arange(instance.num_requests)
    return {name: np.lexsort((positions, instance.arrival, key)) for name, key in keys.items()}


def best_priority_order(instance: Instance) -> tuple[np.ndarray, int, Schedule, int, str]:
    """The best of a few priority lists: MC-SF's (shortest output first) and *smallest memory
    volume first*, keys :math:`o s + w o^2` for ``w`` in :data:`VOLUME_WEIGHTS`
    (:math:`w = 1/2` is the volume a request holds over its run, up to :math:`o/2`), then the
    winning order again with backfilling (:func:`backfill_schedule`, :data:`BACKFILL_SCAN`).
    Returns the winning order, its backfilling scan (1: none), the verified schedule, its cost
    and the winner's name. Shortest-volume-first is Smith's rule for the memory-volume
    relaxation (:func:`kvopt.hindsight.bounds.combinatorial.volume_bound`); on a heavily loaded
    10,000-request trace it beats MC-SF's order by 11%, and by 12.5% with backfilling
    (``benchmarks/trace_bound.py``).
    """
    best: tuple[np.ndarray, int, Schedule, int, str] | None = None
    for name, order in _key_orders(instance).items():
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


def _window_max(values: np.ndarray, width: int) -> np.ndarray:
    """``out[k] = max(values[k : k + width])`` for ``k = 0 .. len(values) - width``, by doubling
    (``O(len * log width)``)."""
    length = len(values) - width + 1
    out = None
    offset, span, level = 0, 1, values
    rest = width
    while rest:
        if rest & 1:
            piece = level[offset:offset + length]
            out = piece if out is None else np.maximum(out, piece)
            offset += span
        rest >>= 1
        if rest:
            level = np.maximum(level[:-span], level[span:])
            span *= 2
    assert out is not None
    return out


def _serial_starts(instance: Instance, order: np.ndarray,
                   delay: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """The start rounds of :func:`serial_schedule` and their total latency (not verified)."""
    a, s, o = instance.arrival.tolist(), instance.prompt.tolist(), instance.output.tolist()
    first = a if delay is None else (instance.arrival + delay).tolist()
    memory = int(instance.memory)
    # k <= max(first round, end - 1) for each request, so end <= max(first) + sum(o) + 1
    size = (max(first) + sum(o) + max(o) + 2) if a else 0
    held = np.zeros(size, dtype=np.int64)       # tokens held in each round so far
    rounds = np.arange(size, dtype=np.int64)
    end = 0                                     # held[t] == 0 for every t >= end
    starts = np.zeros(len(a), dtype=np.int64)
    for i in np.asarray(order, dtype=np.int64).tolist():
        lo, si, oi = first[i], s[i], o[i]
        k = lo
        if lo + 1 < end:
            # k fits iff held[t] + s_i + t - k <= M for t = k+1 .. k+o_i, i.e. the largest
            # held[t] + t over that window is at most M - s_i + k; k = end - 1 always fits
            peak = _window_max(held[lo + 1:end + oi] + rounds[lo + 1:end + oi], oi)
            fits = np.flatnonzero(peak <= memory - si + rounds[lo:end])
            k = lo + int(fits[0]) if len(fits) else end
        held[k + 1:k + oi + 1] += si + np.arange(1, oi + 1)
        end = max(end, k + oi + 1)
        starts[i] = k
    return starts, int((starts - instance.arrival + instance.output).sum())


def serial_schedule(instance: Instance, order: np.ndarray,
                    delay: np.ndarray | None = None) -> tuple[Schedule, int]:
    r"""The *serial* schedule of priority list ``order`` and its verified total latency.

    Requests are placed one at a time in list order, each at the earliest round
    :math:`k \ge a_i + d_i` (``delay`` :math:`d`, default 0) at which it fits, in every round
    of its run, next to the requests placed before it (their rounds are already fixed). Unlike
    :func:`list_schedule`, which walks the rounds in time order and starts whatever fits, a
    request may be placed *before* requests placed earlier in the list, or after a gap that a
    later arrival fills: the list can hold rounds back for a short request still to arrive.
    The schedule is feasible by construction (each placement checks all its rounds against
    everything placed so far, and later placements only check against more).
    """
    starts, _ = _serial_starts(instance, order, delay)
    schedule = Schedule.from_starts(starts.tolist(), instance.output)
    return schedule, verify(instance, schedule).total_latency


def serial_search(instance: Instance, rng: np.random.Generator, *, moves: int,
                  incumbent: Schedule | None = None,
                  time_limit_s: float | None = None) -> tuple[Schedule, int]:
    """Hill-climb on priority lists decoded by :func:`serial_schedule`.

    Starts from the best serial schedule of MC-SF's list, the volume lists of
    :func:`best_priority_order` and the order of ``incumbent``'s start rounds (default:
    :func:`best_priority_list`'s schedule); then
    ``moves`` random moves (swap two requests or move one to another position, half each),
    each kept when the total latency does not get worse, stopping early after ``time_limit_s``;
    then ``SERIAL_DELAY_EXTRA * moves`` more, of which a share :data:`SERIAL_DELAY_SHARE`
    holds one request back a round more or one less (its delay :math:`d_i` in
    :func:`serial_schedule`): earliest placement never leaves a round free for a request
    placed later, and optima do (n = 10, round 0, ``M = 39``: the optimum 322 starts a request
    at round 1, not 0). Returns the best schedule, verified, and its cost. Deterministic for a
    given ``rng`` state unless the time limit stops it.

    The delay moves, measured (seed 0): on the 20 instances below, the total of the schedules
    falls from 7,385 to 7,361 (322, 310, 407, 275 and 289 found instead of 327, 319, 409, 279
    and 293; 1,000 more list moves instead find nothing); on 10 paper-size instances from
    91,842 to 91,566 (1,057 -> 1,029 at n = 24), where 1,000 more list moves reach 91,427.

    Measured (1,000 moves, 0.1-0.2 s at n = 10-12): on the 20 instances of
    ``benchmarks/ip_paper.py --sizes 10,12``, it finds the proven optimum on 12, against 7 for
    the same number of moves on :func:`list_schedule`; with Poisson arrivals it is 0-15% better
    than that search (651 -> 566, the optimum, on one instance), because it can leave rounds for
    a request that has not arrived yet.
    """
    n = instance.num_requests
    if n == 0:
        return Schedule.from_starts([], np.zeros(0, np.int64)), 0
    if incumbent is None:
        incumbent = best_priority_list(instance)[0]
    candidates = list(_key_orders(instance).values())
    candidates.append(np.lexsort((np.arange(n), incumbent.final_starts())))
    decoded = [_serial_starts(instance, order) for order in candidates]
    first = min(range(len(candidates)), key=lambda c: (decoded[c][1], c))
    order = candidates[first]
    best_starts, best_cost = decoded[first]
    delay = np.zeros(n, dtype=np.int64)
    deadline = math.inf if time_limit_s is None else time.perf_counter() + time_limit_s
    extra = int(SERIAL_DELAY_EXTRA * moves)
    for move in range(moves + extra if n >= 2 else 0):
        if time.perf_counter() > deadline:
            break
        cand, cand_delay = order, delay
        if move >= moves and rng.random() < SERIAL_DELAY_SHARE:
            # hold one request back a round more, or one less
            r = int(rng.integers(n))
            cand_delay = delay.copy()
            cand_delay[r] = max(0, cand_delay[r] + (1 if rng.random() < 0.5 else -1))
        else:
            i, j = rng.choice(n, size=2, replace=False)
            cand = order.copy()
            if rng.random() < 0.5:
                cand[i], cand[j] = cand[j], cand[i]
            else:
                cand = np.insert(np.delete(cand, i), j, cand[i])
        starts, cost = _serial_starts(instance, cand, cand_delay)
        if cost <= best_cost:
            order, delay = cand, cand_delay
            if cost < best_cost:
                best_starts, best_cost = starts, cost
    schedule = Schedule.from_starts(best_starts.tolist(), instance.output)
    return schedule, verify(instance, schedule).total_latency


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
