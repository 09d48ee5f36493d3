"""Static-batch engine scale benchmark (not a test): 1M requests through Multi-Bin Batching.

Scenarios (each in a fresh process, so its peak RSS, ``ru_maxrss``, is its own):

- ``saturated-uniform``: U[1, 20], B = 128, k = 32, m = 1, saturated (the issue's target setting,
  scaled from 128,000 to ``n`` requests); its capacity must lie within 1% of the closed form;
- ``poisson-lognormal``: the Fig. 6 length model (lognormal, sigma 0.46, mean 43), B = 8, k = 32,
  m = 8, Poisson at 90% of the saturated capacity, symmetric assignment errors p_e = 0.1;
- ``trace-kv-timeout``: Azure 2023 conversation lengths and prompts (rows drawn with
  replacement), B = 16, k = 8, m = 8, Poisson at 90% of capacity, KV limit 16,492 tokens and a
  timeout of 200 steps: the per-batch ``searchsorted`` path of the engine.

Wall seconds are split into drawing the workload, simulating and verifying; the target is the
whole of it under 30 s for 1M requests on 2 cores. The plain event loop
(:mod:`kvopt.bins.reference`) runs the first scenario at 20,000 requests for the speed ratio.

Usage: ``python benchmarks/bins_scale.py [--requests 1000000] [--no-reference]``
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

TRACE = (Path(__file__).resolve().parents[2]
         / "shared/traces/azure_llm_2023/AzureLLMInferenceTrace_conv.csv")
SEED = 20260101
SCENARIOS = ("saturated-uniform", "poisson-lognormal", "trace-kv-timeout")


def _setup(name: str):
    """``(make_workload keywords, EngineConfig, k, B, m)`` of a scenario."""
    from kvopt.bins.edges import Oracle, SymmetricError, bin_edges
    from kvopt.bins.engine import EngineConfig
    from kvopt.bins.lengths import LogNormal, Uniform, parse_lengths
    from kvopt.bins.theory import theory_capacity

    if name == "saturated-uniform":
        k, b, m = 32, 128, 1
        return (dict(lengths=Uniform(1, 20), num_bins=k, arrivals="saturated"),
                EngineConfig(b, servers=m, saturated=True), k, b, m)
    if name == "poisson-lognormal":
        dist, k, b, m, pred = LogNormal.with_mean(43, 0.46), 32, 8, 8, SymmetricError(0.1)
        kv, timeout = None, None
    else:
        dist, k, b, m, pred = parse_lengths(f"trace:{TRACE}"), 8, 16, 8, Oracle()
        kv, timeout = 16_492.0, 200.0
    cap = theory_capacity(dist, bin_edges(dist, k), b, servers=m, confusion=pred.confusion(k))
    kwargs = dict(lengths=dist, num_bins=k, arrivals="poisson", rate=0.9 * cap, predictor=pred)
    return kwargs, EngineConfig(b, servers=m, kv_limit_tokens=kv, timeout_s=timeout), k, b, m


def one_run(name: str, num_requests: int, engine: str) -> dict:
    """Run in this process; return the figures."""
    from kvopt.bins.engine import make_workload, simulate_batches
    from kvopt.bins.reference import simulate_reference
    from kvopt.bins.theory import capacity_uniform
    from kvopt.bins.verify import verify_batches

    kwargs, cfg, k, b, m = _setup(name)
    t0 = time.perf_counter()
    w = make_workload(num_requests=num_requests, seed=SEED, **kwargs)
    t1 = time.perf_counter()
    batches = (simulate_batches if engine == "engine" else simulate_reference)(w, cfg)
    t2 = time.perf_counter()
    ev = verify_batches(w, cfg, batches)
    t3 = time.perf_counter()
    out = {"scenario": name, "engine": engine, "requests": num_requests,
           "workload_s": t1 - t0, "simulate_s": t2 - t1, "verify_s": t3 - t2,
           "total_s": t3 - t0, "peak_rss_mb": resource.getrusage(
               resource.RUSAGE_SELF).ru_maxrss / 1024, "batches": ev.num_batches,
           "capacity": ev.capacity, "mean_latency": ev.mean_latency}
    if name == "saturated-uniform":
        out["closed_form"] = capacity_uniform(k, b, 1, 20, servers=m)
        out["ratio"] = ev.capacity / out["closed_form"]
        assert abs(out["ratio"] - 1) < 0.01, out
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--child", nargs=3, metavar=("SCENARIO", "N", "ENGINE"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(one_run(args.child[0], int(args.child[1]), args.child[2])))
        return 0
    runs = [(s, args.requests, "engine") for s in SCENARIOS]
    if not args.no_reference:
        runs += [("saturated-uniform", 20_000, "engine"), ("saturated-uniform", 20_000,
                                                           "reference")]
    print(f"{'scenario':<20} {'engine':<9} {'requests':>9} {'draw s':>7} {'sim s':>7} "
          f"{'verify s':>8} {'total s':>8} {'peak RSS MB':>11}  capacity")
    for name, n, engine in runs:
        proc = subprocess.run([sys.executable, __file__, "--child", name, str(n), engine],
                              capture_output=True, text=True, check=True)
        r = json.loads(proc.stdout)
        extra = f" (closed form {r['closed_form']:.5g}, ratio {r['ratio']:.4f})" \
            if "ratio" in r else ""
        print(f"{name:<20} {engine:<9} {n:>9,} {r['workload_s']:>7.2f} {r['simulate_s']:>7.3f} "
              f"{r['verify_s']:>8.2f} {r['total_s']:>8.2f} {r['peak_rss_mb']:>11.0f}  "
              f"{r['capacity']:.5g}{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
