"""Between integer-program columns and schedules."""

from __future__ import annotations

import numpy as np

from kvopt.exceptions import KvoptError
from kvopt.hindsight.milp.model import MilpModel
from kvopt.instance import Instance
from kvopt.schedule import Schedule

__all__ = ["decode", "encode"]


def decode(instance: Instance, model: MilpModel, col_value: np.ndarray) -> Schedule:
    """The schedule of a 0/1 column vector (values rounded at 0.5)."""
    chosen = np.flatnonzero(np.asarray(col_value) > 0.5)
    starts = np.full(instance.num_requests, -1, dtype=np.int64)
    counts = np.bincount(model.col_req[chosen], minlength=instance.num_requests)
    if np.any(counts != 1):
        i = int(np.flatnonzero(counts != 1)[0])
        raise KvoptError(f"solver solution starts request {i} {int(counts[i])} times")
    starts[model.col_req[chosen]] = model.col_start[chosen]
    return Schedule.from_starts(starts, instance.output)


def encode(model: MilpModel, starts: np.ndarray) -> np.ndarray | None:
    """The column vector of start rounds ``starts``; ``None`` if one lies outside its window."""
    starts = np.asarray(starts, dtype=np.int64)
    value = (model.col_start == starts[model.col_req]).astype(np.float64)
    if np.bincount(model.col_req, weights=value, minlength=len(starts)).min() < 1:
        return None
    return value
