r"""A_max (Chen, Ye and Zhou, arXiv 2508.14544) and MC-SF fed an interval bound.

:class:`McSfBound` is MC-SF (:mod:`kvopt.policies.mcsf`) planning with one end of the
environment's interval ``[lower_i, upper_i]`` instead of the point prediction: ``"upper"``,
``"lower"`` or ``"mid"`` (the midpoint ``(lower + upper) // 2``; not specified by the paper;
default: rounded down), each capped at ``M - s_i`` and raised to 1 as MC-SF does. Registered as
``mcsf-upper``, ``mcsf-lower`` and ``mcsf-mid``; their overruns and clearings are MC-SF's (most
recently started first, in front of the queue).

:class:`Amax` is the paper's conservative algorithm, as the spec states it (A3): MC-SF's
admission with ``p_i = min(upper_i, M - s_i)`` (no output can exceed ``M - s_i``), candidates in
increasing ``p_i`` (ties: arrival round, then position), stopping at the first that fails the
future-peak check (order and stop rule: not specified by the paper; default: as stated). As
``o_i <= upper_i`` it never overflows; a request completes at its true length and the memory it
frees is used from the next round on. Outside the paper's model (``miss_prob``: an output above
its interval), A_max can overflow; then it applies A_min's eviction step (least progress first,
ties from its random stream; :func:`kvopt.policies.amin.evict_victims`), puts the victims back
in its sorted order, and, as MC-SF, admits nothing in that round. With valid intervals it is
exactly ``mcsf-upper``.
"""

from __future__ import annotations

import heapq
from typing import Literal

import numpy as np

from kvopt.policies.amin import evict_victims
from kvopt.policies.mcsf import McSf
from kvopt.sim.state import PolicyContext, SimState

__all__ = ["Amax", "McSfBound"]

Bound = Literal["upper", "lower", "mid"]


class McSfBound(McSf):
    """MC-SF planning with the interval's ``upper`` or ``lower`` bound or its midpoint.

    Parameters
    ----------
    plan
        ``"upper"``, ``"lower"`` or ``"mid"``.
    requeue
        As :class:`~kvopt.policies.mcsf.McSf`.
    """

    def __init__(self, plan: Bound = "upper",
                 requeue: Literal["front", "sorted"] = "front") -> None:
        if plan not in ("upper", "lower", "mid"):
            raise ValueError(f"plan must be 'upper', 'lower' or 'mid', got {plan!r}")
        super().__init__(requeue)
        self.plan = plan
        self.name = f"mcsf-{plan}"

    def _arrive(self, state: SimState) -> None:
        s, a, p, memory, heap, key = self._s, self._a, self._p, self._memory, self._heap, self._key
        prompt, arrival = state.prompt.item, state.arrival.item
        lower, upper = state.lower.item, state.upper.item
        for i in state.arrived.tolist():
            si = s[i] = prompt(i)
            a[i] = arrival(i)
            if self.plan == "upper":
                pi = upper(i)
            elif self.plan == "lower":
                pi = lower(i)
            else:
                pi = (lower(i) + upper(i)) // 2
            cap = memory - si
            p[i] = cap if pi > cap else (pi if pi > 1 else 1)
            heapq.heappush(heap, key(i))


class Amax(McSfBound):
    """A_max: MC-SF on ``min(upper_i, M - s_i)``; evicts like A_min if an interval is wrong."""

    def __init__(self) -> None:
        super().__init__("upper", requeue="sorted")
        self.name = "amax"

    def reset(self, context: PolicyContext, rng: np.random.Generator) -> None:
        super().reset(context, rng)
        self._rng = rng

    def _victims(self, state: SimState) -> list[int]:
        return evict_victims(state, self._s, "least_progress", self._rng)
