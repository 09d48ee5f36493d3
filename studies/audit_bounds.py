"""Study (not a benchmark, not a test): every backend's proven optimum and every certified
bound audited against an independent reference, on many more seeded instances than the property
tests draw.

* ``tiny``: random instances of 2-7 requests (M = 5-14, half of them with arrivals in rounds
  0-5), the reference is :func:`kvopt.hindsight.exact.bruteforce.brute_force_optimum`.
* ``paper``: the paper's generator at n = 8 and 9, both arrival models; the reference is
  CP-SAT's proven optimum (an instance it leaves open within 60 s is skipped and counted).

For each instance: HiGHS, CBC (and CP-SAT and the exact search on ``tiny``) must prove the
reference optimum, never report a bound above it nor a schedule below it; ``best_bound`` with
deadline cuts (and, on ``paper``, k-th completion caps) and the LP with deadline cuts given
the optimum as upper bound must stay at or below it. Prints each violation, then the count of
instances, violations and how often each bound meets the optimum. Exit code 1 on a violation.

    python studies/audit_bounds.py --mode tiny --count 500 --seed 1000    # ~5 min
    python studies/audit_bounds.py --mode paper --count 10                # ~15 min
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

import numpy as np

from kvopt.generate import synthetic_set
from kvopt.hindsight.bounds import best_bound
from kvopt.hindsight.bounds.priced_lp import lp_bound
from kvopt.hindsight.exact.bruteforce import brute_force_optimum
from kvopt.hindsight.solve import solve
from kvopt.instance import Instance


def tiny_instances(count: int, seed: int):
    """``count`` seeded random tiny instances with their brute-force optimum (instances the
    brute force cannot finish are skipped)."""
    for s in range(seed, seed + count):
        rng = np.random.default_rng(s)
        n, memory = int(rng.integers(2, 8)), int(rng.integers(5, 15))
        arrival, prompt, output = [], [], []
        for _ in range(n):
            arrival.append(int(rng.integers(0, 6)) if rng.random() < 0.5 else 0)
            prompt.append(int(rng.integers(1, 4)))
            output.append(int(rng.integers(1, memory - prompt[-1] + 1)))
        inst = Instance(memory=memory, arrival=arrival, prompt=prompt, output=output,
                        name=f"tiny-{s}")
        try:
            yield inst, brute_force_optimum(inst)[0]
        except RuntimeError:
            continue


def paper_instances(count: int, seed: int, skipped: Counter):
    """The paper's generator at n = 8 and 9 with CP-SAT's proven optimum."""
    for arrivals in ("zero", "poisson"):
        for n in (8, 9):
            for inst in synthetic_set(arrivals, seed + n, count, num_requests=n):
                ref = solve(inst, "cpsat", time_limit_s=60)
                if ref.status.value != "optimal":
                    skipped["cpsat left open"] += 1
                    continue
                yield inst, int(ref.objective)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--mode", choices=["tiny", "paper"], default="tiny")
    p.add_argument("--count", type=int, default=200,
                   help="instances (tiny) or instances per arrival model and size (paper)")
    p.add_argument("--seed", type=int, default=777000)
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    tally: Counter = Counter()
    violations = 0
    if args.mode == "tiny":
        cases, backends = tiny_instances(args.count, args.seed), ["highs", "cbc", "cpsat", "search"]
    else:
        cases, backends = paper_instances(args.count, args.seed, tally), ["highs", "cbc"]
    for inst, opt in cases:
        tally["instances"] += 1
        for backend in backends:
            res = solve(inst, backend, time_limit_s=60)
            proven = res.status.value == "optimal"
            tally[f"{backend} proven"] += proven
            if (proven and res.objective != opt) or res.objective < opt or (
                    res.bound is not None and res.bound > opt + 1e-9):
                print(f"VIOLATION {inst.name}: {backend} objective {res.objective}, bound "
                      f"{res.bound}, status {res.status.value}; optimum {opt}", flush=True)
                violations += 1
        kth = 5.0 if args.mode == "paper" else None
        bounds = {"best_bound + deadline cuts":
                  best_bound(inst, deadline_cuts=True, kth_time_limit_s=kth).value,
                  "LP + deadline cuts, optimum as upper bound":
                  lp_bound(inst, upper_bound=opt, deadline_cuts=True).value}
        for name, value in bounds.items():
            if value > opt + 1e-9:
                print(f"VIOLATION {inst.name}: {name} {value} > optimum {opt}", flush=True)
                violations += 1
            tally[f"{name} meets the optimum"] += abs(value - opt) < 1e-9
    print(f"{args.mode}: {violations} violations, {time.perf_counter() - t0:.0f} s")
    for key, value in tally.items():
        print(f"  {key}: {value}")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
