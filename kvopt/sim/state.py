"""What a policy sees: read-only views of the simulation state at one decision round."""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["SimState", "Decision"]


@dataclasses.dataclass(frozen=True, eq=False)
class SimState:
    """The state at decision round ``t`` (after retiring completions and taking arrivals).

    Requests started now (``run_start == t``) run from round ``t + 1``. Arrays are read-only
    views indexed by request position.

    Attributes
    ----------
    round
        The decision round ``t``.
    memory
        ``M`` in tokens.
    arrival, prompt, predicted
        What an online policy may know (``predicted`` is the prediction, not the truth).
    run_start
        Start round of the current run of each running request, ``-1`` otherwise.
    waiting_idcs
        Arrived requests that are neither running nor done, in position order.
    running_idcs
        Running requests, in position order.
    num_clearings
        Per request, how often it has been cleared so far.
    last_cleared
        Per request, the round it was last cleared, ``-1`` if never.
    """

    round: int
    memory: int
    arrival: np.ndarray
    prompt: np.ndarray
    predicted: np.ndarray
    run_start: np.ndarray
    waiting_idcs: np.ndarray
    running_idcs: np.ndarray
    num_clearings: np.ndarray
    last_cleared: np.ndarray

    def memory_in_round(self, r: int) -> int:
        """KV tokens the running requests hold in round ``r`` if all still run then."""
        k = self.run_start[self.running_idcs]
        return int((self.prompt[self.running_idcs] + (r - k)).sum())


@dataclasses.dataclass(frozen=True)
class Decision:
    """``admit``: requests to start at this round, in order. ``evict``: running requests to clear
    before admission (their run ends at this round; they return to the queue)."""

    admit: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    evict: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, dtype=np.int64))
