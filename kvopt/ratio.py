"""Competitive ratios: a policy's verified cost over the hindsight optimum, honestly bounded.

When the optimum is proven (``SolveStatus.OPTIMAL``) the ratio is one exact number. Otherwise
the optimum lies in ``[bound, objective]`` (``objective``: the cost of the best schedule found,
``bound``: the best proven lower bound), so the ratio lies in the interval
``[cost / objective, cost / bound]``, which is what is reported; never one number that looks exact.

Aggregates (:func:`aggregate`) apply each statistic (mean, best = min, worst = max) to the
lower ends and to the upper ends separately: e.g. ``worst = [max of lower ends, max of upper
ends]``. The true statistic over the true ratios lies in that interval, and with every optimum
proven both ends coincide.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from typing import Any

from kvopt.result import SolveResult, SolveStatus
from kvopt.verify import Evaluation

__all__ = ["RatioReport", "RatioSummary", "aggregate", "competitive_ratio", "format_interval"]


def _div(num: float, den: float | None) -> float:
    if den is None or not math.isfinite(den) or den < 0:
        return math.inf
    if den == 0:
        return 1.0 if num == 0 else math.inf
    return num / den


@dataclasses.dataclass(frozen=True)
class RatioReport:
    """One policy's cost against one instance's hindsight optimum (all in rounds).

    Attributes
    ----------
    cost
        The policy's verified total latency.
    objective
        Verified total latency of the best hindsight schedule (an upper bound on the optimum).
    bound
        Proven lower bound on the optimum (``None``: none known).
    proven
        The optimum is proven, i.e. equals ``objective``.
    """

    cost: int
    objective: float
    bound: float | None
    proven: bool

    def __post_init__(self) -> None:
        if not math.isfinite(self.objective):
            raise ValueError("objective must be the finite cost of a verified schedule")
        if self.cost < self.objective - 1e-9 and self.proven:
            raise ValueError(f"cost {self.cost} is below the proven optimum {self.objective}: "
                             "the policy and the integer program disagree on the model")

    @property
    def low(self) -> float:
        """``cost / objective``: the smallest possible ratio."""
        return _div(self.cost, self.objective)

    @property
    def high(self) -> float:
        """``cost / bound``, or ``cost / objective`` when the optimum is proven."""
        return self.low if self.proven else _div(self.cost, self.bound)

    @property
    def exact(self) -> float | None:
        """The ratio when the optimum is proven, else ``None``."""
        return self.low if self.proven else None

    @property
    def exactly_optimal(self) -> bool:
        """The policy's cost equals the proven optimum."""
        return self.proven and self.cost == self.objective

    def to_dict(self) -> dict[str, Any]:
        return {
            "cost": self.cost, "objective": self.objective, "bound": self.bound,
            "proven": self.proven, "ratio": self.exact,
            "ratio_low": _finite_or_none(self.low), "ratio_high": _finite_or_none(self.high),
            "exactly_optimal": self.exactly_optimal,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RatioReport:
        return cls(int(data["cost"]), float(data["objective"]),
                   None if data["bound"] is None else float(data["bound"]), bool(data["proven"]))


def _finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None


def competitive_ratio(alg: Evaluation | int, opt: SolveResult) -> RatioReport:
    """The ratio of a policy's verified cost to a hindsight solve.

    Parameters
    ----------
    alg
        The policy's :class:`~kvopt.verify.Evaluation` (or its verified total latency).
    opt
        The hindsight :class:`~kvopt.result.SolveResult`; it must hold a schedule.

    Raises
    ------
    ValueError
        When ``opt`` has no schedule, or the policy beats a proven optimum (a model bug).
    """
    cost = alg.total_latency if isinstance(alg, Evaluation) else int(alg)
    if opt.schedule is None or not math.isfinite(opt.objective):
        raise ValueError(f"no hindsight schedule to compare with (status {opt.status.value})")
    return RatioReport(cost, float(opt.objective), opt.bound, opt.status is SolveStatus.OPTIMAL)


@dataclasses.dataclass(frozen=True)
class RatioSummary:
    """One policy over a set of instances. Each ``(low, high)`` pair is a statistic of the
    lower ends and of the upper ends of the per-instance ratios (equal when all are proven)."""

    num_instances: int
    num_proven: int
    num_exactly_optimal: int
    mean: tuple[float, float]
    best: tuple[float, float]
    worst: tuple[float, float]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"num_instances": self.num_instances, "num_proven": self.num_proven,
                               "num_exactly_optimal": self.num_exactly_optimal}
        for key in ("mean", "best", "worst"):
            lo, hi = getattr(self, key)
            out[f"{key}_low"], out[f"{key}_high"] = _finite_or_none(lo), _finite_or_none(hi)
        return out


def aggregate(reports: Iterable[RatioReport]) -> RatioSummary:
    """Mean, best (min) and worst (max) ratio over ``reports``, each as ``(low, high)``."""
    reports = list(reports)
    if not reports:
        nan = (math.nan, math.nan)
        return RatioSummary(0, 0, 0, nan, nan, nan)
    lows = [r.low for r in reports]
    highs = [r.high for r in reports]
    return RatioSummary(
        num_instances=len(reports),
        num_proven=sum(r.proven for r in reports),
        num_exactly_optimal=sum(r.exactly_optimal for r in reports),
        mean=(math.fsum(lows) / len(lows), math.fsum(highs) / len(highs)),
        best=(min(lows), min(highs)),
        worst=(max(lows), max(highs)),
    )


def format_interval(pair: Sequence[float] | float, digits: int = 4) -> str:
    """``1.0123`` for a number or an interval whose ends agree, else ``[1.0012, 1.2345]``."""
    if isinstance(pair, (int, float)):
        return f"{pair:.{digits}f}"
    lo, hi = pair
    if math.isnan(lo):
        return "-"
    if abs(hi - lo) <= 0.5 * 10 ** -digits:
        return f"{lo:.{digits}f}"
    return f"[{lo:.{digits}f}, {hi:.{digits}f}]"
