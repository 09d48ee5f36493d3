"""Commands that make or inspect inputs: ``generate``, ``import-trace``, ``calibrate``,
``profiles``, ``show-versions``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kvopt.cli._app import (
    Arrivals,
    _check_target,
    _errors,
    _print_json,
    app,
    generate_app,
)
from kvopt.exceptions import KvoptError
from kvopt.policies import POLICIES


# ---------------------------------------------------------------------------------- generate
@generate_app.command("synthetic")
def generate_synthetic(
    arrivals: Annotated[Arrivals, typer.Option(help="All at round 0, or Poisson per round.")],
    seed: Annotated[int, typer.Option(
        min=0, help="Seed of the whole set (required: no default).")],
    out: Annotated[Path, typer.Option(help="File (count 1) or directory (count > 1).")],
    count: Annotated[int, typer.Option(min=1, help="Number of instances.")] = 1,
    num_requests: Annotated[int | None, typer.Option(
        min=1, help="Fix n (default: the paper's distribution).")] = None,
    intervals: Annotated[str | None, typer.Option(
        help="Write lower/upper: g1 (global), g2 (classes), g3 (per-request alpha).")] = None,
    alpha: Annotated[float | None, typer.Option(help="Interval quality lower/upper in (0, 1].")]
    = None,
    placement: Annotated[str | None, typer.Option(help="g3: uniform, low or high.")] = None,
    miss_prob: Annotated[float | None, typer.Option(help="g2: chance of a neighbouring class.")]
    = None,
    classes: Annotated[str | None, typer.Option(help="g2: geometric or quantile.")] = None,
) -> None:
    """The paper's synthetic instances (spec section 6), seeded; with --intervals, interval
    predictions (specs/prediction-intervals-and-bins.md A6) from a stream of the same seed."""
    from kvopt.generate import synthetic_set
    from kvopt.sim.intervals import interval_model, interval_stream, with_intervals

    with _errors():
        try:
            model = interval_model(intervals, alpha, placement, miss_prob, classes)
        except ValueError as exc:
            raise KvoptError(str(exc)) from None
        if count == 1:
            _check_target(out)
        elif out.exists() and not out.is_dir():
            raise KvoptError(f"{out}: exists and is not a directory (count > 1 writes a directory)")
        instances = synthetic_set(arrivals.value, seed, count, num_requests=num_requests)
        if model is not None:
            instances = [with_intervals(inst, model, interval_stream(seed, j))
                         for j, inst in enumerate(instances)]
        _write_set(out, instances)


def _write_set(out: Path, instances: list) -> None:
    """One instance to the file ``out``; several to the directory ``out``, one file each."""
    from kvopt.read import write_instance

    if len(instances) == 1:
        write_instance(out, instances[0])
        typer.echo(f"wrote {out}")
    else:
        out.mkdir(parents=True, exist_ok=True)
        for inst in instances:
            write_instance(out / f"{inst.name}.json", inst)
        typer.echo(f"wrote {len(instances)} instances to {out}")


@generate_app.command("hetero")
def generate_hetero(
    arrivals: Annotated[Arrivals, typer.Option(help="All at round 0, or Poisson per round.")],
    seed: Annotated[int, typer.Option(
        min=0, help="Seed of the whole set (required: no default).")],
    out: Annotated[Path, typer.Option(help="File (count 1) or directory (count > 1).")],
    count: Annotated[int, typer.Option(min=1, help="Number of instances.")] = 1,
    num_requests: Annotated[int | None, typer.Option(
        min=1, help="Fix n (default: the paper's distribution).")] = None,
    memory: Annotated[int | None, typer.Option(
        min=2, help="KV capacity M (default U{30..50}; 16492 with --prompts-from).")] = None,
    prompt_max: Annotated[int | None, typer.Option(
        min=1, help="Uniform prompts U{1..P} (default M // 2).")] = None,
    prompts_from: Annotated[Path | None, typer.Option(
        help="Resample prompts from this trace CSV (Vidur, Azure or lengths-only).")] = None,
) -> None:
    """Heterogeneous prompts: the paper's arrivals and outputs U{1..M - s}, prompts uniform over
    a wide range or resampled from a real trace's prompts, seeded."""
    from kvopt.generate import hetero_set
    from kvopt.read import read_trace_columns

    with _errors():
        if prompts_from is not None and prompt_max is not None:
            raise KvoptError("--prompt-max: not with --prompts-from (prompts come from the trace)")
        if count == 1:
            _check_target(out)
        elif out.exists() and not out.is_dir():
            raise KvoptError(f"{out}: exists and is not a directory (count > 1 writes a directory)")
        pool = None if prompts_from is None else read_trace_columns(prompts_from)["prompt"]
        prefix = f"hetero-{arrivals.value}"
        if prompts_from is not None:
            prefix += f"-{prompts_from.stem}"
        try:
            instances = hetero_set(arrivals.value, seed, count, num_requests=num_requests,
                                   memory=memory, prompt_max=prompt_max, prompt_pool=pool,
                                   prefix=prefix)
        except ValueError as exc:
            option = "--prompts-from" if prompts_from is not None else "--prompt-max"
            raise KvoptError(f"{option}: {exc}") from None
        _write_set(out, instances)


# ----------------------------------------------------------------------------- show-versions
@generate_app.command("adversarial")
def generate_adversarial(
    n: Annotated[int, typer.Option("--n", help="Number of requests (one long + n-1 short).")],
    out: Annotated[Path, typer.Option(help="Output JSON file.")],
    policy: Annotated[str, typer.Option(help="Deterministic policy the arrivals adapt to.")]
    = "mcsf",
    long_output: Annotated[int | None, typer.Option(
        min=2, help="Output of the long request.")] = None,
) -> None:
    """Arrivals adapted to a deterministic online policy (the order-sqrt(n) construction)."""
    from kvopt.adversarial import adaptive_adversarial_instance
    from kvopt.read import write_instance

    with _errors():
        if n < 2:
            raise KvoptError("--n must be at least 2")
        if policy not in POLICIES:
            raise KvoptError(f"--policy: unknown policy '{policy}'")
        _check_target(out)
        inst = adaptive_adversarial_instance(POLICIES[policy], n - 1, long_output=long_output)
        write_instance(out, inst.replace(name=out.stem))
    typer.echo(f"wrote {out} ({inst.num_requests} requests, memory {inst.memory})")


# ------------------------------------------------------------------------------ import-trace
@app.command("import-trace")
def import_trace(
    trace: Annotated[Path, typer.Argument(help="Trace CSV (Vidur, Azure or lengths-only).")],
    memory: Annotated[int, typer.Option(min=1, help="KV capacity M in tokens.")],
    round_seconds: Annotated[float, typer.Option(help="Length of one round in seconds.")],
    out: Annotated[Path, typer.Option(help="Instance JSON file to write.")],
    limit: Annotated[int | None, typer.Option(min=0, help="Keep the first N requests.")] = None,
    drop_oversized: Annotated[bool, typer.Option(
        help="Drop requests with prompt + output > memory instead of failing.")] = False,
    trace_format: Annotated[str, typer.Option("--format", help=(
        "auto (follows the header), vidur, azure, or lengths (every request at round 0, even "
        "when the file has a time column)."))] = "auto",
) -> None:
    """Convert a request trace into an instance (arrival round = floor(seconds / round length)).

    The CSV is UTF-8 (a byte-order mark is fine); Azure timestamps are UTC. Rows out of time
    order are sorted, with a warning on stderr."""
    import warnings

    from kvopt.read import TraceWarning, read_trace, write_instance

    with _errors(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TraceWarning)
        _check_target(out)
        inst = read_trace(trace, memory=memory, round_s=round_seconds, limit=limit,
                          drop_oversized=drop_oversized,
                          fmt=None if trace_format == "auto" else trace_format)
        for w in caught:
            typer.echo("warning: " + " ".join(str(w.message).split()), err=True)
        write_instance(out, inst)
    typer.echo(f"wrote {out} ({inst.num_requests} requests)")


@app.command()
def calibrate(
    tables: Annotated[list[Path], typer.Argument(help="Vidur predicted batch-time CSVs.")],
    splitwise: Annotated[Path | None, typer.Option(help="splitwise perf_model.csv")] = None,
    knee_tokens: Annotated[float | None, typer.Option(
        min=0.0, help="Fix the roofline knee.")] = None,
    profile: Annotated[str | None, typer.Option(help="Check this profile's model instead.")]
    = None,
) -> None:
    """Refit the batch-time model from profile CSVs (or check a profile) and report its error."""
    from kvopt.calibrate import calibrate as run_calibrate
    from kvopt.profiles import load_profile

    with _errors():
        prof = load_profile(profile) if profile else None
        report = run_calibrate(tables, splitwise=splitwise, knee_tokens=knee_tokens, profile=prof)
    typer.echo(report.format())


@app.command()
def profiles(
    name: Annotated[str | None, typer.Argument(help="Show one profile.")] = None,
) -> None:
    """List the shipped hardware/model profiles (kvopt/data/models/), or show one."""
    from kvopt.profiles import MODELS_DIR, ProfileError, available_profiles, load_profile

    with _errors():
        if name is None:
            if not (names := available_profiles()):
                raise ProfileError(f"no profiles found in {MODELS_DIR}: this kvopt installation "
                                   "lacks its package data (data/models/*.toml); reinstall it")
            typer.echo("\n".join(names))
            return
        _print_json(load_profile(name).to_dict())


@app.command("show-versions")
def show_versions() -> None:
    """kvopt, Python, numpy, highspy, pulp, CBC and OR-Tools versions."""
    from kvopt.show_versions import show_versions as text

    typer.echo(text())
