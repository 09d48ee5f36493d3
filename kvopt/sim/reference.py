"""The plain per-round reference loop: the oracle the event-skipping engine is tested against.

It recomputes everything from the per-request arrays at every round (who completes, who
arrived, the memory of the next round) and calls the policy at every round in which a request
runs or waits; it skips only rounds in which nothing is running or waiting. It is deliberately
simple and slow (O(n) work per round); :func:`kvopt.sim.engine.simulate` must produce exactly
the same schedule for every policy (``tests/sim/test_engine.py``).

Round semantics (``specs/kv-scheduling.md`` sections 1, 4, 5), at decision round ``t``:

1. every run started at ``k`` with ``k + o = t`` completes (it ran in rounds ``k+1 .. t``);
2. the requests arriving at ``t`` are revealed (:class:`~kvopt.sim._core.RevealedColumns`), the
   policy sees the state (:class:`~kvopt.sim.state.SimState`) and returns a
   :class:`~kvopt.sim.state.Decision`;
3. cleared runs end at ``t`` (they held memory through round ``t``) and their requests wait
   again; admitted requests start at ``t``; swaps and migrations are rejected;
4. the memory of round ``t + 1`` must fit in ``M``, else the decision is rejected
   (:class:`SimulationError`).

Like the event loops, it gives the policy a :class:`~kvopt.sim.state.PolicyContext` built by
:class:`~kvopt.sim._core.RevealedColumns`, never the instance; it applies the verbs with its own
code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from kvopt.instance import Instance
from kvopt.schedule import Schedule
from kvopt.sim._core import RevealedColumns, SimulationError, reject_unsupported, round_limit
from kvopt.sim.predictions import PredictionsLike, resolve_predictions
from kvopt.sim.state import SimState, readonly

if TYPE_CHECKING:
    from kvopt.policies.base import Policy

__all__ = ["SimulationError", "round_limit", "simulate_reference"]


def _check_decision(policy_name: str, t: int, clear: list[int], admit: list[int],
                    running: dict[int, None], waiting: np.ndarray) -> None:
    if len(set(clear)) != len(clear) or any(i not in running for i in clear):
        raise SimulationError(f"{policy_name}: round {t}: clears a request that is not running")
    if len(set(admit)) != len(admit) or any(not waiting[i] for i in admit):
        raise SimulationError(f"{policy_name}: round {t}: admits a request that is not waiting")


def simulate_reference(
    instance: Instance,
    policy: Policy,
    *,
    rng: np.random.Generator | None = None,
    predicted: PredictionsLike | None = None,
) -> Schedule:
    """Run ``policy`` on ``instance`` one round at a time; return the schedule.

    Same contract as :func:`kvopt.sim.engine.simulate` (which it checks), without skipping.

    Raises
    ------
    SimulationError
        On an invalid or overflowing decision, or when nothing runs, nothing is admitted, no
        request will arrive and the policy promises nothing later (``wake`` ``None`` or past).
    """
    rng = np.random.default_rng(0) if rng is None else rng
    n, memory = instance.num_requests, instance.memory
    a, s, o = instance.arrival, instance.prompt, instance.output
    columns = RevealedColumns(memory, s, resolve_predictions(instance, predicted, rng))
    policy.reset(columns.context, rng)
    run_start = np.full(n, -1, dtype=np.int64)
    num_clearings = np.zeros(n, dtype=np.int64)
    done = np.zeros(n, dtype=bool)
    running: dict[int, None] = {}
    runs: list[tuple[int, int, int]] = []
    by_arrival = np.lexsort((np.arange(n), a))
    state = SimState(columns.context, readonly(run_start), readonly(num_clearings),
                     running.keys())
    name = getattr(policy, "name", type(policy).__name__)
    max_round = round_limit(instance)
    t = int(a.min()) if n else 0
    last_call = -1
    while not done.all():
        completed = [i for i in running if run_start[i] + o[i] == t]
        for i in completed:
            runs.append((i, int(run_start[i]), t))
            del running[i]
            run_start[i] = -1
            done[i] = True
        if done.all():
            break
        state.round = t
        arrived = readonly(by_arrival[(a[by_arrival] > last_call) & (a[by_arrival] <= t)])
        if len(arrived):
            columns.reveal(arrived, t)      # every arrival round is visited: a_i = t
        state.arrived = arrived
        state.completed = tuple(completed)
        state.memory_next_tokens = int(sum(int(s[i]) + t + 1 - int(run_start[i]) for i in running))
        waiting = (a <= t) & ~done & (run_start < 0)
        state.num_waiting = int(waiting.sum())
        decision = policy.decide(state)
        last_call = t
        reject_unsupported(name, t, decision)
        clear = [int(i) for i in decision.clear]
        admit = [int(i) for i in decision.admit]
        _check_decision(name, t, clear, [], running, waiting)
        for i in clear:
            runs.append((i, int(run_start[i]), t))
            del running[i]
            run_start[i] = -1
            num_clearings[i] += 1
            waiting[i] = True
        _check_decision(name, t, [], admit, running, waiting)
        for i in admit:
            run_start[i] = t
            running[i] = None
            waiting[i] = False
        mem_next = sum(int(s[i]) + t + 1 - int(run_start[i]) for i in running)
        if mem_next > memory:
            raise SimulationError(
                f"{name}: round {t + 1} would hold {mem_next} KV tokens, over the memory {memory}"
            )
        if not running:
            future = a[a > t]
            if not waiting.any():
                if future.size == 0:
                    raise SimulationError(f"{name}: round {t}: requests remain but none can run")
                t = int(future.min())
                continue
            if future.size == 0 and (decision.wake is None or decision.wake <= t):
                raise SimulationError(
                    f"{name}: round {t}: nothing runs, nothing is admitted, no request will "
                    f"arrive and the policy promises no later action ({state.num_waiting} wait)"
                )
        t += 1
        if t > max_round:
            raise SimulationError(f"{name}: still running at round {t}, past the limit "
                                  f"{max_round}: livelock?")
    return Schedule.from_runs(n, runs)
