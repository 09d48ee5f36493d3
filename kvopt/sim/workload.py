"""Timed runs of request traces: a workload in seconds, one verified run, its summary.

What ``kvopt simulate TRACE.csv`` and the real-trace experiment
(:mod:`kvopt.experiments.trace`) share:

* :class:`Workload`: arrival seconds and token lengths, built from a trace's columns
  (:func:`kvopt.read.read_trace_columns`) by :func:`trace_workload`: the first ``limit`` rows,
  the trace's own timestamps or Poisson re-timing (:func:`poisson_arrivals_s`), and requests
  with ``prompt + output > memory`` either refused (one line naming the row) or dropped and
  counted (:meth:`Workload.fitting`);
* :func:`run_verified`: :func:`kvopt.sim.timed.simulate_timed`, then
  :func:`kvopt.verify.verify` of its schedule; the metrics in seconds are computed from that
  verified schedule only;
* :func:`summary`: the flat, JSON-ready figures of a run (``simulate --json``).

Poisson re-timing. ``arrival_s = cumsum(Exp(1 / rate))``: the first request arrives after one
gap, not at 0. Times are seconds from the origin of the process (re-timed) or from the trace's
first request (own timestamps); ``makespan_s`` is the last completion on that clock.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from kvopt.exceptions import InstanceError
from kvopt.metrics import TimeMetrics
from kvopt.sim.timed import TimedResult, simulate_timed
from kvopt.verify import Evaluation, verify

if TYPE_CHECKING:
    from kvopt.policies.base import Policy
    from kvopt.sim.predictions import PredictionsLike
    from kvopt.time_model import TimeModel

__all__ = ["TimedRun", "Workload", "poisson_arrivals_s", "run_verified", "summary",
           "trace_workload"]


def poisson_arrivals_s(num_requests: int, rate_per_s: float, rng: np.random.Generator
                       ) -> np.ndarray:
    """Arrival times (s) of a Poisson process at ``rate_per_s``: cumulative exponential gaps,
    ``num_requests`` draws from ``rng``."""
    if not (rate_per_s > 0 and math.isfinite(rate_per_s)):
        raise InstanceError(f"rate must be a positive number of requests per second, got "
                            f"{rate_per_s}")
    return np.cumsum(rng.exponential(1.0 / rate_per_s, size=num_requests))


@dataclasses.dataclass(frozen=True, eq=False)
class Workload:
    """Requests in seconds: ``arrival_s`` (float64[n]), ``prompt`` and ``output`` (int64[n]);
    ``dropped``: requests left out because they could never fit."""

    arrival_s: np.ndarray
    prompt: np.ndarray
    output: np.ndarray
    dropped: int = 0

    @property
    def num_requests(self) -> int:
        return len(self.prompt)

    def as_tuple(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """``(arrival_s, prompt, output, dropped)``."""
        return self.arrival_s, self.prompt, self.output, self.dropped

    def fitting(self, memory: int, *, drop: bool, where: str = "trace") -> Workload:
        """The requests with ``prompt + output <= memory``: dropped and counted if ``drop``,
        else an :class:`~kvopt.exceptions.InstanceError` naming the first that does not fit
        (its 0-based position in the workload)."""
        keep = self.prompt + self.output <= memory
        if keep.all():
            return self
        if not drop:
            i = int(np.flatnonzero(~keep)[0])
            raise InstanceError(
                f"{where}: request {i} needs {int(self.prompt[i] + self.output[i])} KV tokens "
                f"(prompt {int(self.prompt[i])} + output {int(self.output[i])}), over the "
                f"memory {memory}; {int((~keep).sum())} request(s) do not fit (drop them with "
                "--drop-oversized)")
        return Workload(self.arrival_s[keep], self.prompt[keep], self.output[keep],
                        self.dropped + int((~keep).sum()))


def trace_workload(columns: dict[str, np.ndarray], *, limit: int | None = None,
                   rate_per_s: float | None = None, rng: np.random.Generator | None = None,
                   where: str = "trace") -> Workload:
    """The first ``limit`` requests of a trace's columns (:func:`kvopt.read.read_trace_columns`)
    with their own timestamps, or re-timed as a Poisson process at ``rate_per_s`` drawn from
    ``rng`` (required then).

    Raises
    ------
    InstanceError
        A length-only trace without a rate, a rate without ``rng``, a bad rate or limit.
    """
    total = len(columns["prompt"])
    if limit is not None and limit < 1:
        raise InstanceError(f"limit must be at least 1, got {limit}")
    n = total if limit is None else min(limit, total)
    prompt, output = columns["prompt"][:n], columns["output"][:n]
    if rate_per_s is not None:
        if rng is None:
            raise InstanceError("Poisson re-timing needs a seeded random stream")
        arrival = poisson_arrivals_s(n, rate_per_s, rng)
    elif "arrival_s" in columns:
        arrival = columns["arrival_s"][:n]
    else:
        raise InstanceError(f"{where}: the trace has no timestamps (lengths only); give a "
                            "Poisson rate (--rate) to time it")
    return Workload(arrival, prompt, output)


@dataclasses.dataclass(frozen=True, eq=False)
class TimedRun:
    """A verified timed run: the engine's result, the verifier's evaluation (in rounds), the
    metrics in seconds of the verified schedule, and the simulation's wall time."""

    result: TimedResult
    evaluation: Evaluation
    metrics: TimeMetrics
    sim_s: float


def run_verified(workload: Workload, memory: int, policy: Policy, time_model: TimeModel, *,
                 rng: np.random.Generator, predicted: PredictionsLike | None = None,
                 name: str = "", progress: Callable[[int], None] | None = None) -> TimedRun:
    """Simulate ``workload`` in seconds (:func:`~kvopt.sim.timed.simulate_timed`), verify the
    schedule, and compute its metrics from the verified schedule.

    ``progress`` is passed on to the engine (called with the number of completed requests).

    Raises
    ------
    ScheduleError
        When the schedule fails :func:`kvopt.verify.verify` (a bug in the engine or a policy).
    """
    t0 = time.perf_counter()
    res = simulate_timed(workload.arrival_s, workload.prompt, workload.output, memory, policy,
                         time_model, rng=rng, predicted=predicted, name=name, progress=progress)
    sim_s = time.perf_counter() - t0
    evaluation = verify(res.instance, res.schedule)
    return TimedRun(res, evaluation, res.metrics(), sim_s)


def _num(x: float) -> float | None:
    """JSON has no NaN: an undefined statistic (no request with two output tokens) is null."""
    return None if math.isnan(x) else float(x)


def summary(run: TimedRun) -> dict[str, Any]:
    """The figures of ``simulate --json`` for a trace (seconds unless named otherwise):
    ``requests``, ``completed``, ``makespan_s`` (last completion), mean/p50/p90/p99 latency,
    mean/p50/p99 TTFT, mean/p99 TPOT, throughputs, ``clearings``, ``wasted_tokens``,
    ``peak_memory_tokens``, ``rounds`` and ``mean_latency_rounds``."""
    m, ev = run.metrics, run.evaluation
    lat, ttft, tpot = m.latency_s, m.ttft_s, m.tpot_s

    def pct(v: np.ndarray, q: float) -> float | None:
        v = v[~np.isnan(v)]
        return _num(float(np.percentile(v, q))) if v.size else None

    def mean(v: np.ndarray) -> float | None:
        v = v[~np.isnan(v)]
        return _num(float(v.mean())) if v.size else None

    return {
        "requests": int(len(lat)),
        "completed": int(np.isfinite(m.completion_s).sum()),
        "makespan_s": _num(float(m.completion_s.max())) if len(lat) else 0.0,
        "mean_latency_s": mean(lat), "p50_latency_s": pct(lat, 50),
        "p90_latency_s": pct(lat, 90), "p99_latency_s": pct(lat, 99),
        "mean_ttft_s": mean(ttft), "p50_ttft_s": pct(ttft, 50), "p99_ttft_s": pct(ttft, 99),
        "mean_tpot_s": mean(tpot), "p99_tpot_s": pct(tpot, 99),
        "throughput_tokens_per_s": _num(m.throughput_tokens_per_s),
        "throughput_requests_per_s": _num(m.throughput_requests_per_s),
        "output_tokens": int(m.output_tokens),
        "clearings": int(ev.num_clearings), "wasted_tokens": int(ev.wasted_tokens),
        "peak_memory_tokens": int(ev.peak_memory_tokens),
        "rounds": int(run.result.last_round),
        "mean_latency_rounds": float(ev.average_latency),
    }
