"""The paper's alpha-protection baselines (``specs/kv-scheduling.md`` section 5).

Admission (both): walk the queue in arrival order (cleared requests in front, see
:mod:`kvopt.policies.base`) and admit request ``j`` while the memory of round ``t + 1``, with
``s_j + 1`` added for ``j``, stays at most ``floor((1 - alpha) M)``; stop at the first that does
not fit. No look-ahead, no prediction. ``alpha`` is taken as the exact decimal written (0.3 is
3/10), so the cap is an exact integer. When nothing runs, the first request is admitted even
above the cap (it fits alone, ``s + o <= M``; else a request with ``s + 1`` above the cap, possible
at small ``M``, would never start).

Clearing, when the running requests would hold more than ``M`` in round ``t + 1``:

* **greedy** (``beta=None``): clear all running requests. Taken literally this can livelock:
  requests are re-admitted and cleared forever when none of them completes between two
  overflows (e.g. ``M = 30``, ``alpha = 0.3``, five requests with ``s = 3, o = 20``; it happens on
  random instances of the paper's size). So when no request completed since the previous
  clearing, the earliest started request is kept (it always fits alone, as ``s + o <= M``): it
  then runs until it completes, so some request completes between any three clearings.
* **beta-clearing**: clear ``ceil(beta q)`` of the ``q`` running requests, most recently started
  first, and more in the same order if the next round still overflows. For ``beta <= 1/2`` and
  ``q >= 2`` the earliest started survives, so runs make progress.

A clearing round admits nothing; cleared requests go to the front of the queue.
"""

from __future__ import annotations

import math

import numpy as np

from kvopt.policies.base import FifoQueue, copy_revealed, exact_fraction, most_recent_victims
from kvopt.sim.state import IDLE, Decision, PolicyContext, SimState

__all__ = ["AlphaBetaClearing", "AlphaGreedy", "AlphaProtection"]


class AlphaProtection:
    """alpha-protection admission; clear all (``beta=None``) or a fraction ``beta`` on overflow.

    Parameters
    ----------
    alpha
        Protected fraction of the memory, in ``[0, 1)``.
    beta
        Fraction of the running requests cleared on overflow, in ``(0, 1]``; ``None``: all.
    """

    def __init__(self, alpha: float = 0.3, beta: float | None = None) -> None:
        self._alpha = exact_fraction(alpha, "alpha", low=0.0, high=0.999999)
        self._beta = None if beta is None else exact_fraction(beta, "beta", low=1e-9, high=1.0)
        self.alpha, self.beta = alpha, beta
        self.name = f"greedy-a{alpha:g}" if beta is None else f"clear-a{alpha:g}-b{beta:g}"

    def reset(self, context: PolicyContext, rng: np.random.Generator) -> None:
        self._prompt: list[int] = [0] * context.num_requests   # filled as requests arrive
        self._queue = FifoQueue()
        self._cap = math.floor((1 - self._alpha) * context.memory)
        self._cleared_before = False
        self._completed_since_clearing = 0

    def _victims(self, state: SimState) -> list[int]:
        if self._beta is not None:
            at_least = math.ceil(self._beta * len(state.running))
            return most_recent_victims(state, self._prompt, at_least=at_least)
        victims = list(reversed(state.running))
        if self._completed_since_clearing == 0 and self._cleared_before:
            victims.pop()                      # livelock guard: keep the earliest started
        return victims

    def decide(self, state: SimState) -> Decision:
        if len(state.arrived):
            arrived = state.arrived.tolist()
            copy_revealed(arrived, state.prompt, self._prompt)
            self._queue.add_arrivals(arrived)
        self._completed_since_clearing += len(state.completed)
        if state.memory_next_tokens > state.memory:
            victims = self._victims(state)
            self._cleared_before = True
            self._completed_since_clearing = 0
            self._queue.requeue_front(victims)
            return Decision(clear=victims, wake=state.round + 1)
        prompt = self._prompt
        tokens = state.memory_next_tokens
        first: list[int] = []
        if not state.running and len(self._queue):
            first = [self._queue.pop_front()]   # fits alone whatever the cap
            tokens += prompt[first[0]] + 1
        admit = first + self._queue.admit_within(prompt, tokens, self._cap)
        return Decision(admit=admit, wake=None) if admit else IDLE


class AlphaGreedy(AlphaProtection):
    """alpha-protection greedy: clear all running requests on overflow."""

    def __init__(self, alpha: float = 0.3) -> None:
        super().__init__(alpha, None)


class AlphaBetaClearing(AlphaProtection):
    """alpha-protection, beta-clearing: clear a fraction ``beta``, most recently started first."""

    def __init__(self, alpha: float = 0.2, beta: float = 0.2) -> None:
        super().__init__(alpha, beta)
