"""FCFS with vLLM-style recompute preemption (``specs/kv-scheduling.md`` section 5)."""

from __future__ import annotations

import numpy as np

from kvopt.policies.base import FifoQueue, copy_revealed, most_recent_victims
from kvopt.sim.state import IDLE, Decision, PolicyContext, SimState

__all__ = ["Fcfs"]


class Fcfs:
    """Admit in arrival order while the next round fits; on overflow clear the most recently
    started request until it fits.

    Every round ``t``: if the running requests would hold more than ``M`` in round ``t + 1``,
    clear them most recently started first until they fit, requeue them at the front, and admit
    nothing this round (as vLLM). Otherwise walk the queue and admit request ``j`` while the
    memory of round ``t + 1`` plus ``s_j + 1`` stays at most ``M``; stop at the first that does
    not fit. No look-ahead and no prediction. The earliest started request is never cleared
    (alone it fits, as ``s + o <= M``), so every run makes progress.
    """

    name = "fcfs"

    def reset(self, context: PolicyContext, rng: np.random.Generator) -> None:
        self._prompt: list[int] = [0] * context.num_requests   # filled as requests arrive
        self._queue = FifoQueue()

    def decide(self, state: SimState) -> Decision:
        if len(state.arrived):
            arrived = state.arrived.tolist()
            copy_revealed(arrived, state.prompt, self._prompt)
            self._queue.add_arrivals(arrived)
        memory = state.memory
        if state.memory_next_tokens > memory:
            victims = most_recent_victims(state, self._prompt)
            self._queue.requeue_front(victims)
            return Decision(clear=victims, wake=state.round + 1)
        # the next round's memory only grows until an event: no later admission without one
        admit = self._queue.admit_within(self._prompt, state.memory_next_tokens, memory)
        return Decision(admit=admit, wake=None) if admit else IDLE
