"""Benchmark (not a test): certified lower bounds on a real trace of 10,000 requests, in rounds.

The first ``--limit`` requests of the Azure 2023 conversation trace (its own timestamps, one round =
``--round-seconds``), ``M = --memory``. Prints MC-SF's verified total latency and the best
priority-list schedule's (:func:`kvopt.hindsight.incumbents.best_priority_list`), each cheap bound
(sum of outputs, memory volume, headroom, disjoint cores) with its seconds, and the certified gap
``(best schedule - bound) / best schedule``, for the trace's own timestamps and for the same
requests with arrivals stretched by each ``--stretch`` factor (lighter loads). With ``--moves N``
the best list is then improved by ``N`` seeded local moves
(:func:`kvopt.hindsight.incumbents.improved_priority_list`; ``--restarts R``: the best of ``R``
independent searches, in parallel), and the gap is printed again.

    python benchmarks/trace_bound.py [--limit 10000] [--memory 16492] [--round-seconds 0.06]
                                     [--stretch 4 20] [--moves 0] [--restarts 1] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from kvopt.hindsight.bounds.combinatorial import (
    core_bound,
    headroom_bound,
    sum_of_outputs_bound,
    volume_bound,
)
from kvopt.hindsight.incumbents import best_priority_list, improved_priority_list
from kvopt.instance import Instance
from kvopt.policies import McSf
from kvopt.read import read_trace
from kvopt.sim.engine import simulate
from kvopt.verify import verify

TRACE = (Path(__file__).resolve().parents[2]
         / "shared/traces/azure_llm_2023/AzureLLMInferenceTrace_conv.csv")


def report(label: str, inst: Instance, moves: int, restarts: int, seed: int) -> None:
    t0 = time.perf_counter()
    cost = verify(inst, simulate(inst, McSf())).total_latency
    sim_s = time.perf_counter() - t0
    print(f"\n{label}: n = {inst.num_requests}, M = {inst.memory}, "
          f"last arrival round {int(inst.arrival.max())}")
    print(f"  MC-SF total latency {cost:,} rounds ({sim_s:.1f} s with the verifier)")
    t0 = time.perf_counter()
    _, best, key = best_priority_list(inst)
    print(f"  best priority list ({key}): {best:,} rounds ({time.perf_counter() - t0:.1f} s)")
    if moves:
        t0 = time.perf_counter()
        _, best, key = improved_priority_list(inst, np.random.default_rng(seed), moves=moves,
                                              restarts=restarts)
        print(f"  improved ({key}): {best:,} rounds ({time.perf_counter() - t0:.1f} s)")
    for bound in (sum_of_outputs_bound(inst), volume_bound(inst), headroom_bound(inst),
                  core_bound(inst)):
        print(f"  {bound.source:40} {bound.value:>15,}  gap {(best - bound.value) / best:6.1%}"
              f"  {bound.runtime_s:6.2f} s")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--trace", type=Path, default=TRACE)
    p.add_argument("--limit", type=int, default=10_000)
    p.add_argument("--memory", type=int, default=16_492)
    p.add_argument("--round-seconds", type=float, default=0.06)
    p.add_argument("--stretch", type=int, nargs="*", default=[4, 20])
    p.add_argument("--moves", type=int, default=0, help="local moves improving the best list")
    p.add_argument("--restarts", type=int, default=1,
                   help="independent searches of --moves each, in parallel; the best is kept")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    inst = read_trace(args.trace, memory=args.memory, round_s=args.round_seconds,
                      limit=args.limit, drop_oversized=True)
    report("own timestamps", inst, args.moves, args.restarts, args.seed)
    for factor in args.stretch:
        light = Instance(inst.memory, inst.arrival * factor, inst.prompt, inst.output,
                         name=f"{inst.name}-x{factor}")
        report(f"arrivals stretched {factor}x", light, args.moves, args.restarts, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
