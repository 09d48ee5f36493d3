"""Schedules: what ran when, under the start convention of the spec.

Time convention (``specs/kv-scheduling.md`` section 1): a run of request ``i`` that *starts at
round k* is processed in rounds ``k+1, ..., e``; in round ``k+j`` it holds ``s_i + j`` tokens of
KV cache. A run that completes has ``e = k + o_i`` and the request completes at ``c_i = e``. A
run that is *cleared* (evicted by a policy) has ``k < e < k + o_i``: it held memory in rounds
``k+1 .. e`` and nothing after; the request's next run starts at a round ``k' >= e`` and needs
all ``o_i`` rounds again.

A :class:`Schedule` stores runs as three aligned read-only arrays (``run_req``, ``run_start``,
``run_end``), ordered by request and then by start; every request's last run is the one that
completes. A schedule without clearings has exactly one run per request.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from kvopt.exceptions import ScheduleError

__all__ = ["Schedule", "frozen_int64"]


def frozen_int64(values: Any) -> np.ndarray:
    """A read-only one-dimensional int64 copy of ``values``."""
    arr = np.array(values, dtype=np.int64).reshape(-1)
    arr.flags.writeable = False
    return arr


@dataclasses.dataclass(frozen=True, eq=False)
class Schedule:
    """Runs of requests: ``run_req[r]`` started at ``run_start[r]`` and ran until ``run_end[r]``.

    Build with :meth:`from_starts` (no clearings) or :meth:`from_runs`.
    """

    num_requests: int
    run_req: np.ndarray
    run_start: np.ndarray
    run_end: np.ndarray

    def __post_init__(self) -> None:
        req, start, end = (frozen_int64(getattr(self, f)) for f in ("run_req", "run_start", "run_end"))
        if not (len(req) == len(start) == len(end)):
            raise ScheduleError("run_req, run_start and run_end differ in length")
        if len(req) and (req.min() < 0 or req.max() >= self.num_requests):
            raise ScheduleError("a run names a request outside the instance")
        order = np.lexsort((start, req))
        object.__setattr__(self, "run_req", frozen_int64(req[order]))
        object.__setattr__(self, "run_start", frozen_int64(start[order]))
        object.__setattr__(self, "run_end", frozen_int64(end[order]))

    @classmethod
    def from_starts(cls, starts: Any, output: np.ndarray) -> Schedule:
        """One uncleared run per request: request ``i`` starts at ``starts[i]``."""
        starts = np.asarray(starts, dtype=np.int64)
        n = len(starts)
        return cls(n, np.arange(n), starts, starts + np.asarray(output, dtype=np.int64))

    @classmethod
    def from_runs(cls, num_requests: int, runs: list[tuple[int, int, int]]) -> Schedule:
        """From ``(request, start_round, end_round)`` triples."""
        arr = np.array(runs, dtype=np.int64).reshape(-1, 3)
        return cls(num_requests, arr[:, 0], arr[:, 1], arr[:, 2])

    @property
    def num_clearings(self) -> int:
        return int(len(self.run_req) - self.num_requests)

    def final_starts(self) -> np.ndarray:
        """Start round of each request's last run (``-1`` for a request with no run)."""
        out = np.full(self.num_requests, -1, dtype=np.int64)
        out[self.run_req] = self.run_start  # sorted by (req, start): the last write wins
        return out

    def clearings(self) -> list[tuple[int, int, int]]:
        """Every run except each request's last, as ``(request, start_round, end_round)``."""
        last = np.ones(len(self.run_req), dtype=bool)
        last[:-1] = self.run_req[1:] != self.run_req[:-1]
        idcs = np.flatnonzero(~last)
        return [(int(self.run_req[r]), int(self.run_start[r]), int(self.run_end[r])) for r in idcs]

    def to_dict(self) -> dict[str, Any]:
        return {"starts": self.final_starts().tolist(),
                "clearings": [list(c) for c in self.clearings()]}
