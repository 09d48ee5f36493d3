"""Instances of the KV-cache scheduling model (``specs/kv-scheduling.md`` sections 1-2).

An :class:`Instance` is frozen: its columns are read-only ``int64`` arrays, copied from the
caller's data on construction and validated there, so one object can feed the integer program
and every policy without any of them changing it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from kvopt.exceptions import InstanceError

__all__ = ["Instance"]

_OPTIONAL_COLUMNS = ("predicted", "lower", "upper")
# Rounds and token counts far beyond any real instance, small enough that sums over a million
# requests stay inside int64 (a larger value would wrap around silently in numpy arithmetic).
MAX_VALUE = 2**40


def _column(name: str, values: Any, *, minimum: int) -> np.ndarray:
    """A read-only int64 copy of ``values``; raises InstanceError naming the field and request."""
    if isinstance(values, np.ndarray):
        seq = values.tolist()
    elif isinstance(values, (list, tuple)):
        seq = list(values)
    else:
        raise InstanceError(
            f"field '{name}' must be a list of integers, got {type(values).__name__}")
    for i, v in enumerate(seq):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise InstanceError(f"field '{name}', request {i}: {v!r} is not an integer")
        if isinstance(v, (float, np.floating)):
            if math.isnan(v) or math.isinf(v):
                raise InstanceError(f"field '{name}', request {i}: {v} is not a finite integer")
            if not float(v).is_integer():
                raise InstanceError(f"field '{name}', request {i}: {v} is not an integer")
        if v < minimum:
            raise InstanceError(
                f"field '{name}', request {i}: {int(v)} is below the minimum {minimum}")
        if v > MAX_VALUE:
            raise InstanceError(f"field '{name}', request {i}: {int(v)} exceeds the maximum 2**40")
    arr = np.array([int(v) for v in seq], dtype=np.int64)
    arr.flags.writeable = False
    return arr


@dataclasses.dataclass(frozen=True, eq=False)
class Instance:
    """A set of requests and the KV-cache capacity ``M`` (tokens).

    Request ``i`` is the i-th position in every column. Rounds follow the start convention of
    the spec: a request started at round ``k`` runs in rounds ``k+1 .. k+o`` holding ``s + j``
    tokens in round ``k+j`` and completes at ``k + o``.

    Parameters
    ----------
    memory
        KV-cache capacity ``M`` in tokens.
    arrival, prompt, output
        Arrival round ``a_i >= 0``, prompt tokens ``s_i >= 1``, true output tokens ``o_i >= 1``.
    predicted, lower, upper
        Optional output-length prediction and interval (``lower <= upper``).
    name
        Optional label.
    ids
        Optional external request ids (strings), kept for reports only.

    Raises
    ------
    InstanceError
        On any invalid field, naming the field and the first offending request.
    """

    memory: int
    arrival: np.ndarray
    prompt: np.ndarray
    output: np.ndarray
    predicted: np.ndarray | None = None
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    name: str = ""
    ids: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        memory: Any = self.memory  # validated here: any type may come in
        if isinstance(memory, bool) or not isinstance(memory, (int, np.integer, float)):
            raise InstanceError(f"field 'memory' must be an integer, got {memory!r}")
        if isinstance(memory, float) and (not math.isfinite(memory) or not memory.is_integer()):
            raise InstanceError(f"field 'memory': {memory} is not an integer")
        if memory < 1:
            raise InstanceError(f"field 'memory': {int(memory)} must be at least 1")
        if memory > MAX_VALUE:
            raise InstanceError(f"field 'memory': {int(memory)} exceeds the maximum 2**40")
        object.__setattr__(self, "memory", int(memory))
        if not isinstance(self.name, str):
            raise InstanceError(f"field 'name' must be a string, got {self.name!r}")
        object.__setattr__(self, "arrival", _column("arrival", self.arrival, minimum=0))
        object.__setattr__(self, "prompt", _column("prompt", self.prompt, minimum=1))
        object.__setattr__(self, "output", _column("output", self.output, minimum=1))
        n = len(self.arrival)
        for field in ("prompt", "output"):
            if len(getattr(self, field)) != n:
                raise InstanceError(
                    f"field '{field}' has {len(getattr(self, field))} values but 'arrival' has {n}"
                )
        for field in _OPTIONAL_COLUMNS:
            value = getattr(self, field)
            if value is None:
                continue
            arr = _column(field, value, minimum=1 if field != "lower" else 0)
            if len(arr) != n:
                raise InstanceError(f"field '{field}' has {len(arr)} values but 'arrival' has {n}")
            object.__setattr__(self, field, arr)
        if (self.lower is not None and self.upper is not None
                and (bad := np.flatnonzero(self.lower > self.upper)).size):
            i = int(bad[0])
            raise InstanceError(
                f"request {i}: lower {self.lower[i]} is greater than upper {self.upper[i]}"
            )
        if self.ids is not None:
            ids = tuple(str(v) for v in self.ids)
            if len(ids) != n:
                raise InstanceError(f"field 'id' has {len(ids)} values but 'arrival' has {n}")
            object.__setattr__(self, "ids", ids)
        peak = self.prompt + self.output
        if (too_big := np.flatnonzero(peak > self.memory)).size:
            i = int(too_big[0])
            raise InstanceError(
                f"request {i} needs {peak[i]} KV tokens at its last round (prompt {self.prompt[i]} "
                f"+ output {self.output[i]}), but memory is {self.memory}"
            )

    # ------------------------------------------------------------------ derived
    @property
    def num_requests(self) -> int:
        return len(self.arrival)

    def __len__(self) -> int:
        return self.num_requests

    def prediction(self) -> np.ndarray:
        """Predicted output lengths: ``predicted`` if given, else the true ``output``."""
        return self.output if self.predicted is None else self.predicted

    def replace(self, **changes: Any) -> Instance:
        """A copy with ``changes`` applied, validated again."""
        return dataclasses.replace(self, **changes)

    def subset(self, idcs: Sequence[int] | np.ndarray) -> Instance:
        """The requests at positions ``idcs`` (in that order), same memory."""
        idcs = np.asarray(idcs, dtype=np.int64)
        kw: dict[str, Any] = {}
        for field in _OPTIONAL_COLUMNS:
            v = getattr(self, field)
            kw[field] = None if v is None else v[idcs]
        ids = None if self.ids is None else tuple(self.ids[i] for i in idcs)
        return Instance(self.memory, self.arrival[idcs], self.prompt[idcs], self.output[idcs],
                        name=self.name, ids=ids, **kw)

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """The JSON object of the spec (section 2)."""
        out: dict[str, Any] = {}
        if self.name:
            out["name"] = self.name
        out["memory"] = self.memory
        out["arrival"] = self.arrival.tolist()
        out["prompt"] = self.prompt.tolist()
        out["output"] = self.output.tolist()
        for field in _OPTIONAL_COLUMNS:
            v = getattr(self, field)
            if v is not None:
                out[field] = v.tolist()
        if self.ids is not None:
            out["id"] = list(self.ids)
        return out

    @classmethod
    def from_dict(cls, data: Any) -> Instance:
        """Build from the spec's JSON object; raises InstanceError naming the bad field."""
        if not isinstance(data, dict):
            raise InstanceError(f"the top level must be a JSON object, got {type(data).__name__}")
        known = {"name", "memory", "arrival", "prompt", "output", "id", *_OPTIONAL_COLUMNS}
        if unknown := sorted(set(data) - known):
            raise InstanceError(f"unknown field '{unknown[0]}'")
        for field in ("memory", "arrival", "prompt", "output"):
            if field not in data:
                raise InstanceError(f"missing required field '{field}'")
        ids = data.get("id")
        if ids is not None and not isinstance(ids, list):
            raise InstanceError("field 'id' must be a list")
        return cls(
            memory=data["memory"],
            arrival=data["arrival"],
            prompt=data["prompt"],
            output=data["output"],
            predicted=data.get("predicted"),
            lower=data.get("lower"),
            upper=data.get("upper"),
            name=data.get("name", ""),
            ids=None if ids is None else tuple(ids),
        )
