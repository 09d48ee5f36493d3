"""The online contract: what a policy is given, what it sees at a decision, what it answers.

A policy (:class:`kvopt.policies.base.Policy`) gets a :class:`PolicyContext` once, at ``reset``,
and a :class:`SimState` at every decision; it answers a :class:`Decision`. Neither holds
anything the policy may not know online:

* **No true output lengths.** A request's output is known only when its run completes
  (``SimState.completed``). Instead the environment gives predictions (point ``predicted``,
  interval ``lower``/``upper``; :mod:`kvopt.sim.predictions`), made before the run.
* **No future arrivals.** The per-request columns (``arrival``, ``prompt``, ``predicted``,
  ``lower``, ``upper``) hold :data:`UNREVEALED` until the request arrives; the engine fills a
  request's entries at its arrival round, before showing the state. Only the number of requests
  (the length of the columns) is known in advance.

``tests/sim/test_contract.py`` checks both: replacing the true outputs, or a future request,
changes no decision before a completion or the arrival reveals it, and nothing reachable from
the context or the state is the instance or its outputs.

Every engine (:mod:`kvopt.sim.engine`, event-skipping; :mod:`kvopt.sim.reference`, the plain
per-round loop; :mod:`kvopt.sim.timed`, in seconds) fills the same :class:`SimState` and applies
the same :class:`Decision`, so a policy cannot tell them apart: it is called at every round by the
reference loop and only at *event rounds* by the others (see :attr:`Decision.wake`). A policy
must therefore make the same decision at a round whether or not it was called at the rounds
before, which holds when its own bookkeeping changes only on what the state reports
(``arrived``, ``completed``) and on its own decisions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import NamedTuple, Protocol

import numpy as np

from kvopt.time_model import TimeModel

__all__ = ["EMPTY_IDCS", "IDLE", "NO_DECISION", "UNREVEALED", "Decision", "PolicyContext",
           "RunningView", "SimState", "readonly"]

#: the value of a per-request column before the request arrives
UNREVEALED = -1

EMPTY_IDCS = np.zeros(0, dtype=np.int64)
EMPTY_IDCS.flags.writeable = False


def readonly(a: np.ndarray) -> np.ndarray:
    """A read-only view of ``a``."""
    v = a.view()
    v.flags.writeable = False
    return v


@dataclasses.dataclass(frozen=True, eq=False, slots=True)
class PolicyContext:
    """What a policy is given at ``reset``: the capacity, the clock, and per-request columns that
    the engine reveals as requests arrive.

    The columns are read-only int64[n] views, indexed by request position, of buffers that the
    engine fills in place: a request's entries are :data:`UNREVEALED` (``-1``) until its arrival
    round and fixed from then on. The same arrays appear in every :class:`SimState`.

    Attributes
    ----------
    memory
        ``M``: the KV-cache capacity of the replica in tokens.
    arrival
        The arrival round of every arrived request.
    prompt
        Prompt tokens ``s_i``.
    predicted
        Point predictions of the output length (``>= 1``), made by the environment.
    lower, upper
        Interval predictions of the output length; for point predictions ``[p, p]`` (then
        ``lower`` and ``upper`` may be ``predicted`` itself).
    time_model
        Seconds per round as a function of the batch, in the engine in seconds
        (:mod:`kvopt.sim.timed`); ``None`` in rounds.
    """

    memory: int
    arrival: np.ndarray
    prompt: np.ndarray
    predicted: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    time_model: TimeModel | None = None

    @property
    def num_requests(self) -> int:
        return len(self.prompt)


class RunningView(Protocol):
    """The running requests as a live read-only view (the engine's dict keys): iterate it in
    start order, ``len`` it, test membership, ``reversed`` it."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[int]: ...

    def __contains__(self, item: object, /) -> bool: ...

    def __reversed__(self) -> Iterator[int]: ...


class SimState:
    """The state at decision round ``t``, after retiring the runs that complete at ``t``.

    The engine alone writes it; a policy reads it. Arrays are read-only views indexed by
    request position; ``running`` is a read-only live view of the engine's running set.

    Attributes
    ----------
    round
        The decision round ``t``. A request admitted now starts at ``t`` and runs from ``t + 1``.
    now_s
        Wall-clock seconds at the decision point of round ``t`` in the engine in seconds;
        ``None`` in rounds.
    replica
        The replica this state describes (0: the engines have one).
    memory
        ``M`` in tokens.
    arrival, prompt, predicted, lower, upper
        The revealed columns of the :class:`PolicyContext` (:data:`UNREVEALED` before arrival).
    run_start
        Start round of each running request's current run, ``-1`` for every other request.
    num_clearings
        Per request, how often it has been cleared so far.
    running
        Running requests in start order (earliest first; one round's admissions in the order
        admitted): iterate it, ``len`` it, ``reversed`` it (most recently started first).
    arrived
        Requests that arrived since the previous call (``a_i`` in ``(t_prev, t]``), ordered by
        arrival round, then position; their columns are revealed.
    completed
        Requests whose run completed since the previous call (at round ``t``): their output
        length is now known, the progress of that run.
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
        "lower",
        "memory",
        "memory_next_tokens",
        "now_s",
        "num_clearings",
        "num_waiting",
        "predicted",
        "prompt",
        "replica",
        "round",
        "run_start",
        "running",
        "upper",
    )

    def __init__(self, context: PolicyContext, run_start: np.ndarray, num_clearings: np.ndarray,
                 running: RunningView) -> None:
        self.round = 0
        self.now_s: float | None = None
        self.replica = 0
        self.memory = context.memory
        self.arrival = context.arrival
        self.prompt = context.prompt
        self.predicted = context.predicted
        self.lower = context.lower
        self.upper = context.upper
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

    def progress(self, i: int) -> int:
        """Output tokens request ``i``'s current run has produced by the end of round ``t``
        (``t - k`` for a run started at ``k``: rounds ``k+1 .. t``); 0 if it is not running."""
        k = int(self.run_start[i])
        return self.round - k if k >= 0 else 0

    def progress_column(self) -> np.ndarray:
        """:meth:`progress` of every request (int64[n])."""
        k = self.run_start
        return np.where(k >= 0, self.round - k, 0)

    def memory_in_round(self, r: int) -> int:
        """KV tokens the running requests hold in round ``r > t`` if all of them still run."""
        run = self.running_idcs()
        return int((self.prompt[run] + (r - self.run_start[run])).sum())


class Decision(NamedTuple):
    """A policy's answer at round ``t``: explicit verbs, applied by the engine in the order
    ``clear``, then ``admit``. Build it with keywords (``Decision(admit=[3], wake=None)``);
    it is immutable (a named tuple: as cheap to make per call as the engines need).

    Attributes
    ----------
    admit
        Waiting requests to start at ``t``, in order (a request cleared at ``t`` may restart at
        ``t``).
    clear
        Running requests to clear (evict to recompute) at ``t``: the run ends at ``t`` (it held
        memory through round ``t``), its KV cache and progress are dropped, and the request waits
        again; started again, it needs all its output rounds.
    swap_out, swap_in
        Running requests whose KV cache moves to host memory (the run pauses, progress kept),
        and parked requests that resume on the GPU. Reserved for the memory-pressure handlers
        of the cluster: today's engines reject a non-empty one with a
        :class:`~kvopt.sim._core.SimulationError` (not supported by this engine).
    migrate
        ``(request, replica)`` pairs moving a running request's KV cache to another replica.
        Reserved likewise.
    wake
        A promise that lets the engine skip rounds: if no request arrives, completes or would
        overflow the memory before round ``wake``, this policy decides nothing at any round
        ``t < r < wake``. ``None``: nothing until such an event. Any value ``<= t`` (the
        default, 0): no promise, the engine calls again at ``t + 1``.
    """

    admit: Sequence[int] = ()
    clear: Sequence[int] = ()
    swap_out: Sequence[int] = ()
    swap_in: Sequence[int] = ()
    migrate: Sequence[tuple[int, int]] = ()
    wake: int | None = 0


NO_DECISION = Decision()
IDLE = Decision(wake=None)
