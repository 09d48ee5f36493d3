r"""Sorted-F (Wang, Ye and Zhou, arXiv 2508.06133), **reconstructed**.

The paper studies requests with heterogeneous prompts, where shortest-first (MC-SF) and FCFS can
be arbitrarily bad, and proposes *Sorted-F*: it repeatedly forms memory-feasible batches, chosen
by the metric :math:`F(X) = \sum_{i \in X} o_i / |X|^2` (smaller is better: many requests, little
decode work), with a constant approximation ratio (at most 48) for a backlog of requests that all
arrive at once. Only secondary accounts of the rule were available to kvopt (the abstract, which
says "repeatedly forms feasible batches using a new selection metric that balances batch size
against downstream decode cost", and summaries), so the rule below is a reconstruction; every
choice is kvopt's and is stated here, in its registry description and in ``docs/model.md``.

The rule as kvopt runs it, online (predictions in place of outputs, only revealed requests):

1. **Planned lengths.** ``p_i`` is the environment's point prediction, capped at ``M - s_i`` and
   raised to 1, as MC-SF (:mod:`kvopt.policies.mcsf`). The true outputs are never read.
2. **One batch at a time.** A batch runs until every member has completed; no request starts
   while any request runs. When the running set is empty and requests wait, a new batch starts
   at once (at round ``t``, all members together).
3. **Forming the batch.** The waiting requests are sorted by ``p_i``, ties by arrival round,
   then position. Walk that list and add a candidate if the batch, all started at ``t``, still
   fits ``M`` in every future round by the *predicted* memory (MC-SF's future-peak check over
   the batch alone); a candidate that does not fit is *skipped* (first fit), not a stop, since
   with heterogeneous prompts a large prompt must not block small ones. As all members start
   together and join in non-decreasing ``p``, the check is one comparison: ``s_j`` at most the
   batch's *slack* :math:`\min_d (M - W_d - d)` over its members' planned lengths ``d``, with
   :math:`W_d = \sum_{i: p_i \ge d} (s_i + d)` its predicted memory ``d`` rounds on (a new
   checkpoint of ``j``'s own holds ``s_j + p_j <= M`` by the cap); the walk ends early when the
   slack is below the smallest prompt seen so far (``tests/policies/test_sortedf.py`` checks it
   against MC-SF's general check without the early end).
4. **Choosing by F.** Among the prefixes ``X_k`` (the first ``k`` requests added), start the
   one with the smallest :math:`F(X_k) = \sum_{i \in X_k} p_i / k^2`, ties to the larger ``k``.
   Every prefix of a feasible batch started together is feasible. As the ``p_i`` added are
   non-decreasing, this drops the tail of requests whose ``p`` exceeds about twice the batch's
   mean (request ``k + 1`` joins iff it lowers or keeps ``F``), which would hold the whole batch.
   The requests not started wait for the next batch.
5. **Wrong predictions.** If the real memory of round ``t + 1`` would exceed ``M`` (an overrun),
   clear running requests most recently started first until it fits (MC-SF's rule), admit
   nothing, and put the cleared requests back among the waiting ones in the sorted order; the
   rest of the batch runs on.

The decision depends only on arrivals, completions and the policy's own decisions, so the
event-skipping engine never needs a wake round: a batch can only start after a completion or an
arrival (``tests/policies/test_sortedf.py`` checks the engine against the per-round loop).
"""

from __future__ import annotations

import bisect

import numpy as np

from kvopt.policies.base import most_recent_victims
from kvopt.sim.state import IDLE, Decision, PolicyContext, SimState

__all__ = ["SortedF", "best_f_prefix"]


def best_f_prefix(planned: list[int]) -> int:
    """The ``k`` minimising ``sum(planned[:k]) / k**2`` over ``k = 1..len(planned)``, ties to
    the larger ``k`` (exact integer comparison)."""
    best_k, best_sum, total = 1, planned[0], 0
    for k, p in enumerate(planned, 1):
        total += p
        if total * best_k * best_k <= best_sum * k * k:
            best_k, best_sum = k, total
    return best_k


class SortedF:
    """Sorted-F (reconstructed): one memory-feasible batch at a time, the prefix of smallest
    ``F = sum p / |X|^2`` of a first-fit batch in increasing predicted output."""

    name = "sorted-f"

    def reset(self, context: PolicyContext, rng: np.random.Generator) -> None:
        n = context.num_requests
        self._memory = context.memory
        self._s: list[int] = [0] * n
        self._a: list[int] = [0] * n
        self._p: list[int] = [0] * n
        self._pool: list[tuple[int, int, int]] = []   # waiting: (p, arrival, position), sorted
        self._min_s: int | None = None

    def _arrive(self, state: SimState) -> None:
        s, a, p, memory, pool = self._s, self._a, self._p, self._memory, self._pool
        prompt, arrival, predicted = state.prompt.item, state.arrival.item, state.predicted.item
        min_s = self._min_s
        keys = []
        for i in state.arrived.tolist():
            si = s[i] = prompt(i)
            ai = a[i] = arrival(i)
            pi = predicted(i)
            cap = memory - si
            pi = p[i] = cap if pi > cap else (pi if pi > 1 else 1)
            keys.append((pi, ai, i))
            if min_s is None or si < min_s:
                min_s = si
        self._min_s = min_s
        if len(keys) > len(pool) // 8:
            pool.extend(keys)
            pool.sort()
        else:
            for key in keys:
                bisect.insort(pool, key)

    def decide(self, state: SimState) -> Decision:
        t = state.round
        if len(state.arrived):
            self._arrive(state)
        if state.memory_next_tokens > state.memory:
            victims = most_recent_victims(state, self._s)
            for i in victims:
                bisect.insort(self._pool, (self._p[i], self._a[i], i))
            return Decision(clear=victims, wake=t + 1)
        pool = self._pool
        if len(state.running) or not pool:
            return IDLE
        s, p, memory = self._s, self._p, state.memory
        # All members start at t and join in non-decreasing p, so with checkpoints d (planned
        # lengths of members) holding W_d = sum over members with p >= d of (s + d), candidate j
        # fits iff s_j <= min_d (M - W_d - d): MC-SF's future-peak check, written for this case
        # (its own new checkpoint holds s_j + p_j <= M by the cap).
        marks: list[int] = []       # the distinct d, increasing
        loads: list[int] = []       # W_d
        slack = memory
        least = self._min_s or 0
        joined: list[int] = []
        where: list[int] = []       # their positions in the pool
        for pos, key in enumerate(pool):
            sj = s[key[2]]
            if sj > slack:
                continue
            pj = key[0]
            slack = memory
            for x, d in enumerate(marks):
                w = loads[x] = loads[x] + sj + d
                if memory - w - d < slack:
                    slack = memory - w - d
            if not marks or marks[-1] != pj:
                marks.append(pj)
                loads.append(sj + pj)
                if memory - sj - pj - pj < slack:
                    slack = memory - sj - pj - pj
            joined.append(key[2])
            where.append(pos)
            if slack < least:
                break
        k = best_f_prefix([p[j] for j in joined])
        for pos in reversed(where[:k]):
            del pool[pos]
        return Decision(admit=joined[:k])
