"""What every engine shares, each rule written once.

* :class:`RevealedColumns`: the engine's side of the
  :class:`~kvopt.sim.state.PolicyContext`, revealing a request's columns when it arrives. All
  three engines (:mod:`kvopt.sim.engine`, :mod:`kvopt.sim.reference`, :mod:`kvopt.sim.timed`)
  build the context and reveal arrivals through it.
* :func:`reject_unsupported`: the verbs no engine applies yet (swap, migration).
* :class:`EventCore`: the steps of the two event loops, :func:`kvopt.sim.engine.run` (rounds)
  and :func:`kvopt.sim.timed.simulate_timed` (seconds). They visit the same event rounds and
  apply the same round semantics (:mod:`kvopt.sim.reference`), and differ only in when a request
  becomes visible and in how the clock moves between two event rounds; :class:`EventCore` holds
  the mutable run state and everything else: retiring completed runs, revealing arrivals,
  filling the :class:`~kvopt.sim.state.SimState`, calling the policy, validating and applying
  its verbs (clearings, then admissions), checking the memory of the next round, and finding
  the next round event.

Per-request state lives in int64 arrays (``run_start``, ``num_clearings``, ``final_start``)
mirrored by plain lists for fast scalar access; runs complete through a heap keyed by completion
round, with lazy deletion of cleared runs (the policy is never called at a round that only a
cleared run's true output would explain).
The memory of round ``r`` between two event rounds is ``C + q r`` with
``C = const_tokens = sum(s_i - k_i)`` over the ``q`` running requests.
"""

from __future__ import annotations

import heapq
import math
from typing import TYPE_CHECKING

import numpy as np

from kvopt.exceptions import KvoptError
from kvopt.instance import Instance
from kvopt.sim.predictions import Predictions
from kvopt.sim.state import UNREVEALED, Decision, PolicyContext, SimState, readonly
from kvopt.time_model import TimeModel

if TYPE_CHECKING:
    from kvopt.policies.base import Policy

__all__ = ["EventCore", "RevealedColumns", "SimulationError", "reject_unsupported",
           "round_limit"]

_NO_ADMISSIONS: list[int] = []                 # shared, never mutated
_NO_VERB: tuple[int, ...] = ()                 # Decision's default for every verb
_VECTOR_REVEAL = 16                            # arrivals from which revealing is vectorised


class SimulationError(KvoptError):
    """A policy made an impossible decision, overflowed the memory, or stalled."""


def round_limit(instance: Instance) -> int:
    """A round no sane run reaches: the last arrival plus 100 times the serial makespan."""
    if instance.num_requests == 0:
        return 0
    return int(instance.arrival.max()) + 100 * int(instance.output.sum()) + 100


def reject_unsupported(name: str, t: int, decision: Decision) -> None:
    """Raise if ``decision`` uses a verb these engines do not apply (swap, migration)."""
    for verb in ("swap_out", "swap_in", "migrate"):
        if len(getattr(decision, verb)):
            raise SimulationError(f"{name}: round {t}: {verb} is not supported by this engine "
                                  f"(one replica, clearing only)")


class RevealedColumns:
    """The engine's side of a :class:`~kvopt.sim.state.PolicyContext`: the buffers behind its
    columns, filled as requests arrive, and the sources they are filled from.

    Every engine builds one before ``policy.reset`` and calls :meth:`reveal` with the requests
    that arrive at a round before showing that round's state. Nothing reachable from
    :attr:`context` leads back here or to the instance: the buffers are fresh arrays, the
    sources private copies.

    Parameters
    ----------
    memory
        ``M`` in tokens.
    prompt
        Prompt tokens of every request (int64[n]).
    predictions
        The environment's predictions (:func:`kvopt.sim.predictions.resolve_predictions`).
    time_model
        For the engine in seconds.

    Attributes
    ----------
    context
        What the policy is given.
    prompt_list
        Prompt tokens as a list (the engines' fast scalar access).
    arrival_list
        The revealed arrival round of every request as a list, :data:`UNREVEALED` before.
    """

    __slots__ = ("_arrival", "_intervals", "_predicted", "_predicted_source", "_prompt",
                 "_prompt_source", "arrival_list", "context", "prompt_list")

    def __init__(self, memory: int, prompt: np.ndarray, predictions: Predictions,
                 time_model: TimeModel | None = None) -> None:
        n = len(prompt)
        self._prompt_source = np.array(prompt, dtype=np.int64)
        self.prompt_list: list[int] = self._prompt_source.tolist()
        self.arrival_list: list[int] = [UNREVEALED] * n
        self._predicted_source = np.array(predictions.predicted, dtype=np.int64)
        self._arrival = np.full(n, UNREVEALED, dtype=np.int64)
        self._prompt = np.full(n, UNREVEALED, dtype=np.int64)
        self._predicted = np.full(n, UNREVEALED, dtype=np.int64)
        # intervals that are the point predictions share their buffer (one write less)
        self._intervals: list[tuple[np.ndarray, np.ndarray]] = []
        bounds = []
        for col in (predictions.lower, predictions.upper):
            if col is predictions.predicted:
                bounds.append(self._predicted)
            else:
                buf = np.full(n, UNREVEALED, dtype=np.int64)
                self._intervals.append((buf, np.array(col, dtype=np.int64)))
                bounds.append(buf)
        self.context = PolicyContext(
            memory, readonly(self._arrival), readonly(self._prompt), readonly(self._predicted),
            readonly(bounds[0]), readonly(bounds[1]), time_model=time_model)

    def reveal(self, idcs: np.ndarray, t: int) -> None:
        """Requests ``idcs`` arrive at round ``t``: fill their entries of every column."""
        arrival_list = self.arrival_list
        if len(idcs) < _VECTOR_REVEAL:
            arrival, prompt, predicted, source = (self._arrival, self._prompt, self._predicted,
                                                  self._predicted_source)
            prompt_list = self.prompt_list
            for i in idcs.tolist():
                arrival_list[i] = t
                arrival[i] = t
                prompt[i] = prompt_list[i]
                predicted[i] = source[i]
            if self._intervals:
                for buf, src in self._intervals:
                    buf[idcs] = src[idcs]
            return
        for i in idcs.tolist():
            arrival_list[i] = t
        self._arrival[idcs] = t
        self._prompt[idcs] = self._prompt_source[idcs]
        self._predicted[idcs] = self._predicted_source[idcs]
        for buf, src in self._intervals:
            buf[idcs] = src[idcs]


class EventCore:
    """The mutable state of one run and the steps that change it.

    Parameters
    ----------
    policy
        Already ``reset``; ``decide`` is called by :meth:`step`.
    name
        The policy's name, for error messages.
    columns
        The revealed columns (their context was given to ``policy.reset``); :meth:`step`
        reveals the requests that arrive.
    output
        True output lengths (int64 column): when each run completes.
    """

    __slots__ = (
        "admitted",
        "arrival_list",
        "cleared",
        "columns",
        "const_tokens",
        "done",
        "due",
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

    def __init__(self, policy: Policy, name: str, columns: RevealedColumns,
                 output: np.ndarray) -> None:
        n = len(columns.prompt_list)
        self.policy = policy
        self.name = name
        self.columns = columns
        self.memory = columns.context.memory
        self.n = n
        self.arrival_list = columns.arrival_list
        self.s_list = columns.prompt_list
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
        self.due: float = 0                             # no call skipped before the first
        self.state = SimState(columns.context, readonly(self.run_start),
                              readonly(self.num_clearings), self.running.keys())

    def step(self, t: int, arrived: np.ndarray, next_arrival: float = math.inf,
             more_arrivals: bool = False) -> float | None:
        """Event round ``t``: return the next event round, or ``None`` once every request is done.

        1. Retire the runs that complete at ``t``. A round that is only the former completion
           round of a cleared run (a stale heap entry; such rounds still bound the clock's steps
           in seconds, which keeps its sums as they were) ends here, without a policy call: the
           policy's last decision promised nothing before :attr:`due`, and a call would tell it
           when the cleared run would have completed.
        2. Reveal the columns of the requests in ``arrived`` (those that arrive at ``t``; none
           can arrive at the round the last request completes), show the policy the state and
           take its :class:`~kvopt.sim.state.Decision`.
        3. Validate and apply its clearings, then its admissions (kept in :attr:`admitted`);
           reject swaps and migrations.
        4. Check that round ``t + 1`` fits in the memory.
        5. Find the next round event: a completion, an overflow, the policy's ``wake``, or
           ``next_arrival`` (an arrival round, if the caller knows it); ``inf`` if none.

        Raises
        ------
        SimulationError
            On a clearing of a request not running, an admission of one not waiting, a swap or
            a migration, an overflow of round ``t + 1``, or a stall: no next event and no
            ``more_arrivals``.
        """
        running, heap = self.running, self.heap
        const_tokens = self.const_tokens
        completed: list[int] = []
        start_of = self.start_of
        if heap and heap[0][0] == t:
            s_list, done, final_start = self.s_list, self.done, self.final_start
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

        if len(arrived):
            self.columns.reveal(arrived, t)
        elif not completed and t < self.due:
            # only a cleared run's former completion round: nothing happened that the policy
            # may know, and its last decision promised nothing before self.due; no call
            self.admitted = _NO_ADMISSIONS
            nxt = next_arrival
            if heap and heap[0][0] < nxt:
                nxt = heap[0][0]
            return self.due if self.due < nxt else nxt
        num_waiting = self.num_waiting + len(arrived)
        state = self.state
        state.arrived = arrived
        state.round = t
        state.completed = completed
        state.memory_next_tokens = const_tokens + len(running) * (t + 1)
        state.num_waiting = num_waiting
        self.num_decisions += 1
        decision = self.policy.decide(state)

        if not (decision.swap_out is _NO_VERB and decision.swap_in is _NO_VERB
                and decision.migrate is _NO_VERB):
            reject_unsupported(self.name, t, decision)
        clear = decision.clear
        if len(clear):
            s_list = self.s_list
            clear = clear.tolist() if isinstance(clear, np.ndarray) else [int(i) for i in clear]
            if len(set(clear)) != len(clear) or any(i not in running for i in clear):
                raise SimulationError(
                    f"{self.name}: round {t}: clears a request that is not running")
            cleared = self.cleared
            for i in clear:
                k = start_of[i]
                cleared.append((i, k, t))
                del running[i]
                const_tokens -= s_list[i] - k
                start_of[i] = -1
            self.run_start[clear] = -1
            self.num_clearings[clear] += 1
            num_waiting += len(clear)
        admit = decision.admit
        if len(admit):
            admit = admit.tolist() if isinstance(admit, np.ndarray) else [int(i) for i in admit]
            s_list, o_list = self.s_list, self.o_list
            n, done, arrival_list = self.n, self.done, self.arrival_list
            for i in admit:
                if not (0 <= i < n) or start_of[i] >= 0 or done[i] or arrival_list[i] < 0:
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

        due = math.inf                         # the next round the policy must be called
        if q:
            # first round r with C + q (r + 1) > M: the policy must clear at r
            due = (memory - const_tokens) // q
        wake = decision.wake
        if wake is not None:
            if wake <= t:
                due = t + 1
            elif wake < due:
                due = wake
        self.due = due
        nxt = next_arrival
        if heap and heap[0][0] < nxt:
            nxt = heap[0][0]                   # possibly a cleared run's (see step 1)
        if due < nxt:
            nxt = due
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
