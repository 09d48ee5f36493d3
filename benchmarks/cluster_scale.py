"""Wall time and peak memory of the cluster simulator at scale (not a test).

Issue 29's target: 1M requests over 8 replicas within 120 s and 4 GB on 2 cores. The workload:
Poisson arrivals at ``--rate`` requests/s (default 20, about 60% KV usage on 8 replicas of
Llama-2-13B on A100), lengths drawn from the Azure 2023 conversation trace with
``prompt + output <= 4096`` (a lognormal stand-in when ``../shared/traces`` is absent), seed 0.
The run keeps no iteration log (``record=False``): the verifier is not run at this size, so the
figures are timings only; the run's P99 TTFT and throughput are printed as a sanity check.
The machine is often shared: besides wall time the script prints the simulation's CPU time
(``time.process_time``, less sensitive to other load) and the 1-minute load average before and
after the run. ``--plain`` turns the fast path off (the reference loop).

Usage: ``python benchmarks/cluster_scale.py [--requests 1000000] [--replicas 8]
[--handler recompute] [--rate 20] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

from kvopt.cluster import ClusterConfig, Workload, simulate_cluster

TRACE = (Path(__file__).resolve().parents[2]
         / "shared/traces/azure_llm_2023/AzureLLMInferenceTrace_conv.csv")


def workload(n: int, rate: float, seed: int) -> Workload:
    rng = np.random.default_rng(seed)
    if TRACE.exists():
        from kvopt.read import read_trace_columns

        cols = read_trace_columns(TRACE)
        keep = cols["prompt"] + cols["output"] <= 4096
        rows = rng.integers(0, int(keep.sum()), n)
        prompt, output = cols["prompt"][keep][rows], cols["output"][keep][rows]
    else:
        prompt = np.clip(rng.lognormal(6.8, 0.7, n).astype(np.int64), 1, 3500)
        output = np.clip(rng.lognormal(4.9, 1.0, n).astype(np.int64), 1, 4096 - prompt)
    return Workload(np.cumsum(rng.exponential(1.0 / rate, n)), prompt, output)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=1_000_000)
    ap.add_argument("--replicas", type=int, default=8)
    ap.add_argument("--handler", default="recompute")
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--plain", action="store_true", help="the plain loop (no fast path)")
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    w = workload(args.requests, args.rate, 0)
    t1 = time.perf_counter()
    c1 = time.process_time()
    res = simulate_cluster(w, ClusterConfig(num_replicas=args.replicas, handler=args.handler,
                                            record=False, fast=not args.plain))
    c2 = time.process_time()
    t2 = time.perf_counter()
    assert not isinstance(res, tuple)
    summary = res.summary()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {"requests": args.requests, "replicas": args.replicas, "handler": args.handler,
           "rate": args.rate, "workload_s": round(t1 - t0, 2), "simulate_s": round(t2 - t1, 2),
           "simulate_cpu_s": round(c2 - c1, 2), "fast": not args.plain,
           "load_1min_before": round(load0, 2), "load_1min_after": round(os.getloadavg()[0], 2),
           "peak_rss_mb": round(peak_mb), "output_tokens": int(w.output.sum()),
           "p99_ttft_s": summary["p99_ttft_s"], "preemptions": summary["preemptions"],
           "throughput_tokens_per_s": summary["throughput_tokens_per_s"]}
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
