"""Hindsight replay: run a given schedule (e.g. the optimal one) through the engine."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from kvopt.schedule import Schedule
from kvopt.sim.state import Decision, PolicyContext, SimState

__all__ = ["Replay"]


class Replay:
    """Start every run of ``schedule`` at its start round and clear every cleared run at its end.

    Not an online policy (it knows the future); it checks that the engine and a schedule agree:
    replaying a valid schedule reproduces it exactly. It lives outside ``POLICIES`` because it
    needs the schedule. It replays runs (:attr:`~kvopt.schedule.Schedule.is_runs`): today's
    engines neither swap nor migrate.
    """

    name = "replay"

    def __init__(self, schedule: Schedule) -> None:
        if not schedule.is_runs:
            raise ValueError("Replay replays runs on one replica; this schedule swaps or "
                             "migrates")
        self.schedule = schedule

    def reset(self, context: PolicyContext, rng: np.random.Generator) -> None:
        if self.schedule.num_requests != context.num_requests:
            raise ValueError(f"the schedule has {self.schedule.num_requests} requests, the "
                             f"instance {context.num_requests}")
        self._starts: dict[int, list[int]] = defaultdict(list)
        self._clears: dict[int, list[int]] = defaultdict(list)
        sched = self.schedule
        last = np.ones(len(sched.run_req), dtype=bool)
        last[:-1] = sched.run_req[1:] != sched.run_req[:-1]
        for i, k, e, is_last in zip(sched.run_req.tolist(), sched.run_start.tolist(),
                                    sched.run_end.tolist(), last.tolist(), strict=False):
            self._starts[k].append(i)
            if not is_last:
                self._clears[e].append(i)
        self._rounds = sorted(set(self._starts) | set(self._clears))
        self._next = 0

    def decide(self, state: SimState) -> Decision:
        t = state.round
        rounds = self._rounds
        while self._next < len(rounds) and rounds[self._next] < t:
            self._next += 1
        admit = self._starts.get(t, [])
        clear = self._clears.get(t, [])
        k = self._next + (self._next < len(rounds) and rounds[self._next] == t)
        wake = rounds[k] if k < len(rounds) else None
        return Decision(admit=admit, clear=clear, wake=wake)
