"""Tables and figures of the Multi-Bin Batching experiment (:mod:`kvopt.bins.experiment`).

The figures are drawn on Agg canvases (``matplotlib.figure.Figure``, no ``pyplot``) and saved
without the ``Software`` metadata, so the same numbers give the same bytes. Every axis names its
quantity and unit; a panel holds at most five curves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["markdown_tables", "write_plots"]

_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")
PAPER_GAINS = {"oracle, 4 bins (Fig. 7, Phi-3.5, GSM8K)": 0.45,
               "BERT predictor, 4 bins (Fig. 11, Vicuna-13B)": 0.08}


def _save(fig: Figure, path: Path) -> None:
    FigureCanvasAgg(fig)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110, metadata={"Software": None})


def _ks(block: dict[str, Any]) -> list[int]:
    return sorted(int(k) for k in block)


def _pct(x: float) -> str:
    return f"{100 * x:+.1f}%"


def _row(cells: list[Any]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    return [_row(header), _row(["---"] * len(header)), *(_row(r) for r in rows), ""]


# --------------------------------------------------------------------------- tables
def _tables_f1(r: dict[str, Any], seeds: int) -> list[str]:
    f1 = r["B-F1"]
    u = f1["uniform_b128"]
    c1 = u["1"]["theory"]
    lines = ["## B-F1: capacity against k (Fig. 3, table B4)", "",
             f"U[1, 20], B = 128, m = 1, saturated, {len(u['1']['values'])} seeds per k "
             f"(requests per run in `meta.json`); capacity = served / makespan (requests per "
             "token step).", ""]
    rows = []
    for i, k in enumerate(_ks(u)):
        c = u[str(k)]
        rows.append([k, f"{f1['paper_b4'][i]:.2f}", f"{c['theory']:.4f}",
                     f"{c['mean']:.4f} ± {c['sd']:.4f}", f"{c['mean'] / c['theory']:.4f}",
                     "—" if k == 1 else _pct(c["theory"] / c1 - 1),
                     "—" if k == 1 else _pct(c["mean"] / u["1"]["mean"] - 1)])
    rows.append(["c_max", "12.19", f"{f1['c_max']:.4f}", "", "", _pct(f1["c_max"] / c1 - 1), ""])
    lines += _table(["k", "B4 (spec)", "closed form c_k", f"measured (mean ± s.d., {seeds} "
                     "seeds)", "measured / closed form", "gain, closed form",
                     "gain, measured"], rows)
    lines += ["Gain over k = 1 for other batch sizes (U[1, 20], m = 1, one seed), closed form / "
              "measured:", ""]
    ab = f1["batch_ablation"]
    rows = [[k, *(f"{_pct(ab[b][str(k)]['theory'] / ab[b]['1']['theory'] - 1)} / "
                  f"{_pct(ab[b][str(k)]['measured'] / ab[b]['1']['measured'] - 1)}"
                  for b in ab)] for k in _ks(ab["8"])[1:]]
    lines += _table(["k", *(f"B = {b}" for b in ab)], rows)
    m8 = f1["servers8"]
    rows = [[k, f"{m8[str(k)]['theory']:.3f}", f"{m8[str(k)]['measured']:.3f}",
             f"{m8[str(k)]['measured'] / m8[str(k)]['theory']:.4f}",
             f"{m8[str(k)]['busy']:.3f}", f"{m8[str(k)]['busy'] / m8[str(k)]['theory']:.4f}"]
            for k in _ks(m8)]
    lines += ["m = 8 servers, B = 128, U[1, 20] (one seed). Served / makespan loses the servers' "
              "idle time after the backlog runs out (about half a batch per server, of about "
              "125 batches each); m x served / busy time does not:", ""]
    lines += _table(["k", "closed form", "served / makespan", "ratio", "m x served / busy time",
                     "ratio"], rows)
    lines += ["Other lengths, B = 8, m = 8 (one seed): gain over k = 1, numerical integral / "
              "measured:", ""]
    other = f1["other_lengths"]
    names = list(other)
    rows = [[k, *(f"{_pct(other[n][str(k)]['theory'] / other[n]['1']['theory'] - 1)} / "
                  f"{_pct(other[n][str(k)]['measured'] / other[n]['1']['measured'] - 1)}"
                  for n in names)] for k in KS_AFTER_1]
    lines += _table(["k", *names], rows)
    return lines


KS_AFTER_1 = (2, 4, 8, 16, 32)


def _tables_f2(r: dict[str, Any]) -> list[str]:
    f2 = r["B-F2"]
    inf = f2["infinite_servers"]
    rates = [row["rate"] for row in inf["1"]]
    lines = ["## B-F2: latency against the arrival rate (Fig. 4)", "",
             "(a) Infinitely many servers, U[1, 20], B = 8, Poisson: simulated mean latency / the "
             "law E[T_k] + k(B - 1)/(2 lambda) (latency in token steps):", ""]
    rows = [[f"{lam:g}", *(f"{inf[k][i]['mean_latency']:.2f} / {inf[k][i]['law']:.2f}"
                           for k in inf)] for i, lam in enumerate(rates)]
    lines += _table(["lambda (req/step)", *(f"k = {k}" for k in inf)], rows)
    worst = max(abs(row["mean_latency"] / row["law"] - 1) for k in inf for row in inf[k])
    lines += [f"Largest deviation from the law: {100 * worst:.2f}%.", "",
              "(b) m = 8, B = 8, Fig. 6 lengths, 0.0366 s per token: mean latency in seconds "
              "(formation wait + queue wait + batch time); rates above 95% of a k's capacity are "
              "not run:", ""]
    fin = f2["eight_servers"]
    all_rates = sorted({row["rate"] for k in fin for row in fin[k]["rows"]})
    rows = []
    for lam in all_rates:
        cells: list[Any] = [f"{lam:g}"]
        for k in fin:
            hit = [row for row in fin[k]["rows"] if row["rate"] == lam]
            cells.append(f"{hit[0]['mean_latency']:.2f}" if hit else "—")
        rows.append(cells)
    lines += _table(["lambda (req/s)", *(f"k = {k} (cap. {fin[k]['capacity']:.1f})"
                                         for k in fin)], rows)
    return lines


def _tables_f3(r: dict[str, Any]) -> list[str]:
    f3 = r["B-F3"]
    rows_in = f3["rows"]
    ks = _ks(rows_in)
    m1 = rows_in["1"]["mean"]
    lines = ["## B-F3: the Fig. 6 series", "",
             "8 servers, B = 8, lognormal lengths (sigma 0.46, mean 43 tokens), 0.0366 s per "
             "token; requests/s. `ratio x 22.71`: our capacity relative to our k = 1, scaled to "
             "the paper's k = 1 (the target compares ratios).", ""]
    rows = []
    for i, k in enumerate(ks):
        c = rows_in[str(k)]
        scaled = f3["paper"][0] * c["mean"] / m1
        rows.append([k, f"{f3['paper'][i]:.2f}", f"{f3['spec_b6'][i]:.2f}",
                     f"{c['theory']:.2f}", f"{c['mean']:.2f} ± {c['sd']:.2f}",
                     f"{c['bisection']:.2f}", f"{scaled:.2f}",
                     _pct(scaled / f3["paper"][i] - 1)])
    lines += _table(["k", "paper Fig. 6", "spec B6 (derived)", "our integral",
                     "measured capacity (s.d.)", "bisection (sustainable)", "ratio x 22.71",
                     "vs paper"], rows)
    ctx = f3["context"]
    lines += [f"Context, continuous batching on the same lengths (whole tokens, prompt 1 token, "
              f"{ctx['requests']} requests at once per server, 8 servers, 0.0366 s per round):",
              ""]
    rows = [[f"MC-SF, M = {v['memory']} tokens ({label})", f"{v['requests_per_s']:.2f}"]
            for label, v in ctx["mcsf"].items()]
    rows += [[f"static batches of 8, k = {k} (same requests)", f"{v['requests_per_s']:.2f}"]
             for k, v in ctx["static"].items()]
    lines += _table(["scheduler", "requests/s (8 servers)"], rows)
    return lines


def _tables_f4(r: dict[str, Any]) -> list[str]:
    f4 = r["B-F4"]
    ps = [row["p_e"] for row in f4["1"]]
    lines = ["## B-F4: capacity against the assignment-error probability (Fig. 8)", "",
             "Fig. 6 setting (8 servers, B = 8, requests/s); symmetric neighbour errors; "
             "measured (mixture integral):", ""]
    rows = [[f"{p:g}", *(f"{f4[k][i]['measured']:.2f} ({f4[k][i]['theory']:.2f})" for k in f4)]
            for i, p in enumerate(ps)]
    lines += _table(["p_e", *(f"k = {k}" for k in f4)], rows)
    return lines


def _tables_f5(r: dict[str, Any]) -> list[str]:
    f5 = r["B-F5"]
    lines = ["## B-F5: gain under the Table-1 confusion matrix (Table 1, Fig. 11)", "",
             "B = 8, m = 1, saturated; gain over k = 1, measured (numerical integral). The paper: "
             "~45% with 4 oracle bins (Fig. 7, Phi-3.5 on GSM8K), ~8% with the BERT predictor "
             "and 4 bins (Fig. 11, Vicuna-13B, up to 512 new tokens).", ""]
    rows = []
    for name, block in f5.items():
        for k, v in block["rows"].items():
            rows.append([name, k, f"{_pct(v['oracle_gain'])} ({_pct(v['oracle_theory_gain'])})",
                         f"{_pct(v['table1_gain'])} ({_pct(v['table1_theory_gain'])})"])
    lines += _table(["lengths", "k", "oracle bins", "Table-1 bins"], rows)
    return lines


def markdown_tables(results: dict[str, Any], settings: Any) -> str:
    """Every table of the experiment, Markdown."""
    lines = ["# Multi-Bin Batching: measured beside the paper (arXiv 2412.04504)", "",
             f"Seeds {settings.seed}..{settings.seed + settings.seeds - 1}; "
             f"{settings.requests:,} requests per saturated run. Every number comes from "
             "verified batches.", ""]
    lines += _tables_f1(results, settings.seeds)
    lines += _tables_f2(results)
    lines += _tables_f3(results)
    lines += _tables_f4(results)
    lines += _tables_f5(results)
    return "\n".join(lines)


# --------------------------------------------------------------------------- figures
def _log2_axis(ax: Any, ks: list[int]) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xticks(ks)
    ax.set_xticklabels([str(k) for k in ks])
    ax.set_xlabel("number of bins k")
    ax.grid(True, alpha=0.3)


def _plot_f1(f1: dict[str, Any], path: Path) -> None:
    fig = Figure(figsize=(14, 4.3))
    ax = fig.add_subplot(1, 3, 1)
    u = f1["uniform_b128"]
    ks = _ks(u)
    ax.plot(ks, [u[str(k)]["theory"] for k in ks], color=_COLORS[0], label="closed form c_k")
    ax.errorbar(ks, [u[str(k)]["mean"] for k in ks], yerr=[u[str(k)]["sd"] for k in ks],
                fmt="o", color=_COLORS[1], label="simulated (mean ± s.d. over seeds)")
    ax.axhline(f1["c_max"], color="0.4", linestyle="--", label=f"c_max = {f1['c_max']:.2f}")
    _log2_axis(ax, ks)
    ax.set_ylabel("capacity (requests per token step)")
    ax.set_title("(a) U[1, 20], B = 128, one server")
    ax.legend(fontsize=8)
    for i, (block, title) in enumerate(((f1["batch_ablation"], "(b) U[1, 20], one server"),
                                        (f1["other_lengths"], "(c) other lengths, B = 8, m = 8"))):
        ax = fig.add_subplot(1, 3, i + 2)
        for color, (name, rows) in zip(_COLORS, block.items(), strict=False):
            label = f"B = {name}" if i == 0 else name
            base_t, base_m = rows["1"]["theory"], rows["1"]["measured"]
            ax.plot(ks, [100 * (rows[str(k)]["theory"] / base_t - 1) for k in ks], color=color,
                    label=label)
            ax.plot(ks, [100 * (rows[str(k)]["measured"] / base_m - 1) for k in ks], "o",
                    color=color)
        _log2_axis(ax, ks)
        ax.set_ylabel("capacity gain over k = 1 (%)")
        ax.set_title(f"{title}\nlines: theory; dots: simulated", fontsize=10)
        ax.legend(fontsize=7)
    _save(fig, path)


def _plot_f2(f2: dict[str, Any], path: Path) -> None:
    fig = Figure(figsize=(12, 4.5))
    ax = fig.add_subplot(1, 2, 1)
    for color, (k, rows) in zip(_COLORS, f2["infinite_servers"].items(), strict=False):
        rates = [row["rate"] for row in rows]
        ax.plot(rates, [row["law"] for row in rows], color=color, label=f"k = {k}")
        ax.plot(rates, [row["mean_latency"] for row in rows], "o", color=color)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arrival rate lambda (requests per token step)")
    ax.set_ylabel("mean latency (token steps)")
    ax.set_title("(a) infinitely many servers, U[1, 20], B = 8\n"
                 "lines: E[T_k] + k(B - 1)/(2 lambda); dots: simulated", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax = fig.add_subplot(1, 2, 2)
    for color, (k, block) in zip(_COLORS, f2["eight_servers"].items(), strict=False):
        rows = block["rows"]
        ax.plot([row["rate"] for row in rows], [row["mean_latency"] for row in rows], "o-",
                color=color, label=f"k = {k} (capacity {block['capacity']:.1f} req/s)")
    ax.set_yscale("log")
    ax.set_xlabel("arrival rate lambda (requests/s)")
    ax.set_ylabel("mean latency (s)")
    ax.set_title("(b) 8 servers, B = 8, Fig. 6 lengths, 0.0366 s/token")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, path)


def _plot_f3(f3: dict[str, Any], path: Path) -> None:
    fig = Figure(figsize=(12, 4.5))
    rows = f3["rows"]
    ks = _ks(rows)
    ax = fig.add_subplot(1, 2, 1)
    ax.plot(ks, f3["paper"][:len(ks)], "s", color="black", label="paper (Fig. 6)")
    ax.errorbar(ks, [rows[str(k)]["mean"] for k in ks], yerr=[rows[str(k)]["sd"] for k in ks],
                fmt="o-", color=_COLORS[0], label="simulated saturated capacity")
    ax.plot(ks, [rows[str(k)]["bisection"] for k in ks], "^", color=_COLORS[1],
            label="largest stable Poisson rate (bisection)")
    ax.plot(ks, [rows[str(k)]["theory"] for k in ks], color=_COLORS[2], linestyle=":",
            label="numerical integral")
    _log2_axis(ax, ks)
    ax.set_ylabel("sustainable arrival rate (requests/s, 8 servers)")
    ax.set_title("(a) absolute: lognormal lengths, mean 43 tokens")
    ax.legend(fontsize=8)
    ax = fig.add_subplot(1, 2, 2)
    m1 = rows["1"]["mean"]
    ax.plot(ks, np.array(f3["paper"][:len(ks)]) / f3["paper"][0], "s", color="black",
            label="paper (Fig. 6)")
    ax.plot(ks, [rows[str(k)]["mean"] / m1 for k in ks], "o-", color=_COLORS[0],
            label="simulated (sigma = 0.46)")
    ax.plot(ks, np.array(f3["spec_b6"][:len(ks)]) / f3["spec_b6"][0], "x", color=_COLORS[3],
            label="spec B6 (derived values)")
    _log2_axis(ax, ks)
    ax.set_ylabel("capacity relative to k = 1")
    ax.set_title("(b) ratios: the reproduction target")
    ax.legend(fontsize=8)
    _save(fig, path)


def _plot_f4(f4: dict[str, Any], path: Path) -> None:
    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    for color, (k, rows) in zip(_COLORS, f4.items(), strict=False):
        ps = [row["p_e"] for row in rows]
        ax.plot(ps, [row["theory"] for row in rows], color=color)
        ax.plot(ps, [row["measured"] for row in rows], "o", color=color, label=f"k = {k}")
    ax.set_xlabel("bin-assignment error probability p_e")
    ax.set_ylabel("capacity (requests/s, 8 servers)")
    ax.set_title("Fig. 8 setting: markers simulated, lines mixture integral")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, path)


def _plot_f5(f5: dict[str, Any], path: Path) -> None:
    fig = Figure(figsize=(13, 4.8))
    handles: list[Any] = []
    labels: list[str] = []
    for i, (name, block) in enumerate(f5.items()):
        ax = fig.add_subplot(1, len(f5), i + 1)
        ks = list(block["rows"])
        x = np.arange(len(ks))
        ax.bar(x - 0.2, [100 * block["rows"][k]["oracle_gain"] for k in ks], 0.4,
               color=_COLORS[0], label="oracle bins")
        ax.bar(x + 0.2, [100 * block["rows"][k]["table1_gain"] for k in ks], 0.4,
               color=_COLORS[1], label="Table-1 confusion matrix")
        for (label, gain), style in zip(PAPER_GAINS.items(), ("--", ":"), strict=True):
            ax.axhline(100 * gain, color="0.3", linestyle=style, label=f"paper: {label}")
        ax.set_xticks(x)
        ax.set_xticklabels([f"k = {k}" for k in ks])
        ax.set_ylabel("capacity gain over k = 1 (%)")
        ax.set_title(f"{name}: B = 8, one server")
        ax.grid(True, axis="y", alpha=0.3)
        if i == 0:
            handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    FigureCanvasAgg(fig)
    fig.savefig(path, format="png", dpi=110, metadata={"Software": None})


def write_plots(results: dict[str, Any], out: Path) -> list[Path]:
    """The five PNGs of the experiment, in ``out``."""
    paths = [out / name for name in ("capacity_vs_bins.png", "latency_vs_rate.png",
                                     "fig6_series.png", "capacity_vs_assign_error.png",
                                     "table1_gain.png")]
    _plot_f1(results["B-F1"], paths[0])
    _plot_f2(results["B-F2"], paths[1])
    _plot_f3(results["B-F3"], paths[2])
    _plot_f4(results["B-F4"], paths[3])
    _plot_f5(results["B-F5"], paths[4])
    return paths
