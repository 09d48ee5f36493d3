"""``kvopt simulate`` and ``kvopt ratio``: online policies, alone and against hindsight."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from kvopt.cli._app import (
    DEADLINE_HELP,
    KTH_HELP,
    MAX_PARALLEL,
    PREDICTION_READERS,
    SERIAL_HELP,
    BackendName,
    PolicyName,
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
from kvopt.exceptions import KvoptError
from kvopt.hindsight.incumbents import SERIAL_MOVES
from kvopt.policies import POLICIES


# ---------------------------------------------------------------------------------- simulate
@app.command()
def simulate(
    instance: Annotated[Path, typer.Argument(help="Instance JSON file.")],
    policy: Annotated[PolicyName, typer.Option(help="Online policy.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    eps: Annotated[float, typer.Option(
        min=0.0, help="Relative error of the predictions the environment gives (read by "
                      f"{PREDICTION_READERS}): p = rint(o (1 + U[-eps, eps])).")] = 0.0,
    margin: Annotated[float, typer.Option(
        min=0.0, help="Protection margin added to those predictions: ceil(p (1 + margin)).")]
    = 0.0,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the run's random stream.")] = 0,
) -> None:
    """Run an online policy in the simulator; verify its schedule; print its latency."""
    # --eps and --margin describe the environment, not the policy: they make the point
    # predictions every policy is shown, drawn from the seeded stream before the run (the draws
    # MC-SF once made itself at reset, so results are unchanged). They are refused for a policy
    # that does not read predictions, whose result they could not change.
    # The instance's lower/upper columns are the intervals; H-SF, a clairvoyant reference, is
    # always given the true outputs (its PolicySpec.predictions). `evictions` and
    # `wasted_tokens` come from the verified schedule, for every policy.
    from kvopt.read import read_instance
    from kvopt.sim.engine import simulate as run_policy
    from kvopt.sim.intervals import run_predictions
    from kvopt.verify import verify

    name = str(getattr(policy, "value", policy))
    spec = POLICIES[name]
    with _errors():
        inst = read_instance(instance)
        if (eps or margin) and not spec.reads_predictions:
            raise KvoptError(f"--eps and --margin apply to {PREDICTION_READERS} (the policies "
                             f"that read predictions), not {name}")
        if (eps or margin) and spec.predictions is not None:
            raise KvoptError(f"--eps and --margin: {name} is always given exact predictions")
        rng = np.random.default_rng(seed)
        predictions = run_predictions(inst, rng, eps=eps, margin=margin, own=spec.predictions)
        schedule = run_policy(inst, spec(), rng=rng, predicted=predictions)
        evaluation = verify(inst, schedule)
    data = {
        "instance": inst.name, "policy": name,
        "total_latency": evaluation.total_latency, "average_latency": evaluation.average_latency,
        "num_clearings": evaluation.num_clearings, "evictions": evaluation.num_clearings,
        "wasted_tokens": evaluation.wasted_tokens,
        "peak_memory_tokens": evaluation.peak_memory_tokens, **schedule.to_dict(),
    }
    if as_json:
        _print_json(data)
        return
    rows = [
        ["instance", f"{inst.name} ({inst.num_requests} requests, memory {inst.memory})"],
        ["policy", name],
        ["total latency", f"{evaluation.total_latency} rounds"],
        ["average latency", f"{evaluation.average_latency:.4g} rounds"],
        ["clearings", f"{evaluation.num_clearings} ({evaluation.wasted_tokens} tokens wasted)"],
        ["peak memory", f"{evaluation.peak_memory_tokens} tokens"],
        ["starts", " ".join(map(str, data["starts"])) or "-"],
    ]
    typer.echo(_pairs(rows))


# ------------------------------------------------------------------------------------- ratio
def _ratio_tables(result: Any) -> str:
    from kvopt.ratio import RatioReport, format_interval

    rows = []
    for rec in result.records:
        hs = rec["hindsight"]
        for p in result.config.policies:
            pr = rec["policies"][p]
            rep = RatioReport.from_dict(pr["ratio"])
            rows.append([rec["instance"], str(rec["num_requests"]), p, str(pr["total_latency"]),
                         _fmt(hs["objective"]), _fmt(hs["bound"]), hs["status"],
                         format_interval((rep.low, rep.high))])
    out = [_table(rows, ["instance", "n", "policy", "cost", "hindsight", "bound", "status",
                         "ratio"])]
    rows = []
    for p, s in result.summaries().items():
        rows.append([p, str(s.num_instances), format_interval(s.mean), format_interval(s.best),
                     format_interval(s.worst),
                     f"{s.num_exactly_optimal} of {s.num_instances}",
                     f"{s.num_proven} of {s.num_instances}"])
    out.append(_table(rows, ["policy", "instances", "mean", "best", "worst",
                             "exactly optimal", "optimum proven"]))
    note = ("ratio = policy cost / hindsight optimum (total latency, rounds); [lo, hi] where the\n"
            "optimum is unproven: [cost/objective, cost/bound]. Aggregates take each statistic\n"
            "over the lower ends and over the upper ends separately.")
    out.append(note)
    return "\n\n".join(out)


@app.command()
def ratio(
    inputs: Annotated[list[Path], typer.Argument(
        help="Instance files and/or directories of *.json instances (not recursive).")],
    policies: Annotated[str, typer.Option(
        help="'all', or comma-separated names from: " + ", ".join(POLICIES))] = "mcsf",
    backend: Annotated[BackendName, typer.Option(help="Solver backend.")] = "highs",  # type: ignore[assignment]
    time_limit: Annotated[float | None, typer.Option(
        "--time-limit", min=0.0,
        help="Seconds per hindsight solve; unproven optima give ratio intervals.")] = 60.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
    out: Annotated[Path | None, typer.Option(
        help="Directory for ratios.csv, summary.csv, results.json and the records "
             "(hindsight/<instance>.json, policies/<instance>/<policy>.json); a rerun reuses "
             "every stored record, so adding a policy reuses the hindsight solves.")] = None,
    workers: Annotated[int | None, typer.Option(
        min=1, max=MAX_PARALLEL, help="Local worker processes (default: CPU count).")] = None,
    scheduler: Annotated[str | None, typer.Option(
        help="dask.distributed scheduler address (needs the dask extra).")] = None,
    progress: Annotated[bool, typer.Option(help="Progress bar on stderr.")] = True,
    local_search: Annotated[int, typer.Option(
        min=0, help="Local-search moves improving MC-SF's schedule before each solve.")] = 0,
    serial_moves: Annotated[int, typer.Option(min=0, help=SERIAL_HELP)] = SERIAL_MOVES,
    kth_seconds: Annotated[float | None, typer.Option(min=0.0, help=KTH_HELP)] = None,
    deadline_seconds: Annotated[float | None, typer.Option(min=0.0, help=DEADLINE_HELP)] = None,
) -> None:
    """Competitive ratios of online policies against the hindsight optimum."""
    # --out is checked (a writable directory, not an input directory) before any work, and
    # again by run() once the inputs are read. Ctrl-C stops the workers; the records stored so
    # far stay and a rerun with the same --out resumes from them.
    from kvopt.experiments.jobs import check_output_dir
    from kvopt.experiments.runner import ExperimentConfig, RunInterrupted, run, write_outputs

    try:
        with _errors():
            names = _parse_policies(policies)
            if out is not None:
                check_output_dir(out, inputs)
            _needs_cpsat(None, "--kth-seconds", kth_seconds is not None)
            _needs_cpsat(None, "--deadline-seconds", deadline_seconds is not None)
            config = ExperimentConfig(names, str(getattr(backend, "value", backend)), time_limit,
                                      local_search, kth_seconds, deadline_seconds, serial_moves)
            result = run(inputs, config, out_dir=out, workers=workers, scheduler=scheduler,
                         progress=progress)
            if out is not None:
                write_outputs(result, out)
    except RunInterrupted as stop:
        raise _interrupted(f"interrupted: {stop}") from None
    except KeyboardInterrupt:
        raise _interrupted() from None
    for rec in result.records:
        if "hindsight_mode" in rec:
            typer.echo(f"note: {rec['instance']}: hindsight {rec['hindsight_mode']}; its ratios "
                       "are intervals [cost / best schedule, cost / bound]", err=True)
    if as_json:
        _print_json(result.to_dict())
    else:
        if result.records:
            typer.echo(_ratio_tables(result))
        if out is not None:
            typer.echo(f"\nwrote {out}/ratios.csv, summary.csv, results.json "
                       f"({result.num_reused} instance(s) reused, "
                       f"{result.num_hindsight_reused} hindsight solve(s) reused)")
    if result.failures:
        for name, err in result.failures:
            typer.echo("error: " + " ".join(f"{name}: {err}".split()), err=True)
        raise typer.Exit(1)
