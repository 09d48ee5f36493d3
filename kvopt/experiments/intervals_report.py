r"""Tables and figures of the interval sweep (:mod:`kvopt.experiments.intervals`).

Aggregates over seeds and memory scales, per track, trace, generator panel, alpha and policy:
the mean and the worst ratio to H-SF (theory track) and to the hindsight optimum (OPT track,
``[cost / best schedule, cost / proven bound]`` where a solve stopped at its time limit), evictions
and wasted tokens per request. Figures (Agg canvas, no ``pyplot``, no ``Software`` metadata, so
the same rows give the same bytes):

* ``ratio-vs-alpha-<trace>.png`` (A-F2): mean ratio to H-SF against alpha, log-scaled, one panel
  per generator, one curve per policy;
* ``amax-bounds.png`` (A-F1): the A_max bounds of the spec's table A5 and the worst measured
  A_max / H-SF on G3-low; beside it A_min's worst with the ``1 + log2(1/alpha)`` shape guide
  (a guide, never a bound);
* ``evictions-<trace>.png`` (A-F3): A_min's evictions and wasted tokens per request, one curve
  per eviction order (G3-uniform);
* ``opt-<trace>.png`` (A-F4): mean ratio to OPT against alpha per generator, the interval's low
  end solid and its high end dashed.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kvopt.policies.names import display_name

__all__ = ["amax_bounds", "summarize", "write_report"]

EVICT_NAMES = {"amin": "least progress (default)", "amin-lowest-estimate": "lowest estimate",
               "amin-most-progress": "most progress", "amin-random": "random"}
PANEL_NAMES = {"G1": "G1: one global interval", "G2": "G2: geometric classes",
               "G3-uniform": "G3: output uniform in its interval",
               "G3-low": "G3: output at the lower bound",
               "G3-high": "G3: output near the upper bound"}
TRACE_NAMES = {"sharegpt": "ShareGPT", "azure-conv": "Azure 2023 conversations"}
SWEEP = ("amax", "amin", "mcsf-mid", "mcsf-lower")
EVICT = ("amin", "amin-lowest-estimate", "amin-most-progress", "amin-random")
_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")
#: one look per policy, so that curves lying on each other stay apart
STYLE: dict[str, dict[str, Any]] = {
    "amax": {"color": "tab:blue", "marker": "o"},
    "amin": {"color": "tab:orange", "marker": "s", "linewidth": 2.4, "zorder": 3},
    "mcsf-mid": {"color": "tab:green", "marker": "^", "linestyle": "--"},
    "mcsf-lower": {"color": "tab:red", "marker": "D", "linestyle": ":", "markersize": 3},
}


def amax_bounds(alpha: float) -> tuple[float, float]:
    """The spec's A_max bounds (A5): ``alpha^-1 (1 + alpha^-1/2) / 2`` and
    ``alpha^-1 (1 + alpha^-1) / 2``."""
    return (1 + alpha ** -0.5) / (2 * alpha), (1 + 1 / alpha) / (2 * alpha)


def summarize(rows: Sequence[dict[str, Any]]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """``(track, trace, panel, alpha, policy) -> statistics`` over seeds and scales."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        alpha = None if r["alpha"] in (None, "") else float(r["alpha"])
        groups[(r["track"], r["trace"], r["panel"], alpha, r["policy"])].append(r)
    out = {}
    for key, rs in groups.items():
        ratio = np.array([r["total_latency"] / r["reference"] for r in rs])
        n = np.array([r["num_requests"] for r in rs], dtype=float)
        stats: dict[str, Any] = {
            "count": len(rs), "mean": float(ratio.mean()), "worst": float(ratio.max()),
            "evictions": float((np.array([r["evictions"] for r in rs]) / n).mean()),
            "wasted": float((np.array([r["wasted_tokens"] for r in rs]) / n).mean()),
            "seconds": float(np.mean([r["seconds"] for r in rs])),
            "peak": float(np.mean([r["peak_memory_tokens"] / r["memory"] for r in rs]))}
        if key[0] == "opt":
            low, high = [], []
            for r in rs:
                lo = r["total_latency"] / float(r["opt_objective"])
                bound = r["opt_bound"]
                if r["opt_status"] == "optimal":
                    hi = lo
                elif bound not in (None, "") and float(bound) > 0:
                    hi = r["total_latency"] / float(bound)
                else:
                    hi = math.inf
                low.append(lo)
                high.append(hi)
            stats.update(opt_mean=(float(np.mean(low)), float(np.mean(high))),
                         opt_worst=(max(low), max(high)),
                         proven=sum(r["opt_status"] == "optimal" for r in rs))
        out[key] = stats
    return out


def _interval(pair: tuple[float, float]) -> str:
    lo, hi = pair
    return f"{lo:.3f}" if math.isclose(lo, hi, rel_tol=1e-12) else f"[{lo:.3f}, {hi:.3f}]"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _alpha_header(alphas: Sequence[float]) -> list[str]:
    return [f"alpha {a:g}" for a in alphas]


def _sweep_table(stats: dict, trace: str, alphas: Sequence[float]) -> str:
    rows = []
    for panel in PANEL_NAMES:
        for pol in SWEEP:
            cells = [stats.get(("theory", trace, panel, a, pol)) for a in alphas]
            if all(c is None for c in cells):
                continue
            rows.append([panel, display_name(pol)] + ["-" if c is None else
                                               f"{c['mean']:.3f} ({c['worst']:.3f})"
                                               for c in cells])
    return _table(["generator", "policy", *_alpha_header(alphas)], rows)


def _bounds_table(stats: dict, traces: Sequence[str], alphas: Sequence[float]) -> str:
    rows = [["A_max lower bound [D]"] + [f"{amax_bounds(a)[0]:.2f}" for a in alphas],
            ["A_max upper bound [D]"] + [f"{amax_bounds(a)[1]:.2f}" for a in alphas]]
    for trace in traces:
        for label, pol, panels in (("worst A_max / H-SF, G3-low", "amax", ("G3-low",)),
                                   ("worst A_max / H-SF, any generator", "amax", PANEL_NAMES),
                                   ("worst A_min (reconstructed) / H-SF, any generator", "amin",
                                    PANEL_NAMES)):
            vals = [max((stats[k]["worst"] for p in panels
                         if (k := ("theory", trace, p, a, pol)) in stats), default=math.nan)
                    for a in alphas]
            rows.append([f"{label} ({TRACE_NAMES[trace]})"] + [f"{v:.3f}" for v in vals])
    rows.append(["A_min (reconstructed) shape guide 1 + log2(1/alpha) (not a bound)"]
                + [f"{1 + math.log2(1 / a):.2f}" for a in alphas])
    return _table(["", *_alpha_header(alphas)], rows)


def _evict_table(stats: dict, trace: str, alphas: Sequence[float]) -> str:
    rows = []
    for pol in EVICT:
        cells = [stats.get(("theory", trace, "G3-uniform", a, pol)) for a in alphas]
        if all(c is None for c in cells):
            continue
        rows.append([EVICT_NAMES[pol]] + ["-" if c is None else
                                          f"{c['evictions']:.3f} / {c['wasted']:.1f} / "
                                          f"{c['mean']:.3f}" for c in cells])
    return _table(["evict order", *_alpha_header(alphas)], rows)


def _opt_table(stats: dict, trace: str, alphas: Sequence[float]) -> tuple[str, str]:
    rows = []
    ref = stats.get(("opt", trace, "-", None, "hsf"))
    for panel in PANEL_NAMES:
        for pol in ("amax", "amin", "mcsf-mid"):
            cells = [stats.get(("opt", trace, panel, a, pol)) for a in alphas]
            if all(c is None for c in cells):
                continue
            rows.append([panel, display_name(pol)] + [
                "-" if c is None else f"{_interval(c['opt_mean'])} ({_interval(c['opt_worst'])})"
                for c in cells])
    note = "" if ref is None else (
        f"H-SF / OPT: mean {_interval(ref['opt_mean'])}, worst {_interval(ref['opt_worst'])}; "
        f"optimum proven on {ref['proven']} of {ref['count']} instances.")
    return _table(["generator", "policy", *_alpha_header(alphas)], rows), note


def _runtime_table(stats: dict, traces: Sequence[str]) -> str:
    rows = []
    for trace in traces:
        for pol in ("hsf", *SWEEP, *EVICT[1:]):
            ks = [k for k in stats if k[0] == "theory" and k[1] == trace and k[4] == pol]
            if not ks:
                continue
            secs = np.mean([stats[k]["seconds"] for k in ks])
            peak = np.mean([stats[k]["peak"] for k in ks])
            rows.append([TRACE_NAMES[trace], display_name(pol), f"{secs:.3f}", f"{peak:.3f}"])
    return _table(["trace", "policy", "seconds per run", "peak KV use / M"], rows)


# --------------------------------------------------------------------------------- figures
def _figure(ncols: int, nrows: int = 1, width: float = 4.2, height: float = 3.4) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def _save(fig: Any, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, format="png", dpi=110, metadata={"Software": None})
    return path


def _alpha_axis(ax: Any) -> None:
    ax.set_xscale("log")
    ax.set_xlabel("alpha = lower / upper (log scale; 1 = exact)")
    ax.invert_xaxis()
    ax.grid(True, alpha=0.3)


def _curve(ax: Any, alphas: Sequence[float], values: Sequence[float | None], **kw: Any) -> None:
    xs = [a for a, v in zip(alphas, values, strict=True) if v is not None and math.isfinite(v)]
    ys = [v for v in values if v is not None and math.isfinite(v)]
    if xs:
        ax.plot(xs, ys, **{"marker": "o", "markersize": 3.5, **kw})


def _plots(stats: dict, config: Any, out: Path) -> list[Path]:
    alphas = list(config.alphas)
    paths = []
    for trace in config.traces:
        panels = [p for p in PANEL_NAMES if any(("theory", trace, p, a, "amax") in stats
                                                 for a in alphas)]
        if panels:
            fig, axes = _figure(3, 2)
            for ax, panel in zip(axes.flat, panels, strict=False):
                for pol in SWEEP:
                    vals = [stats.get(("theory", trace, panel, a, pol), {}).get("mean")
                            for a in alphas]
                    _curve(ax, alphas, vals, label=display_name(pol), **STYLE[pol])
                ax.set_title(PANEL_NAMES[panel], fontsize=9)
                ax.set_ylabel("mean total latency / H-SF's")
                _alpha_axis(ax)
            for ax in list(axes.flat)[len(panels):]:
                ax.axis("off")
            handles, labels = axes.flat[0].get_legend_handles_labels()
            list(axes.flat)[-1].legend(handles, labels, loc="center")
            fig.suptitle(f"Theory track ({TRACE_NAMES[trace]}): ratio to H-SF against alpha")
            paths.append(_save(fig, out / f"ratio-vs-alpha-{trace}.png"))
        ev = [pol for pol in EVICT if ("theory", trace, "G3-uniform", alphas[0], pol) in stats]
        if ev:
            fig, axes = _figure(2)
            for ax, (field, label) in zip(axes.flat, (("evictions", "evictions per request"),
                                                      ("wasted", "wasted tokens per request")),
                                          strict=True):
                for pol, color in zip(ev, _COLORS, strict=False):
                    vals = [stats.get(("theory", trace, "G3-uniform", a, pol), {}).get(field)
                            for a in alphas]
                    _curve(ax, alphas, vals, label=EVICT_NAMES[pol], color=color)
                ax.set_ylabel(label + " (symlog scale)")
                ax.set_yscale("symlog", linthresh=0.1 if field == "evictions" else 1.0)
                _alpha_axis(ax)
            axes.flat[0].legend(title="A_min (reconstructed) evicts by", fontsize=8)
            fig.suptitle(f"A_min (reconstructed): evictions, G3-uniform ({TRACE_NAMES[trace]})")
            paths.append(_save(fig, out / f"evictions-{trace}.png"))
        opt_panels = [p for p in PANEL_NAMES if any(("opt", trace, p, a, "amax") in stats
                                                     for a in alphas)]
        if opt_panels:
            fig, axes = _figure(len(opt_panels))
            for ax, panel in zip(axes.flat, opt_panels, strict=True):
                if (ref := stats.get(("opt", trace, "-", None, "hsf"))) is not None:
                    ax.axhline(ref["opt_mean"][0], color="gray", linewidth=1,
                               label="H-SF (no intervals needed)")
                for pol in ("amax", "amin", "mcsf-mid"):
                    cells = [stats.get(("opt", trace, panel, a, pol)) for a in alphas]
                    unproven = any(c and c["opt_mean"][1] != c["opt_mean"][0] for c in cells)
                    tail = " (vs best schedule)" if unproven else ""
                    _curve(ax, alphas, [c and c["opt_mean"][0] for c in cells],
                           label=display_name(pol) + tail, **STYLE[pol])
                    if unproven:
                        _curve(ax, alphas, [c and c["opt_mean"][1] for c in cells],
                               label=f"{display_name(pol)} (vs proven bound)",
                               **{**STYLE[pol], "linestyle": (0, (1, 3)), "linewidth": 1})
                ax.set_title(PANEL_NAMES[panel], fontsize=9)
                ax.set_ylabel("mean total latency / OPT's")
                _alpha_axis(ax)
            axes.flat[0].legend(fontsize=7)
            fig.suptitle(f"OPT track ({TRACE_NAMES[trace]}, n = "
                         f"{', '.join(map(str, config.opt_sizes))}): ratio to the optimum")
            paths.append(_save(fig, out / f"opt-{trace}.png"))
    fig, axes = _figure(2)
    lo, hi = zip(*(amax_bounds(a) for a in alphas), strict=True)
    ax = axes.flat[0]
    _curve(ax, alphas, list(lo), label="A_max lower bound (spec A5)", color="gray",
           linestyle=":")
    _curve(ax, alphas, list(hi), label="A_max upper bound (spec A5)", color="black",
           linestyle="--")
    ax2 = axes.flat[1]
    _curve(ax2, alphas, [1 + math.log2(1 / a) for a in alphas], color="gray", linestyle=":",
           label="1 + log2(1/alpha): shape guide, not a bound")
    for trace, color in zip(config.traces, _COLORS, strict=False):
        _curve(ax, alphas, [stats.get(("theory", trace, "G3-low", a, "amax"), {}).get("worst")
                            for a in alphas],
               label=f"worst A_max / H-SF, G3-low ({TRACE_NAMES[trace]})", color=color)
        _curve(ax2, alphas, [max((stats[k]["worst"] for p in PANEL_NAMES
                                  if (k := ("theory", trace, p, a, "amin")) in stats),
                                 default=None) for a in alphas],
               label=f"worst A_min (reconstructed) / H-SF, any generator "
                     f"({TRACE_NAMES[trace]})", color=color)
    ax.set_yscale("log")
    for a_, title in ((ax, "A_max: competitive-ratio bounds and measured worst"),
                      (ax2, "A_min (reconstructed): measured worst")):
        a_.set_ylabel("total latency / H-SF's" + (" (log scale)" if a_ is ax else ""))
        a_.set_title(title, fontsize=9)
        _alpha_axis(a_)
        a_.legend(fontsize=7)
    paths.append(_save(fig, out / "amax-bounds.png"))
    return paths


def write_report(rows: Sequence[dict[str, Any]], config: Any, out: str | os.PathLike[str], *,
                 wall_s: float, plots: bool = True) -> str:
    """The tables as markdown (returned) and, with ``plots``, the figures under ``out``."""
    out = Path(out)
    stats = summarize(rows)
    alphas = list(config.alphas)
    parts = [f"# Interval predictions: the alpha sweep\n\nWall time {wall_s:.0f} s. Theory "
             f"track: n = {config.num_requests} at round 0, c in "
             f"{{{', '.join(map(str, config.scales))}}}, {config.seeds} seed(s); OPT track: n in "
             f"{{{', '.join(map(str, config.opt_sizes))}}}, {config.opt_seeds} seed(s), "
             f"{config.opt_time_limit_s:g} s per solve. Ratios are total latencies (rounds); "
             "every schedule passed the verifier."]
    for trace in config.traces:
        name = TRACE_NAMES[trace]
        parts.append(f"## A-F2 ({name}): mean (worst) ratio to H-SF, theory track\n\n"
                     + _sweep_table(stats, trace, alphas))
        parts.append(f"## A-F3 ({name}): A_min per eviction order, G3-uniform: evictions per "
                     f"request / wasted tokens per request / mean ratio to H-SF\n\n"
                     + _evict_table(stats, trace, alphas))
        if config.opt_sizes:
            table, note = _opt_table(stats, trace, alphas)
            parts.append(f"## A-F4 ({name}): mean (worst) ratio to OPT, OPT track\n\n"
                         f"{note}\n\n{table}\n\n[low, high] where an optimum is unproven: "
                         "cost / best schedule, cost / proven bound.")
    parts.append("## A-F1: A_max bounds and the measured worst ratios\n\n"
                 + _bounds_table(stats, config.traces, alphas))
    parts.append("## Policy runtime and memory use (theory track)\n\n"
                 + _runtime_table(stats, config.traces))
    if plots:
        names = [p.name for p in _plots(stats, config, out)]
        parts.append("Figures: " + ", ".join(names) + ".")
    return "\n\n".join(parts) + "\n"
