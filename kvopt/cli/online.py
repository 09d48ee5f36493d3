"""``kvopt simulate`` and ``kvopt ratio``: online policies, alone and against hindsight."""

from __future__ import annotations

import sys
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
#: the options that only a trace takes (``simulate INSTANCE.json`` refuses them)
_TRACE_ONLY = ("--profile", "--memory", "--rate", "--limit", "--drop-oversized")


def _is_trace(path: Path) -> bool:
    """A trace CSV or an instance JSON: by suffix (``.csv`` / ``.json``), else by content (an
    instance is a JSON object, its first non-blank character ``{``)."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".json"):
        return suffix == ".csv"
    with path.open("rb") as f:
        head = f.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return not head.startswith(b"{")


@app.command()
def simulate(
    instance: Annotated[Path, typer.Argument(
        metavar="INSTANCE_OR_TRACE",
        help="Instance JSON file (a run in rounds), or a request trace CSV, Vidur or Azure "
             "format (a run in seconds; needs --profile).")],
    policy: Annotated[PolicyName, typer.Option(help="Online policy.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    eps: Annotated[float, typer.Option(
        min=0.0, help="Relative error of the predictions the environment gives (read by "
                      f"{PREDICTION_READERS}): p = rint(o (1 + U[-eps, eps])).")] = 0.0,
    margin: Annotated[float, typer.Option(
        min=0.0, help="Protection margin added to those predictions: ceil(p (1 + margin)).")]
    = 0.0,
    seed: Annotated[int, typer.Option(
        min=0, help="Seed of the run's random stream (and of --rate's arrivals).")] = 0,
    profile: Annotated[str | None, typer.Option(
        help="Trace only: LLM x GPU profile (kvopt profiles) giving the batch-time model and "
             "the KV capacity.")] = None,
    memory: Annotated[int | None, typer.Option(
        min=1, help="Trace only: KV capacity M in tokens, instead of the profile's.")] = None,
    rate: Annotated[float | None, typer.Option(
        min=0.0,
        help="Trace only: re-time the requests as a Poisson process at this many requests/s "
             "(drawn from --seed) instead of the trace's timestamps.")] = None,
    limit: Annotated[int | None, typer.Option(
        min=1, help="Trace only: the first N requests (in time order).")] = None,
    drop_oversized: Annotated[bool, typer.Option(
        "--drop-oversized", help="Trace only: drop (and count) requests with prompt + output "
                                 "over the memory instead of refusing the trace.")] = False,
    progress: Annotated[bool, typer.Option(
        help="Trace only: a progress bar on stderr when stderr is a terminal and the run "
             "takes over a second.")] = True,
) -> None:
    """Run an online policy on an instance (rounds) or a trace (seconds); verify; print latency."""
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
        if (eps or margin) and not spec.reads_predictions:
            raise KvoptError(f"--eps and --margin apply to {PREDICTION_READERS} (the policies "
                             f"that read predictions), not {name}")
        if (eps or margin) and spec.predictions is not None:
            raise KvoptError(f"--eps and --margin: {name} is always given exact predictions")
        trace_options = {"--profile": profile is not None, "--memory": memory is not None,
                         "--rate": rate is not None, "--limit": limit is not None,
                         "--drop-oversized": drop_oversized}
        if _is_trace(instance):
            if profile is None:
                raise KvoptError(f"{instance}: a trace runs in seconds and needs --profile "
                                 "(kvopt profiles lists them)")
            _simulate_trace(instance, name, as_json=as_json, eps=eps, margin=margin, seed=seed,
                            profile=profile, memory=memory, rate=rate, limit=limit,
                            drop_oversized=drop_oversized, progress=progress)
            return
        if given := [opt for opt in _TRACE_ONLY if trace_options[opt]]:
            raise KvoptError(f"{instance}: {given[0]} applies to a trace CSV, not to an "
                             "instance JSON")
        inst = read_instance(instance)
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


def _simulate_trace(path: Path, name: str, *, as_json: bool, eps: float, margin: float,
                    seed: int, profile: str, memory: int | None, rate: float | None,
                    limit: int | None, drop_oversized: bool, progress: bool) -> None:
    """``simulate TRACE.csv``: the timed engine on the trace, verified, summarised.

    Streams: ``SeedSequence(seed).spawn(2)``, the first for the Poisson arrivals (``--rate``),
    the second for the run (predictions, then the policy), so that re-timing does not shift
    the policy's draws.
    """
    from kvopt.profiles import load_profile
    from kvopt.read import read_trace_columns
    from kvopt.sim.predictions import PointPredictions
    from kvopt.sim.workload import run_verified, summary, trace_workload

    spec = POLICIES[name]
    prof = load_profile(profile)
    capacity = prof.kv_capacity_tokens if memory is None else memory
    arrival_seq, run_seq = np.random.SeedSequence(seed).spawn(2)
    workload = trace_workload(read_trace_columns(path), limit=limit, rate_per_s=rate,
                              rng=np.random.default_rng(arrival_seq), where=str(path))
    workload = workload.fitting(capacity, drop=drop_oversized, where=str(path))
    if workload.num_requests == 0:
        raise KvoptError(f"{path}: no request fits in memory {capacity}")
    predicted = spec.predictions
    if predicted is None and (eps or margin):
        predicted = PointPredictions(eps=eps, margin=margin)
    bar = None
    if progress:
        from tqdm import tqdm

        # disable=None: no bar unless stderr is a terminal; delay: none for a short run
        bar = tqdm(total=workload.num_requests, unit="req", file=sys.stderr, disable=None,
                   delay=1.0, desc=f"{name} on {path.name}", leave=False)

    def update(done: int) -> None:
        if bar is not None:
            bar.update(done - bar.n)

    try:
        run = run_verified(workload, capacity, spec(), prof.time_model,
                           rng=np.random.default_rng(run_seq), predicted=predicted,
                           name=path.stem, progress=update if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()
    data = {"trace": str(path), "policy": name, "profile": prof.name, "memory": capacity,
            "seed": seed, "rate": rate, "eps": eps, "margin": margin,
            "dropped": workload.dropped, **summary(run)}
    if as_json:
        _print_json(data)
        return

    def sec(x: float | None) -> str:
        return "-" if x is None else f"{x:.4g} s"

    timing = "own timestamps" if rate is None else f"Poisson {rate:g} req/s, seed {seed}"
    rows = [
        ["trace", f"{path} ({data['requests']} requests, {timing}"
                  + (f", {workload.dropped} oversized dropped)" if workload.dropped else ")")],
        ["profile", f"{prof.name} (memory {capacity} tokens)"],
        ["policy", name + (f" (eps {eps:g}, margin {margin:g})" if eps or margin else "")],
        ["completed", f"{data['completed']} of {data['requests']} (makespan "
                      f"{sec(data['makespan_s'])})"],
        ["latency", f"mean {sec(data['mean_latency_s'])}, p50 {sec(data['p50_latency_s'])}, "
                    f"p99 {sec(data['p99_latency_s'])}"],
        ["time to first token", f"mean {sec(data['mean_ttft_s'])}, p99 "
                                f"{sec(data['p99_ttft_s'])}"],
        ["time per output token", f"mean {sec(data['mean_tpot_s'])}"],
        ["throughput", f"{data['throughput_tokens_per_s']:.4g} output tokens/s"],
        ["clearings", f"{data['clearings']} ({data['wasted_tokens']} tokens wasted)"],
        ["peak memory", f"{data['peak_memory_tokens']} tokens"],
    ]
    typer.echo(_pairs(rows))


# ------------------------------------------------------------------------------------- ratio
def _ratio_tables(result: Any) -> str:
    from kvopt.policies.names import display_name
    from kvopt.ratio import RatioReport, format_interval

    rows = []
    for rec in result.records:
        hs = rec["hindsight"]
        for p in result.config.policies:
            pr = rec["policies"][p]
            rep = RatioReport.from_dict(pr["ratio"])
            rows.append([rec["instance"], str(rec["num_requests"]), display_name(p),
                         str(pr["total_latency"]),
                         _fmt(hs["objective"]), _fmt(hs["bound"]), hs["status"],
                         format_interval((rep.low, rep.high))])
    out = [_table(rows, ["instance", "n", "policy", "cost", "hindsight", "bound", "status",
                         "ratio"])]
    rows = []
    for p, s in result.summaries().items():
        rows.append([display_name(p), p, str(s.num_instances), format_interval(s.mean),
                     format_interval(s.best),
                     format_interval(s.worst),
                     f"{s.num_exactly_optimal} of {s.num_instances}",
                     f"{s.num_proven} of {s.num_instances}"])
    out.append(_table(rows, ["policy", "key", "instances", "mean", "best", "worst",
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
