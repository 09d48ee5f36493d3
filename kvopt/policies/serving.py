"""The revision's serving baselines for WAIT (``specs/fluid-wait.md`` section 8): vLLM and Sarathi.

Both are FCFS with a memory reserve and LIFO eviction with restart, as the revision's Vidur runs
describe them ("keep 1% of memory free and evict last-in-first-out with a restart from
prefill"):

* **Admission.** Walk the queue in order (cleared requests in front) and admit request ``j``
  while the memory of round ``t + 1`` plus ``s_j + 1`` stays at most ``M - ceil(reserve M)``
  (vLLM's watermark); stop at the first that does not fit. With nothing running the reserve is
  waived (every request fits alone, ``s + o <= M``; without it a request could never start).
* **Eviction.** When round ``t + 1`` would exceed ``M``, clear running requests most recently
  started first until it fits, requeue them at the front, admit nothing in that round.
* **Caps.** ``max_requests`` running requests at most (Sarathi: 512; vLLM: none by default).

**vLLM** runs each prefill whole: any number of prompts may start in one round.

**Sarathi** splits prefills into 512-token chunks that share iterations with the decodes.
kvopt's engines run a request's prefill in the single round after its start (no chunked
prefill), so Sarathi is *approximated* by a prefill token budget per round: the prompts started
at one round hold at most ``chunk`` tokens in all (the first one of a round is always allowed,
as a chunked prefill would start it at once). The budget limits the rate of admissions as the
chunks would; it does not model a long prompt's prefill spread over several iterations (its
round lasts the whole prefill, as vLLM's) nor the decode tokens sharing the budget.
Labelled "approximation" wherever reported.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from kvopt.policies.base import copy_revealed, most_recent_victims
from kvopt.sim.state import IDLE, Decision, PolicyContext, SimState

__all__ = ["Sarathi", "Vllm"]


class Vllm:
    """FCFS with a memory reserve, optional caps, LIFO eviction with restart (module docstring).

    Parameters
    ----------
    reserve
        Fraction of ``M`` kept free at admission (vLLM's watermark; 1%).
    max_requests
        Running requests at most; ``None``: no cap.
    prefill_budget
        Prompt tokens started per round at most (the first always); ``None``: no budget.
    """

    name = "vllm"

    def __init__(self, reserve: float = 0.01, max_requests: int | None = None,
                 prefill_budget: int | None = None) -> None:
        if not 0 <= reserve < 1:
            raise ValueError(f"reserve must be in [0, 1), got {reserve}")
        if max_requests is not None and max_requests < 1:
            raise ValueError(f"max_requests must be at least 1, got {max_requests}")
        if prefill_budget is not None and prefill_budget < 1:
            raise ValueError(f"prefill_budget must be at least 1, got {prefill_budget}")
        self.reserve, self.max_requests, self.prefill_budget = reserve, max_requests, prefill_budget

    def reset(self, context: PolicyContext, rng: np.random.Generator) -> None:
        self._prompt: list[int] = [0] * context.num_requests
        self._queue: deque[int] = deque()
        self._limit = context.memory - math.ceil(self.reserve * context.memory)

    def decide(self, state: SimState) -> Decision:
        if len(state.arrived):
            arrived = state.arrived.tolist()
            copy_revealed(arrived, state.prompt, self._prompt)
            self._queue.extend(arrived)
        t, memory = state.round, state.memory
        if state.memory_next_tokens > memory:
            victims = most_recent_victims(state, self._prompt)
            self._queue.extendleft(victims)      # earliest started ends up first
            return Decision(clear=victims, wake=t + 1)
        queue, prompt = self._queue, self._prompt
        num_running = len(state.running)
        room = math.inf if self.max_requests is None else self.max_requests - num_running
        budget = math.inf if self.prefill_budget is None else self.prefill_budget
        used = state.memory_next_tokens
        limit = self._limit if num_running else memory
        admit: list[int] = []
        by_budget = False
        while queue and room > 0:
            s = prompt[queue[0]]
            if used + s + 1 > limit:
                break
            if admit and s > budget:
                by_budget = True
                break
            admit.append(queue.popleft())
            used += s + 1
            budget -= s
            room -= 1
            limit = self._limit
        if not admit:
            return IDLE                          # memory only grows, caps only free on events
        # the budget stopped the walk: it refills next round, which may start more (no event)
        more = by_budget
        return Decision(admit=admit, wake=t + 1 if more else None)


class Sarathi(Vllm):
    """Sarathi, approximated (module docstring): 512-token prefill budget, 512 requests."""

    name = "sarathi"

    def __init__(self, reserve: float = 0.01, max_requests: int | None = 512,
                 chunk: int = 512) -> None:
        super().__init__(reserve, max_requests, prefill_budget=chunk)
