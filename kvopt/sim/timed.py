r"""Simulation in seconds: arrivals in seconds, rounds as long as the time model says.

The policies are the round-based ones, unchanged (:mod:`kvopt.policies`): they see the round
index as their clock, exactly as under :func:`kvopt.sim.engine.simulate`. This engine adds a
wall clock on top of the rounds.

Conventions (``specs/kv-scheduling.md`` section 1 for rounds, :mod:`kvopt.metrics` for seconds)
------------------------------------------------------------------------------------------------
* **Clock.** ``tau[t]`` is the wall-clock time of the *decision point of round t*, which is the
  end of round ``t``; round ``t + 1`` runs from ``tau[t]`` to ``tau[t + 1]``. ``tau[0] = 0``
  (arrival times are seconds since the trace's origin, all ``>= 0``). ``tau`` is exactly the
  ``round_end_s`` of :mod:`kvopt.metrics`, so :func:`kvopt.metrics.time_metrics` applies as is.
* **Round durations.** Round ``r`` processes the prefills of the runs started at ``r - 1`` and
  one decode step of every other running request; its duration is
  ``time_model.round_time_s(P, Q, D, K)`` of that batch (prefill tokens ``P``, their squares
  ``Q``, decoding requests ``D`` and their context ``K``), identical to
  :func:`kvopt.metrics.batch_composition` of the final schedule.
* **Visibility and arrival rounds.** Request ``i`` becomes visible to the policy at the first
  decision point with ``tau[t] >= arrival_s[i]``; that ``t`` is its *arrival round* ``a_i`` (in
  :attr:`TimedResult.instance`), and the policy can start it at ``a_i`` or later.
* **Idle time.** When nothing runs after a decision, the following rounds have an empty batch
  and last ``e = round_time_s(0, 0, 0, 0)`` each. With ``e > 0``
  (:class:`~kvopt.time_model.UnitTime`) the clock steps through them in closed form: the next
  arrival ``A`` is visible at round ``t + ceil((A - tau[t]) / e)``. With ``e = 0``
  (:class:`~kvopt.time_model.LinearBatchTime`: no forward pass, no time) empty rounds up to a
  pending round event (a policy's ``wake``) take 0 s; with none pending, time jumps: round
  ``t + 1`` is an *idle round*, an empty batch that ends at the next arrival, ``tau[t + 1] = A``.
* **Order.** Requests are processed in the order of ``arrival_s`` (stable sort; results are
  mapped back to the caller's order): request positions in the policy's
  :class:`~kvopt.sim.state.PolicyContext` are positions in that order. Its columns are revealed
  at each request's arrival round (``arrival``: that round), ``UNREVEALED`` before; its
  ``time_model`` is the engine's, and ``SimState.now_s`` is ``tau[t]``.
* **Predictions.** ``predicted=`` is resolved as in :func:`~kvopt.sim.engine.simulate`, on the
  requests in arrival order: a prediction model (e.g.
  :class:`~kvopt.sim.predictions.PointPredictions`) draws from ``rng`` in that order, before the
  run; an array or :class:`~kvopt.sim.predictions.Predictions` is given in the caller's order.

With :class:`~kvopt.time_model.UnitTime` (every round 1 s) and integer arrival times, ``tau[t] =
t``, every request is visible at round ``a_i = arrival_s[i]``, and the schedule equals the
round-based :func:`~kvopt.sim.engine.simulate` on ``Instance(M, arrival_s, prompt, output)``
(``tests/sim/test_timed.py`` checks this property).

Speed. Like :mod:`kvopt.sim.engine`, only event rounds are visited: an arrival becoming
visible, a completion, an overflow of the next round, a policy's ``wake``. Between two events the
running set is fixed; the first round after a decision is computed by the scalar
``round_time_s``, the later ones (all decode: ``D = q``, ``K = C + q (r - 1)`` with
``C = sum(s_i - k_i)``) with the vectorised ``round_times_s`` in chunks of doubling size, and
the next arrival's round is found by ``searchsorted`` on their cumulative sum.

The event loop shares every step but the clock with :func:`kvopt.sim.engine.run`
(:class:`kvopt.sim._core.EventCore`: retiring, revealing arrivals, the policy call, clearings,
admissions, the memory check, the next round event); it does not wrap ``run``: there, arrival
rounds are fixed inputs; here they depend on the durations of the rounds simulated so far.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from kvopt.instance import Instance
from kvopt.metrics import TimeMetrics, batch_composition, time_metrics
from kvopt.schedule import Schedule
from kvopt.sim._core import EventCore, RevealedColumns, SimulationError
from kvopt.sim.predictions import (
    PredictionModel,
    Predictions,
    PredictionsLike,
    resolve_predictions,
)
from kvopt.sim.state import EMPTY_IDCS
from kvopt.time_model import BatchComposition, TimeModel

if TYPE_CHECKING:
    from kvopt.policies.base import Policy

__all__ = ["TimedResult", "simulate_timed"]

_FIRST_CHUNK = 64


@dataclasses.dataclass(frozen=True, eq=False)
class TimedResult:
    """One timed run, in the caller's request order.

    Attributes
    ----------
    instance
        The run in rounds: ``arrival`` = arrival rounds (module docstring), true lengths.
        :func:`kvopt.verify.verify` ``(instance, schedule)`` checks it.
    schedule
        Runs in rounds, clearings included.
    round_end_s
        ``tau[t]`` for every round ``0 .. last_round``.
    arrival_s
        Arrival times in seconds.
    num_decisions
        Calls of ``policy.decide``.
    """

    instance: Instance
    schedule: Schedule
    round_end_s: np.ndarray
    arrival_s: np.ndarray
    num_decisions: int

    @property
    def last_round(self) -> int:
        return len(self.round_end_s) - 1

    def metrics(self) -> TimeMetrics:
        """Latency, TTFT, TPOT per request and throughput (:func:`kvopt.metrics.time_metrics`)."""
        return time_metrics(self.instance, self.schedule, self.round_end_s,
                            arrival_s=self.arrival_s)

    def batches(self) -> BatchComposition:
        """What each round's batch holds (for :func:`kvopt.metrics.throughput_timeline`)."""
        return batch_composition(self.instance, self.schedule)

    def num_clearings(self) -> np.ndarray:
        """How often each request was cleared (int64[n])."""
        n = self.instance.num_requests
        return np.bincount(self.schedule.run_req, minlength=n) - 1

    def start_s(self) -> np.ndarray:
        """Wall-clock start of every request's final run: ``tau[k]`` (float64[n])."""
        return self.round_end_s[self.schedule.final_starts()]


def _as_column(values, dtype) -> np.ndarray:
    return np.array(values, dtype=dtype).reshape(-1)


def _in_order(preds: Predictions, order: np.ndarray) -> Predictions:
    """``preds`` (caller's order) in arrival order, intervals that are the points kept so."""
    p = preds.predicted[order]
    lower = p if preds.lower is preds.predicted else preds.lower[order]
    upper = p if preds.upper is preds.predicted else preds.upper[order]
    return Predictions(p, lower, upper)


def simulate_timed(
    arrival_s,
    prompt,
    output,
    memory: int,
    policy: Policy,
    time_model: TimeModel,
    *,
    rng: np.random.Generator | None = None,
    predicted: PredictionsLike | None = None,
    name: str = "",
    progress: Callable[[int], None] | None = None,
) -> TimedResult:
    """Run ``policy`` in seconds (module docstring); verify ``result.schedule`` before reporting.

    Parameters
    ----------
    arrival_s
        Arrival times in seconds, finite and ``>= 0`` (any order).
    prompt, output
        Prompt and true output tokens (``prompt + output <= memory`` for every request).
    memory
        KV capacity ``M`` in tokens.
    rng
        The run's random stream: a prediction model draws from it first, then it is passed to
        ``policy.reset``; default ``np.random.default_rng(0)``.
    predicted
        The environment's predictions (module docstring): ``None`` (exact), point predictions
        or :class:`~kvopt.sim.predictions.Predictions` in the caller's order, or a prediction
        model applied in arrival order.
    progress
        Called with the number of completed requests, about every 1/200 of them and once at
        the end (a progress bar's update); it cannot change the run.

    Raises
    ------
    ValueError
        On a bad column.
    SimulationError
        On an invalid or overflowing decision, or a stall.
    """
    arr_in = _as_column(arrival_s, np.float64)
    n = len(arr_in)
    if (bad := np.flatnonzero(~np.isfinite(arr_in) | (arr_in < 0))).size:
        raise ValueError(f"arrival_s[{int(bad[0])}] = {arr_in[bad[0]]} must be finite and >= 0")
    order = np.argsort(arr_in, kind="stable")
    arr = arr_in[order]
    s_arr = _as_column(prompt, np.int64)
    o_arr = _as_column(output, np.int64)
    if len(s_arr) != n or len(o_arr) != n:
        raise ValueError(f"arrival_s, prompt and output differ in length ({n}, {len(s_arr)}, "
                         f"{len(o_arr)})")
    s_arr, o_arr = s_arr[order], o_arr[order]
    rng = np.random.default_rng(0) if rng is None else rng
    # arrival rounds are unknown before the run: placeholder zeros (the policy never sees it)
    placeholder = Instance(memory, np.zeros(n, dtype=np.int64), s_arr, o_arr, name=name)
    memory = placeholder.memory
    if predicted is None or isinstance(predicted, PredictionModel):
        preds = resolve_predictions(placeholder, predicted, rng)
    else:
        given = (predicted if isinstance(predicted, Predictions)
                 else Predictions.point(_as_column(predicted, np.int64)))
        if given.num_requests != n:
            raise ValueError(f"predicted has {given.num_requests} values, expected {n}")
        preds = _in_order(given, order)
    columns = RevealedColumns(memory, s_arr, preds, time_model)
    policy.reset(columns.context, rng)
    pname = getattr(policy, "name", type(policy).__name__)
    arr_list: list[float] = arr.tolist()
    total_output = int(o_arr.sum())

    arrival_round = np.full(n, -1, dtype=np.int64)
    core = EventCore(policy, pname, columns, o_arr)
    state = core.state
    s_list = core.s_list
    positions = np.arange(n, dtype=np.int64)
    positions.flags.writeable = False

    tm = time_model
    idle_s = float(tm.round_time_s(0, 0, 0, 0))
    tau = np.zeros(1024, dtype=np.float64)     # tau[t]: decision point of round t

    def ensure(size: int) -> None:
        nonlocal tau
        if size > len(tau):
            new = np.zeros(max(size, 2 * len(tau)), dtype=np.float64)
            new[: len(tau)] = tau
            tau = new

    def idle_rounds(t: int, now: float, target: float, limit: float) -> int:
        """Step through empty rounds to the first with ``tau >= target`` (or to ``limit``)."""
        if idle_s > 0:
            j = max(1, math.ceil((target - now) / idle_s)) if target < math.inf else math.inf
            j = min(j, limit - t)
            j = int(j)
            while j > 1 and now + (j - 1) * idle_s >= target:
                j -= 1
            while now + j * idle_s < target and t + j < limit:
                j += 1
            ensure(t + j + 1)
            tau[t + 1: t + j + 1] = now + idle_s * np.arange(1, j + 1)
            return t + j
        if limit < math.inf:                    # zero-length empty rounds up to the event
            limit = int(limit)
            ensure(limit + 1)
            tau[t + 1: limit + 1] = now
            return limit
        ensure(t + 2)                           # idle round ending at the next arrival
        tau[t + 1] = target
        return t + 1

    t = 0
    ptr = 0                                     # requests [0, ptr) are visible
    if n and arr_list[0] > 0:
        t = idle_rounds(0, 0.0, arr_list[0], math.inf)
    max_round_slack = 100 * total_output + 100
    report_every = max(1, n // 200)
    next_report = report_every
    while core.num_done < n:
        if progress is not None and core.num_done >= next_report:
            progress(core.num_done)
            next_report = core.num_done + report_every
        now = float(tau[t])
        lo = ptr
        while ptr < n and arr_list[ptr] <= now:
            ptr += 1
        if ptr > lo:
            arrival_round[lo:ptr] = t
            arrived = positions[lo:ptr]
        else:
            arrived = EMPTY_IDCS
        state.now_s = now
        nxt = core.step(t, arrived, math.inf, ptr < n)   # next round event
        if nxt is None:
            break
        target = arr_list[ptr] if ptr < n else math.inf

        q = len(core.running)
        if q == 0:
            t = idle_rounds(t, now, target, nxt)
        else:
            # round t + 1: prefills of the runs admitted now, one decode step of the others
            const_tokens = core.const_tokens
            admitted = core.admitted
            adm_p = adm_q = 0
            for i in admitted:
                si = s_list[i]
                adm_p += si
                adm_q += si * si
            dec = q - len(admitted)
            dec_ctx = (const_tokens - (adm_p - len(admitted) * t)) + dec * t
            end1 = now + tm.round_time_s(adm_p, adm_q, dec, dec_ctx)
            ensure(t + 2)
            tau[t + 1] = end1
            if nxt == t + 1 or end1 >= target:
                t += 1
            else:
                # rounds r >= t + 2: every running request decodes, D = q, K = C + q (r - 1)
                r0, cur, size = t + 2, end1, _FIRST_CHUNK
                while True:
                    r_hi = min(int(nxt), r0 + size - 1)
                    rs = np.arange(r0, r_hi + 1, dtype=np.int64)
                    d = tm.round_times_s(0, 0, q, const_tokens + q * (rs - 1))
                    ends = np.cumsum(d)
                    ends += cur
                    idx = int(np.searchsorted(ends, target, side="left"))
                    ensure(r_hi + 2)
                    if idx < len(ends):
                        tau[r0: r0 + idx + 1] = ends[: idx + 1]
                        t = r0 + idx
                        break
                    tau[r0: r_hi + 1] = ends
                    if r_hi == nxt:
                        t = r_hi
                        break
                    cur, r0, size = float(ends[-1]), r_hi + 1, 2 * size
        visible_round = int(arrival_round[ptr - 1]) if ptr else 0
        if t > visible_round + max_round_slack:
            raise SimulationError(f"{pname}: still running at round {t}, {max_round_slack} rounds "
                                  "after the last arrival: livelock?")

    if progress is not None:
        progress(core.num_done)
    # back to the caller's order
    inv = np.empty(n, dtype=np.int64)
    inv[order] = np.arange(n, dtype=np.int64)
    req, start, end, last = core.runs(o_arr)
    schedule = Schedule(n, order[req], start, end)
    rounds_inst = Instance(memory, arrival_round[inv], s_arr[inv], o_arr[inv],
                           predicted=None if predicted is None else preds.predicted[inv],
                           name=name)
    round_end_s = tau[: last + 1].copy()
    round_end_s.flags.writeable = False
    arr_out = arr_in.copy()
    arr_out.flags.writeable = False
    return TimedResult(rounds_inst, schedule, round_end_s, arr_out, core.num_decisions)
