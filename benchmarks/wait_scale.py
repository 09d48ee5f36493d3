"""Scale benchmark (not a test): WAIT, Nested WAIT, vLLM and Sarathi on 1M requests in seconds.

Workload: the two-type mix 0.7 p512d20 + 0.3 p512d50 (``specs/fluid-wait.md`` section 7), Poisson
at ``RATE`` req/s (fluid load 0.84 under the spec's A100 time model, stable), ``M = 137,000``,
on :func:`kvopt.sim.timed.simulate_timed` with the two-slope A100 model of
:mod:`kvopt.experiments.fluid`. WAIT runs with cap 40, Nested WAIT with cap 80 and segments
``[20, 50]`` at 0.7 / 0.3 (``n_1 = 3``; at cap 40, ``n_1 = 1`` cannot keep up at this rate).
Sarathi (approximation: one p512 start per round) cannot keep up either: its queue grows, and
its figures measure speed only. Each run is one fresh process, so its
peak RSS (``ru_maxrss``, after the simulation and again after ``verify``) is its own; wall
and CPU seconds are both printed (the machine is shared). Target: 120 s per policy on 1M
requests (2 cores).

Usage: ``python benchmarks/wait_scale.py [--sizes 100000 1000000] [--policies wait ...]``
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

RATE = 20.0
SEED = 20260101
POLICIES = ("wait", "nested-wait", "vllm", "sarathi")


def one_run(num_requests: int, policy: str) -> dict:
    from kvopt.experiments.fluid import A100_7B, MEMORY
    from kvopt.policies import NestedWait, Sarathi, Vllm, Wait
    from kvopt.sim.timed import simulate_timed
    from kvopt.verify import verify

    rng = np.random.default_rng(SEED)
    arrival = np.cumsum(rng.exponential(1.0 / RATE, num_requests))
    output = np.where(rng.random(num_requests) < 0.7, 20, 50)
    prompt = np.full(num_requests, 512)
    make = {"wait": lambda: Wait(cap=40),
            "nested-wait": lambda: NestedWait(cap=80, bounds=[20, 50], weights=[0.7, 0.3]),
            "vllm": Vllm, "sarathi": Sarathi}[policy]
    t0, c0 = time.perf_counter(), time.process_time()
    res = simulate_timed(arrival, prompt, output, MEMORY, make(), A100_7B)
    sim_s, sim_cpu = time.perf_counter() - t0, time.process_time() - c0
    peak_sim = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t1 = time.perf_counter()
    ev = verify(res.instance, res.schedule)
    verify_s = time.perf_counter() - t1
    m = res.metrics()
    return {"policy": policy, "num_requests": num_requests, "simulate_s": round(sim_s, 2),
            "simulate_cpu_s": round(sim_cpu, 2),
            "verify_s": round(verify_s, 2), "decisions": res.num_decisions,
            "rounds": res.last_round, "restarts": ev.num_clearings,
            "mean_latency_s": round(float(m.latency_s.mean()), 3),
            "peak_rss_mib": round(peak_sim), "peak_rss_with_verify_mib": round(
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    ap.add_argument("--policies", nargs="*", default=list(POLICIES))
    ap.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one_run(int(args.one[0]), args.one[1])))
        return 0
    print("| policy | requests | simulate wall (s) | simulate CPU (s) | verify (s) | decisions "
          "| restarts | mean latency (s) | peak RSS (MiB) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n in args.sizes:
        for policy in args.policies:
            out = subprocess.run([sys.executable, __file__, "--one", str(n), policy],
                                 check=True, capture_output=True, text=True).stdout
            r = json.loads(out)
            print(f"| {policy} | {n:,} | {r['simulate_s']} | {r['simulate_cpu_s']} | "
                  f"{r['verify_s']} | {r['decisions']:,} | {r['restarts']} | "
                  f"{r['mean_latency_s']} | {r['peak_rss_with_verify_mib']} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
