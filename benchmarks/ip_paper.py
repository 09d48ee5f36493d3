"""Benchmark (not a test): the hindsight integer program on paper-style instances.

For each arrival model (all at round 0; Poisson) and each size (n = 10, 20, and the paper's
n ~ U{40..60} / H ~ U{40..60}), ``--count`` instances (fixed seeds) are solved with a per-instance
time limit. Prints, per instance: model, n, M, backend, status, objective, bound, gap, seconds;
then a summary per (model, size, backend): proven-optimal count, median and max seconds, and the
gap's median, 90th percentile and maximum. Every objective is the verified cost of the returned
schedule.

    python benchmarks/ip_paper.py --count 5 --time-limit 60 --backend highs --backend cpsat
    python benchmarks/ip_paper.py --count 200 --sizes paper --time-limit 600 --backend cpsat
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from kvopt.generate import synthetic_set
from kvopt.heuristics import SERIAL_MOVES
from kvopt.result import SolveStatus
from kvopt.solve import solve
from kvopt.verify import verify

SEED = 20260101  # the benchmark's fixed instance seed


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
    args = p.parse_args(argv)
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
                for inst in instances:
                    t0 = time.perf_counter()
                    res = solve(inst, backend, time_limit_s=args.time_limit, threads=args.threads,
                                deadline_time_limit_s=args.deadline_seconds,
                                serial_moves=args.serial_moves)
                    wall = time.perf_counter() - t0
                    assert verify(inst, res.schedule).total_latency == res.objective
                    gap = res.gap if res.gap is not None else float("nan")
                    rows.append((res.status, wall, gap))
                    print(f"{arrivals:8} {inst.num_requests:>3} {inst.memory:>3} {backend:7} "
                          f"{res.status.value:9} {res.objective:>9.0f} "
                          f"{res.bound if res.bound is not None else float('nan'):>9.0f} "
                          f"{gap:>7.2%} {wall:>8.2f}", flush=True)
                proven = sum(s is SolveStatus.OPTIMAL for s, _, _ in rows)
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
