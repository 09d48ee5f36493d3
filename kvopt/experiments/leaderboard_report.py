"""The leaderboard's outputs: ``leaderboard.json``, ``leaderboard.md`` and a self-contained
``index.html`` (tables and the plots inline as base64 PNG; nothing fetched from a network).

Policies appear under human names (:func:`human_name`); a reconstructed rule says so in its
name. Ratios are intervals ``[mean cost / best schedule, mean cost / bound]``, one number where
the two ends agree to the digits shown.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kvopt.atomic import write_json_atomic, write_text_atomic

__all__ = ["human_name", "markdown", "write_reports"]

def human_name(policy: str) -> str:
    """A policy's name for people (:func:`kvopt.policies.names.display_name`, which says
    "reconstructed" where the rule is); the clairvoyant reference says so too."""
    from kvopt.policies import POLICIES
    from kvopt.policies.names import display_name

    spec = POLICIES.get(policy)
    reference = spec is not None and spec.predictions is not None
    return display_name(policy) + (" (clairvoyant reference)" if reference else "")


def _effort(e: dict[str, Any]) -> str:
    nodes = ("no HiGHS" if e["mip_nodes"] == 0 else
             f"HiGHS {e['mip_nodes']} nodes on one thread, safety limit {e['mip_safety_s']} s")
    return (f"{e['local_search']} local-search and {e['serial_moves']} serial-search moves, "
            f"{e['lp_cut_rounds']} LP cut rounds, LP up to {e['lp_max_requests']} requests, "
            f"{nodes}")


def _interval(low: float, high: float) -> str:
    a, b = f"{low:.3f}", ("inf" if not np.isfinite(high) else f"{high:.3f}")
    return a if a == b else f"[{a}, {b}]"


def _table(result: dict[str, Any]) -> list[list[str]]:
    rows = sorted(result["rows"], key=lambda r: (r["rank"] is None, r["rank"] or 0))  # stable
    return [["-" if r["rank"] is None else str(r["rank"]), human_name(r["policy"]),
             _interval(r["ratio_low"], r["ratio_high"]), f"{r['worst_low']:.3f}",
             f"{1000 * r['seconds']:.1f}"] for r in rows]


HEAD = ["rank", "policy", "mean ratio [vs best schedule, vs bound]", "worst vs best",
        "ms per instance"]


def markdown(config: dict[str, Any], results: Sequence[dict[str, Any]], wall_s: float) -> str:
    """The whole leaderboard as Markdown."""
    lines = ["# Leaderboard: every registered policy against certified hindsight", "",
             (f"Seed {config['seed']}; {config['count']} instances per synthetic scenario; "
              f"{config['trace_requests']} requests per trace instance; hindsight solve up to "
              f"{config['solve_max']} requests, certified bounds beyond; every limit a count "
              f"({_effort(config['effort'])}), so the figures are reproducible from the seeds. "
              "A ratio is the mean over the scenario's instances of `cost / best "
              "verified schedule` and of `cost / certified lower bound`: the true mean ratio "
              "lies between. Rank: by the first end (online policies only). Wall time "
              f"{wall_s} s."), ""]
    lines += [f"- note: {n}" for n in config.get("notes", [])]
    for res in results:
        proven = "optimum proven on every instance" if res["optimum_proven_everywhere"] else \
            "optimum not proven everywhere: intervals"
        lines += ["", f"## {res['title']} (`{res['name']}`)", "",
                  f"{res['num_instances']} instances; {proven}.", "",
                  "| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
        lines += ["| " + " | ".join(row) + " |" for row in _table(res)]
    return "\n".join(lines) + "\n"


def _heatmap(results: Sequence[dict[str, Any]], policies: Sequence[str]) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    values = np.array([[next(r["ratio_low"] for r in res["rows"] if r["policy"] == p)
                        for res in results] for p in policies])
    fig = Figure(figsize=(1.0 + 0.55 * len(results), 1.0 + 0.28 * len(policies)))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(np.clip(values, 1.0, 2.0), cmap="viridis_r", vmin=1.0, vmax=2.0,
                      aspect="auto")
    ax.set_xticks(range(len(results)), [res["name"] for res in results], rotation=60,
                  ha="right", fontsize=7)
    ax.set_yticks(range(len(policies)), [human_name(p) for p in policies], fontsize=7)
    ax.set_xlabel("scenario")
    ax.set_title("Mean ratio to the best verified schedule (clipped at 2)", fontsize=9)
    fig.colorbar(image, ax=ax, label="mean cost / best schedule")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()


def _rank_plot(results: Sequence[dict[str, Any]], policies: Sequence[str]) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ranked = [p for p in policies
              if all(next(r for r in res["rows"] if r["policy"] == p)["rank"] is not None
                     for res in results)]
    mean_rank = [float(np.mean([next(r["rank"] for r in res["rows"] if r["policy"] == p)
                                for res in results])) for p in ranked]
    order = np.argsort(mean_rank, kind="stable")
    fig = Figure(figsize=(6.5, 1.0 + 0.25 * len(ranked)))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.barh(range(len(ranked)), [mean_rank[k] for k in order], color="tab:blue")
    ax.set_yticks(range(len(ranked)), [human_name(ranked[k]) for k in order], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("mean rank over the scenarios (1 = best)")
    ax.set_title("Online policies by mean rank", fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()


def _html(config: dict[str, Any], results: Sequence[dict[str, Any]], wall_s: float,
          images: Sequence[tuple[str, bytes]]) -> str:
    esc = html.escape
    parts = ["<!DOCTYPE html>", "<html><head><meta charset='utf-8'>",
             "<title>kvopt leaderboard</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
             "padding:2px 8px;font-size:13px}th{background:#eee}</style></head><body>",
             "<h1>Leaderboard: every registered policy against certified hindsight</h1>",
             f"<p>{esc(markdown(config, [], wall_s).splitlines()[2])}</p>"]
    parts += [f"<p>note: {esc(n)}</p>" for n in config.get("notes", [])]
    for title, png in images:
        data = base64.b64encode(png).decode()
        parts.append(f"<h2>{esc(title)}</h2><img alt='{esc(title)}' "
                     f"src='data:image/png;base64,{data}'>")
    for res in results:
        proven = "optimum proven on every instance" if res["optimum_proven_everywhere"] else \
            "optimum not proven everywhere: intervals"
        parts.append(f"<h2>{esc(res['title'])} ({esc(res['name'])})</h2>"
                     f"<p>{res['num_instances']} instances; {proven}.</p><table><tr>"
                     + "".join(f"<th>{esc(h)}</th>" for h in HEAD) + "</tr>")
        for row in _table(res):
            parts.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_reports(out: Path, config: dict[str, Any], results: Sequence[dict[str, Any]],
                  wall_s: float) -> str:
    """Write the three outputs; return the Markdown."""
    from kvopt.show_versions import versions

    text = markdown(config, results, wall_s)
    write_text_atomic(out / "leaderboard.md", text)
    write_json_atomic(out / "leaderboard.json", {"config": config, "wall_seconds": wall_s,
                                                 "scenarios": list(results),
                                                 "versions": versions()}, indent=1)
    policies = config["policies"]
    images = []
    if results:
        images = [("Mean ratio per scenario", _heatmap(results, policies)),
                  ("Mean rank", _rank_plot(results, policies))]
    write_text_atomic(out / "index.html", _html(config, results, wall_s, images))
    return text
