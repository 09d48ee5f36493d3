r"""Schedules: run segments, under the start convention of the spec.

A schedule is a set of *segments*; segment ``r`` says that request ``run_req[r]`` was on
replica ``run_replica[r]``, in memory tier ``run_tier[r]`` (:data:`GPU` or :data:`HOST`), from
the decision point of round ``k = run_start[r]`` to that of round ``e = run_end[r] > k``, having
produced ``p = run_progress[r]`` output tokens when it began. With ``s`` its prompt and ``o`` its
output length:

* **gpu segment** (``specs/kv-scheduling.md`` section 1): the request runs in rounds
  ``k+1, ..., e`` on its replica, one output token per round; in round ``t`` it holds
  ``s + p + (t - k)`` tokens of that replica's KV cache (prefill and the first token in round
  ``k+1`` when ``p = 0``). Its progress at the end is ``p + e - k``, at most ``o``; it completes
  when that reaches ``o``, at ``c = e``.
* **host segment**: the request's KV cache is parked in the replica's host memory in rounds
  ``k+1, ..., e``: ``s + p`` tokens of host memory, no KV cache on the GPU, no progress.

The segments of one request, ordered by start, are disjoint in time (``k' >= e`` for the next
one: a request runs on at most one replica and tier at once). Each begins either

* with progress ``0``, on the GPU: a *start*, the first segment or a *restart* after a
  *clearing* (the previous segment's KV cache, on GPU or host, is dropped at its end ``e`` and
  everything is recomputed; ``k' >= e``); or
* with exactly the previous segment's progress at its end, at ``k' = e``: a *continuation*
  that kept the KV cache (swap out to the host, swap in from it, migration to another replica;
  moves take no round in this model).

The last segment is on the GPU and ends at progress ``o``. :func:`kvopt.verify.verify` checks all
of this with its own arithmetic.

Today's engines produce the *one-replica, no-preemption special case*: every segment on replica
0, on the GPU, from progress 0, i.e. *runs* ``(request, start, end)``, each request's last run
completing (``e = k + o``) and every earlier one cleared (``k < e < k + o``). Such a schedule is
built by :meth:`Schedule.from_starts` (no clearings) or :meth:`Schedule.from_runs`;
:attr:`Schedule.is_runs` tells it apart, and its :meth:`Schedule.to_dict` is the JSON kvopt has
always written.

The segments are stored as aligned read-only int64 arrays ordered by request, then start.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
from numpy.typing import ArrayLike

from kvopt.exceptions import ScheduleError

__all__ = ["GPU", "HOST", "TIERS", "Schedule", "frozen_int64"]

#: memory tiers, by code: ``run_tier[r]`` indexes this tuple
TIERS: tuple[str, ...] = ("gpu", "host")
GPU, HOST = 0, 1


def frozen_int64(values: Any) -> np.ndarray:
    """A read-only one-dimensional int64 copy of ``values``."""
    arr = np.array(values, dtype=np.int64).reshape(-1)
    arr.flags.writeable = False
    return arr


def _tier_code(tier: Any) -> int:
    if isinstance(tier, str):
        if tier not in TIERS:
            raise ScheduleError(f"unknown memory tier {tier!r}; expected one of {TIERS}")
        return TIERS.index(tier)
    return int(tier)


@dataclasses.dataclass(frozen=True, eq=False)
class Schedule:
    """Run segments (module docstring): ``run_req[r]`` on replica ``run_replica[r]``, tier
    ``run_tier[r]``, from ``run_start[r]`` to ``run_end[r]``, from progress ``run_progress[r]``.

    ``run_replica``, ``run_progress`` and ``run_tier`` default to zeros (replica 0, progress 0,
    GPU): the runs of the one-replica, no-preemption special case. Build with
    :meth:`from_starts`, :meth:`from_runs` or :meth:`from_segments`.

    Raises
    ------
    ScheduleError
        When the columns differ in length, or a segment names a request outside the instance,
        a negative replica or progress, or an unknown tier.
    """

    num_requests: int
    run_req: np.ndarray
    run_start: np.ndarray
    run_end: np.ndarray
    run_replica: np.ndarray | None = None
    run_progress: np.ndarray | None = None
    run_tier: np.ndarray | None = None

    def __post_init__(self) -> None:
        req, start, end = (frozen_int64(getattr(self, f))
                           for f in ("run_req", "run_start", "run_end"))
        if not (len(req) == len(start) == len(end)):
            raise ScheduleError("run_req, run_start and run_end differ in length")
        extra = []
        for f in ("run_replica", "run_progress", "run_tier"):
            value = getattr(self, f)
            col = np.zeros(len(req), dtype=np.int64) if value is None else frozen_int64(value)
            if len(col) != len(req):
                raise ScheduleError(f"{f} has {len(col)} entries, run_req {len(req)}")
            extra.append(col)
        replica, progress, tier = extra
        if len(req) and (req.min() < 0 or req.max() >= self.num_requests):
            raise ScheduleError("a run names a request outside the instance")
        if (bad := np.flatnonzero(replica < 0)).size:
            raise ScheduleError(f"request {int(req[bad[0]])}: negative replica "
                                f"{int(replica[bad[0]])}")
        if (bad := np.flatnonzero(progress < 0)).size:
            raise ScheduleError(f"request {int(req[bad[0]])}: negative progress "
                                f"{int(progress[bad[0]])}")
        if (bad := np.flatnonzero((tier < 0) | (tier >= len(TIERS)))).size:
            raise ScheduleError(f"request {int(req[bad[0]])}: unknown memory tier code "
                                f"{int(tier[bad[0]])}; expected 0 (gpu) or 1 (host)")
        order = np.lexsort((start, req))
        for f, col in (("run_req", req), ("run_start", start), ("run_end", end),
                       ("run_replica", replica), ("run_progress", progress), ("run_tier", tier)):
            object.__setattr__(self, f, frozen_int64(col[order]))

    # ------------------------------------------------------------------------ constructors
    @classmethod
    def from_starts(cls, starts: ArrayLike, output: ArrayLike) -> Schedule:
        """One uncleared run per request: request ``i`` starts at ``starts[i]``."""
        starts = np.asarray(starts, dtype=np.int64)
        n = len(starts)
        return cls(n, np.arange(n), starts, starts + np.asarray(output, dtype=np.int64))

    @classmethod
    def from_runs(cls, num_requests: int, runs: list[tuple[int, int, int]]) -> Schedule:
        """From ``(request, start_round, end_round)`` triples: replica 0, GPU, progress 0."""
        arr = np.array(runs, dtype=np.int64).reshape(-1, 3)
        return cls(num_requests, arr[:, 0], arr[:, 1], arr[:, 2])

    @classmethod
    def from_segments(cls, num_requests: int, segments: Sequence[Sequence[Any]]) -> Schedule:
        """From ``(request, replica, start, end, progress, tier)`` rows; ``tier`` is ``"gpu"``,
        ``"host"`` or its code."""
        rows = [(int(r), int(rep), int(k), int(e), int(p), _tier_code(tier))
                for r, rep, k, e, p, tier in segments]
        arr = np.array(rows, dtype=np.int64).reshape(-1, 6)
        return cls(num_requests, arr[:, 0], arr[:, 2], arr[:, 3], run_replica=arr[:, 1],
                   run_progress=arr[:, 4], run_tier=arr[:, 5])

    # --------------------------------------------------------------------------- queries
    @property
    def num_segments(self) -> int:
        return len(self.run_req)

    @property
    def is_runs(self) -> bool:
        """Whether every segment is on replica 0, on the GPU, from progress 0: the runs of the
        one-replica, no-preemption special case (restarts after clearings allowed)."""
        return not (self._col("run_replica").any() or self._col("run_progress").any()
                    or self._col("run_tier").any())

    def _col(self, name: str) -> np.ndarray:
        return cast(np.ndarray, getattr(self, name))   # filled in __post_init__

    def _last(self) -> np.ndarray:
        """Per segment: whether it is its request's last."""
        req = self.run_req
        last = np.ones(len(req), dtype=bool)
        last[:-1] = req[1:] != req[:-1]
        return last

    def _cleared(self) -> np.ndarray:
        """Per segment: whether a restart (a segment of the same request from progress 0)
        follows it, i.e. whether it ended in a clearing."""
        req, progress = self.run_req, self._col("run_progress")
        cleared = np.zeros(len(req), dtype=bool)
        cleared[:-1] = (req[1:] == req[:-1]) & (progress[1:] == 0)
        return cleared

    @property
    def num_clearings(self) -> int:
        """Segments that ended in a clearing (every run but each request's last, for runs)."""
        return int(self._cleared().sum())

    def final_starts(self) -> np.ndarray:
        """Start round of each request's last segment (``-1`` for a request with none); for runs,
        the start of the run that completes."""
        out = np.full(self.num_requests, -1, dtype=np.int64)
        out[self.run_req] = self.run_start  # sorted by (req, start): the last write wins
        return out

    def clearings(self) -> list[tuple[int, int, int]]:
        """Every segment that ended in a clearing, as ``(request, start_round, end_round)``; for
        runs, every run except each request's last."""
        idcs = np.flatnonzero(self._cleared())
        return [(int(self.run_req[r]), int(self.run_start[r]), int(self.run_end[r]))
                for r in idcs]

    def segments(self) -> list[tuple[int, int, int, int, int, str]]:
        """Every segment as ``(request, replica, start, end, progress, tier)``, tier by name."""
        cols = zip(self.run_req.tolist(), self._col("run_replica").tolist(),
                   self.run_start.tolist(), self.run_end.tolist(),
                   self._col("run_progress").tolist(), self._col("run_tier").tolist(),
                   strict=True)
        return [(i, rep, k, e, p, TIERS[tier]) for i, rep, k, e, p, tier in cols]

    def to_dict(self) -> dict[str, Any]:
        """``{"starts": final starts, "clearings": [[request, start, end], ...]}``; a schedule
        that is not made of runs (:attr:`is_runs`) adds ``"segments"``: every segment as
        ``[request, replica, start, end, progress, tier]``."""
        data: dict[str, Any] = {"starts": self.final_starts().tolist(),
                                "clearings": [list(c) for c in self.clearings()]}
        if not self.is_runs:
            data["segments"] = [list(s) for s in self.segments()]
        return data
