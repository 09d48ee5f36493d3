"""Simulator scale benchmark (not a test): MC-SF and FCFS on 10k, 100k and 1M requests.

Lengths are resampled (seeded) from the Azure 2023 conversation trace; arrivals are Poisson in
rounds at ``RATE_PER_ROUND`` requests per round at ``M = 16,492`` (scaled with ``M`` for the
larger memory), which keeps both policies loaded (about 95% of their throughput of about 0.058
requests per round at ``M = 16,492``) but stable. Each run is one fresh process, so its peak RSS
(``ru_maxrss``, taken after the simulation and again after ``verify``) is its own. The 10k
instance also runs through the plain per-round reference loop (:mod:`kvopt.sim.reference`) for
the speed ratio. Every schedule passes ``verify``.

Usage: ``python benchmarks/sim_scale.py [--sizes 10000 100000 1000000] [--no-reference]``
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

TRACE = (Path(__file__).resolve().parents[2]
         / "shared/traces/azure_llm_2023/AzureLLMInferenceTrace_conv.csv")
MEMORIES = (16_492, 65_968)        # the paper's M, and 4x
RATE_PER_ROUND = 0.055             # at M = 16,492; scaled linearly with M
SEED = 20260101


def make_instance(num_requests: int, memory: int, seed: int = SEED):
    from kvopt.instance import Instance
    from kvopt.read import read_trace_columns

    cols = read_trace_columns(TRACE)
    rng = np.random.default_rng(seed)
    fits = np.flatnonzero(cols["prompt"] + cols["output"] <= memory)
    pick = rng.choice(fits, size=num_requests, replace=True)
    rate = RATE_PER_ROUND * memory / MEMORIES[0]
    arrival = np.floor(np.cumsum(rng.exponential(1.0 / rate, size=num_requests))).astype(np.int64)
    return Instance(memory, arrival, cols["prompt"][pick], cols["output"][pick],
                    name=f"azure-conv-n{num_requests}-M{memory}")


def one_run(num_requests: int, memory: int, policy: str, engine: str) -> dict:
    """Run in this process; return the figures (wall seconds cover the simulation only)."""
    from kvopt.policies import POLICIES
    from kvopt.sim.engine import run
    from kvopt.sim.reference import simulate_reference
    from kvopt.verify import verify

    inst = make_instance(num_requests, memory)
    t0 = time.perf_counter()
    if engine == "engine":
        result = run(inst, POLICIES[policy]())
        schedule, calls = result.schedule, result.num_decisions
    else:
        schedule, calls = simulate_reference(inst, POLICIES[policy]()), None
    wall_s = time.perf_counter() - t0
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ev = verify(inst, schedule)   # its per-round memory profile can exceed the simulation's peak
    peak_verify_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"n": num_requests, "M": memory, "policy": policy, "engine": engine,
            "wall_s": wall_s, "req_per_s": num_requests / wall_s, "peak_rss_mib": peak_mib,
            "peak_rss_with_verify_mib": peak_verify_mib,
            "policy_calls": calls, "last_round": int(ev.completion.max()),
            "avg_latency_rounds": ev.average_latency, "clearings": ev.num_clearings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--one", nargs=4, metavar=("N", "M", "POLICY", "ENGINE"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        n, m, pol, eng = args.one
        print(json.dumps(one_run(int(n), int(m), pol, eng)))
        return
    jobs = [(n, m, pol, "engine") for m in MEMORIES for n in args.sizes for pol in ("mcsf", "fcfs")]
    if not args.no_reference:
        small = min(args.sizes)
        jobs += [(small, MEMORIES[0], pol, "reference") for pol in ("mcsf", "fcfs")]
    rows = []
    for job in jobs:
        out = subprocess.run([sys.executable, __file__, "--one", *map(str, job)],
                             check=True, capture_output=True, text=True)
        rows.append(json.loads(out.stdout))
        r = rows[-1]
        print(f"  done {r['engine']:9s} {r['policy']:5s} n={r['n']:>9,} M={r['M']:>6,}: "
              f"{r['wall_s']:8.2f} s", file=sys.stderr, flush=True)
    head = (f"{'engine':9s} {'policy':6s} {'n':>9s} {'M':>6s} {'wall s':>8s} {'req/s':>10s} "
            f"{'peak MiB':>8s} {'+verify':>8s} {'calls':>9s} {'avg lat':>8s} {'clearings':>9s}")
    print(head)
    print("-" * len(head))
    for r in rows:
        calls = "-" if r["policy_calls"] is None else f"{r['policy_calls']:,}"
        print(f"{r['engine']:9s} {r['policy']:6s} {r['n']:>9,} {r['M']:>6,} {r['wall_s']:8.2f} "
              f"{r['req_per_s']:>10,.0f} {r['peak_rss_mib']:8.0f} "
              f"{r['peak_rss_with_verify_mib']:8.0f} {calls:>9s} "
              f"{r['avg_latency_rounds']:8.1f} {r['clearings']:>9,}")
    for pol in ("mcsf", "fcfs"):
        ref = [r for r in rows if r["engine"] == "reference" and r["policy"] == pol]
        fast = [r for r in rows if r["engine"] == "engine" and r["policy"] == pol
                and ref and r["n"] == ref[0]["n"] and r["M"] == ref[0]["M"]]
        if ref and fast:
            print(f"speed-up over the per-round loop, {pol}, n = {ref[0]['n']:,}: "
                  f"{ref[0]['wall_s'] / fast[0]['wall_s']:.0f}x")


if __name__ == "__main__":
    main()
