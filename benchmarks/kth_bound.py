"""Benchmark (not a test): the k-subset makespan bounds and the LP's completion caps.

On the paper-style instances of ``ip_paper.py`` (same seeds), for each arrival model and size,
prints the best schedule found (the best priority list, then ``--moves`` local-search moves),
the best bound without and with the k-th completion bounds (CP-SAT, ``--kth-seconds`` per
instance, :func:`kvopt.hindsight.bounds.deadline.kth_completion_bounds`), the certified gaps and
seconds; then the median and maximum gap per (model, size), before and after. Needs the
``[cpsat]`` extra.

    python benchmarks/kth_bound.py [--count 5] [--sizes 10,12,16,20] [--kth-seconds 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from kvopt.generate import synthetic_set
from kvopt.hindsight.bounds import best_bound
from kvopt.hindsight.incumbents import best_priority_list, local_search

SEED = 20260101  # ip_paper.py's instance seed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--count", type=int, default=5, help="instances per (arrival model, size)")
    p.add_argument("--sizes", default="10,12,16,20", help="comma list of n, or 'paper'")
    p.add_argument("--kth-seconds", type=float, default=20.0)
    p.add_argument("--moves", type=int, default=2000, help="local-search moves for the schedule")
    args = p.parse_args(argv)
    sizes = [None if s == "paper" else int(s) for s in args.sizes.split(",")]
    print(f"{'model':8} {'n':>3} {'M':>3} {'schedule':>9} {'bound':>7} {'gap':>7} {'s':>5} "
          f"{'+kth':>7} {'gap':>7} {'s':>5}  source")
    summary = []
    for arrivals in ("zero", "poisson"):
        for size in sizes:
            before, after = [], []
            for inst in synthetic_set(arrivals, SEED + (size or 0), args.count,
                                      num_requests=size):
                best = min(best_priority_list(inst)[1],
                           local_search(inst, np.random.default_rng(0), time_limit_s=1e9,
                                        max_evaluations=args.moves)[1])
                t0 = time.perf_counter()
                plain = best_bound(inst, upper_bound=best)
                s0 = time.perf_counter() - t0
                t0 = time.perf_counter()
                kth = best_bound(inst, upper_bound=best, kth_time_limit_s=args.kth_seconds)
                s1 = time.perf_counter() - t0
                g0, g1 = (best - plain.value) / best, (best - kth.value) / best
                before.append(g0)
                after.append(g1)
                print(f"{arrivals:8} {inst.num_requests:>3} {inst.memory:>3} {best:>9} "
                      f"{plain.value:>7} {g0:>7.2%} {s0:>5.1f} {kth.value:>7} {g1:>7.2%} "
                      f"{s1:>5.1f}  {kth.source}", flush=True)
            summary.append((arrivals, "paper" if size is None else str(size), before, after))
    print("\nsummary: certified gap of the best schedule found (median / max)")
    print(f"{'model':8} {'size':>5} {'before':>17} {'with k-th bounds':>17}")
    for arrivals, size, before, after in summary:
        print(f"{arrivals:8} {size:>5} {statistics.median(before):>8.2%} / {max(before):>6.2%} "
              f"{statistics.median(after):>8.2%} / {max(after):>6.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
