"""Solve statuses and results: what a backend proved, not what it said."""

from __future__ import annotations

import dataclasses
import enum
import math
from typing import Any

from kvopt.schedule import Schedule

__all__ = ["SolveResult", "SolveStatus"]


class SolveStatus(enum.StrEnum):
    """``OPTIMAL`` only when proven: ``ceil(bound) == objective`` on the integer objective."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"        # a verified schedule, optimality not proven
    INFEASIBLE = "infeasible"
    NO_SOLUTION = "no_solution"  # stopped (time limit) without a schedule
    ERROR = "error"              # anything unmapped


@dataclasses.dataclass(frozen=True)
class SolveResult:
    """The outcome of a hindsight solve.

    ``objective`` is the *verified* total latency of ``schedule`` (``inf`` without one);
    ``bound`` is a proven lower bound on the optimum (``None`` when none is known).
    """

    status: SolveStatus
    objective: float
    bound: float | None
    schedule: Schedule | None
    backend: str
    backend_status: str
    runtime_s: float
    bound_source: str | None = None

    @property
    def gap(self) -> float | None:
        """``(objective - bound) / objective``; ``None`` without a schedule or a bound."""
        if self.bound is None or not math.isfinite(self.objective):
            return None
        if self.objective == 0:
            return 0.0
        return max(0.0, (self.objective - self.bound) / abs(self.objective))

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "objective": self.objective if math.isfinite(self.objective) else None,
            "bound": self.bound,
            "gap": self.gap,
            "seconds": round(self.runtime_s, 6),
            "backend": self.backend,
            "backend_status": self.backend_status,
            "bound_source": self.bound_source,
            "starts": None if self.schedule is None else self.schedule.final_starts().tolist(),
        }
