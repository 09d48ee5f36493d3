"""Seconds each policy needs for the full Azure 2023 conversation trace (not a test).

All 19,366 requests with their own timestamps, ``M = 16,492``, round durations from the
``llama2-70b-a100x2`` profile (:class:`~kvopt.time_model.LinearBatchTime`), simulated in seconds
by :func:`kvopt.sim.timed.simulate_timed`. Reported per policy: the simulation time (best of
``--repeat``), the time of :func:`kvopt.verify.verify` and of the metrics, the number of policy
calls and rounds, and the mean latency it produced.

Usage: ``python benchmarks/trace_policies.py [--repeat 3] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from kvopt.policies import POLICIES
from kvopt.profiles import load_profile
from kvopt.read import read_trace_columns
from kvopt.show_versions import versions
from kvopt.sim.timed import simulate_timed
from kvopt.verify import verify

TRACE = (Path(__file__).resolve().parents[2]
         / "shared/traces/azure_llm_2023/AzureLLMInferenceTrace_conv.csv")
MEMORY = 16_492


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    cols = read_trace_columns(TRACE)
    keep = cols["prompt"] + cols["output"] <= MEMORY
    a, s, o = cols["arrival_s"][keep], cols["prompt"][keep], cols["output"][keep]
    tm = load_profile("llama2-70b-a100x2").time_model
    print(f"{len(a)} requests ({int((~keep).sum())} dropped), M = {MEMORY}")
    print(f"{'policy':18s} {'sim s':>7s} {'verify s':>8s} {'metrics s':>9s} {'calls':>7s} "
          f"{'rounds':>8s} {'mean lat s':>10s}")
    rows = []
    for name, cls in POLICIES.items():
        best = np.inf
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            res = simulate_timed(a, s, o, MEMORY, cls(), tm)
            best = min(best, time.perf_counter() - t0)
        t0 = time.perf_counter()
        verify(res.instance, res.schedule)
        t_verify = time.perf_counter() - t0
        t0 = time.perf_counter()
        lat = float(res.metrics().latency_s.mean())
        t_metrics = time.perf_counter() - t0
        rows.append({"policy": name, "sim_s": best, "verify_s": t_verify,
                     "metrics_s": t_metrics, "calls": res.num_decisions,
                     "rounds": res.last_round, "mean_latency_s": lat})
        print(f"{name:18s} {best:7.2f} {t_verify:8.2f} {t_metrics:9.2f} {res.num_decisions:7d} "
              f"{res.last_round:8d} {lat:10.1f}")
    if args.json:
        args.json.write_text(json.dumps({"versions": versions(), "requests": len(a),
                                         "memory": MEMORY, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
