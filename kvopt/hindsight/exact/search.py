r"""Branch and bound over decision rounds, with memoisation: an exact hindsight optimum.

The search walks rounds in time order. At decision round :math:`t` the *state* is the set of
requests already started, the running ones (what matters of each for the future is its completion
round and the tokens it holds now), and :math:`t` itself while requests are still to arrive. A
decision starts a subset :math:`S` of the arrived, unstarted requests at :math:`t` such that, with
the true output lengths, the memory of every future round stays at most :math:`M` (checking each
completion round suffices: between two completions memory only grows). Every schedule is a
sequence of such decisions, so minimising over all of them is exact.

Cost: the latency of request :math:`j` is :math:`k_j + o_j - a_j`; the search minimises the
waiting :math:`\sum_j (k_j - a_j)`. From a state at :math:`t`, the *cost to go* is
:math:`h = \sum_{j \text{ unstarted}} (k_j - \max(a_j, t))`, which does not depend on :math:`t`
once every request has arrived: states that differ only in :math:`t` share one memo entry.

Exact reductions:

* **Skipping rounds.** After a decision at :math:`t`, the next decision round is the first
  :math:`t' > t` at which some unstarted request can start (alone, next to the running ones) or
  arrives. At rounds strictly between, no single request fits, and adding others only adds memory,
  so every decision there is empty.
* **Identical requests** (same :math:`a, s, o`) start in position order: exchanging two of them
  changes neither memory nor cost.
* **Idling with nothing to wait for.** With nothing running and no request still to arrive, an
  empty decision leads to the same state one round later with every waiting request one round
  older: never better, so it is not explored.
* **Bound.** A request cannot start before the first round at which it fits next to the running
  requests (others only add memory): :math:`h \ge \sum_j (f_j - \max(a_j, t))`, where
  :math:`f_j` is that round. Subtrees whose bound reaches the incumbent are cut.

Memo entries are exact values or, for a search cut at a limit, lower bounds; a lower bound is
reused only against a limit it already reaches.
"""

from __future__ import annotations

import dataclasses
import sys
import time

from kvopt.instance import Instance

__all__ = ["ExactResult", "exact_search"]


class _Timeout(Exception):
    pass


@dataclasses.dataclass(frozen=True)
class ExactResult:
    """``starts`` of an optimal schedule and its total latency, when ``proven``; otherwise the
    best found (``None`` if none beat the given incumbent) and a proven lower bound."""

    proven: bool
    objective: int | None
    starts: list[int] | None
    bound: int
    nodes: int


def exact_search(instance: Instance, *, upper_bound: int | None = None,
                 time_limit_s: float | None = None, max_nodes: int | None = None) -> ExactResult:
    """Search for an optimal schedule.

    Parameters
    ----------
    upper_bound
        Total latency of a known schedule; only strictly better schedules are searched for
        (``objective`` is then ``None`` when none exists, and the known one is optimal).
    time_limit_s, max_nodes
        Stop early: the result is then not ``proven``.
    """
    a = instance.arrival.tolist()
    s = instance.prompt.tolist()
    o = instance.output.tolist()
    n, memory = len(a), instance.memory
    total_o = sum(o)
    if n == 0:
        return ExactResult(True, 0, [], 0, 0)
    deadline = None if time_limit_s is None else time.perf_counter() + time_limit_s
    key_of = [(a[i], s[i], o[i]) for i in range(n)]
    # position of the previous identical request (or -1): it must start first
    prev_twin = [-1] * n
    last_seen: dict[tuple[int, int, int], int] = {}
    for i in range(n):
        prev_twin[i] = last_seen.get(key_of[i], -1)
        last_seen[key_of[i]] = i
    order = sorted(range(n), key=lambda i: (o[i], s[i], a[i], i))
    last_arrival = max(a)
    full = (1 << n) - 1
    memo: dict[tuple, tuple[int, bool, tuple | None]] = {}
    nodes = [0]

    def fits(running: tuple, t: int, j: int, k: int) -> bool:
        """Does ``j`` started at ``k >= t`` fit next to ``running`` ((end, s - k) pairs)?"""
        cj, dj = k + o[j], s[j] - k
        # checkpoints: completion rounds >= k+1 of every member, and j's own
        for r, _ in running:
            if r <= k:
                continue
            mem = sum(d + r for (e, d) in running if e >= r)
            if r <= cj:
                mem += dj + r
            if mem > memory:
                return False
        mem = sum(d + cj for (e, d) in running if e >= cj) + dj + cj
        return mem <= memory

    def first_fit(running: tuple, t: int, j: int) -> int:
        k = max(t, a[j])
        last_end = max((e for e, _ in running), default=k)
        while k < last_end and not fits(running, t, j, k):
            k += 1
        return k

    def subsets(running: tuple, t: int, waiting: list[int], started: int):
        """Feasible subsets of ``waiting`` to start at ``t`` (largest first, then in order)."""
        out: list[tuple[int, ...]] = []

        def rec(idx: int, chosen: list[int], run: tuple, mask: int) -> None:
            if idx == len(waiting):
                out.append(tuple(chosen))
                return
            j = waiting[idx]
            tw = prev_twin[j]
            if (tw < 0 or (mask >> tw) & 1) and fits(run, t, j, t):
                chosen.append(j)
                rec(idx + 1, chosen, run + ((t + o[j], s[j] - t),), mask | (1 << j))
                chosen.pop()
            rec(idx + 1, chosen, run, mask)

        rec(0, [], running, started)
        return out

    def search(t: int, started: int, running: tuple, limit: int) -> int:
        """Minimum cost to go (>= ``limit`` means: no value below ``limit``, a lower bound)."""
        nodes[0] += 1
        # every node: on long horizons one node's first-fit scans take a long time
        if deadline is not None and time.perf_counter() > deadline:
            raise _Timeout
        if max_nodes is not None and nodes[0] > max_nodes:
            raise _Timeout
        running = tuple(sorted((e, d) for e, d in running if e > t))
        if started == full:
            return 0
        pending = t < last_arrival and any(not (started >> j) & 1 and a[j] > t for j in range(n))
        rel = tuple((e - t, d + t) for e, d in running)
        key = (t if pending else -1, started, rel)
        hit = memo.get(key)
        if hit is not None:
            value, exact, _ = hit
            if exact or value >= limit:
                return value
        waiting = [j for j in order if not (started >> j) & 1 and a[j] <= t]
        unarrived = [j for j in range(n) if not (started >> j) & 1 and a[j] > t]
        # bound: nobody starts before it fits alone next to the running requests
        lower = sum(first_fit(running, t, j) - t for j in waiting)
        lower += sum(first_fit(running, a[j], j) - a[j] for j in unarrived)
        if lower >= limit:
            memo[key] = (max(lower, hit[0] if hit else 0), False, None)
            return lower
        best, best_choice = limit, None
        for choice in subsets(running, t, waiting, started):
            if not choice and not running and not unarrived:
                continue  # idling with nothing to wait for never helps
            new_started = started
            for j in choice:
                new_started |= 1 << j
            new_running = running + tuple((t + o[j], s[j] - t) for j in choice)
            rest = [j for j in waiting if not (new_started >> j) & 1]
            if new_started == full:
                t_next = t + 1
            else:
                cand = [first_fit(new_running, t + 1, j) for j in rest]
                cand += [first_fit(new_running, a[j], j) for j in unarrived]
                t_next = max(t + 1, min(cand))
                nxt_arrival = min((a[j] for j in unarrived), default=None)
                if nxt_arrival is not None:
                    t_next = min(t_next, max(t + 1, nxt_arrival))
            step = len(rest) * (t_next - t)
            if step >= best:
                continue
            value = step + search(t_next, new_started, new_running, best - step)
            if value < best:
                best, best_choice = value, (choice, t_next - t)  # relative: memo keys drop t
        exact = best < limit
        memo[key] = (best if exact else max(best, lower), exact, best_choice if exact else None)
        return best

    def walk(t0: int) -> list[int]:
        starts = [-1] * n
        t, started = t0, 0
        running: tuple[tuple[int, int], ...] = ()
        while started != full:
            running = tuple(sorted((e, d) for e, d in running if e > t))
            pending = t < last_arrival and any(not (started >> j) & 1 and a[j] > t
                                               for j in range(n))
            rel = tuple((e - t, d + t) for e, d in running)
            _, exact, choice = memo[(t if pending else -1, started, rel)]
            assert exact and choice is not None
            picked, delta = choice
            for j in picked:
                starts[j] = t
                started |= 1 << j
            running = running + tuple((t + o[j], s[j] - t) for j in picked)
            t += delta
        return starts

    t0 = min(a)
    wait_limit = (upper_bound - total_o) if upper_bound is not None else sys.maxsize
    # one recursion level per decision round; restored on return (no global state left behind)
    old_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(10_000, old_limit))
    try:
        value = search(t0, 0, (), wait_limit)
    except _Timeout:
        root = memo.get((t0 if t0 < last_arrival else -1, 0, ()))
        bound = total_o + (root[0] if root else 0)
        return ExactResult(False, None, None, bound, nodes[0])
    finally:
        sys.setrecursionlimit(old_limit)
    if value >= wait_limit:
        # nothing strictly better than the given schedule: it is optimal
        return ExactResult(True, None, None, total_o + wait_limit, nodes[0])
    return ExactResult(True, total_o + value, walk(t0), total_o + value, nodes[0])
