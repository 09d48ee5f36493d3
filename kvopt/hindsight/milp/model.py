"""A solver-neutral mixed-integer linear program in sparse row form, and what a solver reports
on it."""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["MilpModel", "RawSolve"]


@dataclasses.dataclass(frozen=True, eq=False)
class MilpModel:
    r"""``min cost @ x + offset`` s.t. ``row_lower <= A x <= row_upper``,
    ``col_lower <= x <= col_upper``, ``x[integrality]`` integer.

    ``A`` is CSR: row ``r`` has entries ``col_idx[row_ptr[r]:row_ptr[r+1]]`` with ``values``.
    ``col_req``/``col_start`` name column ``j`` as ``x[col_req[j], col_start[j]]``.
    """

    cost: np.ndarray
    offset: float
    col_lower: np.ndarray
    col_upper: np.ndarray
    integrality: np.ndarray   # bool per column
    row_ptr: np.ndarray
    col_idx: np.ndarray
    values: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    row_names: tuple[str, ...]
    col_req: np.ndarray
    col_start: np.ndarray

    @property
    def num_cols(self) -> int:
        return len(self.cost)

    @property
    def num_rows(self) -> int:
        return len(self.row_lower)

    @property
    def num_nonzeros(self) -> int:
        return len(self.values)

    def col_names(self) -> list[str]:
        return [f"x_{i}_{k}"
                for i, k in zip(self.col_req.tolist(), self.col_start.tolist(), strict=True)]

    def rows(self):
        """Yield ``(name, lower, upper, cols, values)`` per row."""
        for r in range(self.num_rows):
            lo, hi = self.row_ptr[r], self.row_ptr[r + 1]
            yield (self.row_names[r], float(self.row_lower[r]), float(self.row_upper[r]),
                   self.col_idx[lo:hi], self.values[lo:hi])


@dataclasses.dataclass(frozen=True)
class RawSolve:
    """What a backend read off its solver, before kvopt verifies anything.

    ``proven``: the solver proved optimality (to the requested gap). ``bound``: its dual bound on
    the model's objective (offset included), ``None`` if it gives none.
    """

    col_value: np.ndarray | None
    objective: float | None
    bound: float | None
    proven: bool
    infeasible: bool
    backend_status: str
    failed: bool = False   # the solver itself failed (crash, unreadable output)
