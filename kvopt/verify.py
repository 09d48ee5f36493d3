"""The independent verifier: the only source of every latency kvopt reports.

It shares no code with the integer program or the simulator: it restates the rules of
``specs/kv-scheduling.md`` section 1 with its own arithmetic and checks a schedule against them.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from kvopt.exceptions import ScheduleError
from kvopt.instance import Instance
from kvopt.schedule import Schedule

__all__ = ["Evaluation", "memory_profile", "verify"]


@dataclasses.dataclass(frozen=True, eq=False)
class Evaluation:
    """Metrics of a verified schedule, in rounds."""

    completion: np.ndarray     # c_i, int64[n]
    latency: np.ndarray        # c_i - a_i, int64[n]
    num_clearings: int
    peak_memory_tokens: int

    @property
    def total_latency(self) -> int:
        return int(self.latency.sum())

    @property
    def average_latency(self) -> float:
        return float(self.latency.mean()) if len(self.latency) else 0.0


def memory_profile(instance: Instance, schedule: Schedule) -> np.ndarray:
    """Tokens of KV cache held in each round ``t = 0 .. max end`` (index = round).

    A run ``(k, e)`` of request ``i`` holds ``s_i + t - k`` in rounds ``t = k+1 .. e``: written as
    ``(s_i - k) + t``, the constant and the count of running requests are two difference arrays.
    """
    if len(schedule.run_req) == 0:
        return np.zeros(1, dtype=np.int64)
    k, e = schedule.run_start, schedule.run_end
    horizon = int(e.max()) + 2
    const = np.zeros(horizon, dtype=np.int64)
    count = np.zeros(horizon, dtype=np.int64)
    s = instance.prompt[schedule.run_req]
    np.add.at(const, k + 1, s - k)
    np.add.at(const, e + 1, -(s - k))
    np.add.at(count, k + 1, 1)
    np.add.at(count, e + 1, -1)
    rounds = np.arange(horizon, dtype=np.int64)
    return (np.cumsum(const) + rounds * np.cumsum(count))[:-1]


def verify(instance: Instance, schedule: Schedule) -> Evaluation:
    """Check ``schedule`` against ``instance``; return its metrics.

    Checks: one schedule entry per request; every run starts no earlier than the request's
    arrival and no earlier than the end of its previous run; a cleared run ends strictly inside
    ``(k, k + o)``; each request's last run completes (``e = k + o``); in every round the KV cache
    held is at most ``M``.

    Raises
    ------
    ScheduleError
        Naming the request or round that breaks a rule.
    """
    n = instance.num_requests
    if schedule.num_requests != n:
        raise ScheduleError(f"schedule has {schedule.num_requests} requests, instance has {n}")
    req, k, e = schedule.run_req, schedule.run_start, schedule.run_end
    a, o = instance.arrival, instance.output
    runs_per_req = np.bincount(req, minlength=n)
    if (missing := np.flatnonzero(runs_per_req == 0)).size:
        raise ScheduleError(f"request {int(missing[0])} never runs")
    if (early := np.flatnonzero(k < a[req])).size:
        r = int(early[0])
        raise ScheduleError(
            f"request {int(req[r])} starts at round {int(k[r])} before its arrival {int(a[req[r]])}"
        )
    last = np.ones(len(req), dtype=bool)
    last[:-1] = req[1:] != req[:-1]
    if (bad := np.flatnonzero(last & (e != k + o[req]))).size:
        r = int(bad[0])
        raise ScheduleError(
            f"request {int(req[r])}: its last run starts at {int(k[r])} and ends at {int(e[r])}, "
            f"but needs {int(o[req[r]])} rounds to complete"
        )
    if (bad := np.flatnonzero(~last & ((e <= k) | (e >= k + o[req])))).size:
        r = int(bad[0])
        raise ScheduleError(
            f"request {int(req[r])}: cleared run ({int(k[r])}, {int(e[r])}) must end strictly "
            f"between its start and its completion"
        )
    same = req[1:] == req[:-1]
    if (bad := np.flatnonzero(same & (k[1:] < e[:-1]))).size:
        r = int(bad[0])
        raise ScheduleError(
            f"request {int(req[r])} restarts at round {int(k[r + 1])} before its cleared run "
            f"ended at {int(e[r])}"
        )
    mem = memory_profile(instance, schedule)
    if (over := np.flatnonzero(mem > instance.memory)).size:
        t = int(over[0])
        raise ScheduleError(
            f"round {t} holds {int(mem[t])} KV tokens, over the memory limit {instance.memory}"
        )
    completion = np.empty(n, dtype=np.int64)
    completion[req[last]] = e[last]
    completion.flags.writeable = False
    latency = completion - a
    latency.flags.writeable = False
    return Evaluation(completion, latency, int(len(req) - n), int(mem.max()) if len(mem) else 0)
