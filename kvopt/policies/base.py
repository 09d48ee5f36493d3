"""The online contract's protocols, and the pieces the policies share.

* :class:`Policy`: ``reset(context, rng)`` once per run with a
  :class:`~kvopt.sim.state.PolicyContext` (capacity, clock, per-request columns revealed as
  requests arrive: prompts, arrivals, the environment's predictions; never the true outputs,
  never future arrivals), then ``decide(state)`` at decision rounds, answering a
  :class:`~kvopt.sim.state.Decision` (admit, clear; swap and migrate reserved).
* :class:`Router`: for a cluster of replicas (a later engine), which replica an arriving
  request goes to; :class:`RoundRobin` is the trivial one.
* Shared helpers: :func:`copy_revealed`, :func:`most_recent_victims`, :class:`FifoQueue`,
  :func:`exact_fraction`.

Conventions for every clearing policy (``specs/kv-scheduling.md`` section 5; where the spec is
silent, the choice is vLLM's):

* A clearing round admits nothing (vLLM's scheduler schedules no waiting request in a step that
  preempted); the policy asks to be called again at ``t + 1``.
* Cleared requests return to the *front* of the queue, each victim in turn put first: victims
  are taken most recently started first, so the earliest started victim ends up first, as
  vLLM's ``prepend_request``. A later clearing puts its victims ahead of earlier ones.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from fractions import Fraction
from typing import Protocol

import numpy as np

from kvopt.sim.state import Decision, PolicyContext, SimState

__all__ = ["FifoQueue", "Policy", "RoundRobin", "Router", "copy_revealed", "exact_fraction",
           "most_recent_victims"]


class Policy(Protocol):
    """An online policy: ``reset`` once per run, then ``decide`` at (some) rounds.

    ``reset`` gets what an online policy may know in advance (the
    :class:`~kvopt.sim.state.PolicyContext`, whose columns fill in as requests arrive) and the
    run's random stream; ``decide`` gets the :class:`~kvopt.sim.state.SimState` of a decision
    round. A policy must decide the same at a round whether or not it was called at the rounds
    before (:mod:`kvopt.sim.state`).
    """

    name: str

    def reset(self, context: PolicyContext, rng: np.random.Generator) -> None: ...

    def decide(self, state: SimState) -> Decision: ...


class Router(Protocol):
    """Routes arriving requests to the replicas of a cluster (for the multi-replica engine).

    ``reset`` once per run, with the shared context and the number of replicas; then ``route``
    once per arriving request, in arrival order, at its arrival round, with the state of every
    replica (``replicas[r].replica == r``; the request's columns are revealed): it returns the
    index of the replica whose policy will see the request arrive.
    """

    name: str

    def reset(self, context: PolicyContext, num_replicas: int,
              rng: np.random.Generator) -> None: ...

    def route(self, request: int, replicas: Sequence[SimState]) -> int: ...


class RoundRobin:
    """Send the ``j``-th arriving request to replica ``j mod R``."""

    name = "round-robin"

    def reset(self, context: PolicyContext, num_replicas: int,
              rng: np.random.Generator) -> None:
        if num_replicas < 1:
            raise ValueError(f"num_replicas must be at least 1, got {num_replicas}")
        self._num_replicas, self._next = num_replicas, 0

    def route(self, request: int, replicas: Sequence[SimState]) -> int:
        r = self._next
        self._next = (r + 1) % self._num_replicas
        return r


def copy_revealed(arrived: list[int], column: np.ndarray, into: list[int]) -> None:
    """Copy the just revealed entries of a context column for the requests ``arrived`` into
    a policy's own list (fast scalar access later)."""
    item = column.item
    for i in arrived:
        into[i] = item(i)


def exact_fraction(value: float, name: str, *, low: float, high: float) -> Fraction:
    """``value`` as the exact decimal it was written as (0.3 is 3/10, not a binary float)."""
    if not (low <= value <= high):
        raise ValueError(f"{name} must be in [{low}, {high}], got {value}")
    return Fraction(str(value))


def most_recent_victims(state: SimState, prompt: list[int], *, at_least: int = 0) -> list[int]:
    """Running requests to clear, most recently started first: at least ``at_least`` of them, and
    then more until the memory of round ``t + 1`` fits in ``M``."""
    t, mem = state.round, state.memory_next_tokens
    victims: list[int] = []
    for i in reversed(state.running):
        if len(victims) >= at_least and mem <= state.memory:
            break
        victims.append(i)
        mem -= prompt[i] + t + 1 - int(state.run_start[i])
    return victims


class FifoQueue:
    """Waiting requests in arrival order (ties by position), cleared requests in front."""

    __slots__ = ("_items",)

    def __init__(self) -> None:
        self._items: deque[int] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def add_arrivals(self, arrived: list[int]) -> None:
        """Append arrivals, given in (arrival, position) order as ``SimState.arrived`` is."""
        self._items.extend(arrived)

    def requeue_front(self, victims: list[int]) -> None:
        for i in victims:
            self._items.appendleft(i)

    def pop_front(self) -> int:
        return self._items.popleft()

    def admit_within(self, prompt: list[int], tokens: int, cap: int) -> list[int]:
        """Pop from the front while the memory of the next round, ``tokens`` plus ``s_i + 1``
        for each request popped, stays at most ``cap``; return the popped requests."""
        admitted: list[int] = []
        items = self._items
        while items:
            new = tokens + prompt[items[0]] + 1
            if new > cap:
                break
            tokens = new
            admitted.append(items.popleft())
        return admitted
