"""Study (not a benchmark, not a test): how much of the optimum the requests with large peaks carry.

For each paper-style instance of ``benchmarks/ip_paper.py`` (same seeds) and each threshold
``theta``, takes ``B``, the requests whose peak ``s + o`` exceeds ``theta * M``, and prints:

* ``OPT(B)``: CP-SAT on ``B`` alone (``--seconds``; a ``?`` marks a proven bound, not the
  optimum);
* the *subset bound* ``OPT(B) + sum of o`` over the others. It is valid: a schedule of all the
  requests, restricted to ``B``, is a schedule of ``B`` (removing requests only frees memory),
  so its latency on ``B`` is at least ``OPT(B)``, and every other request has latency at
  least its ``o``;
* ``LP(B)``: the certified LP of ``B`` alone (every cut family, ``--lp-seconds``), and its
  gap to ``OPT(B)``;
* ``LP lat(B)``: the latency the full instance's LP point gives ``B``. Where it is below
  ``OPT(B)``, the row "latency of ``B`` >= ``OPT(B)``" cuts that point off.

The first lines per instance give the best schedule found (serial search) and the full LP.

    python studies/large_subsets.py [--count 3] [--sizes 12] [--thetas 0.5,0.4,0.3]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from kvopt.generate import synthetic_set
from kvopt.hindsight.bounds.priced_lp import lp_bound
from kvopt.hindsight.exact.cpsat import cpsat_available
from kvopt.hindsight.incumbents import serial_search
from kvopt.hindsight.milp.formulation import build
from kvopt.instance import Instance

SEED = 20260101  # benchmarks/ip_paper.py's instance seed


def _best_schedule(instance: Instance, moves: int) -> tuple[np.ndarray, int]:
    schedule, cost = serial_search(instance, np.random.default_rng(0), moves=moves)
    return schedule.final_starts(), int(cost)


def _optimum(instance: Instance, starts: np.ndarray, cost: int,
             seconds: float) -> tuple[int, bool]:
    """CP-SAT's proven optimum (``True``) or proven bound (``False``), from the schedule
    ``starts`` of total latency ``cost``."""
    from kvopt.hindsight.exact.cpsat import cpsat_solve

    found = cpsat_solve(instance, incumbent=starts.tolist(), upper_bound=cost,
                        time_limit_s=seconds, threads=2)
    return int(found.bound), bool(found.proven)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--count", type=int, default=3, help="instances per arrival model")
    p.add_argument("--sizes", default="12", help="comma list of n")
    p.add_argument("--arrivals", default="zero,poisson")
    p.add_argument("--thetas", default="0.5,0.4,0.3")
    p.add_argument("--seconds", type=float, default=10.0, help="CP-SAT per subset")
    p.add_argument("--lp-seconds", type=float, default=30.0)
    args = p.parse_args(argv)
    if not cpsat_available():
        print("needs OR-Tools: pip install 'kvopt[cpsat]'", file=sys.stderr)
        return 2
    thetas = [float(v) for v in args.thetas.split(",")]
    for arrivals in args.arrivals.split(","):
        for n in (int(v) for v in args.sizes.split(",")):
            for j, inst in enumerate(synthetic_set(arrivals, SEED + n, args.count, num_requests=n)):
                _, upper = _best_schedule(inst, 2000)
                model = build(inst, upper_bound=upper)
                full, x = lp_bound(inst, model, upper_bound=upper, time_limit_s=args.lp_seconds,
                                   with_point=True)
                latency = np.bincount(model.col_req, weights=model.cost * x,
                                      minlength=n) + inst.output
                print(f"{arrivals} n={n} #{j} M={inst.memory}: schedule {upper}, "
                      f"LP {full.value}", flush=True)
                peak = inst.prompt + inst.output
                print(f"  {'theta':>5} {'|B|':>3} {'OPT(B)':>7} {'s':>5} {'subset bd':>9} "
                      f"{'LP(B)':>6} {'LP gap':>6} {'LP lat(B)':>9}")
                for theta in thetas:
                    members = np.flatnonzero(peak > theta * inst.memory)
                    if len(members) == 0:
                        continue
                    part = inst.subset(members)
                    part_starts, part_upper = _best_schedule(part, 500)
                    t0 = time.perf_counter()
                    opt, proven = _optimum(part, part_starts, part_upper, args.seconds)
                    seconds = time.perf_counter() - t0
                    rest = int(np.delete(inst.output, members).sum())
                    part_lp = lp_bound(part, upper_bound=part_upper, time_limit_s=args.lp_seconds)
                    gap = (opt - part_lp.value) / opt * 100 if proven else float("nan")
                    print(f"  {theta:5.2f} {len(members):3d} {opt:6d}{' ' if proven else '?'} "
                          f"{seconds:5.1f} {opt + rest:9d} {part_lp.value:6d} {gap:5.1f}% "
                          f"{latency[members].sum():9.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
