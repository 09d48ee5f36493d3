"""The simulation engine: the only code that changes simulation state.

Round semantics (``specs/kv-scheduling.md`` sections 1, 4, 5): at decision round ``t`` the engine

1. retires every running request whose run started at ``k`` with ``k + o = t`` (it ran in
   rounds ``k+1 .. t`` and completed at ``t``);
2. shows the policy the arrived, unfinished requests (``a_i <= t``) and the running ones;
3. applies the policy's :class:`~kvopt.sim.state.Decision`: evicted runs end at ``t`` (they held
   memory through round ``t``) and their requests wait again; admitted requests start at ``t``;
4. checks that the memory of round ``t + 1`` fits in ``M`` (a policy that lets it overflow is a
   bug and raises :class:`SimulationError`).

Rounds in which nothing can happen (no request running or waiting) are skipped.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from kvopt.exceptions import KvoptError
from kvopt.instance import Instance
from kvopt.schedule import Schedule
from kvopt.sim.state import Decision, SimState

__all__ = ["Policy", "SimulationError", "simulate"]


class SimulationError(KvoptError):
    """A policy made an impossible decision or stalled."""


class Policy(Protocol):
    name: str

    def reset(self, instance: Instance, rng: np.random.Generator) -> None: ...

    def decide(self, state: SimState) -> Decision: ...


def _readonly(a: np.ndarray) -> np.ndarray:
    v = a.view()
    v.flags.writeable = False
    return v


def simulate(
    instance: Instance,
    policy: Policy,
    *,
    rng: np.random.Generator | None = None,
    predicted: np.ndarray | None = None,
) -> Schedule:
    """Run ``policy`` on ``instance``; return the schedule (verify it before reporting).

    Parameters
    ----------
    rng
        Passed to ``policy.reset``; default ``np.random.default_rng(0)``.
    predicted
        Output-length predictions the policy sees (default: ``instance.prediction()``).
    """
    rng = np.random.default_rng(0) if rng is None else rng
    n = instance.num_requests
    a, s, o = instance.arrival, instance.prompt, instance.output
    pred = np.asarray(instance.prediction() if predicted is None else predicted, dtype=np.int64)
    policy.reset(instance, rng)
    run_start = np.full(n, -1, dtype=np.int64)
    done = np.zeros(n, dtype=bool)
    num_clearings = np.zeros(n, dtype=np.int64)
    last_cleared = np.full(n, -1, dtype=np.int64)
    runs: list[tuple[int, int, int]] = []
    arrival_sorted = np.sort(a)
    t = int(arrival_sorted[0]) if n else 0
    num_done = 0
    views = {k: _readonly(v) for k, v in
             {"run_start": run_start, "num_clearings": num_clearings,
              "last_cleared": last_cleared, "pred": pred}.items()}
    while num_done < n:
        running = np.flatnonzero(run_start >= 0)
        finishing = running[run_start[running] + o[running] == t]
        for i in finishing.tolist():
            runs.append((i, int(run_start[i]), t))
            run_start[i] = -1
            done[i] = True
        num_done += len(finishing)
        if num_done == n:
            break
        running = np.flatnonzero(run_start >= 0)
        waiting = np.flatnonzero((a <= t) & ~done & (run_start < 0))
        state = SimState(t, instance.memory, a, s, views["pred"], views["run_start"],
                         _readonly(waiting), _readonly(running), views["num_clearings"],
                         views["last_cleared"])
        decision = policy.decide(state)
        evict = np.asarray(decision.evict, dtype=np.int64)
        admit = np.asarray(decision.admit, dtype=np.int64)
        if evict.size:
            if np.any(run_start[evict] < 0) or len(np.unique(evict)) != len(evict):
                raise SimulationError(f"{policy.name}: round {t}: evicts a request that is not running")
            for i in evict.tolist():
                runs.append((i, int(run_start[i]), t))
                run_start[i] = -1
                num_clearings[i] += 1
                last_cleared[i] = t
        if admit.size:
            ok = (a[admit] <= t) & ~done[admit] & (run_start[admit] < 0)
            if not ok.all() or len(np.unique(admit)) != len(admit):
                raise SimulationError(f"{policy.name}: round {t}: admits a request that is not waiting")
            run_start[admit] = t
        running = np.flatnonzero(run_start >= 0)
        mem_next = int((s[running] + (t + 1 - run_start[running])).sum())
        if mem_next > instance.memory:
            raise SimulationError(
                f"{policy.name}: round {t + 1} would hold {mem_next} KV tokens, over {instance.memory}"
            )
        if running.size == 0:
            future = arrival_sorted[arrival_sorted > t]
            still_waiting = np.any((a <= t) & ~done & (run_start < 0))
            if still_waiting and future.size == 0:
                raise SimulationError(f"{policy.name}: round {t}: nothing runs and nothing is admitted")
            if not still_waiting:
                t = int(future[0])
                continue
        t += 1
    return Schedule.from_runs(n, runs)
