"""A_min at scale (not a test): 1M requests with G3 interval predictions, wall time and peak memory.

The instance is ``benchmarks/sim_scale.py``'s: lengths resampled (seeded) from the Azure 2023
conversation trace, Poisson arrivals in rounds at 0.055 requests per round at ``M = 16,492``
(about 95% of MC-SF's throughput with exact predictions). The environment gives G3 intervals,
``alpha = 0.25``, ``uniform`` placement (:class:`kvopt.sim.intervals.IntervalPredictions`), drawn
before the run. Each policy runs in a fresh process, so its peak RSS (``ru_maxrss``: after the
simulation, and again after :func:`kvopt.verify.verify`) is its own; the wall time covers the
simulation only (drawing the intervals and verifying are reported apart), beside the process's
CPU seconds and the load average (the machine is shared: wall time under load says little).
Every schedule passes
``verify``. Target (issue 27): A_min on 1M requests within 60 s and 2 GB on 2 cores.

Usage: ``python benchmarks/amin_scale.py [--sizes 100000 1000000] [--policies amin amax hsf]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sim_scale import MEMORIES, make_instance  # noqa: E402

ALPHA = 0.25
SEED = 20260101


def one_run(num_requests: int, policy: str) -> dict:
    """Run in this process; return the figures."""
    from kvopt.policies import POLICIES
    from kvopt.sim.engine import run
    from kvopt.sim.intervals import IntervalPredictions
    from kvopt.verify import verify

    inst = make_instance(num_requests, MEMORIES[0])
    spec = POLICIES[policy]
    t0 = time.perf_counter()
    preds = (spec.predictions or IntervalPredictions(ALPHA, "g3")).predict(
        inst, np.random.default_rng(SEED))
    t1, c1 = time.perf_counter(), time.process_time()
    result = run(inst, spec(), rng=np.random.default_rng(SEED + 1), predicted=preds)
    wall_s, cpu_s = time.perf_counter() - t1, time.process_time() - c1
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t2 = time.perf_counter()
    ev = verify(inst, result.schedule)
    verify_s = time.perf_counter() - t2
    return {"n": num_requests, "M": inst.memory, "policy": policy, "wall_s": wall_s,
            "cpu_s": cpu_s, "load_average": round(os.getloadavg()[0], 2),
            "predict_s": t1 - t0, "verify_s": verify_s, "peak_rss_mib": peak_mib,
            "peak_rss_with_verify_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "policy_calls": result.num_decisions, "avg_latency_rounds": ev.average_latency,
            "evictions": ev.num_clearings, "wasted_tokens": ev.wasted_tokens,
            "last_round": int(ev.completion.max())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--policies", nargs="+", default=["amin", "amax", "hsf"])
    parser.add_argument("--one", nargs=2, metavar=("N", "POLICY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_run(int(args.one[0]), args.one[1])))
        return
    rows = []
    for n in args.sizes:
        for pol in args.policies:
            out = subprocess.run([sys.executable, __file__, "--one", str(n), pol],
                                 check=True, capture_output=True, text=True)
            rows.append(json.loads(out.stdout))
            print(f"  done {pol:5s} n={n:>9,}: {rows[-1]['wall_s']:8.2f} s", file=sys.stderr,
                  flush=True)
    head = (f"{'policy':6s} {'n':>9s} {'wall s':>7s} {'cpu s':>7s} {'load':>5s} "
            f"{'predict s':>9s} {'verify s':>8s} "
            f"{'peak MiB':>8s} {'+verify':>8s} {'calls':>9s} {'avg lat':>8s} {'evictions':>9s} "
            f"{'wasted/req':>10s}")
    print(f"G3 intervals, alpha {ALPHA}, uniform placement; Azure conv lengths, Poisson arrivals, "
          f"M = {MEMORIES[0]:,}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['policy']:6s} {r['n']:>9,} {r['wall_s']:7.2f} {r['cpu_s']:7.2f} "
              f"{r['load_average']:5.2f} {r['predict_s']:9.2f} "
              f"{r['verify_s']:8.2f} {r['peak_rss_mib']:8.0f} {r['peak_rss_with_verify_mib']:8.0f} "
              f"{r['policy_calls']:>9,} {r['avg_latency_rounds']:8.1f} {r['evictions']:>9,} "
              f"{r['wasted_tokens'] / r['n']:10.2f}")


if __name__ == "__main__":
    main()
