r"""WAIT and Nested WAIT against vLLM and Sarathi in seconds (``specs/fluid-wait.md`` 7, 8).

``python -m kvopt.experiments.fluid --out results/fluid [--num-requests 5000] [--seed S]
[--workers 2] [--workloads p512d20 mix ...]`` (also ``kvopt experiment fluid``).

**Workloads** (Poisson arrivals; ``M = 137,000`` KV tokens, the revision's A100-80GB cap):

* ``p512d20``: every request 512 prompt and 20 output tokens; 12 to 24 req/s (the revision's);
* ``mix``: 0.7 p512d20 + 0.3 p512d50; 12 to 23 req/s;
* ``p512d1000``: 0.5 to 2.5 req/s. The spec's A100 time model caps it at 2.77 req/s (the
  revision's Vidur sustains 4.5), so the sweep stops below that;
* ``early-m2``, ``early-m4``: the early version's low-demand WAIT case (``l = (10, 10)``,
  ``l' = (10, 20)``, equal rates) and its synthetic Nested WAIT case (prefill 10, decode 20, 40,
  80, 160 at 20:40:80:160; its thresholds 15:14:12:8 run as ``n_1 = 15`` beside the ``tl`` grid),
  the rates taken as proportions (the spec's default) at 50% to 95% of the fluid capacity;
* ``sharegpt``, ``azure-conv``: real lengths with both prompt and output below 500 tokens, as the
  revision's LMSYS sample (LMSYS-Chat-1M is not available here; the substitution is stated in
  every table): ShareGPT-8K (Llama-2 tokenizer) and the Azure 2023 conversation trace, drawn
  with replacement, at 50% to 95% of the fluid capacity ``1 / sum_j rho_j`` of the sample.

**Time model** (the spec's section 6 defaults, Llama-2-7B on A100-80GB, two slopes):
``tau = 10 ms + 72 us * prefill tokens + 0.32 us * decode context tokens``.

**Policies**: ``wait`` (types = (prompt, output), exact predictions: the types known),
``nested-wait`` (the segment rates of the workload known: ``[20, 50]`` with 0.7 / 0.3 for
``mix``; ``L`` equal segments over decode stages 0-500 with the sample's histogram for the real
data), ``vllm`` and ``sarathi`` (approximation: a 512-token prefill budget per round,
:mod:`kvopt.policies.serving`).
WAIT and Nested WAIT are tuned as in the revision: every cap ``tl`` of the grid (and ``L`` for the
real data; for WAIT on several types, both threshold rules: the spec's ``B rho_j / (l'_j + 1)``
and the authors' simulator's ``B lambda_j / sum_r lambda_r (l'_r + 1)``; for WAIT on
synthetic workloads also the strict fluid thresholds of the rate) runs, and the lowest
mean latency per rate is reported with its setting.

**Metrics**, from verified schedules only: mean latency of the requests arriving in the central
80% of arrivals (the revision's "common central window"); the *effective completion rate*,
(completions - restarts) per second over the arrival span, divided by the arrival rate (about 1
while the server keeps up); throughput (output tokens per second from the first arrival to the
last completion) over ``Throughput* = lambda * mean output`` (kvopt counts ``o`` tokens per
request: the prefill round emits the first); restarts; the fluid ``d1*S`` and ``M*``.

**Outputs** in ``--out``: ``table.csv``, ``table.json``, ``table.md`` (best setting per policy and
rate) and ``all_runs.csv`` (every setting), ``fluid.png`` (mean latency and effective completion
rate against rate, one row per workload), ``horizon.md``/``horizon.csv`` (the revision's
horizon check on the mix: N = 2,000 to 20,000 at 22 and 23 req/s, WAIT with the strict fluid
thresholds of :func:`kvopt.fluid.fluid_wait_thresholds`), ``meta.json``.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import json
import sys
import time
import zlib
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from kvopt.atomic import write_json_atomic, write_text_atomic
from kvopt.experiments.options import ExperimentParser
from kvopt.fluid import FluidModel, fluid_wait_thresholds
from kvopt.policies import NestedWait, Sarathi, Vllm, Wait
from kvopt.policies.names import display_name
from kvopt.sim.timed import simulate_timed
from kvopt.time_model import LinearBatchTime
from kvopt.verify import verify

__all__ = ["A100_7B", "MEMORY", "WORKLOADS", "Workload", "main", "run_one"]

#: the spec's section 6 defaults for Llama-2-7B on A100-80GB (two slopes)
D0, D1, D1_PREFILL = 0.010, 0.32e-6, 72e-6
A100_7B = LinearBatchTime(base_s=D0, prefill_token_s=D1_PREFILL, decode_request_s=0.0,
                          compute_token_s=0.0, prefill_attn_token2_s=0.0,
                          decode_context_token_s=D1, knee_tokens=0.0)
MEMORY = 137_000
TRACES_DIR = Path(__file__).resolve().parents[3] / "shared" / "traces"
TRACE_FILES = {"sharegpt": "etalon/sharegpt_8k_filtered_stats_llama2_tokenizer.csv",
               "azure-conv": "azure_llm_2023/AzureLLMInferenceTrace_conv.csv"}
CAPS = (20, 40, 80, 160, 320)
SEGMENTS = (1, 5)
HORIZON_RATES = (22.0, 23.0)
HORIZON_SIZES = (2000, 5000, 10_000, 20_000)
LABELS = {k: display_name(k) for k in ("wait", "nested-wait", "vllm", "sarathi")}
COLORS = {"wait": "C0", "nested-wait": "C1", "vllm": "C2", "sarathi": "C3"}


@dataclasses.dataclass(frozen=True)
class Workload:
    """Request lengths (synthetic types or a trace) and the rates to sweep."""

    name: str
    title: str
    prompts: tuple[int, ...] = ()
    outputs: tuple[int, ...] = ()
    weights: tuple[float, ...] = ()
    rates: tuple[float, ...] = ()
    trace: str | None = None
    load_fractions: tuple[float, ...] = ()
    policies: tuple[str, ...] = ("wait", "vllm", "sarathi")


WORKLOADS: dict[str, Workload] = {w.name: w for w in (
    Workload("p512d20", "p512d20", (512,), (20,), (1.0,), tuple(range(12, 25, 2))),
    Workload("mix", "0.7 p512d20 + 0.3 p512d50", (512, 512), (20, 50), (0.7, 0.3),
             (12, 14, 16, 18, 20, 21, 22, 23), policies=("wait", "nested-wait", "vllm",
                                                         "sarathi")),
    Workload("p512d1000", "p512d1000", (512,), (1000,), (1.0,), (0.5, 1.0, 1.5, 2.0, 2.5)),
    Workload("early-m2", "early version, low demand: l = 10, l' = 10 or 20", (10, 10),
             (10, 20), (1.0, 1.0), load_fractions=(0.5, 0.7, 0.8, 0.9, 0.95)),
    Workload("early-m4", "early version, Nested: l = 10, l' = 20/40/80/160 at 20:40:80:160",
             (10, 10, 10, 10), (20, 40, 80, 160), (20, 40, 80, 160),
             load_fractions=(0.5, 0.7, 0.8, 0.9, 0.95),
             policies=("wait", "nested-wait", "vllm", "sarathi")),
    Workload("sharegpt", "ShareGPT, both lengths < 500 (for LMSYS)", trace="sharegpt",
             load_fractions=(0.5, 0.7, 0.8, 0.9, 0.95),
             policies=("nested-wait", "vllm", "sarathi")),
    Workload("azure-conv", "Azure conv, both lengths < 500 (for LMSYS)", trace="azure-conv",
             load_fractions=(0.5, 0.7, 0.8, 0.9, 0.95),
             policies=("nested-wait", "vllm", "sarathi")),
)}


def _crc(text: str) -> int:
    return zlib.crc32(text.encode())


@functools.lru_cache(maxsize=4)
def trace_sample(name: str, traces_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Prompt and output lengths of a trace, both below 500 tokens (cached per process)."""
    from kvopt.read import read_trace_columns

    cols = read_trace_columns(str(traces_dir / TRACE_FILES[name]))
    keep = (cols["prompt"] < 500) & (cols["output"] < 500) & (cols["output"] >= 1)
    return cols["prompt"][keep].astype(np.int64), cols["output"][keep].astype(np.int64)


def fluid_of(prompt: np.ndarray, output: np.ndarray, rate: float) -> FluidModel:
    """The fluid model of a length sample at total rate ``rate``: one type per request of the
    sample, each at ``rate / len(sample)`` (its empirical distribution)."""
    m = len(prompt)
    return FluidModel(prompt, output, np.full(m, rate / m), D0, D1, d1_prefill=D1_PREFILL)


def capacity(prompt: np.ndarray, output: np.ndarray) -> float:
    """The rate at which the fluid load reaches 1."""
    return 1.0 / fluid_of(prompt, output, 1.0).load


def requests(w: Workload, rate: float, n: int, seed: int, traces_dir: Path
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(arrival_s, prompt, output)``: Poisson at ``rate``; lengths drawn from the workload."""
    rng = np.random.default_rng([seed, _crc(w.name), _crc(f"{rate:g}")])
    arrival = np.cumsum(rng.exponential(1.0 / rate, n))
    if w.trace is None:
        kind = rng.choice(len(w.weights), size=n, p=np.asarray(w.weights) / sum(w.weights))
        return arrival, np.asarray(w.prompts)[kind], np.asarray(w.outputs)[kind]
    prompt, output = trace_sample(w.trace, traces_dir)
    pick = rng.integers(0, len(prompt), n)
    return arrival, prompt[pick], output[pick]


def settings(w: Workload, policy: str) -> list[dict[str, Any]]:
    """The tuning grid of a policy on a workload (one entry for the baselines)."""
    if policy == "wait":
        grid: list[dict[str, Any]] = [{"cap": c} for c in CAPS]
        if len(set(w.outputs)) > 1:          # the authors' simulator's rule too
            grid += [{"cap": c, "rule": "stages"} for c in CAPS]
        return grid
    if policy == "nested-wait":
        if w.trace is None:
            grid = [{"cap": c, "bounds": list(w.outputs), "weights": list(w.weights)}
                    for c in CAPS]
            if w.name == "early-m4":             # the early version's thresholds 15:14:12:8
                grid.append({"threshold": 15})
            return grid
        return [{"cap": c, "segments": L} for c in CAPS for L in SEGMENTS]
    return [{}]


def settings_at(w: Workload, policy: str, rate: float) -> list[dict[str, Any]]:
    """:func:`settings`, plus for WAIT on a synthetic workload the strict fluid thresholds of
    the rate (:func:`kvopt.fluid.fluid_wait_thresholds`; known rates and time model)."""
    grid = settings(w, policy)
    if policy == "wait" and w.trace is None:
        model = FluidModel(np.asarray(w.prompts), np.asarray(w.outputs),
                           rate * np.asarray(w.weights) / sum(w.weights), D0, D1,
                           d1_prefill=D1_PREFILL)
        n = fluid_wait_thresholds(model)
        grid.append({"thresholds": [[s, o, int(k)] for s, o, k in
                                    zip(w.prompts, w.outputs, n, strict=True)]})
    return grid


def make_policy(w: Workload, policy: str, setting: dict[str, Any], traces_dir: Path):
    if policy == "wait":
        if "thresholds" in setting:
            return Wait(thresholds={(s, o): n for s, o, n in setting["thresholds"]})
        return Wait(cap=setting["cap"], rule=setting.get("rule", "proportional"))
    if policy == "nested-wait":
        if "segments" in setting:
            L = setting["segments"]
            bounds = [round(500 * (i + 1) / L) for i in range(L)]
            _, output = trace_sample(w.trace or "", traces_dir)
            seg = np.minimum(np.searchsorted(bounds, output, side="left"), L - 1)
            weights = np.bincount(seg, minlength=L).tolist()
            return NestedWait(cap=setting["cap"], bounds=bounds, weights=weights)
        if "threshold" in setting:
            return NestedWait(threshold=setting["threshold"])
        return NestedWait(cap=setting["cap"], bounds=setting["bounds"],
                          weights=setting["weights"])
    return {"vllm": Vllm, "sarathi": Sarathi}[policy]()


def run_one(w: Workload, policy: str, setting: dict[str, Any], rate: float, n: int, seed: int,
            traces_dir: Path = TRACES_DIR) -> dict[str, Any]:
    """One verified run: the record of a table row."""
    arrival, prompt, output = requests(w, rate, n, seed, traces_dir)
    t0 = time.perf_counter()
    res = simulate_timed(arrival, prompt, output, MEMORY, make_policy(w, policy, setting,
                                                                      traces_dir),
                         A100_7B, rng=np.random.default_rng(seed))
    wall = time.perf_counter() - t0
    ev = verify(res.instance, res.schedule)
    m = res.metrics()
    order = np.argsort(arrival, kind="stable")
    central = order[int(0.1 * n): int(0.9 * n)]
    completion_s = res.round_end_s[ev.completion]
    span = float(arrival.max() - arrival.min())
    makespan = float(completion_s.max() - arrival.min())
    done_in_span = int((completion_s <= arrival.max()).sum())
    restarts_in_span = sum(1 for _, k, _ in res.schedule.clearings()
                           if res.round_end_s[k] <= arrival.max())
    fm = (fluid_of(prompt, output, rate) if w.trace else
          FluidModel(np.asarray(w.prompts), np.asarray(w.outputs),
                     rate * np.asarray(w.weights) / sum(w.weights), D0, D1,
                     d1_prefill=D1_PREFILL))
    thr_star = rate * float(output.mean())
    return {
        "workload": w.name, "policy": policy, "setting": json.dumps(setting, sort_keys=True),
        "rate": rate, "num_requests": n, "seed": seed,
        "mean_latency_s": float(m.latency_s[central].mean()),
        "mean_ttft_s": float(m.ttft_s[central].mean()),
        "completion_rate": (done_in_span - restarts_in_span) / span / rate,
        "throughput_ratio": float(output.sum()) / makespan / thr_star,
        "restarts": ev.num_clearings,
        "peak_memory": ev.peak_memory_tokens,
        "load": fm.load, "m_star": fm.m_star if fm.stable else None,
        "wall_s": wall,
    }


def _job(args: tuple) -> dict[str, Any]:
    name, policy, setting, rate, n, seed, traces_dir = args
    return run_one(WORKLOADS[name], policy, setting, rate, n, seed, traces_dir)


def rates_of(w: Workload, traces_dir: Path) -> list[float]:
    if w.rates:
        return [float(r) for r in w.rates]
    if w.trace is None:
        weights = np.asarray(w.weights) / sum(w.weights)
        cap = 1.0 / FluidModel(np.asarray(w.prompts), np.asarray(w.outputs), weights, D0, D1,
                               d1_prefill=D1_PREFILL).load
    else:
        cap = capacity(*trace_sample(w.trace, traces_dir))
    return [round(f * cap, 2) for f in w.load_fractions]


def best_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (workload, policy, rate): the setting with the lowest mean latency."""
    best: dict[tuple, dict[str, Any]] = {}
    for r in rows:
        key = (r["workload"], r["policy"], r["rate"])
        if key not in best or r["mean_latency_s"] < best[key]["mean_latency_s"]:
            best[key] = r
    return [best[k] for k in sorted(best, key=lambda k: (list(WORKLOADS).index(k[0]),
                                                          list(LABELS).index(k[1]), k[2]))]


def _csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def table_md(rows: list[dict[str, Any]]) -> str:
    lines = ["Mean latency (s, central 80% of arrivals), effective completion rate / lambda, "
             "throughput / Throughput*, restarts; WAIT and Nested WAIT at their best setting "
             "(cap tl, segments L). Sarathi is an approximation (prefill budget per round). "
             "Real data: ShareGPT and Azure conv filtered to both lengths < 500, standing in "
             "for the revision's LMSYS sample.", ""]
    for name, w in WORKLOADS.items():
        sel = [r for r in rows if r["workload"] == name]
        if not sel:
            continue
        rates = sorted({r["rate"] for r in sel})
        lines += [f"**{w.title}** (fluid load d1*S at each rate: "
                  + ", ".join(f"{r:g}: {next(x['load'] for x in sel if x['rate'] == r):.2f}"
                              for r in rates) + ")", "",
                  "| policy | " + " | ".join(f"{r:g}/s" for r in rates) + " |",
                  "|---|" + "---|" * len(rates)]
        for pol in LABELS:
            by = {r["rate"]: r for r in sel if r["policy"] == pol}
            if not by:
                continue
            cells = []
            for rate in rates:
                r = by.get(rate)
                cells.append("" if r is None else
                             f"{r['mean_latency_s']:.3g} s, {r['completion_rate']:.2f}, "
                             f"{r['throughput_ratio']:.2f}, {r['restarts']}"
                             + (f" ({_setting_words(r['setting'])})"
                                if pol in ("wait", "nested-wait") else ""))
            lines.append(f"| {LABELS[pol]} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _setting_words(setting: str) -> str:
    s = json.loads(setting)
    if "threshold" in s:
        return f"n_1 {s['threshold']}"
    if "thresholds" in s:
        return "fluid thresholds " + ":".join(str(n) for _, _, n in s["thresholds"])
    words = f"tl {s['cap']}" + (", stages rule" if s.get("rule") == "stages" else "")
    return words + (f", L {s['segments']}" if "segments" in s else "")


def write_plot(out: Path, rows: list[dict[str, Any]]) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in WORKLOADS if any(r["workload"] == n for r in rows)]
    fig, axes = plt.subplots(len(names), 2, figsize=(11, 3.3 * len(names)), squeeze=False)
    for row, name in zip(axes, names, strict=True):
        for pol, label in LABELS.items():
            sel = sorted((r for r in rows if r["workload"] == name and r["policy"] == pol),
                         key=lambda r: r["rate"])
            if not sel:
                continue
            x = [r["rate"] for r in sel]
            style = {"color": COLORS[pol], "label": label}
            row[0].plot(x, [r["mean_latency_s"] for r in sel], "o-", **style)
            row[1].plot(x, [r["completion_rate"] for r in sel], "o-", **style)
        row[0].set_yscale("log")
        row[0].set_ylabel("mean latency (s)")
        row[1].set_ylabel("effective completions / arrivals")
        for ax in row:
            ax.set_xlabel("arrival rate (requests/s)")
            ax.set_title(WORKLOADS[name].title, fontsize=10)
            ax.grid(alpha=0.3)
        row[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "fluid.png", dpi=90)
    plt.close(fig)


def horizon_jobs(sizes: Sequence[int], seed: int, traces_dir: Path) -> list[tuple]:
    """The revision's horizon check on the mix: N requests at 22 and 23 req/s, WAIT with the
    strict fluid thresholds of the rate, Nested WAIT (tl 80), vLLM and Sarathi."""
    w = WORKLOADS["mix"]
    jobs = []
    for rate in HORIZON_RATES:
        model = FluidModel(np.asarray(w.prompts), np.asarray(w.outputs),
                           rate * np.asarray(w.weights), D0, D1, d1_prefill=D1_PREFILL)
        n = fluid_wait_thresholds(model)
        fluid_setting = {"thresholds": [[s, o, int(k)] for s, o, k in
                                        zip(w.prompts, w.outputs, n, strict=True)]}
        nested = {"cap": 80, "bounds": list(w.outputs), "weights": list(w.weights)}
        for size in sizes:
            for pol, setting in (("wait", fluid_setting), ("nested-wait", nested),
                                 ("vllm", {}), ("sarathi", {})):
                jobs.append(("mix", pol, setting, rate, size, seed, traces_dir))
    return jobs


def horizon_md(rows: list[dict[str, Any]]) -> str:
    sizes = sorted({r["num_requests"] for r in rows})
    lines = ["Horizon check, 0.7 p512d20 + 0.3 p512d50: mean latency (s) and throughput / "
             "Throughput* against the number of requests N. WAIT with the strict fluid "
             "thresholds of the rate (`kvopt.fluid.fluid_wait_thresholds`), Nested WAIT with "
             "tl 80.", "",
             "| policy | rate | " + " | ".join(f"N = {n:,}" for n in sizes) + " |",
             "|---|---|" + "---|" * len(sizes)]
    for rate in HORIZON_RATES:
        for pol, label in LABELS.items():
            by = {r["num_requests"]: r for r in rows if r["policy"] == pol and r["rate"] == rate}
            if not by:
                continue
            name = label + (" (fluid thresholds " + _thresholds_words(by[sizes[0]]["setting"])
                            + ")" if pol == "wait" else "")
            lines.append(f"| {name} | {rate:g}/s | " + " | ".join(
                f"{by[n]['mean_latency_s']:.3g} s, {by[n]['throughput_ratio']:.3f}"
                for n in sizes) + " |")
    return "\n".join(lines)


def _thresholds_words(setting: str) -> str:
    return ", ".join(f"d{o}: {n}" for _, o, n in json.loads(setting)["thresholds"])


def main(argv: Sequence[str] | None = None) -> int:
    ap = ExperimentParser(prog="python -m kvopt.experiments.fluid",
                          description="WAIT and Nested WAIT vs vLLM and Sarathi")
    ap.add_argument("--out", type=Path, default=Path("results/fluid"))
    ap.add_argument("--num-requests", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=20260101)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--traces-dir", type=Path, default=TRACES_DIR)
    ap.add_argument("--workloads", nargs="*", default=None,
                    help="workload names (default: all): " + ", ".join(WORKLOADS))
    ap.add_argument("--horizon-sizes", type=int, nargs="*", default=list(HORIZON_SIZES),
                    help="N of the horizon check on the mix (none: skip it)")
    args = ap.parse_checked(argv)
    names = list(WORKLOADS) if args.workloads is None else list(args.workloads)
    if unknown := [n for n in names if n not in WORKLOADS]:
        print(f"error: --workloads: unknown {unknown[0]!r}; expected one of "
              f"{', '.join(WORKLOADS)}", file=sys.stderr)
        return 2
    if args.num_requests < 10:
        print("error: --num-requests must be at least 10", file=sys.stderr)
        return 2
    if not args.traces_dir.exists():
        skipped = [n for n in names if WORKLOADS[n].trace]
        names = [n for n in names if not WORKLOADS[n].trace]
        if skipped:
            print(f"traces not found at {args.traces_dir}: skipping {', '.join(skipped)}",
                  file=sys.stderr)
    t0 = time.perf_counter()
    jobs = [(name, pol, setting, rate, args.num_requests, args.seed, args.traces_dir)
            for name in names for rate in rates_of(WORKLOADS[name], args.traces_dir)
            for pol in WORKLOADS[name].policies
            for setting in settings_at(WORKLOADS[name], pol, rate)]
    hjobs = horizon_jobs(args.horizon_sizes, args.seed, args.traces_dir)
    print(f"{len(jobs)} runs, {len(hjobs)} for the horizon check", file=sys.stderr)
    if args.workers > 1:
        with ProcessPoolExecutor(args.workers) as pool:
            rows = list(pool.map(_job, jobs, chunksize=2))
            hrows = list(pool.map(_job, hjobs))
    else:
        rows = [_job(j) for j in jobs]
        hrows = [_job(j) for j in hjobs]
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    best = best_rows(rows)
    write_text_atomic(out / "all_runs.csv", _csv(rows))
    write_text_atomic(out / "table.csv", _csv(best))
    write_json_atomic(out / "table.json", best)
    write_text_atomic(out / "table.md", table_md(best) + "\n")
    write_plot(out, best)
    if hrows:
        write_text_atomic(out / "horizon.csv", _csv(hrows))
        write_text_atomic(out / "horizon.md", horizon_md(hrows) + "\n")
    from kvopt.show_versions import versions

    write_json_atomic(out / "meta.json", {
        "arguments": {k: str(v) for k, v in vars(args).items()},
        "time_model": A100_7B.to_dict(), "memory": MEMORY, "caps": list(CAPS),
        "segments": list(SEGMENTS), "wall_s": time.perf_counter() - t0,
        "versions": versions()})
    print(table_md(best))
    if hrows:
        print(horizon_md(hrows))
    print(f"wrote {out} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
