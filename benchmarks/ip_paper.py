"""Benchmark (not a test): the hindsight integer program on paper-style instances.

For each arrival model (all at round 0; Poisson) and each size (n = 10, 20, and the paper's
n ~ U{40..60} / H ~ U{40..60}), ``--count`` instances (fixed seeds) are solved with a per-instance
time limit. Prints, per instance: model, n, M, backend, status, objective, bound, gap, seconds;
then a summary per (model, size, backend): proven-optimal count, median and max seconds, and the
gap's median, 90th percentile and maximum. Every objective is the verified cost of the returned
schedule.

    python benchmarks/ip_paper.py --count 5 --time-limit 60 --backend highs --backend cpsat
    python benchmarks/ip_paper.py --count 200 --sizes paper --time-limit 600 --backend cpsat \
        --results results/ip_paper_600s.jsonl

With ``--results FILE`` every finished instance is appended to FILE as one JSON line, and a rerun
with the same FILE and settings takes those instances from it instead of solving them again, so
an interrupted run (the 400 instances take hours) loses no finished instance.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from kvopt.generate import synthetic_set
from kvopt.hindsight.incumbents import SERIAL_MOVES
from kvopt.hindsight.solve import solve
from kvopt.result import SolveStatus
from kvopt.verify import verify

SEED = 20260101  # the benchmark's fixed instance seed


def load_results(path: Path | None) -> dict[str, dict]:
    """The rows a previous run appended to ``path``, by key; a last line cut short by an
    interrupt is skipped (its instance is solved again)."""
    done: dict[str, dict] = {}
    if path is not None and path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            done[row["key"]] = row
    return done


def append_result(path: Path | None, row: dict) -> None:
    """Append one finished instance to ``path`` and push it to disk before going on."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--count", type=int, default=5, help="instances per (arrival model, size)")
    p.add_argument("--time-limit", type=float, default=60.0, help="seconds per instance")
    p.add_argument("--backend", action="append",
                   help="highs, cbc, cpsat, search (repeatable; default: highs, cbc, cpsat)")
    p.add_argument("--sizes", default="10,20,paper", help="comma list of n, or 'paper'")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--deadline-seconds", type=float, default=None,
                   help="seconds kept back per instance for the LP with deadline cuts")
    p.add_argument("--serial-moves", type=int, default=SERIAL_MOVES,
                   help=f"serial list-search moves before each solve (default {SERIAL_MOVES})")
    p.add_argument("--no-probing", dest="probing", action="store_false",
                   help="skip the LP probing before HiGHS and CBC (solve's probing=False)")
    p.add_argument("--results", type=Path, default=None,
                   help="append each finished instance to this JSON-lines file; a rerun with "
                        "the same file and settings reuses them")
    args = p.parse_args(argv)
    done = load_results(args.results)
    backends = args.backend or ["highs", "cbc", "cpsat"]
    sizes = [None if s == "paper" else int(s) for s in args.sizes.split(",")]
    print(f"{'model':8} {'n':>3} {'M':>3} {'backend':7} {'status':9} {'objective':>9} "
          f"{'bound':>9} {'gap':>7} {'seconds':>8}")
    summary = []
    for arrivals in ("zero", "poisson"):
        for size in sizes:
            instances = synthetic_set(arrivals, SEED + (size or 0), args.count, num_requests=size)
            for backend in backends:
                rows = []
                for index, inst in enumerate(instances):
                    key = (f"{arrivals}/{size or 'paper'}/{index}/{inst.name}/{backend}/"
                           f"{args.time_limit}/{args.threads}/{args.deadline_seconds}/"
                           f"{args.serial_moves}{'' if args.probing else '/noprobe'}")
                    row = done.get(key)
                    if row is None:
                        t0 = time.perf_counter()
                        res = solve(inst, backend, time_limit_s=args.time_limit,
                                    threads=args.threads,
                                    deadline_time_limit_s=args.deadline_seconds,
                                    serial_moves=args.serial_moves, probing=args.probing)
                        wall = time.perf_counter() - t0
                        assert verify(inst, res.schedule).total_latency == res.objective
                        row = {"key": key, "status": res.status.value,
                               "objective": res.objective, "bound": res.bound,
                               "gap": res.gap, "seconds": wall}
                        append_result(args.results, row)
                    gap = row["gap"] if row["gap"] is not None else float("nan")
                    bound = row["bound"] if row["bound"] is not None else float("nan")
                    rows.append((row["status"], row["seconds"], gap))
                    print(f"{arrivals:8} {inst.num_requests:>3} {inst.memory:>3} {backend:7} "
                          f"{row['status']:9} {row['objective']:>9.0f} {bound:>9.0f} "
                          f"{gap:>7.2%} {row['seconds']:>8.2f}", flush=True)
                proven = sum(s == SolveStatus.OPTIMAL.value for s, _, _ in rows)
                secs = [w for _, w, _ in rows]
                gaps = [g for _, _, g in rows]
                summary.append((arrivals, "paper" if size is None else str(size), backend, proven,
                                len(rows), statistics.median(secs), max(secs),
                                statistics.median(gaps), float(np.quantile(gaps, 0.9)),
                                max(gaps)))
    print("\nsummary")
    print(f"{'model':8} {'size':>5} {'backend':7} {'proven':>7} {'med s':>7} {'max s':>7} "
          f"{'med gap':>8} {'p90 gap':>8} {'max gap':>8}")
    for arrivals, size, backend, proven, count, med, mx, mgap, pgap, xgap in summary:
        print(f"{arrivals:8} {size:>5} {backend:7} {proven:>3}/{count:<3} {med:>7.2f} {mx:>7.2f} "
              f"{mgap:>8.2%} {pgap:>8.2%} {xgap:>8.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
