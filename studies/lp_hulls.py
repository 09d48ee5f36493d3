"""Study (not a benchmark, not a test): is the certified LP's point inside the small hulls?

Runs the certified LP (:func:`kvopt.hindsight.bounds.priced_lp.lp_bound`, every cut family,
``--cut-rounds`` rounds) on paper-style instances of ``benchmarks/ip_paper.py`` (same seeds)
and checks whether its final point ``x`` lies in three convex hulls that every schedule's 0/1
point lies in:

* **groups of requests**: for each group of ``k`` requests (pairs and triples), the hull of
  the group's feasible joint starts (the group alone fits: removing requests only frees
  memory). ``x`` restricted to the group lies in it iff some distribution over feasible joint
  starts has ``x`` as its marginals; an LP over the joint starts within ``x``'s support finds
  the largest mass such a distribution can carry, and ``1 - mass`` is the *deficiency*;
* **rounds**: for each round, the hull of the (request, age) sets that fit in ``M`` (a
  multiple-choice knapsack); the least total weight of fitting sets that covers every
  (request, age) pair's LP mass is found by column generation (a knapsack DP prices), and
  ``weight - 1`` is the deficiency.

A deficiency of 0 means no valid inequality over that group or round cuts ``x`` off. Prints,
per instance, the best schedule found, the LP bound, and per family how many groups or rounds
are violated, the largest deficiency and the seconds.

    python studies/lp_hulls.py [--count 2] [--sizes 12] [--triples]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time

import highspy
import numpy as np

from kvopt.generate import synthetic_set
from kvopt.hindsight.bounds.priced_lp import lp_bound
from kvopt.hindsight.incumbents import local_search
from kvopt.hindsight.milp.formulation import build
from kvopt.instance import Instance

SEED = 20260101  # benchmarks/ip_paper.py's instance seed
TOL = 1e-7


def _fits(instance: Instance, group: tuple[int, ...], starts: list[np.ndarray]) -> np.ndarray:
    """Do the requests of ``group``, started at ``starts`` (broadcast arrays), fit alone?
    Checking each completion round suffices (between completions memory only grows)."""
    s, o = instance.prompt, instance.output
    ok = np.ones(np.broadcast(*starts).shape, dtype=bool)
    for i, k in zip(group, starts, strict=False):
        r = k + o[i]
        held = sum(np.where((kj < r) & (r <= kj + o[j]), s[j] + r - kj, 0)
                   for j, kj in zip(group, starts, strict=False))
        ok &= held <= instance.memory
    return ok


def _max_mass(weights: np.ndarray, members: np.ndarray, caps: np.ndarray) -> float:
    """``max sum y`` over ``y >= 0`` with ``sum_{c: r in members[c]} y_c <= caps[r]``;
    ``members`` is a (sets, size) array of row indices."""
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.addRows(len(caps), np.full(len(caps), -highspy.kHighsInf), caps, 0,
              np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32), np.zeros(0))
    sets, size = members.shape
    h.addCols(sets, -weights, np.zeros(sets), np.full(sets, highspy.kHighsInf), sets * size,
              (np.arange(sets) * size).astype(np.int32), members.ravel().astype(np.int32),
              np.ones(sets * size))
    h.run()
    return -h.getInfo().objective_function_value


def group_deficiency(instance: Instance, model, x: np.ndarray, group: tuple[int, ...]) -> float:
    """``1 -`` the largest mass of a distribution over the group's feasible joint starts whose
    marginals stay within ``x`` (0: ``x`` restricted to the group lies in the group's hull)."""
    support = [np.flatnonzero((model.col_req == i) & (x > TOL)) for i in group]
    grids = np.meshgrid(*[model.col_start[c] for c in support], indexing="ij")
    combos = np.argwhere(_fits(instance, group, grids))
    if len(combos) == 0:
        return 1.0
    offsets = np.cumsum([0] + [len(c) for c in support[:-1]])
    caps = np.concatenate([x[c] for c in support])
    return 1.0 - _max_mass(np.ones(len(combos)), combos + offsets[None, :], caps)


def _best_fitting_set(items: list[tuple[int, int, float]], prompt: np.ndarray,
                      memory: int) -> tuple[float, list[int]]:
    """Multiple-choice knapsack: at most one (age) per request, ``sum (s + age) <= M``,
    maximising the summed price; ``items`` are (request, age, price). Returns the best price
    and the chosen item indices."""
    value = np.zeros(memory + 1)
    choices = []
    by_request: dict[int, list[int]] = {}
    for idx, (i, _, _) in enumerate(items):
        by_request.setdefault(i, []).append(idx)
    for i, idxs in by_request.items():
        new, pick = value.copy(), np.full(memory + 1, -1)
        for idx in idxs:
            w = int(prompt[i] + items[idx][1])
            if w > memory:
                continue
            cand = np.full(memory + 1, -np.inf)
            cand[w:] = value[:memory + 1 - w] + items[idx][2]
            better = cand > new + 1e-12
            new[better], pick[better] = cand[better], idx
        choices.append((i, pick))
        value = new
    left, chosen = memory, []
    for i, pick in reversed(choices):
        idx = int(pick[left])
        if idx >= 0:
            chosen.append(idx)
            left -= int(prompt[i] + items[idx][1])
    return float(value[memory]), chosen


def round_deficiency(instance: Instance, items: list[tuple[int, int, float]]) -> float:
    """The least total weight of fitting (request, age) sets covering each item's LP mass,
    ``- 1`` (0: the round's point lies in its knapsack hull), by column generation."""
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    need = np.array([v for _, _, v in items])
    h.addRows(len(items), need, np.full(len(items), highspy.kHighsInf), 0,
              np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32), np.zeros(0))
    for r in range(len(items)):   # singletons: every (request, age) fits alone (s + o <= M)
        h.addCol(1.0, 0.0, highspy.kHighsInf, 1, np.array([r], dtype=np.int32), np.ones(1))
    for _ in range(10_000):
        h.run()
        price = np.array(h.getSolution().row_dual)
        priced = [(i, a, float(p)) for (i, a, _), p in zip(items, price, strict=False)]
        best, chosen = _best_fitting_set(priced, instance.prompt, instance.memory)
        if best <= 1 + 1e-7:
            break
        h.addCol(1.0, 0.0, highspy.kHighsInf, len(chosen), np.array(chosen, dtype=np.int32),
                 np.ones(len(chosen)))
    return h.getInfo().objective_function_value - 1.0


def _report(name: str, deficiencies: list[float], seconds: float) -> str:
    bad = [d for d in deficiencies if d > 1e-4]
    return (f"{name} {len(bad)}/{len(deficiencies)} violated, max {max(bad, default=0.0):.3f} "
            f"({seconds:.1f} s)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--count", type=int, default=2, help="instances per (arrival model, size)")
    p.add_argument("--sizes", default="12", help="comma list of n")
    p.add_argument("--moves", type=int, default=3000, help="local-search moves for the schedule")
    p.add_argument("--cut-rounds", type=int, default=100)
    p.add_argument("--triples", action="store_true", help="check every triple too (slower)")
    args = p.parse_args(argv)
    for arrivals in ("zero", "poisson"):
        for size in [int(s) for s in args.sizes.split(",")]:
            for inst in synthetic_set(arrivals, SEED + size, args.count, num_requests=size):
                _, upper = local_search(inst, np.random.default_rng(0), time_limit_s=np.inf,
                                        max_evaluations=args.moves)
                model = build(inst, upper_bound=upper)
                bound, x = lp_bound(inst, model, cut_rounds=args.cut_rounds, with_point=True)
                head = (f"{arrivals:8} n={inst.num_requests} M={inst.memory} schedule {upper} "
                        f"LP {bound.value} gap {(upper - bound.value) / upper:.1%}")
                line = [head]
                n = inst.num_requests
                for k in (2, 3) if args.triples else (2,):
                    t0 = time.perf_counter()
                    found = [group_deficiency(inst, model, x, g)
                             for g in itertools.combinations(range(n), k)]
                    line.append(_report("pairs" if k == 2 else "triples", found,
                                        time.perf_counter() - t0))
                t0 = time.perf_counter()
                on = np.flatnonzero(x > TOL)
                req, start = model.col_req[on], model.col_start[on]
                found = []
                for t in range(int((start + inst.output[req]).max()) + 1):
                    age = t - start
                    live = (age >= 1) & (age <= inst.output[req])
                    items = [(int(i), int(a), float(v))
                             for i, a, v in zip(req[live], age[live], x[on][live], strict=False)]
                    if items:
                        found.append(round_deficiency(inst, items))
                line.append(_report("rounds", found, time.perf_counter() - t0))
                print(" | ".join(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
