"""The leaderboard (issue 30): every registered policy on one fixed scenario suite, each policy's
mean ratio as a certified interval, its rank and its runtime.

``kvopt experiment leaderboard --out results/leaderboard [--count 10] [--trace-requests 10000]
[--traces DIR] [--mip-nodes 0] [--mip-safety-s 600] [--workers N] [--scheduler ADDR]
[--policies all|a,b] [--scenarios all|a,b]``

**Scenarios** (:func:`scenarios`; every instance drawn from ``--seed``, so the suite is the same
on every run):

* ``paper-zero``, ``paper-poisson``: the paper's synthetic instances (``n`` 40-60,
  :func:`kvopt.generate.synthetic_set`), exact predictions; ``--count`` each.
* ``hetero-zero``, ``hetero-poisson``: heterogeneous prompts ``U{1..M/2}``
  (:func:`kvopt.generate.hetero_set`), exact predictions.
* ``intervals-g2-a0.5``, ``intervals-g3-a0.5``: the paper's zero-arrival instances with the
  environment's interval predictions (:class:`kvopt.sim.intervals.IntervalPredictions`,
  ``alpha = 0.5``, generators G2 and G3; the point prediction is that model's).
* ``azure-conv``, ``azure-code``, ``sharegpt`` at two loads (``-low``: 0.5, ``-high``: 0.9):
  ``--trace-requests`` requests whose lengths are resampled (seeded) from the trace's rows with
  ``s + o <= M = 16,492``, Poisson arrivals in rounds at ``rate = load * M / E[s o + o (o+1)/2]``
  (load 1 is about what the memory can serve: each request occupies its volume in
  token-rounds); skipped, with a note, when the traces directory is absent.
* ``adversarial``: the construction adapted to MC-SF (:mod:`kvopt.adversarial`) with
  ``m = 2, 3, 4, 6`` short requests; every policy runs on the same instances.

**Per instance** the best verified schedule (the hindsight solve's, every policy's, the best
priority list's) and a certified lower bound: up to :data:`SOLVE_MAX` requests the hindsight
solve (:data:`LOCAL_SEARCH` local-search moves on the incumbent, the serial search's
:data:`~kvopt.hindsight.incumbents.SERIAL_MOVES` moves, the certified LP with
:data:`LP_CUT_ROUNDS` rounds of headroom cuts, then HiGHS on one
thread for at most ``--mip-nodes`` branch-and-bound nodes, default 0: no HiGHS), beyond it the
best of the combinatorial bounds (sum of outputs, memory volume, headroom, cores) and, up to
:data:`LP_MAX` requests, the certified LP with the same cut rounds
(:func:`kvopt.hindsight.bounds.best_bound`). Every limit is a count, none a clock, so the
figures are the same on every run and machine; HiGHS alone also has a wall-clock safety limit
(``--mip-safety-s``), and an instance whose solve reached it is marked
``"deterministic": false``. A policy's ratio on an instance is the interval
``[cost / best schedule, cost / bound]``; per scenario the leaderboard shows the means of both
ends over the instances, ranks the online policies by the mean lower end (then the upper end;
equal intervals share a rank, listed in registry order), and the mean seconds per instance of
its simulation. H-SF (clairvoyant: the environment gives it the true outputs) is listed as a
reference and not ranked.

**Policies**: the registry (:data:`kvopt.policies.POLICIES`) in its order; a policy whose spec
has an ``engines`` attribute without ``"rounds"`` (one made for the engine in seconds) is left
out.

**Resume and parallel**: one job per instance (:mod:`kvopt.experiments.jobs`), computing only
what its stored records lack: ``<out>/records/<scenario>/<j>/hindsight.json`` and
``.../<policy>.json``, each with the identity it depends on. Outputs: ``leaderboard.json``,
``leaderboard.md`` and ``index.html`` (tables and plots inline, no network) in ``--out``
(:mod:`kvopt.experiments.leaderboard_report`). Same seeds, same numbers (timings aside).
"""

from __future__ import annotations

import dataclasses
import sys
import time
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kvopt.experiments.jobs import Job, RecordStore, execute, safe_name
from kvopt.experiments.options import ExperimentParser
from kvopt.instance import Instance

__all__ = ["SOLVE_MAX", "Scenario", "effort", "instance_job", "main", "policy_names", "scenarios",
           "summarise"]

RECORD_FORMAT = 2
#: instances up to this many requests get the hindsight solve; larger ones the bounds
SOLVE_MAX = 100
#: local-search moves on the incumbent before each hindsight solve (as the synthetic experiment)
LOCAL_SEARCH = 3000
#: the certified LP beyond SOLVE_MAX requests up to this many (one column per request and round)
LP_MAX = 2000
#: rounds of headroom cuts of every certified LP (the library's default is 15; 5 gives bounds
#: about 4% lower on the paper's instances in about half the LP time, which keeps the suite
#: within an hour on two cores)
LP_CUT_ROUNDS = 5
TRACE_MEMORY = 16_492
TRACES_DIR = Path(__file__).resolve().parents[3] / "shared" / "traces"
TRACE_FILES = {"azure-conv": "azure_llm_2023/AzureLLMInferenceTrace_conv.csv",
               "azure-code": "azure_llm_2023/AzureLLMInferenceTrace_code.csv",
               "sharegpt": "etalon/sharegpt_8k_filtered_stats_llama2_tokenizer.csv"}
TRACE_TITLES = {"azure-conv": "Azure 2023 conversations", "azure-code": "Azure 2023 code",
                "sharegpt": "ShareGPT"}
LOADS = {"low": 0.5, "high": 0.9}
ADVERSARIAL_SHORTS = (2, 3, 4, 6)


@dataclasses.dataclass(frozen=True)
class Scenario:
    """One row group of the leaderboard: how its instances are made (all picklable)."""

    name: str
    title: str
    kind: str                    # paper | hetero | intervals | trace | adversarial
    count: int
    params: dict[str, Any]

    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "params": self.params}


def scenarios(seed: int, count: int, trace_requests: int, traces_dir: Path | None
              ) -> tuple[list[Scenario], list[str]]:
    """The suite, and notes on scenarios left out."""
    out = [Scenario(f"paper-{a}", f"Paper synthetic, arrivals {a}", "paper", count,
                    {"arrivals": a, "seed": seed}) for a in ("zero", "poisson")]
    out += [Scenario(f"hetero-{a}", f"Heterogeneous prompts U{{1..M/2}}, arrivals {a}",
                     "hetero", count, {"arrivals": a, "seed": seed}) for a in ("zero", "poisson")]
    out += [Scenario(f"intervals-{g}-a0.5", f"Interval predictions {g.upper()}, alpha 0.5",
                     "intervals", count, {"generator": g, "alpha": 0.5, "seed": seed})
            for g in ("g2", "g3")]
    notes = []
    for trace, rel in TRACE_FILES.items():
        path = None if traces_dir is None else traces_dir / rel
        if path is None or not path.exists():
            notes.append(f"{trace}: trace file not found ({path}); its scenarios are left out")
            continue
        for load_name, load in LOADS.items():
            out.append(Scenario(
                f"{trace}-{load_name}", f"{TRACE_TITLES[trace]}, load {load}", "trace", 1,
                {"path": str(path), "trace": trace, "load": load, "n": trace_requests,
                 "memory": TRACE_MEMORY, "seed": seed}))
    out.append(Scenario("adversarial", "Adversarial arrivals (adapted to MC-SF)", "adversarial",
                        len(ADVERSARIAL_SHORTS), {"shorts": list(ADVERSARIAL_SHORTS)}))
    return out, notes


def _trace_instance(params: dict[str, Any], j: int) -> Instance:
    from kvopt.read import read_trace_columns

    cols = read_trace_columns(params["path"])
    memory, n = int(params["memory"]), int(params["n"])
    fits = np.flatnonzero(cols["prompt"] + cols["output"] <= memory)
    s, o = cols["prompt"][fits], cols["output"][fits]
    volume = float(np.mean(s * o + o * (o + 1) / 2))
    rng = np.random.default_rng([int(params["seed"]), j, 7])
    pick = rng.integers(0, fits.size, size=n)
    rate = params["load"] * memory / volume
    arrival = np.floor(np.cumsum(rng.exponential(1.0 / rate, size=n))).astype(np.int64)
    return Instance(memory, arrival, s[pick], o[pick],
                    name=f"{params['trace']}-load{params['load']}-n{n}-s{params['seed']}-{j}")


def build(scenario: Scenario, j: int) -> tuple[Instance, Any]:
    """Instance ``j`` of a scenario and the environment's predictions for it (``None``: the
    instance's own, exact)."""
    from kvopt.generate import hetero_set, synthetic_set

    p = scenario.params
    if scenario.kind == "paper":
        return synthetic_set(p["arrivals"], p["seed"], j + 1)[j], None
    if scenario.kind == "hetero":
        return hetero_set(p["arrivals"], p["seed"], j + 1)[j], None
    if scenario.kind == "intervals":
        from kvopt.sim.intervals import IntervalPredictions, interval_stream

        inst = synthetic_set("zero", p["seed"] + 1, j + 1)[j]
        model = IntervalPredictions(p["alpha"], p["generator"])
        return inst, model.predict(inst, interval_stream(p["seed"] + 1, j))
    if scenario.kind == "trace":
        return _trace_instance(p, j), None
    if scenario.kind == "adversarial":
        from kvopt.adversarial import adaptive_adversarial_instance
        from kvopt.policies import POLICIES

        m = p["shorts"][j]
        inst = adaptive_adversarial_instance(POLICIES["mcsf"], m)
        return inst.replace(name=f"adversarial-m{m}"), None
    raise ValueError(f"unknown scenario kind {scenario.kind!r}")


def effort(mip_nodes: int, mip_safety_s: float) -> dict[str, Any]:
    """Every limit of the hindsight side (part of each hindsight record's identity)."""
    from kvopt.hindsight.incumbents import SERIAL_MOVES

    return {"local_search": LOCAL_SEARCH, "serial_moves": SERIAL_MOVES,
            "lp_cut_rounds": LP_CUT_ROUNDS, "lp_max_requests": LP_MAX,
            "mip_nodes": mip_nodes, "mip_threads": 1, "mip_safety_s": mip_safety_s}


def _hindsight(inst: Instance, limits: dict[str, Any]) -> dict[str, Any]:
    """Best verified schedule and certified bound of one instance (see the module docstring)."""
    from kvopt.hindsight.bounds import best_bound
    from kvopt.hindsight.incumbents import best_priority_list
    from kvopt.hindsight.solve import solve

    t0 = time.perf_counter()
    deterministic = True
    if inst.num_requests <= SOLVE_MAX:
        res = solve(inst, "highs", threads=1, local_search_evaluations=limits["local_search"],
                    serial_moves=limits["serial_moves"], mip_max_nodes=limits["mip_nodes"],
                    mip_time_limit_s=limits["mip_safety_s"],
                    lp_cut_rounds=limits["lp_cut_rounds"])
        upper = float(res.objective)
        bound = float(res.bound) if res.bound is not None else 0.0
        deterministic = "time limit" not in res.backend_status.lower()
        how = f"{res.bound_source} ({res.status.value})"
    else:
        _, upper_int, key = best_priority_list(inst)
        upper = float(upper_int)
        b = best_bound(inst, upper_bound=upper,
                       use_lp=inst.num_requests <= limits["lp_max_requests"],
                       cut_rounds=limits["lp_cut_rounds"])
        bound, how = float(b.value), f"{b.source} bound; priority list by {key}"
    return {"upper": upper, "bound": bound, "source": how, "deterministic": deterministic,
            "seconds": round(time.perf_counter() - t0, 3)}


def _run(inst: Instance, predictions: Any, policy: str, stream: list[int]) -> dict[str, Any]:
    from kvopt.policies import POLICIES
    from kvopt.sim.engine import simulate
    from kvopt.verify import verify

    spec = POLICIES[policy]
    own = spec.predictions if spec.predictions is not None else predictions
    t0 = time.perf_counter()
    schedule = simulate(inst, spec(), rng=np.random.default_rng(stream), predicted=own)
    seconds = time.perf_counter() - t0
    ev = verify(inst, schedule)
    return {"total_latency": ev.total_latency, "clearings": ev.num_clearings,
            "seconds": round(seconds, 4)}


def instance_job(scenario: Scenario, j: int, policies: Sequence[str], hindsight: bool,
                 limits: dict[str, Any]) -> dict[str, Any]:
    """One instance: the missing policy runs and, if asked, its hindsight record."""
    inst, predictions = build(scenario, j)
    seed = int(scenario.params.get("seed", 0))
    runs = {pol: _run(inst, predictions, pol, [seed, j, zlib.crc32(pol.encode())])
            for pol in policies}
    out: dict[str, Any] = {"instance": inst.name, "num_requests": inst.num_requests,
                           "memory": inst.memory, "runs": runs}
    if hindsight:
        out["hindsight"] = _hindsight(inst, limits)
    return out


def policy_names(selection: str = "all") -> list[str]:
    """The registry's policies that run in rounds (``all``), or the named ones."""
    from kvopt.policies import POLICIES

    usable = [n for n, spec in POLICIES.items()
              if "rounds" in getattr(spec, "engines", ("rounds",))]
    if selection == "all":
        return usable
    names = [x.strip() for x in selection.split(",") if x.strip()]
    if unknown := [n for n in names if n not in usable]:
        raise ValueError(f"--policies: unknown or not a rounds policy: {', '.join(unknown)}")
    return names


def _run_identity(scenario: Scenario, j: int, policy: str) -> dict[str, Any]:
    return {"format": RECORD_FORMAT, "scenario": scenario.identity(), "j": j, "policy": policy}


def _hindsight_identity(scenario: Scenario, j: int, limits: dict[str, Any]) -> dict[str, Any]:
    return {"format": RECORD_FORMAT, "scenario": scenario.identity(), "j": j, "effort": limits}


def summarise(scenario: Scenario, instances: list[dict[str, Any]],
              policies: Sequence[str]) -> dict[str, Any]:
    """A scenario's rows: per policy the mean ratio interval, rank and mean seconds."""
    from kvopt.policies import POLICIES

    rows = []
    for pol in policies:
        lows, highs, secs = [], [], []
        for rec in instances:
            cost = rec["runs"][pol]["total_latency"]
            best = min([rec["hindsight"]["upper"]]
                       + [r["total_latency"] for r in rec["runs"].values()])
            bound = rec["hindsight"]["bound"]
            lows.append(cost / best if best else 1.0)
            highs.append(cost / bound if bound else float("inf"))
            secs.append(rec["runs"][pol]["seconds"])
        rows.append({"policy": pol, "reference": POLICIES[pol].predictions is not None,
                     "ratio_low": float(np.mean(lows)), "ratio_high": float(np.mean(highs)),
                     "worst_low": float(np.max(lows)), "seconds": float(np.mean(secs))})
    def score(r: dict[str, Any]) -> tuple[float, float]:
        return round(r["ratio_low"], 12), round(r["ratio_high"], 12)

    online = [score(r) for r in rows if not r["reference"]]
    for r in rows:                    # competition ranking: equal intervals share a rank
        if not r["reference"]:
            r["rank"] = 1 + sum(other < score(r) for other in online)
    for r in rows:
        r.setdefault("rank", None)
    exact = all(rec["hindsight"]["bound"] >= min(
        [rec["hindsight"]["upper"]] + [x["total_latency"] for x in rec["runs"].values()])
        for rec in instances)
    return {"name": scenario.name, "title": scenario.title, "kind": scenario.kind,
            "num_instances": len(instances), "optimum_proven_everywhere": exact,
            "deterministic": all(rec["hindsight"].get("deterministic", False)
                                 for rec in instances),
            "instances": [{"instance": r["instance"], "num_requests": r["num_requests"],
                           "memory": r["memory"], **r["hindsight"]} for r in instances],
            "rows": rows}


def main(argv: Sequence[str] | None = None) -> int:
    parser = ExperimentParser(prog="kvopt experiment leaderboard",
                              description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--seed", type=int, default=30, help="seed of every scenario (30)")
    parser.add_argument("--count", type=int, default=10,
                        help="instances per synthetic scenario (default 10)")
    parser.add_argument("--trace-requests", type=int, default=10_000,
                        help="requests per trace instance (default 10000)")
    parser.add_argument("--traces", type=Path, default=TRACES_DIR,
                        help="directory of the shared traces (default ../shared/traces)")
    parser.add_argument("--mip-nodes", type=int, default=0,
                        help="HiGHS branch-and-bound nodes per hindsight solve (default 0: "
                             "no HiGHS, the LP's bound)")
    parser.add_argument("--mip-safety-s", type=float, default=600.0,
                        help="wall-clock safety limit of HiGHS (default 600; an instance that "
                             "reaches it is marked not deterministic)")
    parser.add_argument("--policies", default="all", help="'all' or comma-separated names")
    parser.add_argument("--scenarios", default="all", help="'all' or comma-separated names")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: CPUs)")
    parser.add_argument("--scheduler", default=None, help="dask scheduler address")
    args = parser.parse_checked(argv)
    for opt, value, low in (("--count", args.count, 1), ("--trace-requests",
                                                           args.trace_requests, 1)):
        if value < low:
            parser.error(f"{opt} must be at least {low}")
    if args.mip_nodes < 0:
        parser.error("--mip-nodes must be at least 0")
    if args.mip_safety_s <= 0:
        parser.error("--mip-safety-s must be positive")
    limits = effort(args.mip_nodes, args.mip_safety_s)
    try:
        policies = policy_names(args.policies)
    except ValueError as exc:
        parser.error(str(exc))
    suite, notes = scenarios(args.seed, args.count, args.trace_requests, args.traces)
    if args.scenarios != "all":
        wanted = [x.strip() for x in args.scenarios.split(",") if x.strip()]
        if unknown := sorted(set(wanted) - {s.name for s in suite}):
            parser.error(f"--scenarios: unknown or unavailable: {', '.join(unknown)}")
        suite = [s for s in suite if s.name in wanted]
    t0 = time.perf_counter()
    store = RecordStore(args.out)
    found: dict[tuple[str, int], dict[str, Any]] = {}
    jobs = []
    for sc in suite:
        for j in range(sc.count):
            base = f"records/{safe_name(sc.name)}/{j}"
            rec: dict[str, Any] = {"runs": {}}
            missing = []
            for pol in policies:
                got = store.load(f"{base}/{safe_name(pol)}", _run_identity(sc, j, pol))
                if got is None:
                    missing.append(pol)
                else:
                    rec["runs"][pol] = got["run"]
                    rec.update({k: got[k] for k in ("instance", "num_requests", "memory")})
            hind = store.load(f"{base}/hindsight", _hindsight_identity(sc, j, limits))
            if hind is not None:
                rec["hindsight"] = hind["hindsight"]
            found[(sc.name, j)] = rec
            if missing or hind is None:
                jobs.append(Job(f"{sc.name}/{j}", instance_job,
                                (sc, j, tuple(missing), hind is None, limits)))
    by_name = {sc.name: sc for sc in suite}

    def save(job: Job, value: dict[str, Any]) -> None:
        sc, j = by_name[job.args[0].name], job.args[1]
        base = f"records/{safe_name(sc.name)}/{j}"
        about = {k: value[k] for k in ("instance", "num_requests", "memory")}
        rec = found[(sc.name, j)]
        rec.update(about)
        for pol, run in value["runs"].items():
            store.save(f"{base}/{safe_name(pol)}", {**_run_identity(sc, j, pol), **about,
                                                    "run": run})
            rec["runs"][pol] = run
        if "hindsight" in value:
            store.save(f"{base}/hindsight", {**_hindsight_identity(sc, j, limits),
                                             **about, "hindsight": value["hindsight"]})
            rec["hindsight"] = value["hindsight"]

    print(f"leaderboard: {len(suite)} scenarios, {len(policies)} policies, {len(jobs)} instance "
          f"jobs to run", file=sys.stderr)
    if failures := execute(jobs, save, workers=args.workers, scheduler=args.scheduler,
                           progress=sys.stderr.isatty(), unit="instance"):
        for job, err in failures:
            print(f"FAILED {job.label}: {err}", file=sys.stderr)
        return 1
    from kvopt.experiments.leaderboard_report import write_reports

    results = [summarise(sc, [found[(sc.name, j)] for j in range(sc.count)], policies)
               for sc in suite]
    config = {"seed": args.seed, "count": args.count, "trace_requests": args.trace_requests,
              "effort": limits, "policies": policies, "solve_max": SOLVE_MAX,
              "notes": notes}
    text = write_reports(args.out, config, results, round(time.perf_counter() - t0, 1))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
