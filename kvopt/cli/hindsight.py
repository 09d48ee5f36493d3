"""``kvopt solve``, ``kvopt bound`` and ``kvopt export``: the hindsight side."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from kvopt.cli._app import (
    DEADLINE_HELP,
    KTH_HELP,
    MAX_PARALLEL,
    SERIAL_HELP,
    BackendName,
    ExportFormat,
    _check_target,
    _errors,
    _fmt,
    _interrupted,
    _needs_cpsat,
    _pairs,
    _parse_policies,
    _print_json,
    _table,
    app,
)
from kvopt.hindsight.incumbents import SERIAL_MOVES


# ------------------------------------------------------------------------------------- solve
@app.command()
def solve(
    instance: Annotated[Path, typer.Argument(help="Instance JSON file.")],
    backend: Annotated[BackendName, typer.Option(help="Solver backend.")] = "highs",  # type: ignore[assignment]
    time_limit: Annotated[float | None, typer.Option(
        "--time-limit", min=0.0,
        help="Wall-clock seconds (default: none, prove optimality).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    local_search: Annotated[int, typer.Option(
        min=0, help="Local-search moves improving MC-SF's schedule before the solve.")] = 0,
    serial_moves: Annotated[int, typer.Option(min=0, help=SERIAL_HELP)] = SERIAL_MOVES,
    threads: Annotated[int, typer.Option(
        min=1, max=MAX_PARALLEL,
        help="Solver threads (HiGHS, CBC) or CP-SAT workers (CP-SAT runs beside the LP, "
             "which takes one more thread).")] = 1,
    kth_seconds: Annotated[float | None, typer.Option(min=0.0, help=KTH_HELP)] = None,
    deadline_seconds: Annotated[float | None, typer.Option(min=0.0, help=DEADLINE_HELP)] = None,
) -> None:
    """Solve the hindsight integer program: status, objective (total latency), bound, starts.
    Ctrl-C prints the best schedule and bound found so far (exit code 130)."""
    from kvopt.hindsight.solve import SolveInterrupted
    from kvopt.hindsight.solve import solve as solve_instance
    from kvopt.read import read_instance

    try:
        with _errors():
            inst = read_instance(instance)
            _needs_cpsat(inst, "--kth-seconds", kth_seconds is not None)
            _needs_cpsat(inst, "--deadline-seconds", deadline_seconds is not None)
            result = solve_instance(inst, str(getattr(backend, "value", backend)),
                                    time_limit_s=time_limit,
                                    local_search_evaluations=local_search,
                                    serial_moves=serial_moves, threads=threads,
                                    kth_time_limit_s=kth_seconds,
                                    deadline_time_limit_s=deadline_seconds)
    except SolveInterrupted as stop:
        _print_solve(inst, stop.partial, as_json)
        raise _interrupted("interrupted: printed the best schedule and bound found so "
                           f"far ({stop.partial.status.value})") from None
    except KeyboardInterrupt:
        raise _interrupted() from None
    _print_solve(inst, result, as_json)


def _print_solve(inst, result, as_json: bool) -> None:
    data = {"instance": inst.name, **result.to_dict()}
    if as_json:
        _print_json(data)
        return
    rows = [
        ["instance", f"{inst.name} ({inst.num_requests} requests, memory {inst.memory})"],
        ["backend", result.backend],
        ["status", result.status.value],
        ["objective", f"{_fmt(data['objective'])} (total latency, rounds)"],
        ["bound", f"{_fmt(result.bound)} ({result.bound_source or '-'})"],
        ["gap", _fmt(result.gap)],
        ["seconds", f"{result.runtime_s:.3f}"],
        ["starts", " ".join(map(str, data["starts"] or [])) or "-"],
    ]
    typer.echo(_pairs(rows))


# ------------------------------------------------------------------------------------ export
@app.command()
def export(
    instance: Annotated[Path, typer.Argument(help="Instance JSON file.")],
    fmt: Annotated[ExportFormat, typer.Option("--format", help="File format.")],
    out: Annotated[Path, typer.Option(help="Model file to write.")],
) -> None:
    """Write the hindsight integer program (as solve builds it) for other solvers."""
    from kvopt.hindsight.milp.export import export_model
    from kvopt.read import read_instance

    with _errors():
        _check_target(out)
        export_model(read_instance(instance), out, fmt.value)
    typer.echo(f"wrote {out}")


POLICIES_HELP = ("'all', or comma-separated policy names: each one's verified total latency "
                 "and certified gap, and in the JSON the start rounds of the best schedule "
                 "found, to re-verify.")


@app.command()
def bound(
    instance: Annotated[Path, typer.Argument(help="Instance JSON file.")],
    time_limit: Annotated[float | None, typer.Option(
        min=0.0, help="Seconds for each LP (--deadline-cuts runs two).")] = None,
    lp: Annotated[bool | None, typer.Option(
        help="Also solve the LP relaxation (default: only up to 2,000 requests).")] = None,
    moves: Annotated[int, typer.Option(
        help="Local moves improving the best priority list (seeded; 0.3-0.5 s each at 10,000 "
             "requests).", min=0)] = 0,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the local moves.")] = 0,
    restarts: Annotated[int, typer.Option(
        min=1, max=MAX_PARALLEL, help="Independent searches of --moves moves each, in parallel; "
                                      "the best is kept.")] = 1,
    kth_seconds: Annotated[float | None, typer.Option(min=0.0, help=KTH_HELP)] = None,
    deadline_cuts: Annotated[bool, typer.Option(
        help="Also separate deadline cuts in the LP (CP-SAT), once the other cuts are "
             "done.")] = False,
    policies: Annotated[str | None, typer.Option(help=POLICIES_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the best certified lower bound on the hindsight optimum and which relaxation gave it,
    MC-SF's total latency, the best priority-list schedule's, and the certified gaps
    (cost - bound) / cost; with --policies, each policy's too."""
    from kvopt.hindsight.bounds import best_bound
    from kvopt.hindsight.incumbents import improved_priority_list, warm_start_schedule
    from kvopt.policies.names import display_name
    from kvopt.read import read_instance
    from kvopt.verify import verify

    try:
        with _errors():
            names = _parse_policies(policies) if policies is not None else None
            inst = read_instance(instance)
            mcsf = warm_start_schedule(inst) if len(inst) else None
            upper = verify(inst, mcsf).total_latency if mcsf is not None else 0
            listed, best, key = (improved_priority_list(
                inst, np.random.default_rng(seed), moves=moves, restarts=restarts)
                if len(inst) else (None, 0, "-"))
            use_lp = lp if lp is not None else inst.num_requests <= 2000
            _needs_cpsat(inst, "--kth-seconds", kth_seconds is not None)
            _needs_cpsat(inst, "--deadline-cuts", deadline_cuts)
            result = best_bound(inst, upper_bound=min(upper, best), time_limit_s=time_limit,
                                use_lp=use_lp, kth_time_limit_s=kth_seconds,
                                deadline_cuts=deadline_cuts)
            ran = _policy_costs(inst, names) if names is not None else None
    except KeyboardInterrupt:
        raise _interrupted() from None

    def gap(cost: int) -> float:
        return (cost - result.value) / cost if cost else 0.0

    data = {"instance": inst.name, **result.to_dict(), "mcsf_total_latency": upper,
            "mcsf_gap": gap(upper), "best_known_total_latency": best, "best_known_source": key,
            "best_known_gap": gap(best)}
    rows = [["instance", inst.name], ["bound", f"{result.value} rounds"],
            ["source", result.source], ["seconds", f"{result.runtime_s:.3f}"],
            ["MC-SF total latency", f"{upper} rounds (certified gap {gap(upper):.2%})"],
            ["best known schedule", (f"{best} rounds, priority list by {key} "
                                     f"(certified gap {gap(best):.2%})")]]
    if ran is None:
        if as_json:
            _print_json(data)
        else:
            typer.echo(_pairs(rows))
        return
    # --policies (new keys only then: the recorded `bound --json` outputs stay as they were)
    candidates = [("MC-SF", mcsf, upper), (f"priority list by {key}", listed, best)]
    candidates += [(display_name(name), sched, cost)
                   for name, (sched, cost, clearings) in ran.items()
                   if clearings == 0]   # a schedule with clearings is not its start rounds
    source, schedule, cost = min((c for c in candidates if c[1] is not None),
                                 key=lambda c: c[2], default=("-", None, 0))
    data["gap_convention"] = "(total_latency - bound) / total_latency"
    data["policies"] = {name: {"total_latency": c, "gap": gap(c), "num_clearings": k}
                        for name, (_, c, k) in ran.items()}
    data["best_schedule"] = {
        "total_latency": cost, "gap": gap(cost), "source": source,
        "starts": [] if schedule is None else schedule.final_starts().tolist()}
    if as_json:
        _print_json(data)
        return
    rows.append(["best schedule", f"{cost} rounds, {source} (certified gap {gap(cost):.2%})"])
    table = _table([[display_name(name), name, str(c), f"{gap(c):.2%}", str(k)]
                    for name, (_, c, k) in ran.items()],
                   ["policy", "key", "total latency", "certified gap", "clearings"])
    typer.echo(_pairs(rows) + "\n\n" + table + "\n\ncertified gap = (total latency - bound) / "
               "total latency: the share of its cost by\nwhich a schedule may at most exceed "
               "the optimum")


def _policy_costs(inst, names: tuple[str, ...]) -> dict[str, tuple]:
    """Each policy's verified ``(schedule, total latency, clearings)`` on ``inst``, run with the
    random stream ``kvopt ratio`` gives it."""
    from kvopt.experiments.runner import instance_digest, run_policy

    digest = instance_digest(inst)
    out = {}
    for name in names:
        schedule, evaluation = run_policy(inst, name, digest)
        out[name] = (schedule, evaluation.total_latency, evaluation.num_clearings)
    return out
