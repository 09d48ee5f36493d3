"""The simulation engine: the only code that changes simulation state.

Same round semantics as the reference loop (:mod:`kvopt.sim.reference`, whose docstring states
them), but the engine visits only *event rounds*: a round in which a request arrives, a run
completes, the running requests would overflow the memory in the next round, or the policy
asked to be called (:attr:`~kvopt.sim.state.Decision.wake`). Between two event rounds the
running set is fixed, so its memory in round ``r`` is ``C + q r`` with ``C = sum(s_i - k_i)`` and
``q`` the number of running requests: the engine keeps ``C`` and ``q`` and finds the first
overflowing round by one division. Per-request state lives in int64 arrays (``run_start``,
``num_clearings``, the final start of every request); runs complete through a heap keyed by
completion round, with lazy deletion of evicted runs.

Every schedule must equal the reference loop's exactly, for every policy
(``tests/sim/test_engine.py``), and passes :func:`kvopt.verify.verify` before any report.
"""

from __future__ import annotations

import dataclasses
import heapq
import math
from typing import Protocol

import numpy as np

from kvopt.instance import Instance
from kvopt.schedule import Schedule
from kvopt.sim.reference import SimulationError, prediction_column, readonly, round_limit
from kvopt.sim.state import EMPTY_IDCS, Decision, SimState

__all__ = ["Policy", "SimResult", "SimulationError", "run", "simulate"]


class Policy(Protocol):
    """An online policy: ``reset`` once per run, then ``decide`` at (some) rounds."""

    name: str

    def reset(self, instance: Instance, rng: np.random.Generator) -> None: ...

    def decide(self, state: SimState) -> Decision: ...


@dataclasses.dataclass(frozen=True)
class SimResult:
    """A schedule and how much work the engine did to produce it."""

    schedule: Schedule
    num_decisions: int          # calls of policy.decide
    last_round: int             # the round the last request completed


def simulate(
    instance: Instance,
    policy: Policy,
    *,
    rng: np.random.Generator | None = None,
    predicted: np.ndarray | None = None,
) -> Schedule:
    """Run ``policy`` on ``instance``; return the schedule (verify it before reporting).

    Parameters
    ----------
    rng
        Passed to ``policy.reset``; default ``np.random.default_rng(0)``.
    predicted
        Output-length predictions the policy sees (default: ``instance.prediction()``).

    Raises
    ------
    SimulationError
        On an invalid or overflowing decision, or a stall.
    """
    return run(instance, policy, rng=rng, predicted=predicted).schedule


def run(
    instance: Instance,
    policy: Policy,
    *,
    rng: np.random.Generator | None = None,
    predicted: np.ndarray | None = None,
) -> SimResult:
    """:func:`simulate`, also counting the policy calls."""
    rng = np.random.default_rng(0) if rng is None else rng
    n, memory = instance.num_requests, instance.memory
    a = instance.arrival
    pred = prediction_column(instance, predicted)
    policy.reset(instance, rng)
    name = getattr(policy, "name", type(policy).__name__)
    s_list: list[int] = instance.prompt.tolist()
    o_list: list[int] = instance.output.tolist()
    a_list: list[int] = a.tolist()

    run_start = np.full(n, -1, dtype=np.int64)
    num_clearings = np.zeros(n, dtype=np.int64)
    final_start = np.full(n, -1, dtype=np.int64)
    start_of: list[int] = [-1] * n             # run_start as a list: fast scalar access
    done: list[bool] = [False] * n
    running: dict[int, None] = {}
    cleared: list[tuple[int, int, int]] = []
    heap: list[tuple[int, int, int]] = []      # (completion round, request, start round)
    const_tokens = 0                           # sum over running of s_i - k_i
    by_arrival = np.lexsort((np.arange(n), a))
    rounds, first = np.unique(a[by_arrival], return_index=True)
    group_rounds: list[int] = rounds.tolist()
    group_bounds: list[int] = first.tolist() + [n]
    num_groups = len(group_rounds)
    state = SimState(memory, a, instance.prompt, pred, readonly(run_start),
                     readonly(num_clearings), running.keys())
    by_arrival_ro = readonly(by_arrival)

    max_round = round_limit(instance)
    g = 0
    t = group_rounds[0] if n else 0
    num_done = num_waiting = num_decisions = 0
    while num_done < n:
        completed: list[int] = []
        while heap and heap[0][0] == t:
            _, i, k = heapq.heappop(heap)
            if start_of[i] != k:
                continue                       # that run was cleared
            del running[i]
            const_tokens -= s_list[i] - k
            start_of[i] = -1
            done[i] = True
            final_start[i] = k
            completed.append(i)
        num_done += len(completed)
        if num_done == n:
            break
        if completed:
            run_start[completed] = -1
        if g < num_groups and group_rounds[g] == t:
            lo, hi = group_bounds[g], group_bounds[g + 1]
            state.arrived = by_arrival_ro[lo:hi]
            num_waiting += hi - lo
            g += 1
        else:
            state.arrived = EMPTY_IDCS
        state.round = t
        state.completed = completed
        state.memory_next_tokens = const_tokens + len(running) * (t + 1)
        state.num_waiting = num_waiting
        decision = policy.decide(state)
        num_decisions += 1

        evict = decision.evict
        if len(evict):
            evict = evict.tolist() if isinstance(evict, np.ndarray) else [int(i) for i in evict]
            if len(set(evict)) != len(evict) or any(i not in running for i in evict):
                raise SimulationError(f"{name}: round {t}: evicts a request that is not running")
            for i in evict:
                k = start_of[i]
                cleared.append((i, k, t))
                del running[i]
                const_tokens -= s_list[i] - k
                start_of[i] = -1
            run_start[evict] = -1
            num_clearings[evict] += 1
            num_waiting += len(evict)
        admit = decision.admit
        if len(admit):
            admit = admit.tolist() if isinstance(admit, np.ndarray) else [int(i) for i in admit]
            for i in admit:
                if not (0 <= i < n) or start_of[i] >= 0 or done[i] or a_list[i] > t:
                    raise SimulationError(
                        f"{name}: round {t}: admits request {i}, which is not waiting")
                start_of[i] = t
                running[i] = None
                const_tokens += s_list[i] - t
                heapq.heappush(heap, (t + o_list[i], i, t))
            run_start[admit] = t
            num_waiting -= len(admit)
        q = len(running)
        mem_next = const_tokens + q * (t + 1)
        if mem_next > memory:
            raise SimulationError(
                f"{name}: round {t + 1} would hold {mem_next} KV tokens, over the memory {memory}"
            )

        nxt = math.inf
        if g < num_groups:
            nxt = group_rounds[g]
        if heap and heap[0][0] < nxt:
            nxt = heap[0][0]                   # possibly a cleared run: one harmless extra call
        if q:
            # first round r with C + q (r + 1) > M: the policy must clear at r
            overflow = (memory - const_tokens) // q
            nxt = min(nxt, overflow)
        wake = decision.wake
        if wake is not None:
            if wake <= t:
                nxt = t + 1
            elif wake < nxt:
                nxt = wake
        if nxt == math.inf:
            raise SimulationError(
                f"{name}: round {t}: nothing runs, nothing is admitted, no request will arrive "
                f"and the policy promises no later action ({num_waiting} wait)"
            )
        t = int(nxt)
        if t > max_round:
            raise SimulationError(f"{name}: still running at round {t}, past the limit "
                                  f"{max_round}: livelock?")

    final_end = final_start + instance.output
    if cleared:
        c = np.array(cleared, dtype=np.int64)
        req = np.concatenate([c[:, 0], np.arange(n)])
        start = np.concatenate([c[:, 1], final_start])
        end = np.concatenate([c[:, 2], final_end])
    else:
        req, start, end = np.arange(n), final_start, final_end
    last = int(final_end.max()) if n else 0
    return SimResult(Schedule(n, req, start, end), num_decisions, last)
