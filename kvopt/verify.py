"""The independent verifier: the only source of every latency kvopt reports.

It shares no code with the integer program or the simulator: it restates the rules of
``specs/kv-scheduling.md`` section 1 and of run segments (:mod:`kvopt.schedule`) with its own
arithmetic and checks a schedule against them, vectorised over segments (the memory held per
round comes from difference arrays, never from a loop over rounds).
"""

from __future__ import annotations

import dataclasses
from typing import cast

import numpy as np

from kvopt.exceptions import ScheduleError
from kvopt.instance import Instance
from kvopt.schedule import GPU, HOST, TIERS, Schedule

__all__ = ["Evaluation", "memory_profile", "verify"]


@dataclasses.dataclass(frozen=True, eq=False)
class Evaluation:
    """Metrics of a verified schedule, in rounds."""

    completion: np.ndarray     # c_i, int64[n]
    latency: np.ndarray        # c_i - a_i, int64[n]
    num_clearings: int
    peak_memory_tokens: int    # the most KV cache any replica holds in any round
    wasted_tokens: int = 0     # output tokens computed by runs that were then cleared

    @property
    def total_latency(self) -> int:
        return int(self.latency.sum())

    @property
    def average_latency(self) -> float:
        return float(self.latency.mean()) if len(self.latency) else 0.0


def _column(schedule: Schedule, name: str) -> np.ndarray:
    return cast(np.ndarray, getattr(schedule, name))


def _held(instance: Instance, schedule: Schedule, tier: int, num_replicas: int) -> np.ndarray:
    """Tokens held in ``tier`` per replica and round: int64[num_replicas, max end + 1].

    A GPU segment ``(k, e)`` from progress ``p`` holds ``s + p + t - k`` in rounds
    ``t = k+1 .. e``: written as ``(s + p - k) + t``, the constant and the count of segments are
    two difference arrays. A host segment holds the constant ``s + p`` there.
    """
    end = schedule.run_end
    horizon = int(end.max()) + 2 if len(end) else 2
    sel = _column(schedule, "run_tier") == tier
    req, k, e = schedule.run_req[sel], schedule.run_start[sel], end[sel]
    base = _column(schedule, "run_replica")[sel] * horizon
    const = instance.prompt[req] + _column(schedule, "run_progress")[sel]
    size = num_replicas * horizon
    flat = np.zeros(size, dtype=np.int64)
    np.add.at(flat, base + k + 1, const - k if tier == GPU else const)
    np.add.at(flat, base + e + 1, k - const if tier == GPU else -const)
    held = flat.reshape(num_replicas, horizon)
    np.cumsum(held, axis=1, out=held)              # in place: these arrays span every round
    if tier == GPU:
        flat = np.zeros(size, dtype=np.int64)
        np.add.at(flat, base + k + 1, 1)
        np.add.at(flat, base + e + 1, -1)
        count = flat.reshape(num_replicas, horizon)
        np.cumsum(count, axis=1, out=count)
        count *= np.arange(horizon, dtype=np.int64)
        held += count
    return held[:, :-1]


def memory_profile(instance: Instance, schedule: Schedule, *, replica: int = 0,
                   tier: str = "gpu") -> np.ndarray:
    """Tokens held in each round ``t = 0 .. max end`` (index = round) on ``replica`` in ``tier``:
    KV cache on the GPU (default), or parked KV cache in host memory."""
    if tier not in TIERS:
        raise ValueError(f"unknown memory tier {tier!r}; expected one of {TIERS}")
    replicas = _column(schedule, "run_replica")
    num_replicas = max(replica, int(replicas.max()) if len(replicas) else 0) + 1
    return _held(instance, schedule, TIERS.index(tier), num_replicas)[replica]


def _first(mask: np.ndarray) -> int | None:
    hit = np.flatnonzero(mask)
    return int(hit[0]) if hit.size else None


def _check_segments(instance: Instance, schedule: Schedule, num_replicas: int) -> np.ndarray:
    """Every rule on the segments themselves (module :mod:`kvopt.schedule`); returns the mask of
    each request's last segment."""
    n = instance.num_requests
    req, k, e = schedule.run_req, schedule.run_start, schedule.run_end
    replica = _column(schedule, "run_replica")
    progress = _column(schedule, "run_progress")
    tier = _column(schedule, "run_tier")
    a, o = instance.arrival, instance.output
    o_r = o[req]
    if (i := _first(np.bincount(req, minlength=n) == 0)) is not None:
        raise ScheduleError(f"request {i} never runs")
    if (r := _first(replica >= num_replicas)) is not None:
        raise ScheduleError(f"request {int(req[r])}: segment from round {int(k[r])} on replica "
                            f"{int(replica[r])}, but there are {num_replicas} replica(s)")
    if (r := _first(k < a[req])) is not None:
        raise ScheduleError(f"request {int(req[r])} starts at round {int(k[r])} before its "
                            f"arrival {int(a[req[r]])}")
    gpu = tier == GPU
    end_progress = progress + np.where(gpu, e - k, 0)
    last = np.ones(len(req), dtype=bool)
    last[:-1] = req[1:] != req[:-1]
    first = np.ones(len(req), dtype=bool)
    first[1:] = req[1:] != req[:-1]
    if (r := _first(last & ~gpu)) is not None:
        raise ScheduleError(f"request {int(req[r])}: its last segment ({int(k[r])}, {int(e[r])}) "
                            f"is parked on the host, so it never completes")
    if (r := _first(last & (end_progress != o_r))) is not None:
        since = f" from progress {int(progress[r])}" if progress[r] else ""
        raise ScheduleError(
            f"request {int(req[r])}: its last run starts at {int(k[r])}{since} and ends at "
            f"{int(e[r])}, but needs {int(o_r[r] - progress[r])} rounds to complete")
    if (r := _first(~last & gpu & ((e <= k) | (end_progress >= o_r)))) is not None:
        raise ScheduleError(
            f"request {int(req[r])}: run ({int(k[r])}, {int(e[r])}) is not its last, so it must "
            f"end strictly between its start and its completion (progress "
            f"{int(progress[r])} + {int(e[r] - k[r])} < {int(o_r[r])})")
    if (r := _first(~gpu & (e <= k))) is not None:
        raise ScheduleError(f"request {int(req[r])}: host segment ({int(k[r])}, {int(e[r])}) "
                            f"must last at least one round")
    if (r := _first(first & (progress != 0))) is not None:
        raise ScheduleError(f"request {int(req[r])}: its first segment starts with progress "
                            f"{int(progress[r])}, but nothing was computed before it")
    if (r := _first(~gpu & (progress == 0))) is not None:
        raise ScheduleError(f"request {int(req[r])}: host segment ({int(k[r])}, {int(e[r])}) "
                            f"from progress 0: only a KV cache kept from the previous segment "
                            f"can be parked")
    same = ~last[:-1]                  # segment r and r + 1 belong to one request
    resumes = same & (progress[1:] > 0)
    if (r := _first(same & (progress[1:] == 0) & (k[1:] < e[:-1]))) is not None:
        raise ScheduleError(f"request {int(req[r])} restarts at round {int(k[r + 1])} before its "
                            f"cleared run ended at {int(e[r])}")
    if (r := _first(resumes & (progress[1:] != end_progress[:-1]))) is not None:
        raise ScheduleError(
            f"request {int(req[r])}: the segment from round {int(k[r + 1])} resumes at progress "
            f"{int(progress[r + 1])}, but the one before it ended at progress "
            f"{int(end_progress[r])} (a run resumes where it stopped, or restarts from 0)")
    if (r := _first(resumes & (k[1:] != e[:-1]))) is not None:
        raise ScheduleError(
            f"request {int(req[r])}: the segment resuming at round {int(k[r + 1])} keeps the KV "
            f"cache of the one before it, which ended at round {int(e[r])}: it must start then")
    return last


def verify(instance: Instance, schedule: Schedule, *, num_replicas: int = 1,
           host_memory: int | None = None) -> Evaluation:
    """Check ``schedule`` against ``instance``; return its metrics.

    Checks (:mod:`kvopt.schedule` states the rules): one schedule entry per request, and every
    request has a segment; replicas in ``0 .. num_replicas - 1``; no segment starts before its
    request's arrival; segments of one request never overlap in time (no request runs twice at
    once); progress is conserved: a segment starts at progress 0 on the GPU (first start or a
    restart after a clearing, no earlier than the previous segment's end) or resumes exactly
    where the previous one stopped, at its end (swap, migration; host segments only so);
    a GPU segment that is not the last ends strictly before completing; the last segment is on
    the GPU and completes (progress ``o``); in every round each replica's KV cache holds at most
    ``instance.memory`` tokens, and its host memory at most ``host_memory`` (default: no limit).
    Wasted tokens: the progress at its end of every segment followed by a restart (a clearing).

    Raises
    ------
    ScheduleError
        Naming the request, replica or round that breaks a rule.
    """
    n = instance.num_requests
    if schedule.num_requests != n:
        raise ScheduleError(f"schedule has {schedule.num_requests} requests, instance has {n}")
    if num_replicas < 1:
        raise ValueError(f"num_replicas must be at least 1, got {num_replicas}")
    last = _check_segments(instance, schedule, num_replicas)
    gpu = _held(instance, schedule, GPU, num_replicas)
    peak = gpu[0] if num_replicas == 1 else gpu.max(axis=0)
    if (t := _first(peak > instance.memory)) is not None:
        rep = int(np.argmax(gpu[:, t] > instance.memory))
        where = f"replica {rep}: " if num_replicas > 1 else ""
        raise ScheduleError(f"{where}round {t} holds {int(gpu[rep, t])} KV tokens, over the "
                            f"memory limit {instance.memory}")
    if host_memory is not None and (_column(schedule, "run_tier") == HOST).any():
        host = _held(instance, schedule, HOST, num_replicas)
        if (t := _first(host.max(axis=0) > host_memory)) is not None:
            rep = int(np.argmax(host[:, t] > host_memory))
            raise ScheduleError(f"replica {rep}: round {t} parks {int(host[rep, t])} tokens in "
                                f"host memory, over its capacity {host_memory}")
    req, e = schedule.run_req, schedule.run_end
    # a cleared segment loses everything its run had computed: its progress at its end
    restart = np.zeros(len(req), dtype=bool)
    restart[:-1] = ~last[:-1] & (_column(schedule, "run_progress")[1:] == 0)
    gpu_rounds = np.where(_column(schedule, "run_tier") == GPU, e - schedule.run_start, 0)
    wasted = int((_column(schedule, "run_progress") + gpu_rounds)[restart].sum())
    completion = np.empty(n, dtype=np.int64)
    completion[req[last]] = e[last]
    completion.flags.writeable = False
    latency = completion - instance.arrival
    latency.flags.writeable = False
    return Evaluation(completion, latency, schedule.num_clearings, int(peak.max()), wasted)
