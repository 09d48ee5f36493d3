r"""The alpha sweep of interval predictions: A_max, A_min and MC-SF on the bounds against H-SF and
the hindsight optimum (issue 27; ``specs/prediction-intervals-and-bins.md`` A5-A7).

Run ``python -m kvopt.experiments.intervals --out DIR`` (``make experiment-intervals``). Two
tracks, every schedule verified (:func:`kvopt.verify.verify`):

* **Theory track** (the paper's setting [P2]): ``n = 2,000`` requests at round 0, all with the
  trace's median prompt ``s``, outputs drawn (seeded, with replacement) from the trace's output
  lengths, ``M = c (s + median o)``, ``c`` in {50, 100, 200}. The reference is H-SF (``hsf``:
  MC-SF on the true outputs). The outputs fit, ``s + o <= M``, at these ``M`` for both traces.
* **OPT track**: ``n`` in {6, 8, 10} from the same trace, lengths scaled so that the median output
  is 10 rounds (``f = 10 / median o``; ``s' = round(f s)``, ``o' = min(max(1, rint(f o)),
  M - s')``), ``M = 3 (s' + 10)`` so that about three requests fit at once; the hindsight integer
  program (HiGHS, ``--opt-time-limit`` seconds per solve) is the reference, and a solve stopped
  by its time limit gives the ratio interval ``[cost / best schedule, cost / proven bound]``,
  never one number.

Each track sweeps alpha over {1, 0.8, 0.5, 0.25, 0.1, 0.05} for each interval generator
(:mod:`kvopt.sim.intervals`) and runs ``amax``, ``amin``, ``mcsf-mid`` and ``mcsf-lower`` (MC-SF
on the upper bound is ``amax`` itself: ``tests/policies/test_amax.py``); the A_min eviction
orders (``amin-lowest-estimate``, ``amin-most-progress``, ``amin-random``) run on G3-uniform in
the cells of the first ``--evict-seeds`` seeds (default 1: ``most_progress`` thrashes, about 14
evictions per request, and costs as much as the rest of a cell).
Generator panels: ``G2`` (geometric classes), ``G3-uniform``, ``G3-low`` (the worst case for
A_max), ``G3-high`` (the worst for A_min), and on the theory track ``G1``. G1's interval is the
instance's ``[min o, max o]`` and takes no alpha; its panel is the theory setting itself: the
outputs are drawn from the trace lengths in ``[ceil(alpha u), u]`` (``u`` the longest), so the
one shared interval has ``l / u ~ alpha`` and H-SF is recomputed for each alpha.

Seeds: a cell (track, trace, ``c`` or ``n``, seed) draws its lengths from
``default_rng([seed, scale, trace code, 0])``, the intervals of panel ``g`` at alpha index ``a``
from ``[seed, scale, trace code, 1 + g, a]`` and every policy's stream is
``[seed, scale, trace code, 99]``: results do not depend on the order or the number of workers.
A cell is one job (:mod:`kvopt.experiments.jobs`); its record is stored atomically under
``DIR/cells/`` and reused by a rerun with the same settings. ``DIR/rows.csv`` has one row per
run, ``DIR/report.md`` the tables, ``DIR/*.png`` the figures
(:mod:`kvopt.experiments.intervals_report`).

The default run took 207 s on two free cores (``--workers 2``; 3 seeds took 700 s while other jobs
held them): ShareGPT, 5 seeds on both tracks; ``--traces sharegpt,azure-conv`` adds the second
trace, ``--seeds`` trades precision for time.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kvopt.atomic import write_csv_atomic, write_json_atomic, write_text_atomic
from kvopt.exceptions import KvoptError
from kvopt.experiments.jobs import Job, RecordStore, execute
from kvopt.experiments.options import ExperimentParser
from kvopt.instance import Instance

__all__ = ["ALPHAS", "PANELS", "SweepConfig", "main", "opt_cell", "theory_cell"]

TRACES_DIR = Path(__file__).resolve().parents[3] / "shared" / "traces"
TRACES = {"sharegpt": "etalon/sharegpt_8k_filtered_stats_llama2_tokenizer.csv",
          "azure-conv": "azure_llm_2023/AzureLLMInferenceTrace_conv.csv"}
_TRACE_CODE = {"sharegpt": 1, "azure-conv": 2}
ALPHAS = (1.0, 0.8, 0.5, 0.25, 0.1, 0.05)
#: panel -> (generator, placement); G1 is handled apart (the instance changes with alpha)
PANELS: dict[str, tuple[str, str]] = {
    "G1": ("g1", "uniform"), "G2": ("g2", "uniform"), "G3-uniform": ("g3", "uniform"),
    "G3-low": ("g3", "low"), "G3-high": ("g3", "high")}
SWEEP_POLICIES = ("amax", "amin", "mcsf-mid", "mcsf-lower")
EVICT_POLICIES = ("amin-lowest-estimate", "amin-most-progress", "amin-random")
EVICT_PANEL = "G3-uniform"
OPT_MEDIAN_OUTPUT = 10
RECORD_FORMAT = 1
#: the columns of ``rows.csv``
COLUMNS = ("track", "trace", "scale", "seed", "num_requests", "memory", "panel", "alpha",
           "measured_alpha", "policy", "total_latency", "reference", "evictions",
           "wasted_tokens", "peak_memory_tokens", "seconds", "opt_status", "opt_objective",
           "opt_bound", "opt_seconds")


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    """What the cells depend on (besides their coordinates)."""

    traces: tuple[str, ...] = ("sharegpt",)
    scales: tuple[int, ...] = (50, 100, 200)
    seeds: int = 5
    evict_seeds: int = 1
    num_requests: int = 2000
    alphas: tuple[float, ...] = ALPHAS
    opt_sizes: tuple[int, ...] = (6, 8, 10)
    opt_seeds: int = 5
    opt_time_limit_s: float = 30.0
    backend: str = "highs"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ------------------------------------------------------------------------------ instances
@functools.lru_cache(maxsize=4)
def _lengths(trace: str, traces_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Prompt and output lengths of a trace (read once per process)."""
    from kvopt.read import read_trace_columns

    cols = read_trace_columns(traces_dir / TRACES[trace])
    return np.asarray(cols["prompt"], dtype=np.int64), np.asarray(cols["output"], dtype=np.int64)


def theory_instance(trace: str, scale: int, seed: int, num_requests: int, traces_dir: Path,
                    window_alpha: float | None = None) -> Instance:
    """The theory track's instance; ``window_alpha``: outputs from ``[ceil(alpha u), u]``."""
    prompt, output = _lengths(trace, traces_dir)
    s, med = int(np.median(prompt)), int(np.median(output))
    memory = scale * (s + med)
    pool = output[s + output <= memory]
    rng = np.random.default_rng([seed, scale, _TRACE_CODE[trace], 0])
    if window_alpha is not None:
        u = int(pool.max())
        pool = pool[pool >= int(np.ceil(window_alpha * u - 1e-9))]
    out = rng.choice(pool, size=num_requests, replace=True)
    tag = "" if window_alpha is None else f"-window{window_alpha:g}"
    return Instance(memory, np.zeros(num_requests, np.int64), np.full(num_requests, s), out,
                    name=f"{trace}-c{scale}-s{seed}{tag}")


def opt_instance(trace: str, n: int, seed: int, traces_dir: Path) -> Instance:
    """The OPT track's instance: lengths scaled to a median output of 10 rounds."""
    prompt, output = _lengths(trace, traces_dir)
    f = OPT_MEDIAN_OUTPUT / float(np.median(output))
    s = max(1, round(float(np.median(prompt)) * f))
    memory = 3 * (s + OPT_MEDIAN_OUTPUT)
    rng = np.random.default_rng([seed, n, _TRACE_CODE[trace], 0])
    out = np.clip(np.rint(rng.choice(output, size=n) * f).astype(np.int64), 1, memory - s)
    return Instance(memory, np.zeros(n, np.int64), np.full(n, s), out,
                    name=f"{trace}-opt-n{n}-s{seed}")


# ---------------------------------------------------------------------------------- runs
def _run(inst: Instance, name: str, predictions: Any, stream: list[int]) -> dict[str, Any]:
    """One verified run of a registered policy: its figures."""
    from kvopt.policies import POLICIES
    from kvopt.sim.engine import simulate
    from kvopt.verify import verify

    spec = POLICIES[name]
    own = spec.predictions if spec.predictions is not None else predictions
    t0 = time.perf_counter()
    schedule = simulate(inst, spec(), rng=np.random.default_rng(stream), predicted=own)
    seconds = time.perf_counter() - t0
    ev = verify(inst, schedule)
    return {"policy": name, "total_latency": ev.total_latency, "evictions": ev.num_clearings,
            "wasted_tokens": ev.wasted_tokens, "peak_memory_tokens": ev.peak_memory_tokens,
            "seconds": round(seconds, 4)}


def _panel_runs(inst: Instance, panel: str, alpha: float, interval_stream: list[int],
                policy_stream: list[int], policies: Sequence[str]) -> list[dict[str, Any]]:
    from kvopt.sim.intervals import IntervalPredictions

    generator, placement = PANELS[panel]
    model = IntervalPredictions(alpha if generator != "g1" else 1.0, generator,  # type: ignore[arg-type]
                                placement=placement)  # type: ignore[arg-type]
    preds = model.predict(inst, np.random.default_rng(interval_stream))
    measured = float(np.mean(preds.lower / preds.upper))
    return [{"panel": panel, "alpha": alpha, "measured_alpha": round(measured, 4),
             **_run(inst, name, preds, policy_stream)} for name in policies]


def theory_cell(trace: str, scale: int, seed: int, num_requests: int, alphas: Sequence[float],
                traces_dir: str, evict_orders: bool = True) -> dict[str, Any]:
    """Every panel x alpha x policy on one theory-track instance, with H-SF as reference (the
    A_min eviction orders on G3-uniform with ``evict_orders``)."""
    base = [seed, scale, _TRACE_CODE[trace]]
    inst = theory_instance(trace, scale, seed, num_requests, Path(traces_dir))
    hsf = _run(inst, "hsf", None, base + [99])
    rows = []
    for g, panel in enumerate(PANELS):
        for a, alpha in enumerate(alphas):
            if panel == "G1":
                window = theory_instance(trace, scale, seed, num_requests, Path(traces_dir),
                                         window_alpha=alpha)
                ref = _run(window, "hsf", None, base + [99])
                runs = [{"panel": panel, "alpha": alpha, **ref}]
                runs += _panel_runs(window, panel, alpha, base + [1 + g, a], base + [99],
                                    SWEEP_POLICIES)
                for r in runs:
                    r["reference"] = ref["total_latency"]
            else:
                extra = EVICT_POLICIES if evict_orders and panel == EVICT_PANEL else ()
                runs = _panel_runs(inst, panel, alpha, base + [1 + g, a], base + [99],
                                   SWEEP_POLICIES + extra)
                for r in runs:
                    r["reference"] = hsf["total_latency"]
            rows += runs
    rows.append({"panel": "-", "alpha": None, **hsf, "reference": hsf["total_latency"]})
    head = {"track": "theory", "trace": trace, "scale": scale, "seed": seed,
            "num_requests": num_requests, "memory": inst.memory}
    return {"rows": [{**head, **r} for r in rows]}


def opt_cell(trace: str, n: int, seed: int, alphas: Sequence[float], traces_dir: str,
             time_limit_s: float, backend: str) -> dict[str, Any]:
    """The hindsight solve of one OPT-track instance, H-SF, and every panel x alpha x policy
    but G1's (whose instance changes with alpha)."""
    from kvopt.hindsight.solve import solve
    from kvopt.ratio import RatioReport
    from kvopt.verify import verify

    inst = opt_instance(trace, n, seed, Path(traces_dir))
    opt = solve(inst, backend, time_limit_s=time_limit_s)
    if opt.schedule is None or verify(inst, opt.schedule).total_latency != opt.objective:
        raise KvoptError(f"{inst.name}: the hindsight solve gave no verified schedule "
                         f"({opt.status.value})")
    proven = opt.status.value == "optimal"
    base = [seed, n, _TRACE_CODE[trace]]
    rows = [{"panel": "-", "alpha": None, **_run(inst, "hsf", None, base + [99])}]
    for g, panel in enumerate(PANELS):
        if panel == "G1":
            continue
        for a, alpha in enumerate(alphas):
            rows += _panel_runs(inst, panel, alpha, base + [1 + g, a], base + [99],
                                SWEEP_POLICIES)
    hsf_cost = rows[0]["total_latency"]
    for r in rows:
        r["reference"] = hsf_cost
        try:   # raises when a policy beats a proven optimum: the models disagree
            RatioReport(r["total_latency"], float(opt.objective), opt.bound, proven)
        except ValueError as exc:
            raise KvoptError(f"{inst.name}: {r['policy']}: {exc}") from None
    head = {"track": "opt", "trace": trace, "scale": n, "seed": seed, "num_requests": n,
            "memory": inst.memory, "opt_status": opt.status.value,
            "opt_objective": float(opt.objective), "opt_bound": opt.bound,
            "opt_seconds": round(opt.runtime_s, 3)}
    return {"rows": [{**head, **r} for r in rows]}


# ---------------------------------------------------------------------------------- main
def _jobs(config: SweepConfig, traces_dir: Path) -> list[tuple[str, dict[str, Any], Job]]:
    """``(record key, identity, job)`` of every cell."""
    out = []
    for trace in config.traces:
        for scale in config.scales:
            for seed in range(config.seeds):
                key = f"cells/theory-{trace}-c{scale}-s{seed}"
                evict = seed < config.evict_seeds
                ident = {"format": RECORD_FORMAT, "track": "theory", "trace": trace,
                         "scale": scale, "seed": seed, "num_requests": config.num_requests,
                         "alphas": list(config.alphas), "evict_orders": evict}
                out.append((key, ident, Job(key, theory_cell, (
                    trace, scale, seed, config.num_requests, config.alphas, str(traces_dir),
                    evict))))
        for n in config.opt_sizes:
            for seed in range(config.opt_seeds):
                key = f"cells/opt-{trace}-n{n}-s{seed}"
                ident = {"format": RECORD_FORMAT, "track": "opt", "trace": trace, "n": n,
                         "seed": seed, "alphas": list(config.alphas),
                         "time_limit_s": config.opt_time_limit_s, "backend": config.backend}
                out.append((key, ident, Job(key, opt_cell, (
                    trace, n, seed, config.alphas, str(traces_dir), config.opt_time_limit_s,
                    config.backend))))
    return out


def run_sweep(config: SweepConfig, out: Path, *, workers: int = 1,
              traces_dir: Path = TRACES_DIR, progress: bool = False
              ) -> tuple[list[dict[str, Any]], list[str]]:
    """Run (or reuse) every cell; return all rows and the failures, one line each."""
    store = RecordStore(out)
    records: dict[str, dict[str, Any]] = {}
    jobs = []
    idents = {}
    for key, ident, job in _jobs(config, traces_dir):
        idents[key] = ident
        if (stored := store.load(key, ident)) is not None:
            records[key] = stored
        else:
            jobs.append(job)

    def save(job: Job, value: dict[str, Any]) -> None:
        record = {**idents[job.label], **value}
        store.save(job.label, record)
        records[job.label] = record

    failed = execute(jobs, save, workers=workers, progress=progress, unit="cell",
                     desc="intervals")
    rows = [row for key in idents if key in records for row in records[key]["rows"]]
    return rows, [f"{job.label}: {err}" for job, err in failed]


def _floats(text: str, name: str, parser: argparse.ArgumentParser) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        parser.error(f"{name} must be comma-separated numbers, got {text!r}")
        raise  # unreachable: parser.error exits


def main(argv: Sequence[str] | None = None) -> int:
    parser = ExperimentParser(prog="python -m kvopt.experiments.intervals",
                              description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--traces", default="sharegpt",
                        help=f"comma-separated, from {', '.join(TRACES)} (default sharegpt)")
    parser.add_argument("--scales", default="50,100,200", help="theory track: c in M = c(s + "
                        "median o), comma-separated (default 50,100,200)")
    parser.add_argument("--seeds", type=int, default=5, help="theory-track seeds (default 5)")
    parser.add_argument("--evict-seeds", type=int, default=1,
                        help="theory-track seeds that also run the A_min eviction orders "
                             "(default 1: seed 0)")
    parser.add_argument("--num-requests", type=int, default=2000, help="theory-track n")
    parser.add_argument("--alphas", default=",".join(f"{a:g}" for a in ALPHAS))
    parser.add_argument("--opt-sizes", default="6,8,10", help="OPT-track n, comma-separated; "
                        "'' skips the track")
    parser.add_argument("--opt-seeds", type=int, default=5)
    parser.add_argument("--opt-time-limit", type=float, default=30.0,
                        help="seconds per hindsight solve (default 30)")
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    parser.add_argument("--traces-dir", type=Path, default=TRACES_DIR)
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_checked(argv)
    traces = tuple(t.strip() for t in args.traces.split(",") if t.strip())
    if bad := [t for t in traces if t not in TRACES]:
        parser.error(f"unknown trace {bad[0]!r}; choose from {', '.join(TRACES)}")
    alphas = _floats(args.alphas, "--alphas", parser)
    if not alphas or any(not 0 < a <= 1 for a in alphas):
        parser.error("--alphas must be numbers in (0, 1]")
    scales = tuple(int(x) for x in _floats(args.scales, "--scales", parser))
    sizes = tuple(int(x) for x in _floats(args.opt_sizes, "--opt-sizes", parser))
    if min((args.seeds, args.opt_seeds, args.num_requests, *scales, *sizes),
           default=1) < 1 or args.opt_time_limit <= 0:
        parser.error("seeds, sizes and scales must be positive integers and "
                     "--opt-time-limit a positive number")
    for trace in traces:
        if not (args.traces_dir / TRACES[trace]).is_file():
            parser.error(f"{args.traces_dir / TRACES[trace]}: no such trace file")
    if args.evict_seeds < 0:
        parser.error("--evict-seeds must be at least 0")
    config = SweepConfig(traces, scales, args.seeds, args.evict_seeds, args.num_requests,
                         alphas, sizes, args.opt_seeds, args.opt_time_limit)
    from kvopt.experiments.intervals_report import write_report
    from kvopt.show_versions import versions

    t0 = time.perf_counter()
    rows, failures = run_sweep(config, args.out, workers=args.workers,
                               traces_dir=args.traces_dir, progress=True)
    wall = time.perf_counter() - t0
    write_csv_atomic(args.out / "rows.csv", rows, columns=COLUMNS)
    write_json_atomic(args.out / "config.json", {"config": config.to_dict(),
                                                  "wall_seconds": round(wall, 1),
                                                  "versions": versions()}, indent=1)
    text = write_report(rows, config, args.out, wall_s=wall, plots=not args.no_plots)
    write_text_atomic(args.out / "report.md", text)
    print(text)
    for line in failures:
        print("error: " + " ".join(line.split()), file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
