"""Scale benchmark of the issue-30 policies (not a test): SVF and Sorted-F on up to 1M requests.

The instance is :mod:`sim_scale`'s (lengths resampled, seeded, from the Azure 2023 conversation
trace, whose prompts already vary from 1 to 14,050 tokens; Poisson arrivals in rounds at
``M = 16,492``), with the arrival rate chosen per policy near that policy's own throughput:
0.055 requests per round for MC-SF and SVF (as ``sim_scale.py``: loaded, stable), 0.039 for
Sorted-F, whose one-batch-at-a-time rule serves about 0.041 per round at 0.055 (there its queue
grows without bound, and so does the cost of every batch walk: 10,000 requests take 0.45 s,
100,000 take 53 s on a loaded machine). At 0.039 Sorted-F is close to saturation (its mean
latency still grows with ``n``: 4,409 rounds at 100k, 20,054 at 1M). MC-SF
runs beside them on the same machine as the yardstick. Each run is one fresh process (its own
peak RSS, ``ru_maxrss``, after the simulation and again after ``verify``); every schedule passes
``verify``; wall seconds cover the simulation only. Target (issue 30): 1M requests within 60 s on
two cores.

Usage: ``python benchmarks/new_policies_scale.py [--sizes 100000 1000000] [--policies ...]``
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
MEMORY = 16_492
RATES = {"mcsf": 0.055, "svf": 0.055, "sorted-f": 0.039}   # requests per round
NAMES = {"mcsf": "MC-SF", "svf": "SVF", "sorted-f": "Sorted-F (reconstructed)"}
SEED = 20260101


def make_instance(num_requests: int, rate: float, seed: int = SEED):
    from kvopt.instance import Instance
    from kvopt.read import read_trace_columns

    cols = read_trace_columns(TRACE)
    rng = np.random.default_rng(seed)
    fits = np.flatnonzero(cols["prompt"] + cols["output"] <= MEMORY)
    pick = rng.choice(fits, size=num_requests, replace=True)
    gaps = rng.exponential(1.0 / rate, size=num_requests)
    arrival = np.floor(np.cumsum(gaps)).astype(np.int64)
    return Instance(MEMORY, arrival, cols["prompt"][pick], cols["output"][pick],
                    name=f"azure-conv-n{num_requests}-rate{rate}")


def one_run(num_requests: int, policy: str) -> dict:
    """Run in this process; return the figures."""
    from kvopt.policies import POLICIES
    from kvopt.sim.engine import run
    from kvopt.verify import verify

    inst = make_instance(num_requests, RATES[policy])
    t0 = time.perf_counter()
    result = run(inst, POLICIES[policy]())
    wall_s = time.perf_counter() - t0
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ev = verify(inst, result.schedule)
    peak_verify_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    last = int(ev.completion.max())
    return {"n": num_requests, "policy": policy, "rate": RATES[policy], "wall_s": wall_s,
            "req_per_s": num_requests / wall_s, "peak_rss_mib": peak_mib,
            "peak_rss_with_verify_mib": peak_verify_mib, "policy_calls": result.num_decisions,
            "served_per_round": num_requests / last, "avg_latency_rounds": ev.average_latency,
            "clearings": ev.num_clearings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--policies", nargs="+", default=list(RATES), choices=list(RATES))
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
            print(f"  done {pol} n={n:,}: {rows[-1]['wall_s']:.1f} s", file=sys.stderr,
                  flush=True)
    head = (f"{'policy':25s} {'n':>9s} {'rate':>6s} {'wall s':>8s} {'req/s':>9s} "
            f"{'peak MiB':>8s} {'+verify':>8s} {'calls':>9s} {'served/rd':>9s} {'avg lat':>8s} "
            f"{'clearings':>9s}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{NAMES[r['policy']]:25s} {r['n']:>9,} {r['rate']:6.3f} {r['wall_s']:8.2f} "
              f"{r['req_per_s']:>9,.0f} {r['peak_rss_mib']:8.0f} "
              f"{r['peak_rss_with_verify_mib']:8.0f} {r['policy_calls']:>9,} "
              f"{r['served_per_round']:9.4f} {r['avg_latency_rounds']:8.1f} {r['clearings']:>9,}")


if __name__ == "__main__":
    main()
