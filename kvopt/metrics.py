"""Metrics in seconds for a schedule in rounds, and the batch each round of it holds.

Time points. Round ``t`` runs between time points ``t - 1`` and ``t``; ``round_end_s[t]`` is the
wall-clock time at which round ``t`` ends (and round ``t + 1`` may begin). With rounds of
durations ``d`` (index = round), ``round_end_s[t] = start_s + d[1] + ... + d[t]``: round 0 never
processes anything (a run started at round ``k >= 0`` is processed from round ``k + 1``), so its
duration is ignored. A request arriving at round ``a`` arrives at time ``round_end_s[a]`` unless
the caller gives its own arrival times in seconds.

For request ``i`` whose final run starts at ``k`` and completes at ``c = k + o_i``
(``specs/kv-scheduling.md`` section 1):

- end-to-end latency: ``round_end_s[c] - arrival_s[i]``;
- time to first token (TTFT): ``round_end_s[k + 1] - arrival_s[i]`` (prefill and the first
  output token happen in round ``k + 1`` of the final run; tokens of cleared runs are lost);
- time per output token (TPOT): ``(round_end_s[c] - round_end_s[k + 1]) / (o_i - 1)``, the
  mean gap between later tokens; undefined (NaN, left out of the statistics) when ``o_i = 1``;
- throughput: output tokens of all requests over the span from the first arrival to the last
  completion (tokens/s), and requests/s over the same span.

With unit rounds (every ``d = 1``, ``start_s = 0``) and arrival times equal to the arrival
rounds, latency and TTFT equal the round-based ``c - a`` and ``k + 1 - a``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from kvopt.exceptions import ScheduleError
from kvopt.instance import Instance
from kvopt.schedule import Schedule
from kvopt.time_model import BatchComposition, TimeModel, round_durations_s

__all__ = [
    "Stats",
    "TimeMetrics",
    "batch_composition",
    "round_end_times_s",
    "schedule_round_ends_s",
    "summarize",
    "throughput_timeline",
    "time_metrics",
]


def batch_composition(instance: Instance, schedule: Schedule) -> BatchComposition:
    """What the batch of every round ``t = 0 .. max run end`` holds (index = round).

    Every run ``(k, e)`` of request ``i``, cleared or not, prefills its ``s_i`` prompt tokens in
    round ``k + 1`` and decodes in rounds ``k + 2 .. e`` holding ``s_i + t - k - 1`` KV tokens
    before round ``t``. Written as ``(s_i - k - 1) + t``, the context is a constant plus ``t``
    times a count, so both are difference arrays (one pass over the runs, no loop over rounds).
    """
    if schedule.num_requests != instance.num_requests:
        raise ScheduleError(f"schedule has {schedule.num_requests} requests, "
                            f"instance has {instance.num_requests}")
    if not schedule.is_runs:
        raise ScheduleError("batch_composition models runs on one replica (every segment on "
                            "the GPU from progress 0); this schedule swaps or migrates")
    k, e = schedule.run_start, schedule.run_end
    horizon = int(e.max()) + 1 if len(e) else 1
    size = horizon + 1  # one spare slot for the difference arrays
    s = instance.prompt[schedule.run_req]
    num_prefills = np.bincount(k + 1, minlength=size)[:horizon]
    prefill_tokens = np.bincount(k + 1, weights=s, minlength=size)[:horizon]
    prefill_sq = np.zeros(size, dtype=np.int64)
    np.add.at(prefill_sq, k + 1, s * s)  # exact int64 (bincount weights are float64)
    decoding = e >= k + 2
    kd, ed, sd = k[decoding], e[decoding], s[decoding]
    count = np.zeros(size, dtype=np.int64)
    const = np.zeros(size, dtype=np.int64)
    np.add.at(count, kd + 2, 1)
    np.add.at(count, ed + 1, -1)
    np.add.at(const, kd + 2, sd - kd - 1)
    np.add.at(const, ed + 1, -(sd - kd - 1))
    num_decoding = np.cumsum(count)[:horizon]
    rounds = np.arange(horizon, dtype=np.int64)
    context = np.cumsum(const)[:horizon] + rounds * num_decoding
    return BatchComposition(
        num_prefills=num_prefills,
        prefill_tokens=np.rint(prefill_tokens).astype(np.int64),
        prefill_sq_tokens=prefill_sq[:horizon],
        num_decoding=num_decoding,
        decode_context_tokens=context,
    )


def round_end_times_s(round_durations_s: Any, *, start_s: float = 0.0) -> np.ndarray:
    """``round_end_s[t] = start_s + d[1] + ... + d[t]`` (``d[0]`` is ignored; module docstring)."""
    d = np.asarray(round_durations_s, dtype=np.float64).reshape(-1)
    if d.size == 0:
        raise ValueError("round_durations_s is empty")
    if (bad := np.flatnonzero(~np.isfinite(d) | (d < 0))).size:
        t = int(bad[0])
        raise ValueError(f"round {t} has duration {d[t]}; durations must be finite and >= 0")
    out = np.empty_like(d)
    out[0] = start_s
    np.cumsum(d[1:], out=out[1:])
    out[1:] += start_s
    return out


def schedule_round_ends_s(instance: Instance, schedule: Schedule, time_model: TimeModel,
                          *, start_s: float = 0.0) -> np.ndarray:
    """Round end times of a fixed schedule whose round durations come from ``time_model``."""
    durations = round_durations_s(time_model, batch_composition(instance, schedule))
    return round_end_times_s(durations, start_s=start_s)


@dataclasses.dataclass(frozen=True)
class Stats:
    """Mean, median, P90 and P99 (numpy's linear interpolation) of the defined values."""

    mean: float
    median: float
    p90: float
    p99: float
    count: int

    def to_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


def summarize(values: Any) -> Stats:
    """:class:`Stats` of ``values``, NaNs left out (all NaN or empty: NaN statistics)."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return Stats(math.nan, math.nan, math.nan, math.nan, 0)
    p50, p90, p99 = np.percentile(v, [50, 90, 99])
    return Stats(float(v.mean()), float(p50), float(p90), float(p99), int(v.size))


@dataclasses.dataclass(frozen=True, eq=False)
class TimeMetrics:
    """Per-request times in seconds (float64[n]) and throughput of one schedule."""

    arrival_s: np.ndarray
    first_token_s: np.ndarray
    completion_s: np.ndarray
    latency_s: np.ndarray
    ttft_s: np.ndarray
    tpot_s: np.ndarray           # NaN for one-token outputs
    output_tokens: int
    span_s: float                # first arrival to last completion

    @property
    def throughput_tokens_per_s(self) -> float:
        return self.output_tokens / self.span_s if self.span_s > 0 else math.nan

    @property
    def throughput_requests_per_s(self) -> float:
        return len(self.latency_s) / self.span_s if self.span_s > 0 else math.nan

    def summary(self) -> dict[str, Any]:
        """JSON-ready: Stats of latency, TTFT and TPOT, and the two throughputs."""
        return {
            "latency_s": summarize(self.latency_s).to_dict(),
            "ttft_s": summarize(self.ttft_s).to_dict(),
            "tpot_s": summarize(self.tpot_s).to_dict(),
            "throughput_tokens_per_s": self.throughput_tokens_per_s,
            "throughput_requests_per_s": self.throughput_requests_per_s,
            "span_s": self.span_s,
        }


def time_metrics(
    instance: Instance, schedule: Schedule, round_end_s: Any, *, arrival_s: Any = None,
) -> TimeMetrics:
    """Metrics in seconds of ``schedule`` (module docstring for the definitions).

    Parameters
    ----------
    round_end_s
        Non-decreasing end time of every round ``0 .. max run end`` (at least), e.g. from
        :func:`round_end_times_s` or :func:`schedule_round_ends_s`.
    arrival_s
        Arrival times in seconds; by default ``round_end_s[instance.arrival]``.

    Raises
    ------
    ScheduleError
        When ``round_end_s`` is too short or decreasing, or a run starts before its request
        arrives in seconds (``round_end_s[k] < arrival_s``), naming the round or request.
    """
    if schedule.num_requests != instance.num_requests:
        raise ScheduleError(f"schedule has {schedule.num_requests} requests, "
                            f"instance has {instance.num_requests}")
    tau = np.asarray(round_end_s, dtype=np.float64).reshape(-1)
    last = int(schedule.run_end.max()) if len(schedule.run_end) else 0
    last = max(last, int(instance.arrival.max()) if instance.num_requests else 0)
    if len(tau) <= last:
        raise ScheduleError(f"round_end_s covers rounds 0..{len(tau) - 1}, the schedule needs "
                            f"0..{last}")
    if (down := np.flatnonzero(np.diff(tau) < 0)).size:
        t = int(down[0]) + 1
        raise ScheduleError(f"round_end_s decreases at round {t}: {tau[t - 1]} then {tau[t]}")
    if arrival_s is None:
        arr = tau[instance.arrival]
    else:
        arr = np.array(arrival_s, dtype=np.float64).reshape(-1)
        if len(arr) != instance.num_requests:
            raise ScheduleError(f"arrival_s has {len(arr)} values, instance has "
                                f"{instance.num_requests} requests")
        if (bad := np.flatnonzero(~np.isfinite(arr))).size:
            raise ScheduleError(f"arrival_s of request {int(bad[0])} is not finite")
    start_s = tau[schedule.run_start]
    tol = 1e-9 * max(1.0, float(np.abs(tau).max()))
    if (early := np.flatnonzero(start_s < arr[schedule.run_req] - tol)).size:
        r = int(early[0])
        i = int(schedule.run_req[r])
        raise ScheduleError(
            f"request {i} starts at round {int(schedule.run_start[r])} = {start_s[r]:.6g} s, "
            f"before its arrival at {arr[i]:.6g} s"
        )
    k = schedule.final_starts()
    if (missing := np.flatnonzero(k < 0)).size:
        raise ScheduleError(f"request {int(missing[0])} never runs")
    o = instance.output
    first = tau[k + 1]
    done = tau[k + o]
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot = np.where(o > 1, (done - first) / np.maximum(o - 1, 1), np.nan)
    arr = arr.copy()
    for a in (arr, first, done, tpot):
        a.flags.writeable = False
    latency, ttft = done - arr, first - arr
    latency.flags.writeable = False
    ttft.flags.writeable = False
    span = float(done.max() - arr.min()) if len(arr) else 0.0
    return TimeMetrics(arr, first, done, latency, ttft, tpot, int(o.sum()), span)


def throughput_timeline(
    round_end_s: Any, batches: BatchComposition, *, window_s: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Output tokens generated per second in windows of ``window_s``: ``(window_start_s, rate)``.

    A round's tokens (one per prefill and per decoding request, including tokens of runs later
    cleared) count at the round's end time.
    """
    if not (math.isfinite(window_s) and window_s > 0):
        raise ValueError(f"window_s must be a positive number, got {window_s}")
    tau = np.asarray(round_end_s, dtype=np.float64).reshape(-1)
    if len(tau) < batches.num_rounds:
        raise ValueError(f"round_end_s covers {len(tau)} rounds, batches {batches.num_rounds}")
    tau = tau[: batches.num_rounds]
    start = float(tau[0])
    bins = np.floor((tau - start) / window_s).astype(np.int64)
    tokens = np.bincount(bins, weights=batches.output_tokens, minlength=int(bins.max()) + 1)
    return start + window_s * np.arange(len(tokens)), tokens / window_s
