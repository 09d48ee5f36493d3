"""Figures for the experiments: ratio CDFs, a schedule's Gantt chart over its memory profile, and
a policy's ratio against ``n`` on the adversarial family.

Every figure is drawn on an Agg canvas built here (``matplotlib.figure.Figure``, no ``pyplot``),
so importing this module changes no global matplotlib state and needs no display. PNGs are
written without the ``Software`` metadata, so the same data and matplotlib version give the
same bytes.

Honesty about unproven optima: a ratio whose hindsight optimum is not proven is an interval
``[cost / best known schedule, cost / certified bound]``; the CDF plots draw the distribution
of the lower ends solid and of the upper ends dashed, and label them so, and the ratio-vs-n
plot draws error bars from the lower to the upper end.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure

from kvopt.instance import Instance
from kvopt.schedule import Schedule
from kvopt.verify import memory_profile, verify

__all__ = ["RatioPointLike", "plot_ratio_cdf", "plot_ratio_vs_n", "plot_schedule"]

_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown",
           "tab:pink", "tab:gray", "tab:olive", "tab:cyan")


def _save(fig: Figure, path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"path must end in .png, got {str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, format="png", dpi=120, metadata={"Software": None})
    return path


def _intervals(label: str, values: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """``values`` as float arrays ``(low, high)``; a bare number is the interval ``[x, x]``."""
    if len(values) == 0:
        raise ValueError(f"series {label!r} has no ratios")
    pairs = [(v, v) if isinstance(v, (int, float)) else tuple(v) for v in values]
    if any(len(p) != 2 for p in pairs):
        raise ValueError(f"series {label!r}: each ratio must be a number or a (low, high) pair")
    arr = np.array(pairs, dtype=np.float64)
    low, high = arr[:, 0], arr[:, 1]
    if (bad := np.flatnonzero(~np.isfinite(arr).all(axis=1) | (low <= 0))).size:
        j = int(bad[0])
        raise ValueError(f"series {label!r}: ratio {j} is ({low[j]}, {high[j]}); both ends must "
                         "be finite and positive")
    if (bad := np.flatnonzero(low > high)).size:
        j = int(bad[0])
        raise ValueError(f"series {label!r}: ratio {j} has low {low[j]} > high {high[j]}")
    return low, high


def _boxes(start: np.ndarray, end: np.ndarray, row: np.ndarray) -> np.ndarray:
    """Rectangles ``(start, row - 0.4) .. (end, row + 0.4)`` as an ``(r, 4, 2)`` vertex array."""
    lo, hi = row - 0.4, row + 0.4
    return np.stack([np.stack([start, lo], 1), np.stack([end, lo], 1),
                     np.stack([end, hi], 1), np.stack([start, hi], 1)], axis=1).astype(float)


def _cdf(ax: Any, values: np.ndarray, **kwargs: Any) -> None:
    xs = np.sort(values)
    ys = np.arange(1, len(xs) + 1) / len(xs)
    # start the staircase at (first value, 0): the CDF is 0 left of the smallest ratio
    ax.step(np.concatenate([xs[:1], xs]), np.concatenate([[0.0], ys]), where="post", **kwargs)


def plot_ratio_cdf(
    series: Mapping[str, Sequence[Any]],
    path: str | os.PathLike[str],
    *,
    title: str = "",
) -> Path:
    """Empirical CDFs of competitive ratios, one curve (or pair of curves) per series.

    A series whose ratios are all exact (each a number, or ``(x, x)``) is one solid curve.
    Otherwise the lower ends (``cost / best known schedule``) are drawn solid and the upper ends
    (``cost / certified lower bound``) dashed in the same colour; the true CDF lies between them.

    Parameters
    ----------
    series
        Label -> ratios, each a number or a ``(low, high)`` pair. At most 10 series.
    path
        A ``.png`` file; parent directories are created.
    title
        Figure title.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        No series, more than 10, an empty series, a non-finite or non-positive end, ``low > high``,
        or a path not ending in ``.png``.
    """
    if not series:
        raise ValueError("series is empty: nothing to plot")
    if len(series) > len(_COLORS):
        raise ValueError(f"at most {len(_COLORS)} series per plot, got {len(series)}")
    data = {label: _intervals(label, values) for label, values in series.items()}
    fig = Figure(figsize=(7.0, 4.5))
    ax = fig.add_subplot()
    any_interval = False
    for color, (label, (low, high)) in zip(_COLORS, data.items(), strict=False):
        if np.array_equal(low, high):
            _cdf(ax, low, color=color, label=f"{label} (all optima proven: exact)")
        else:
            any_interval = True
            _cdf(ax, low, color=color, label=f"{label}: vs best known schedule (lower end)")
            _cdf(ax, high, color=color, linestyle="--",
                 label=f"{label}: vs certified bound (upper end)")
    ax.set_xlabel("competitive ratio (policy total latency / hindsight optimum)")
    ax.set_ylabel("fraction of instances with ratio <= x")
    ax.set_ylim(0.0, 1.02)
    ax.grid(True, alpha=0.3)
    if any_interval:
        ax.text(0.99, 0.02, "true ratio CDF lies between solid and dashed curves",
                transform=ax.transAxes, ha="right", va="bottom", fontsize=8, color="0.3")
    ax.legend(fontsize=7, loc="lower right", bbox_to_anchor=(1.0, 0.08))
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_schedule(
    instance: Instance,
    schedule: Schedule,
    path: str | os.PathLike[str],
    *,
    title: str = "",
) -> Path:
    """A schedule's Gantt chart (top) over its memory profile with the limit ``M`` (bottom).

    One horizontal bar per run, on the request's row: a run started at round ``k`` occupies
    rounds ``k+1 .. e``, drawn over the x-interval ``(k, e]``. Completed runs are solid, cleared
    runs hatched red with a cross at the clearing round. A thin grey line marks a request's wait
    from arrival to its first start. Rows are ordered by the request's final start. The bottom
    panel shows the KV tokens held in each round (``kvopt.verify.memory_profile``) and ``M``.

    Raises
    ------
    ScheduleError
        When ``schedule`` fails :func:`kvopt.verify.verify` on ``instance``: only verified
        schedules are drawn.
    ValueError
        For a path not ending in ``.png``.
    """
    evaluation = verify(instance, schedule)
    if Path(path).suffix.lower() != ".png":
        raise ValueError(f"path must end in .png, got {str(path)!r}")
    n = instance.num_requests
    final_starts = schedule.final_starts()
    row_of = np.empty(n, dtype=np.int64)
    row_of[np.lexsort((np.arange(n), final_starts))] = np.arange(n)
    last = np.ones(len(schedule.run_req), dtype=bool)
    last[:-1] = schedule.run_req[1:] != schedule.run_req[:-1]
    first = np.ones(len(schedule.run_req), dtype=bool)
    first[1:] = schedule.run_req[1:] != schedule.run_req[:-1]
    mem = memory_profile(instance, schedule)
    horizon = max(len(mem) - 1, 1)

    fig = Figure(figsize=(9.0, 6.5))
    gantt, memax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.4]})
    req, k, e = schedule.run_req, schedule.run_start, schedule.run_end
    y = row_of[req]
    waits = first & (k > instance.arrival[req])
    gantt.add_collection(LineCollection(
        [[(instance.arrival[i], yy), (kk, yy)] for i, kk, yy in zip(req[waits], k[waits], y[waits],
                                                                     strict=True)],
        colors="0.7", linewidths=0.8))
    # matplotlib's stubs want a Sequence; an (r, 4, 2) array is documented and takes a fast path
    gantt.add_collection(PolyCollection(_boxes(k[last], e[last], y[last]),  # type: ignore[arg-type]
                                        facecolors="tab:blue", edgecolors="none"))
    if (~last).any():
        gantt.add_collection(PolyCollection(_boxes(k[~last], e[~last], y[~last]),  # type: ignore[arg-type]
                                            facecolors="none", edgecolors="tab:red", hatch="////",
                                            linewidths=0.6))
        gantt.plot(e[~last], y[~last], "x", color="tab:red", markersize=5)
    gantt.set_ylabel("request (ordered by final start)")
    gantt.set_ylim(-1, n)
    gantt.invert_yaxis()
    clearings = f", {evaluation.num_clearings} clearings (red hatched, x = cleared)" \
        if evaluation.num_clearings else ", no clearings"
    gantt.set_title((title + "\n" if title else "")
                    + f"n = {n}, M = {instance.memory}, total latency "
                    f"{evaluation.total_latency} rounds{clearings}", fontsize=10)
    gantt.grid(True, axis="x", alpha=0.3)

    rounds = np.arange(len(mem))
    memax.step(rounds, mem, where="pre", color="tab:blue", linewidth=1.0)
    memax.fill_between(rounds, mem, step="pre", color="tab:blue", alpha=0.25)
    memax.axhline(instance.memory, color="tab:red", linestyle="--", linewidth=1.0,
                  label=f"limit M = {instance.memory}")
    memax.set_ylim(0, instance.memory * 1.15)
    memax.set_xlim(0, horizon)
    memax.set_xlabel("round (a run started at k occupies (k, e])")
    memax.set_ylabel("KV tokens held")
    memax.legend(fontsize=8, loc="upper right")
    memax.grid(True, alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


class RatioPointLike(Protocol):
    """What :func:`plot_ratio_vs_n` reads (:class:`kvopt.adversarial.RatioPoint` fits); read-only,
    so that frozen dataclasses fit."""

    @property
    def num_requests(self) -> int: ...
    @property
    def ratio_low(self) -> float: ...
    @property
    def ratio_high(self) -> float: ...
    @property
    def opt_status(self) -> str: ...
    @property
    def analytic_ratio(self) -> float: ...


def plot_ratio_vs_n(
    points: Sequence[RatioPointLike],
    path: str | os.PathLike[str],
    *,
    policy: str = "MC-SF",
    title: str = "",
) -> Path:
    """A policy's ratio against ``n`` on the adversarial family.

    Proven points (``opt_status == "optimal"``) are dots; unproven ones are error bars from
    ``ratio_low`` (vs the best known schedule) to ``ratio_high`` (vs the certified bound), with
    a hollow marker at the lower end. The analytic ratio (the construction's ALG over its
    shorts-first OPT upper bound) is a dotted line.

    Raises
    ------
    ValueError
        No points, a non-positive ``n``, a non-finite or non-positive ratio end, ``low > high``,
        or a path not ending in ``.png``.
    """
    if len(points) == 0:
        raise ValueError("points is empty: nothing to plot")
    ns = np.array([p.num_requests for p in points], dtype=np.int64)
    if (ns <= 0).any():
        raise ValueError(f"num_requests must be positive, got {ns.tolist()}")
    low, high = _intervals(policy, [(p.ratio_low, p.ratio_high) for p in points])
    proven = np.array([p.opt_status == "optimal" for p in points])
    analytic = np.array([p.analytic_ratio for p in points], dtype=np.float64)
    order = np.argsort(ns, kind="stable")
    fig = Figure(figsize=(7.0, 4.5))
    ax = fig.add_subplot()
    if np.isfinite(analytic).all():
        ax.plot(ns[order], analytic[order], color="0.4", linestyle=":",
                label="analytic: ALG / shorts-first schedule")
    if proven.any():
        ax.plot(ns[proven], low[proven], "o", color="tab:blue",
                label=f"{policy}, optimum proven (exact)")
    if (~proven).any():
        lo, hi = low[~proven], high[~proven]
        ax.errorbar(ns[~proven], lo, yerr=np.vstack([np.zeros_like(lo), hi - lo]), fmt="o",
                    mfc="white", color="tab:orange", capsize=3,
                    label=f"{policy}, unproven: [vs best known schedule, vs certified bound]")
    ax.set_xlabel("n (requests)")
    ax.set_ylabel("competitive ratio")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(title or f"{policy} on the adversarial arrival family")
    top = float(np.max(high))
    if math.isfinite(top):
        ax.set_ylim(0.0, top * 1.08)
    fig.tight_layout()
    return _save(fig, path)
