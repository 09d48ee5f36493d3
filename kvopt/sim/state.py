"""What a policy sees at one decision round, and what it answers.

Both engines (:mod:`kvopt.sim.engine`, the event-skipping one, and :mod:`kvopt.sim.reference`,
the plain per-round loop) fill the same :class:`SimState` and apply the same :class:`Decision`, so
a policy cannot tell them apart: it is called at every round by the reference loop and only at
*event rounds* by the engine (see :attr:`Decision.wake`). A policy must therefore make the same
decision at a round whether or not it was called at the rounds before, which holds when its own
bookkeeping changes only on what the state reports (``arrived``, ``completed``) and on its own
decisions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence

import numpy as np

__all__ = ["EMPTY_IDCS", "IDLE", "NO_DECISION", "Decision", "SimState"]

EMPTY_IDCS = np.zeros(0, dtype=np.int64)
EMPTY_IDCS.flags.writeable = False


class SimState:
    """The state at decision round ``t``, after retiring the runs that complete at ``t``.

    The engine alone writes it; a policy reads it. Arrays are read-only views indexed by
    request position; ``running`` is a read-only live view of the engine's running set.

    Attributes
    ----------
    round
        The decision round ``t``. A request admitted now starts at ``t`` and runs from ``t + 1``.
    memory
        ``M`` in tokens.
    arrival, prompt, predicted
        What an online policy may know; ``predicted`` is the prediction the engine was given
        (default ``instance.prediction()``), never the truth.
    run_start
        Start round of each running request's current run, ``-1`` for every other request.
    num_clearings
        Per request, how often it has been cleared so far.
    running
        Running requests in start order (earliest first; one round's admissions in the order
        admitted): iterate it, ``len`` it, ``reversed`` it (most recently started first).
    arrived
        Requests that arrived since the previous call (``a_i`` in ``(t_prev, t]``), ordered by
        arrival round, then position.
    completed
        Requests whose run completed since the previous call (at round ``t``).
    memory_next_tokens
        KV tokens the running requests will hold in round ``t + 1`` if nothing is cleared: above
        ``memory``, the policy must clear (the engine rejects an overflowing decision).
    num_waiting
        Requests arrived and neither running nor done.
    """

    __slots__ = (
        "arrival",
        "arrived",
        "completed",
        "memory",
        "memory_next_tokens",
        "num_clearings",
        "num_waiting",
        "predicted",
        "prompt",
        "round",
        "run_start",
        "running",
    )

    def __init__(self, memory: int, arrival: np.ndarray, prompt: np.ndarray,
                 predicted: np.ndarray, run_start: np.ndarray, num_clearings: np.ndarray,
                 running: Collection[int]) -> None:
        self.round = 0
        self.memory = memory
        self.arrival = arrival
        self.prompt = prompt
        self.predicted = predicted
        self.run_start = run_start
        self.num_clearings = num_clearings
        self.running = running
        self.arrived: np.ndarray = EMPTY_IDCS
        self.completed: Sequence[int] = ()
        self.memory_next_tokens = 0
        self.num_waiting = 0

    def running_idcs(self) -> np.ndarray:
        """The running requests as an int64 array, in start order."""
        return np.fromiter(self.running, dtype=np.int64, count=len(self.running))

    def memory_in_round(self, r: int) -> int:
        """KV tokens the running requests hold in round ``r > t`` if all of them still run."""
        run = self.running_idcs()
        return int((self.prompt[run] + (r - self.run_start[run])).sum())


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    """A policy's answer at round ``t``.

    Attributes
    ----------
    admit
        Waiting requests to start at ``t``, in order (a request cleared at ``t`` may restart at
        ``t``).
    evict
        Running requests to clear at ``t``, applied before ``admit``: the run ends at ``t`` (it
        held memory through round ``t``), progress is lost and the request waits again.
    wake
        A promise that lets the engine skip rounds: if no request arrives, completes or would
        overflow the memory before round ``wake``, this policy decides nothing at any round
        ``t < r < wake``. ``None``: nothing until such an event. Any value ``<= t`` (the
        default, 0): no promise, the engine calls again at ``t + 1``.
    """

    admit: Sequence[int] = ()
    evict: Sequence[int] = ()
    wake: int | None = 0


NO_DECISION = Decision()
IDLE = Decision(wake=None)
