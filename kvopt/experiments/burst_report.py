"""Tables and figures of the burst experiment (:mod:`kvopt.experiments.burst`)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kvopt.atomic import write_text_atomic

__all__ = ["NAMES", "write_report"]

NAMES = {"recompute": "Recompute (vLLM)", "swap": "Swap to host", "migrate":
         "Migrate (Llumnix)", "param": "Drop parameters (KunServe)"}
PRESET_NAMES = {"13b-a100-tp1": "13B tp1 A100 x4", "70b-a100-tp4": "70B tp4 A100 x2",
                "70b-a100-tp2": "70B tp2 A100 x4", "13b-h100-tp1": "13B tp1 H100 x4"}
BASELINES = ("recompute", "swap", "migrate")


def _index(records: Sequence[Mapping[str, Any]]) -> dict[tuple[Any, ...], Mapping[str, Any]]:
    return {(r["preset"], r["scenario"], float(r["factor"]), float(r["duration_s"]),
             r["handler"]): r for r in records}


def _num(x: float | None, digits: int = 3) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x:.{digits}g}" if abs(x) < 1000 else f"{x:,.0f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _ratio(idx: Mapping[tuple[Any, ...], Mapping[str, Any]], key: tuple[Any, ...],
           handler: str) -> float | None:
    base, param = idx.get((*key, handler)), idx.get((*key, "param"))
    if base is None or param is None:
        return None
    p = param["summary"]["p99_ttft_s"]
    return base["summary"]["p99_ttft_s"] / p if p > 0 else None


def _tables(records: Sequence[Mapping[str, Any]], rates: Mapping[str, float],
            handlers: Sequence[str], sweep_s: float) -> str:
    idx = _index(records)
    presets = [p for p in rates if any(r["preset"] == p for r in records)]
    out = ["# Serving cluster under load bursts", "",
           "Every run verified (pools, tokens, transfers). P99 TTFT in seconds; a ratio is a "
           "KV-centric handler's P99 TTFT divided by KunServe's (> 1: KunServe is better).", "",
           "## Base rates (no-burst runs at 60% mean KV usage)", "",
           _table(["preset", "replicas", "lambda0 (req/s)"],
                  [[PRESET_NAMES.get(p, p), str(next(r["replicas"] for r in records
                                                     if r["preset"] == p)), _num(rates[p])]
                   for p in presets])]
    others = [h for h in BASELINES if h in handlers]
    for p in presets:
        factors = sorted({float(r["factor"]) for r in records if r["preset"] == p
                          and r["scenario"] == "burst" and (r["duration_s"] == sweep_s
                                                            or r["factor"] == 1)})
        rows = []
        for f in factors:
            key = (p, "burst", f, sweep_s if f > 1 else 0.0)
            row = [f"{f:g}" + (" (no burst)" if f == 1 else "")]
            row += [_num(idx[(*key, h)]["summary"]["p99_ttft_s"]) if (*key, h) in idx else "-"
                    for h in handlers]
            row += [_num(_ratio(idx, key, h)) for h in others if "param" in handlers]
            rows.append(row)
        header = ["burst factor"] + [NAMES[h] for h in handlers]
        header += [f"{h} / KunServe" for h in others if "param" in handlers]
        out += ["", f"## P99 TTFT against burst factor: {PRESET_NAMES.get(p, p)}, "
                f"{sweep_s:g} s bursts",
                "", _table(header, rows)]
    first = presets[0] if presets else ""
    durs = sorted({float(r["duration_s"]) for r in records if r["preset"] == first
                   and r["scenario"] == "burst" and r["factor"] == 4})
    if len(durs) > 1:
        rows = []
        for d in durs:
            key = (first, "burst", 4.0, d)
            rows.append([f"{d:g}"] + [_num(idx[(*key, h)]["summary"]["p99_ttft_s"])
                                      if (*key, h) in idx else "-" for h in handlers]
                        + [_num(_ratio(idx, key, h)) for h in others if "param" in handlers])
        header = ["burst (s)"] + [NAMES[h] for h in handlers]
        header += [f"{h} / KunServe" for h in others if "param" in handlers]
        out += ["", f"## P99 TTFT against burst duration: {PRESET_NAMES.get(first, first)}, "
                "burst factor 4", "", _table(header, rows)]
    rows = []
    for p in presets:
        for h in handlers:
            r = idx.get((p, "burst", 1.0, 0.0, h))
            if r is None:
                continue
            s = r["summary"]
            rows.append([PRESET_NAMES.get(p, p), NAMES[h], _num(s["p50_ttft_s"]),
                         _num(s["p99_ttft_s"]), _num(s["p50_tbt_s"] * 1e3),
                         _num(s["p99_tbt_s"] * 1e3), _num(s["throughput_tokens_per_s"], 4),
                         str(s["drops"]), str(s["preemptions"])])
    out += ["", "## No-burst control (overhead)", "",
            _table(["preset", "handler", "P50 TTFT (s)", "P99 TTFT (s)", "P50 TBT (ms)",
                    "P99 TBT (ms)", "output tokens/s", "drops", "preemptions"], rows)]
    rows = []
    for (p, scen, f, d, h), r in sorted(idx.items()):
        if scen != "burst" or f != 4 or d != sweep_s:
            continue
        s = r["summary"]
        rows.append([PRESET_NAMES.get(p, p), NAMES[h], _num(s["p99_ttft_s"]),
                     _num(s["p99_tbt_s"] * 1e3), str(s["preemptions"]),
                     _num(s["recomputed_tokens"] / 1e3), _num(s["bytes_swapped"] / 1e9),
                     _num(s["bytes_migrated"] / 1e9), _num(s["bytes_exchanged"] / 1e9),
                     f"{s['drops']}/{s['restores']}", _num(s["seconds_grouped"])])
    out += ["", f"## What each handler did: burst factor 4, {sweep_s:g} s", "",
            _table(["preset", "handler", "P99 TTFT (s)", "P99 TBT (ms)", "preemptions",
                    "recomputed (k tokens)", "swapped (GB)", "migrated (GB)",
                    "exchanged (GB)", "drops/restores", "group-seconds"], rows)]
    rows = []
    for (_p, scen, _f, _d, h), r in sorted(idx.items()):
        if scen == "burst":
            continue
        s = r["summary"]
        rows.append([scen, NAMES[h], str(s["requests"]), _num(s["p50_ttft_s"]),
                     _num(s["p99_ttft_s"]), _num(s["p99_tbt_s"] * 1e3), str(s["drops"]),
                     str(s["preemptions"])])
    if rows:
        out += ["", "## Trace replays (13B tp1 A100 x4, inter-arrival times / 35)", "",
                _table(["trace", "handler", "requests", "P50 TTFT (s)", "P99 TTFT (s)",
                        "P99 TBT (ms)", "drops", "preemptions"], rows)]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------- figures
def _figure(ncols: int, nrows: int = 1, width: float = 4.4, height: float = 3.2) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def _save(fig: Any, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, format="png", dpi=110, metadata={"Software": None})
    return path


def _plots(records: Sequence[Mapping[str, Any]], rates: Mapping[str, float],
           handlers: Sequence[str], out: Path, sweep_s: float) -> list[Path]:
    idx = _index(records)
    presets = [p for p in rates if any(r["preset"] == p for r in records)]
    paths = []
    fig, axes = _figure(len(presets))
    for ax, p in zip(axes[0], presets, strict=True):
        for h in handlers:
            pts = sorted((f, r["summary"]["p99_ttft_s"]) for (pp, sc, f, d, hh), r in idx.items()
                         if pp == p and sc == "burst" and hh == h and (d == sweep_s or f == 1))
            if pts:
                ax.plot(*zip(*pts, strict=True), marker="o", label=NAMES[h])
        ax.set_yscale("log")
        ax.set_xlabel("burst factor (1 = no burst)")
        ax.set_ylabel("P99 TTFT (s, log scale)")
        ax.set_title(PRESET_NAMES.get(p, p))
        ax.grid(True, alpha=0.3)
    axes[0][0].legend(fontsize=8)
    paths.append(_save(fig, out / "burst_p99_ttft.png"))
    if "param" in handlers and "recompute" in handlers:
        fig, axes = _figure(1)
        ax = axes[0][0]
        for p in presets:
            pts = []
            for (pp, sc, f, d, hh), _r in idx.items():
                if pp == p and sc == "burst" and hh == "recompute" and (d == sweep_s or f == 1):
                    ratio = _ratio(idx, (pp, sc, f, d), "recompute")
                    if ratio is not None:
                        pts.append((f, ratio))
            if pts:
                ax.plot(*zip(*sorted(pts), strict=True), marker="o",
                        label=PRESET_NAMES.get(p, p))
        ax.axhline(1.0, color="gray", lw=0.8)
        ax.set_yscale("log")
        ax.set_xlabel(f"burst factor (1 = no burst), {sweep_s:g} s bursts")
        ax.set_ylabel("P99 TTFT: recompute / KunServe (log)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        paths.append(_save(fig, out / "burst_ratio.png"))
    first = presets[0] if presets else ""
    timeline = [idx[(first, "burst", 4.0, sweep_s, h)] for h in handlers
                if (first, "burst", 4.0, sweep_s, h) in idx]
    if timeline:
        fig, axes = _figure(len(timeline), 2, width=4.0, height=2.8)
        for col, r in enumerate(timeline):
            t = np.array([s[0] for s in r["samples"]])
            usage = np.array([s[1] for s in r["samples"]]) * 100
            queue = np.array([s[2] for s in r["samples"]])
            for k in range(usage.shape[1]):
                axes[0][col].plot(t, usage[:, k], lw=1, label=f"replica {k}")
                axes[1][col].plot(t, queue[:, k], lw=1, label=f"replica {k}")
            for row in (0, 1):
                ax = axes[row][col]
                at = r.get("burst_at_s", 60.0)
                ax.axvspan(at, at + sweep_s, color="tab:red", alpha=0.08)
                for e in r["events"]:
                    if e[0] in ("switch", "split"):
                        ax.axvline(e[1], color="k" if e[0] == "switch" else "tab:green",
                                   lw=0.7, ls="--")
                ax.set_xlabel("time (s); burst shaded")
                ax.grid(True, alpha=0.3)
            axes[0][col].set_title(NAMES[r["handler"]], fontsize=10)
            axes[0][col].set_ylabel("KV usage (% of pool)")
            axes[1][col].set_ylabel("queued requests")
        axes[0][0].legend(fontsize=7)
        paths.append(_save(fig, out / "burst_timeline.png"))
    return paths


def write_report(records: Sequence[Mapping[str, Any]], rates: Mapping[str, float],
                 out: str | os.PathLike[str], *, plots: bool = True,
                 handlers: Sequence[str] = ("recompute", "swap", "migrate", "param"),
                 sweep_s: float = 30.0) -> None:
    """``out/report.md`` (the tables) and, with ``plots``, ``out/burst_*.png``."""
    out = Path(out)
    text = _tables(records, rates, handlers, sweep_s)
    if plots:
        names = [p.name for p in _plots(records, rates, handlers, out, sweep_s)]
        text += "\n" + "\n".join(f"![{n}]({n})" for n in names) + "\n"
    write_text_atomic(out / "report.md", text)
