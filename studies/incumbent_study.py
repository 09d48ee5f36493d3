"""Study (not a benchmark, not a test): were the paper's "optima" time-limited solver incumbents?

The paper reports MC-SF exactly optimal on 114 of its 200 round-0 instances (mean ratio 1.005,
worst 1.074), while on kvopt's 400 paper-style instances a verified schedule better than MC-SF's
is found every time (``docs/results.md``, "The paper's synthetic experiment"). Hypothesis: the
paper's hindsight "optimum" was what a solver returned at a time limit, often MC-SF's own
schedule. This study asks what a plain solver returns.

Per instance of the synthetic experiment (:func:`kvopt.generate.synthetic_set` with the seeds of
:data:`kvopt.experiments.synthetic.SEEDS`, instance ``j`` = the j-th stream, as the experiment
generates them): MC-SF's schedule (:func:`kvopt.sim.engine.simulate`, verified); the paper's plain
integer program (:func:`kvopt.hindsight.milp.formulation.build` with no upper bound and no
symmetry rows); one solve by a kvopt backend (HiGHS or CBC) warm-started from MC-SF's columns
(:func:`kvopt.hindsight.milp.decode.encode`), one thread, seed 0, ``mip_rel_gap`` 0, a wall-clock
time limit. No local search, no kvopt bounds, not :func:`kvopt.hindsight.solve.solve`. The
returned schedule is decoded and verified (:func:`kvopt.verify.verify`); its verified total
latency must equal the solver's objective.

Each finished (instance, backend, limit) appends one JSON line to ``--results`` (the machine's
load average included: limits are wall-clock); a rerun skips the finished ones, so a long run
resumes. The summary gives, per arrival model x backend x limit: how often the returned schedule
is MC-SF's own value, how often and by how much it is better, and the "ratio" a paper would have
printed (MC-SF cost / returned objective: mean, worst, number exactly 1).

    python studies/incumbent_study.py --model zero --backends highs --limits 10 --count 200
    python studies/incumbent_study.py --model zero --backends highs --limits 600 --count 40
    python studies/incumbent_study.py ... --shard 0/2 &    # two processes, one core each
    python studies/incumbent_study.py ... --shard 1/2
    python studies/incumbent_study.py --summary          # only reads the results, Markdown
"""

from __future__ import annotations

import argparse
import fcntl
import json
import math
import os
import resource
import statistics
import sys
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from kvopt.experiments.synthetic import PAPER, SEEDS
from kvopt.generate import synthetic_set
from kvopt.hindsight.milp.backends import get_backend, is_instance_backend
from kvopt.hindsight.milp.decode import decode, encode
from kvopt.hindsight.milp.formulation import build
from kvopt.instance import Instance
from kvopt.policies import POLICIES
from kvopt.show_versions import versions
from kvopt.sim.engine import simulate
from kvopt.verify import verify

DEFAULT_RESULTS = Path(__file__).parent / "results" / "incumbent_study.jsonl"
RECORD_FORMAT = 1
THREADS = 1
SEED = 0
BACKEND_NAMES = {"highs": "HiGHS", "cbc": "CBC"}
MODEL_NAMES = {"zero": "all at round 0", "poisson": "Poisson"}


def key_of(record: dict[str, Any]) -> tuple[str, str, float]:
    """What identifies a finished entry: (instance, backend, time limit)."""
    return record["instance"], record["backend"], float(record["time_limit_s"])


def load_records(path: Path) -> list[dict[str, Any]]:
    """Every complete record of the results file (a line cut off by a kill is skipped)."""
    if not path.exists():
        return []
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            print(f"{path}:{n}: skipping an incomplete line", file=sys.stderr)
    return out


def append_record(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line and flush it to disk (after a newline if a killed run left a part),
    under an exclusive lock, so that shards (``--shard``) may share one file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.seek(0, os.SEEK_END)
        if fh.tell() > 0:
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) != b"\n":
                fh.write(b"\n")
        fh.write((json.dumps(record, sort_keys=True) + "\n").encode("utf-8"))
        fh.flush()
        os.fsync(fh.fileno())


def _cpu_s() -> float:
    """CPU seconds of this process and its finished children (CBC runs as a child)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def mcsf_schedule(instance: Instance):
    """MC-SF's schedule (exact predictions; MC-SF draws no random numbers)."""
    spec = POLICIES["mcsf"]
    return simulate(instance, spec(), rng=np.random.default_rng(SEED), predicted=spec.predictions)


def solve_one(instance: Instance, model_name: str, backend_name: str, time_limit_s: float,
              *, env: dict[str, str] | None = None) -> dict[str, Any]:
    """One warm-started solve of the plain integer program; the record of what it returned."""
    mcsf = mcsf_schedule(instance)
    mcsf_cost = verify(instance, mcsf).total_latency
    t0 = time.perf_counter()
    model = build(instance, upper_bound=None, symmetry=False)
    warm = encode(model, mcsf.final_starts())
    if warm is None:
        raise RuntimeError(f"{instance.name}: MC-SF's schedule lies outside the model's windows")
    build_s = time.perf_counter() - t0
    backend = get_backend(backend_name)
    if is_instance_backend(backend):
        raise ValueError(f"backend {backend_name!r} does not solve the integer program")
    load_before = os.getloadavg()
    t1 = time.perf_counter()
    cpu1 = _cpu_s()
    raw = backend.solve(model, time_limit_s=time_limit_s, mip_rel_gap=0.0, warm_start=warm,
                        threads=THREADS, seed=SEED)
    solve_s = time.perf_counter() - t1
    cpu_s = _cpu_s() - cpu1
    load_after = os.getloadavg()
    returned_cost: int | None = None
    if raw.col_value is not None:
        returned_cost = verify(instance, decode(instance, model, raw.col_value)).total_latency
        if raw.objective is None or abs(raw.objective - returned_cost) > 1e-6 * returned_cost:
            raise RuntimeError(f"{instance.name}: {backend_name} objective {raw.objective} "
                               f"differs from the verified total latency {returned_cost}")
    status = ("optimal" if raw.proven and returned_cost is not None else
              "feasible" if returned_cost is not None else
              "error" if raw.failed else "no solution")
    bound = raw.bound
    gap = (None if returned_cost is None or bound is None
           else (returned_cost - bound) / returned_cost)
    return {
        "format": RECORD_FORMAT,
        "instance": instance.name,
        "model": model_name,
        "backend": backend_name,
        "time_limit_s": float(time_limit_s),
        "threads": THREADS,
        "seed": SEED,
        "num_requests": instance.num_requests,
        "memory": int(instance.memory),
        "sum_outputs": int(instance.output.sum()),  # the trivial bound: every wait 0
        "num_cols": model.num_cols,
        "num_rows": model.num_rows,
        "num_nonzeros": model.num_nonzeros,
        "mcsf_cost": mcsf_cost,
        "returned_cost": returned_cost,
        "solver_objective": raw.objective,
        "status": status,
        "backend_status": raw.backend_status,
        "failed": bool(raw.failed),
        "bound": bound,
        "gap": gap,
        "equal_mcsf": returned_cost == mcsf_cost,
        "better_than_mcsf": returned_cost is not None and returned_cost < mcsf_cost,
        "ratio": None if returned_cost is None else mcsf_cost / returned_cost,
        "build_s": round(build_s, 3),
        "solve_s": round(solve_s, 3),
        "solve_cpu_s": round(cpu_s, 3),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in load_after],
        "finished_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "versions": env or {},
    }


def run_study(tasks: Iterable[tuple[Instance, str, str, float]], results: Path, *,
              env: dict[str, str] | None = None, log=print) -> tuple[int, int]:
    """Solve every (instance, model, backend, limit) not yet in ``results``, appending each
    record as it finishes. Returns (number solved now, number skipped as finished)."""
    done = {key_of(r) for r in load_records(results)}
    solved = skipped = 0
    for instance, model_name, backend_name, limit in tasks:
        if (instance.name, backend_name, float(limit)) in done:
            skipped += 1
            continue
        rec = solve_one(instance, model_name, backend_name, limit, env=env)
        append_record(results, rec)
        done.add(key_of(rec))
        solved += 1
        gap = "-" if rec["gap"] is None else f"{100 * rec['gap']:.1f}%"
        log(f"{rec['instance']} {backend_name} {limit:g}s: MC-SF {rec['mcsf_cost']}, returned "
            f"{rec['returned_cost']} ({rec['status']}, gap {gap}), {rec['solve_s']:.1f}s, "
            f"load {rec['loadavg_after'][0]:.2f}")
    return solved, skipped


def _median(xs: Sequence[float]) -> float | None:
    return statistics.median(xs) if xs else None


def summarise(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (arrival model, backend, limit), in the order models, backends, limits."""
    groups: dict[tuple[str, str, float], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["model"], r["backend"], float(r["time_limit_s"])), []).append(r)
    order = {m: i for i, m in enumerate(MODEL_NAMES)}
    rows = []
    for (model, backend, limit), recs in sorted(
            groups.items(), key=lambda kv: (order.get(kv[0][0], 9), kv[0][1], kv[0][2])):
        with_sched = [r for r in recs if r["returned_cost"] is not None]
        ratios = [r["ratio"] for r in with_sched]
        better = [1 - r["returned_cost"] / r["mcsf_cost"] for r in with_sched
                  if r["better_than_mcsf"]]
        gaps = [r["gap"] for r in with_sched if r["gap"] is not None]
        rows.append({
            "model": model, "backend": backend, "time_limit_s": limit,
            "instances": len(recs),
            "returned": len(with_sched),
            "equal_mcsf": sum(r["equal_mcsf"] for r in recs),
            "better": len(better),
            "better_mean": statistics.fmean(better) if better else None,
            "better_max": max(better) if better else None,
            "ratio_mean": statistics.fmean(ratios) if ratios else None,
            "ratio_worst": max(ratios) if ratios else None,
            "ratio_exactly_1": sum(x == 1.0 for x in ratios),
            "proven": sum(r["status"] == "optimal" for r in recs),
            "statuses": dict(sorted(_count(r["status"] for r in recs).items())),
            "gap_median": _median(gaps),
            "gap_min": min(gaps) if gaps else None,
            "no_bound": sum(r["gap"] is None for r in recs),
            "solve_s_median": _median([r["solve_s"] for r in recs]),
            "solve_s_max": max(r["solve_s"] for r in recs),
            "cpu_s_median": _median([r["solve_cpu_s"] for r in recs if "solve_cpu_s" in r]),
            "load_mean": statistics.fmean(r["loadavg_after"][0] for r in recs),
            "load_max": max(r["loadavg_after"][0] for r in recs),
        })
    return rows


def _count(items: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return out


def _f(x: float | None, fmt: str) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The two tables: what the solver returned, and the ratios a paper would have printed."""
    lines = [
        "| arrival model | solver, limit | instances | returned = MC-SF | better than MC-SF "
        "| better by (mean / max) | no schedule | proven optimal | median gap "
        "| median s (wall / CPU) | load (mean / max) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        n = r["instances"]
        lines.append(
            f"| {MODEL_NAMES.get(r['model'], r['model'])} | "
            f"{BACKEND_NAMES.get(r['backend'], r['backend'])}, {r['time_limit_s']:g} s | {n} | "
            f"{r['equal_mcsf']} of {n} | {r['better']} of {n} | "
            f"{_pct(r['better_mean'])} / {_pct(r['better_max'])} | {n - r['returned']} | "
            f"{r['proven']} | "
            f"{_pct(r['gap_median'])} | {_f(r['solve_s_median'], '.1f')} / "
            f"{_f(r['cpu_s_median'], '.1f')} | "
            f"{r['load_mean']:.2f} / {r['load_max']:.2f} |")
    lines += [
        "",
        "| arrival model | solver, limit | \"ratio\" mean | worst | exactly 1 "
        "| paper: mean / worst / exactly optimal |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        p = PAPER.get(r["model"], {})
        exact = "-" if p.get("exactly_optimal") is None else \
            f"{p['exactly_optimal']} of {p['count']}"
        paper = f"{p['mean']:.3f} / {p['worst']:.3f} / {exact}" if p else "-"
        lines.append(
            f"| {MODEL_NAMES.get(r['model'], r['model'])} | "
            f"{BACKEND_NAMES.get(r['backend'], r['backend'])}, {r['time_limit_s']:g} s | "
            f"{_f(r['ratio_mean'], '.3f')} | {_f(r['ratio_worst'], '.3f')} | "
            f"{r['ratio_exactly_1']} of {r['returned']} | {paper} |")
    return "\n".join(lines) + "\n"


def tasks_for(model: str, count: int, backends: Sequence[str], limits: Sequence[float],
              shard: tuple[int, int] = (0, 1)):
    """Limits outer, then backends, then instances in order (the first ``count``); with
    ``shard = (k, n)`` only the instances ``j`` with ``j % n == k``, so that ``n`` processes
    can share the work (and the results file) without overlap."""
    insts = synthetic_set(model, SEEDS[model], count)  # type: ignore[arg-type]
    k, n = shard
    for limit in limits:
        for backend in backends:
            for j, inst in enumerate(insts):
                if j % n == k:
                    yield inst, model, backend, limit


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="studies/incumbent_study.py",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--limits", default="10",
                        help="comma-separated time limits in seconds (default 10)")
    parser.add_argument("--backends", default="highs",
                        help="comma-separated backends: highs, cbc (default highs)")
    parser.add_argument("--count", type=int, default=200,
                        help="the first COUNT instances of the arrival model (default 200)")
    parser.add_argument("--model", choices=sorted(SEEDS), default="zero",
                        help="arrival model (default zero: all at round 0)")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS,
                        help=f"JSON-lines results file (default {DEFAULT_RESULTS})")
    parser.add_argument("--shard", default="0/1", metavar="K/N",
                        help="only the instances j with j %% N == K (default 0/1: all); run "
                             "N processes with K = 0..N-1 to use N cores")
    parser.add_argument("--summary", action="store_true",
                        help="only read the results file and print the tables in Markdown")
    args = parser.parse_args(argv)
    if args.summary:
        records = load_records(args.results)
        if not records:
            print(f"{args.results}: no records", file=sys.stderr)
            return 2
        print(markdown(summarise(records)), end="")
        return 0
    try:
        limits = [float(x) for x in args.limits.split(",")]
    except ValueError:
        parser.error(f"--limits: not a comma-separated list of numbers: {args.limits!r}")
    if any(not (x > 0 and math.isfinite(x)) for x in limits):
        parser.error(f"--limits: every limit must be positive, got {args.limits!r}")
    backends = args.backends.split(",")
    if bad := [b for b in backends if b not in BACKEND_NAMES]:
        parser.error(f"--backends: unknown backend {bad[0]!r}; choose from highs, cbc")
    if args.count < 1:
        parser.error(f"--count must be at least 1, got {args.count}")
    try:
        k, n = (int(x) for x in args.shard.split("/"))
    except ValueError:
        parser.error(f"--shard: expected K/N, e.g. 0/2, got {args.shard!r}")
    if not (n >= 1 and 0 <= k < n):
        parser.error(f"--shard: need N >= 1 and 0 <= K < N, got {args.shard!r}")
    env = {k: v for k, v in versions().items() if k in ("kvopt", "highspy", "pulp", "cbc")}
    solved, skipped = run_study(tasks_for(args.model, args.count, backends, limits, (k, n)),
                                args.results, env=env, log=lambda s: print(s, flush=True))
    print(f"{solved} solved, {skipped} already in {args.results}", file=sys.stderr)
    print(markdown(summarise(load_records(args.results))), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
