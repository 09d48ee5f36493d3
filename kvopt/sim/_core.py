"""The steps both event loops share, each rule written once.

:func:`kvopt.sim.engine.run` (rounds) and :func:`kvopt.sim.timed.simulate_timed` (seconds) visit
the same event rounds and apply the same round semantics (:mod:`kvopt.sim.reference`). They
differ only in when a request becomes visible and in how the clock moves between two event
rounds; :class:`EventCore` holds the mutable run state and everything else: retiring completed
runs, filling the :class:`~kvopt.sim.state.SimState`, calling the policy, validating and
applying evictions and admissions, checking the memory of the next round, and finding the next
round event.

Per-request state lives in int64 arrays (``run_start``, ``num_clearings``, ``final_start``)
mirrored by plain lists for fast scalar access; runs complete through a heap keyed by completion
round, with lazy deletion of evicted runs. The memory of round ``r`` between two event rounds is
``C + q r`` with ``C = const_tokens = sum(s_i - k_i)`` over the ``q`` running requests.
"""

from __future__ import annotations

import heapq
import math

import numpy as np

from kvopt.sim.reference import SimulationError, readonly
from kvopt.sim.state import SimState

__all__ = ["EventCore"]

_NO_ADMISSIONS: list[int] = []                 # shared, never mutated


class EventCore:
    """The mutable state of one run and the steps that change it.

    Parameters
    ----------
    policy
        Already ``reset``; ``decide`` is called by :meth:`decide`.
    name
        The policy's name, for error messages.
    memory
        ``M`` in tokens.
    arrival
        ``SimState.arrival`` (read-only; may be a live view the caller updates).
    arrival_rounds
        Arrival round of every request as a list, used to reject admissions of requests not yet
        arrived; the caller may update it in place (a request with a value ``> t`` is not
        visible at round ``t``).
    prompt, predicted
        ``SimState.prompt`` and ``SimState.predicted`` (read-only int64 columns).
    output
        True output lengths (int64 column).
    """

    __slots__ = (
        "admitted",
        "arrival_rounds",
        "cleared",
        "const_tokens",
        "done",
        "final_start",
        "heap",
        "memory",
        "n",
        "name",
        "num_clearings",
        "num_decisions",
        "num_done",
        "num_waiting",
        "o_list",
        "policy",
        "run_start",
        "running",
        "s_list",
        "start_of",
        "state",
    )

    def __init__(self, policy, name: str, memory: int, arrival: np.ndarray,
                 arrival_rounds: list[int], prompt: np.ndarray, predicted: np.ndarray,
                 output: np.ndarray) -> None:
        n = len(prompt)
        self.policy = policy
        self.name = name
        self.memory = memory
        self.n = n
        self.arrival_rounds = arrival_rounds
        self.s_list: list[int] = prompt.tolist()
        self.o_list: list[int] = output.tolist()
        self.run_start = np.full(n, -1, dtype=np.int64)
        self.num_clearings = np.zeros(n, dtype=np.int64)
        self.final_start = np.full(n, -1, dtype=np.int64)
        self.start_of: list[int] = [-1] * n        # run_start as a list: fast scalar access
        self.done: list[bool] = [False] * n
        self.running: dict[int, None] = {}
        self.cleared: list[tuple[int, int, int]] = []   # (request, start round, clearing round)
        self.heap: list[tuple[int, int, int]] = []      # (completion round, request, start round)
        self.const_tokens = 0                           # sum over running of s_i - k_i
        self.num_done = self.num_waiting = self.num_decisions = 0
        self.admitted: list[int] = _NO_ADMISSIONS       # admissions of the last decision
        self.state = SimState(memory, arrival, prompt, predicted, readonly(self.run_start),
                              readonly(self.num_clearings), self.running.keys())

    def step(self, t: int, arrived: np.ndarray, next_arrival: float = math.inf,
             more_arrivals: bool = False) -> float | None:
        """Event round ``t``: return the next event round, or ``None`` once every request is done.

        1. Retire the runs that complete at ``t``.
        2. Show the policy the state (``arrived``: the requests that became visible at ``t``;
           none can arrive at the round the last request completes) and take its
           :class:`~kvopt.sim.state.Decision`.
        3. Validate and apply its evictions, then its admissions (kept in :attr:`admitted`).
        4. Check that round ``t + 1`` fits in the memory.
        5. Find the next round event: a completion, an overflow, the policy's ``wake``, or
           ``next_arrival`` (an arrival round, if the caller knows it); ``inf`` if none.

        Raises
        ------
        SimulationError
            On an eviction of a request not running, an admission of one not waiting, an
            overflow of round ``t + 1``, or a stall: no next event and no ``more_arrivals``.
        """
        running, heap = self.running, self.heap
        const_tokens = self.const_tokens
        completed: list[int] = []
        if heap and heap[0][0] == t:
            start_of, s_list, done, final_start = (self.start_of, self.s_list, self.done,
                                                   self.final_start)
            while heap and heap[0][0] == t:
                _, i, k = heapq.heappop(heap)
                if start_of[i] != k:
                    continue                   # that run was cleared
                del running[i]
                const_tokens -= s_list[i] - k
                start_of[i] = -1
                done[i] = True
                final_start[i] = k
                completed.append(i)
            if completed:
                self.const_tokens = const_tokens
                self.num_done += len(completed)
                if self.num_done == self.n:
                    return None
                self.run_start[completed] = -1

        num_waiting = self.num_waiting + len(arrived)
        state = self.state
        state.arrived = arrived
        state.round = t
        state.completed = completed
        state.memory_next_tokens = const_tokens + len(running) * (t + 1)
        state.num_waiting = num_waiting
        self.num_decisions += 1
        decision = self.policy.decide(state)

        evict = decision.evict
        if len(evict):
            start_of, s_list = self.start_of, self.s_list
            evict = evict.tolist() if isinstance(evict, np.ndarray) else [int(i) for i in evict]
            if len(set(evict)) != len(evict) or any(i not in running for i in evict):
                raise SimulationError(
                    f"{self.name}: round {t}: evicts a request that is not running")
            cleared = self.cleared
            for i in evict:
                k = start_of[i]
                cleared.append((i, k, t))
                del running[i]
                const_tokens -= s_list[i] - k
                start_of[i] = -1
            self.run_start[evict] = -1
            self.num_clearings[evict] += 1
            num_waiting += len(evict)
        admit = decision.admit
        if len(admit):
            admit = admit.tolist() if isinstance(admit, np.ndarray) else [int(i) for i in admit]
            start_of, s_list, o_list = self.start_of, self.s_list, self.o_list
            n, done, arrival_rounds = self.n, self.done, self.arrival_rounds
            for i in admit:
                if not (0 <= i < n) or start_of[i] >= 0 or done[i] or arrival_rounds[i] > t:
                    raise SimulationError(
                        f"{self.name}: round {t}: admits request {i}, which is not waiting")
                start_of[i] = t
                running[i] = None
                const_tokens += s_list[i] - t
                heapq.heappush(heap, (t + o_list[i], i, t))
            self.run_start[admit] = t
            num_waiting -= len(admit)
            self.admitted = admit
        else:
            self.admitted = _NO_ADMISSIONS
        self.const_tokens, self.num_waiting = const_tokens, num_waiting
        q = len(running)
        mem_next = const_tokens + q * (t + 1)
        if mem_next > (memory := self.memory):
            raise SimulationError(f"{self.name}: round {t + 1} would hold {mem_next} KV tokens, "
                                  f"over the memory {memory}")

        nxt = next_arrival
        if heap and heap[0][0] < nxt:
            nxt = heap[0][0]                   # possibly a cleared run: one harmless extra call
        if q:
            # first round r with C + q (r + 1) > M: the policy must clear at r
            overflow = (memory - const_tokens) // q
            if overflow < nxt:  # noqa: PLR1730 (min() is a call per round: measurably slower)
                nxt = overflow
        wake = decision.wake
        if wake is not None:
            if wake <= t:
                nxt = t + 1
            elif wake < nxt:
                nxt = wake
        if nxt == math.inf and not more_arrivals:
            raise SimulationError(
                f"{self.name}: round {t}: nothing runs, nothing is admitted, no request will "
                f"arrive and the policy promises no later action ({num_waiting} wait)")
        return nxt

    def runs(self, output: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Every run as ``(request, start, end)`` columns, clearings first, and the last
        completion round (0 without requests)."""
        n = self.n
        final_end = self.final_start + output
        if self.cleared:
            c = np.array(self.cleared, dtype=np.int64)
            req = np.concatenate([c[:, 0], np.arange(n)])
            start = np.concatenate([c[:, 1], self.final_start])
            end = np.concatenate([c[:, 2], final_end])
        else:
            req, start, end = np.arange(n), self.final_start, final_end
        last = int(final_end.max()) if n else 0
        return req, start, end, last
