"""The simulation engine: the only code that changes simulation state.

Same round semantics as the reference loop (:mod:`kvopt.sim.reference`, whose docstring states
them), but the engine visits only *event rounds*: a round in which a request arrives, a run
completes, the running requests would overflow the memory in the next round, or the policy
asked to be called (:attr:`~kvopt.sim.state.Decision.wake`). Between two event rounds the
running set is fixed, so its memory in round ``r`` is ``C + q r`` with ``C = sum(s_i - k_i)`` and
``q`` the number of running requests: the engine keeps ``C`` and ``q`` and finds the first
overflowing round by one division. Per-request state lives in int64 arrays (``run_start``,
``num_clearings``, the final start of every request); runs complete through a heap keyed by
completion round, with lazy deletion of cleared runs. The steps shared with the engine in
seconds (:mod:`kvopt.sim.timed`) live in :class:`kvopt.sim._core.EventCore`; the policy is given
the :class:`~kvopt.sim.state.PolicyContext` of :class:`kvopt.sim._core.RevealedColumns`, never
the instance.

Every schedule must equal the reference loop's exactly, for every policy
(``tests/sim/test_engine.py``), and passes :func:`kvopt.verify.verify` before any report.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

import numpy as np

from kvopt.instance import Instance
from kvopt.schedule import Schedule
from kvopt.sim._core import EventCore, RevealedColumns, SimulationError, round_limit
from kvopt.sim.predictions import PredictionsLike, resolve_predictions
from kvopt.sim.state import EMPTY_IDCS, readonly

if TYPE_CHECKING:
    from kvopt.policies.base import Policy

__all__ = ["SimResult", "SimulationError", "run", "simulate"]


@dataclasses.dataclass(frozen=True)
class SimResult:
    """A schedule and how much work the engine did to produce it."""

    schedule: Schedule
    num_decisions: int          # calls of policy.decide
    last_round: int             # the round the last request completed


def simulate(
    instance: Instance,
    policy: Policy,
    *,
    rng: np.random.Generator | None = None,
    predicted: PredictionsLike | None = None,
) -> Schedule:
    """Run ``policy`` on ``instance``; return the schedule (verify it before reporting).

    The policy is given a :class:`~kvopt.sim.state.PolicyContext` (never the instance) and sees
    each request's prompt, arrival and predictions from its arrival round on.

    Parameters
    ----------
    rng
        The run's random stream: a prediction model draws from it first, then it is passed to
        ``policy.reset``; default ``np.random.default_rng(0)``.
    predicted
        The environment's output-length predictions
        (:func:`kvopt.sim.predictions.resolve_predictions`): ``None`` for the instance's own
        (exact when it has none), an array of point predictions, a
        :class:`~kvopt.sim.predictions.Predictions`, or a prediction model such as
        :class:`~kvopt.sim.predictions.PointPredictions`.

    Raises
    ------
    SimulationError
        On an invalid or overflowing decision, or a stall.
    ValueError
        On a prediction column of the wrong length or with a value below 1.
    """
    return run(instance, policy, rng=rng, predicted=predicted).schedule


def run(
    instance: Instance,
    policy: Policy,
    *,
    rng: np.random.Generator | None = None,
    predicted: PredictionsLike | None = None,
) -> SimResult:
    """:func:`simulate`, also counting the policy calls."""
    rng = np.random.default_rng(0) if rng is None else rng
    n, a = instance.num_requests, instance.arrival
    columns = RevealedColumns(instance.memory, instance.prompt,
                              resolve_predictions(instance, predicted, rng))
    policy.reset(columns.context, rng)
    name = getattr(policy, "name", type(policy).__name__)
    core = EventCore(policy, name, columns, instance.output)
    by_arrival = np.lexsort((np.arange(n), a))
    rounds, first = np.unique(a[by_arrival], return_index=True)
    group_rounds: list[int] = rounds.tolist()
    group_bounds: list[int] = first.tolist() + [n]
    num_groups = len(group_rounds)
    by_arrival_ro = readonly(by_arrival)

    max_round = round_limit(instance)
    g = 0
    t = group_rounds[0] if n else 0
    while core.num_done < n:
        if g < num_groups and group_rounds[g] == t:
            arrived = by_arrival_ro[group_bounds[g]:group_bounds[g + 1]]
            g += 1
        else:
            arrived = EMPTY_IDCS
        nxt = core.step(t, arrived, group_rounds[g] if g < num_groups else math.inf)
        if nxt is None:
            break
        t = int(nxt)
        if t > max_round:
            raise SimulationError(f"{name}: still running at round {t}, past the limit "
                                  f"{max_round}: livelock?")
    req, start, end, last = core.runs(instance.output)
    return SimResult(Schedule(n, req, start, end), core.num_decisions, last)
