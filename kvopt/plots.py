"""Figures for the experiments: ratio CDFs, a schedule's Gantt chart over its memory profile, and
a policy's ratio against ``n`` on the adversarial family.

Every figure is drawn on an Agg canvas built here (``matplotlib.figure.Figure``, no ``pyplot``),
so importing this module changes no global matplotlib state and needs no display. PNGs are
written without the ``Software`` metadata, so the same data and matplotlib version give the
same bytes.

Readable by a person: at most :data:`MAX_CURVES` curves per panel (more series are cut into
panels, :func:`split_series`), legends where there is no data (a CDF's lower right corner, or
below the panels), and figures sized to their panels (a one-panel figure has one axes).
Callers label curves with :func:`kvopt.policies.display_name` (MC-SF, not ``mcsf``).

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
from matplotlib.lines import Line2D

from kvopt.instance import Instance
from kvopt.schedule import Schedule
from kvopt.verify import memory_profile, verify

__all__ = ["MAX_CURVES", "RatioPointLike", "line_panels_figure", "plot_ratio_cdf",
           "plot_ratio_cdf_panels", "plot_ratio_vs_n", "plot_schedule", "ratio_cdf_figure",
           "save_figure", "split_series"]

_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown",
           "tab:pink", "tab:gray", "tab:olive", "tab:cyan")


def _check_png(path: str | os.PathLike[str]) -> None:
    if Path(path).suffix.lower() != ".png":
        raise ValueError(f"path must end in .png, got {str(path)!r}")


def save_figure(fig: Figure, path: str | os.PathLike[str]) -> Path:
    """Write ``fig`` as a PNG at ``path`` (parents created; no ``Software`` metadata, so the
    same figure gives the same bytes)."""
    return _save(fig, path)


def _save(fig: Figure, path: str | os.PathLike[str]) -> Path:
    _check_png(path)
    path = Path(path)
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


#: curves one panel may hold (an interval series draws two: its lower and its upper ends)
MAX_CURVES = 6


def _curves(low: np.ndarray, high: np.ndarray) -> int:
    return 1 if np.array_equal(low, high) else 2


def split_series(series: Mapping[str, Sequence[Any]], max_curves: int = MAX_CURVES
                 ) -> list[dict[str, Sequence[Any]]]:
    """``series`` cut, in order, into groups of at most ``max_curves`` CDF curves each (an
    exact series is one curve, an interval series two): one group per panel of
    :func:`ratio_cdf_figure`."""
    groups: list[dict[str, Sequence[Any]]] = [{}]
    used = 0
    for label, values in series.items():
        need = _curves(*_intervals(label, values))
        if used + need > max_curves and groups[-1]:
            groups.append({})
            used = 0
        groups[-1][label] = values
        used += need
    return groups if groups[0] else []


def _grid(num_panels: int, panel_w: float, panel_h: float, extra_h: float = 0.0
          ) -> tuple[Figure, list[Any]]:
    """A figure of ``num_panels`` axes, at most 3 a row, sized to them: no empty cells."""
    cols = min(3, num_panels)
    rows = math.ceil(num_panels / cols)
    fig = Figure(figsize=(panel_w * cols, panel_h * rows + extra_h), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat[num_panels:]:
        fig.delaxes(ax)
    return fig, list(axes.flat[:num_panels])


def ratio_cdf_figure(panels: Mapping[str, Mapping[str, Sequence[Any]]], *, title: str = ""
                     ) -> Figure:
    """Empirical CDFs of competitive ratios, one panel per entry of ``panels`` (panel title ->
    series, as for :func:`plot_ratio_cdf`), each of at most :data:`MAX_CURVES` curves, its
    legend in the lower right (under a CDF, the empty corner).

    Raises
    ------
    ValueError
        No panel, an empty panel, a panel over :data:`MAX_CURVES` curves (cut it with
        :func:`split_series`), or a bad series (:func:`plot_ratio_cdf`).
    """
    if not panels:
        raise ValueError("series is empty: nothing to plot")
    data = {}
    for name, series in panels.items():
        if not series:
            raise ValueError("series is empty: nothing to plot")
        data[name] = {label: _intervals(label, values) for label, values in series.items()}
        if (n := sum(_curves(*v) for v in data[name].values())) > MAX_CURVES:
            raise ValueError(f"at most {MAX_CURVES} curves per panel, got {n}"
                             + (f" in panel {name!r}" if name else "")
                             + " (an interval series draws two); cut it with split_series")
    fig, axes = _grid(len(data), 6.0 if len(data) == 1 else 5.0,
                      4.6 if len(data) == 1 else 4.2)
    for ax, (name, series_data) in zip(axes, data.items(), strict=True):
        any_interval = False
        handles, labels = [], []
        for color, (label, (low, high)) in zip(_COLORS, series_data.items(), strict=False):
            _cdf(ax, low, color=color)
            if np.array_equal(low, high):
                labels.append(f"{label} (all optima proven: exact)")
            else:
                any_interval = True
                _cdf(ax, high, color=color, linestyle="--")
                labels.append(label)
            handles.append(Line2D([], [], color=color))
        ax.set_xlabel("competitive ratio (policy total latency / hindsight optimum)",
                      fontsize=8 if len(data) > 1 else None)
        ax.set_ylabel("fraction of instances with ratio <= x")
        ax.set_ylim(0.0, 1.02)
        ax.grid(True, alpha=0.3)
        if name:
            ax.set_title(name, fontsize=9)
        if any_interval:
            ax.text(0.99, 0.02, "solid: vs best known schedule (lower end)\n"
                    "dashed: vs certified bound (upper end)\ntrue CDF lies between them",
                    transform=ax.transAxes, ha="right", va="bottom", fontsize=7, color="0.3")
        # below the panel, off the data
        ax.legend(handles, labels, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16),
                  ncol=min(len(labels), 2), frameon=False)
    if title:
        fig.suptitle(title)
    return fig


def plot_ratio_cdf(
    series: Mapping[str, Sequence[Any]],
    path: str | os.PathLike[str],
    *,
    title: str = "",
) -> Path:
    """Empirical CDFs of competitive ratios, one curve (or pair of curves) per series, in one
    panel.

    A series whose ratios are all exact (each a number, or ``(x, x)``) is one solid curve.
    Otherwise the lower ends (``cost / best known schedule``) are drawn solid and the upper ends
    (``cost / certified lower bound``) dashed in the same colour; the true CDF lies between them.

    Parameters
    ----------
    series
        Label -> ratios, each a number or a ``(low, high)`` pair; at most :data:`MAX_CURVES`
        curves (more: :func:`plot_ratio_cdf_panels`).
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
        No series, more than :data:`MAX_CURVES` curves, an empty series, a non-finite or
        non-positive end, ``low > high``, or a path not ending in ``.png``.
    """
    _check_png(path)
    return _save(ratio_cdf_figure({"": series}, title=title), path)


def plot_ratio_cdf_panels(
    series: Mapping[str, Sequence[Any]],
    path: str | os.PathLike[str],
    *,
    title: str = "",
) -> Path:
    """Like :func:`plot_ratio_cdf` for any number of series: cut in order into panels of at
    most :data:`MAX_CURVES` curves (:func:`split_series`), each titled by its series."""
    _check_png(path)
    groups = split_series(series)
    panels: dict[str, Mapping[str, Sequence[Any]]] = {"": series}
    if len(groups) > 1:
        panels, first = {}, 1
        for group in groups:
            panels[f"series {first}-{first + len(group) - 1} of {len(series)}"] = group
            first += len(group)
    return _save(ratio_cdf_figure(panels, title=title), path)


def line_panels_figure(
    panels: Sequence[tuple[str, Mapping[str, tuple[Any, Any]]]],
    *,
    xlabel: str,
    ylabel: str,
    emphasis: str | None = None,
) -> Figure:
    """Line plots, one panel per ``(title, {label: (x, y)})``, at most :data:`MAX_CURVES`
    curves each; a label keeps its colour in every panel, and one legend for all of them sits
    below the panels, off the data. ``emphasis``: a label drawn thicker.

    Raises
    ------
    ValueError
        No panel, or a panel over :data:`MAX_CURVES` curves.
    """
    if not panels:
        raise ValueError("no panel to plot")
    labels: list[str] = []
    for name, curves in panels:
        if len(curves) > MAX_CURVES:
            raise ValueError(f"at most {MAX_CURVES} curves per panel, got {len(curves)} in "
                             f"panel {name!r}")
        labels += [label for label in curves if label not in labels]
    if len(labels) > len(_COLORS):
        raise ValueError(f"at most {len(_COLORS)} labels over all panels, got {len(labels)}")
    color = dict(zip(labels, _COLORS, strict=False))
    ncol = min(len(labels), 3 if len(panels) == 1 else 6)
    fig, axes = _grid(len(panels), 6.0 if len(panels) == 1 else 5.0, 3.6,
                      extra_h=0.25 * math.ceil(len(labels) / max(ncol, 1)))
    for ax, (name, curves) in zip(axes, panels, strict=True):
        for label, (x, y) in curves.items():
            ax.plot(x, y, color=color[label], label=label,
                    linewidth=2.0 if label == emphasis else 1.0)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
    handles = [Line2D([], [], color=color[label], linewidth=2.0 if label == emphasis else 1.0)
               for label in labels]
    if labels:
        fig.legend(handles, labels, loc="outside lower center", ncol=ncol, fontsize=8)
    return fig


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
    fig = Figure(figsize=(7.0, 5.0), layout="constrained")
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
    # below the axes: the points fill the panel wherever the ratio lies
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), frameon=False)
    ax.set_title(title or f"{policy} on the adversarial arrival family")
    top = float(np.max(high))
    if math.isfinite(top):
        ax.set_ylim(0.0, top * 1.08)
    return _save(fig, path)
