"""Pieces shared by the policies: clearing victims and the waiting queue of arrival order.

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
from fractions import Fraction

from kvopt.sim.state import SimState

__all__ = ["FifoQueue", "exact_fraction", "most_recent_victims"]


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

    def add_arrivals(self, state: SimState) -> None:
        if len(state.arrived):
            self._items.extend(state.arrived.tolist())  # already in (arrival, position) order

    def requeue_front(self, victims: list[int]) -> None:
        for i in victims:
            self._items.appendleft(i)

    def pop_front(self) -> int:
        return self._items.popleft()

    def admit_while(self, fits, tokens: int) -> list[int]:
        """Pop from the front while ``fits(i, tokens)`` returns the new token count (or None)."""
        admitted: list[int] = []
        items = self._items
        while items:
            new = fits(items[0], tokens)
            if new is None:
                break
            tokens = new
            admitted.append(items.popleft())
        return admitted
