"""The ``kvopt`` command line: parse, call the library, print.

Every :class:`~kvopt.exceptions.KvoptError` (a bad instance, an unreadable file, ...) and every
``OSError`` ends the command with one line ``error: <file>: <what>`` on stderr and exit code 2,
before anything is written. Numbers printed come from schedules that passed
:func:`kvopt.verify.verify`.
"""

from __future__ import annotations

import contextlib
import enum
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from kvopt.exceptions import KvoptError
from kvopt.hindsight.incumbents import SERIAL_MOVES
from kvopt.hindsight.milp.backends import BACKENDS
from kvopt.policies import POLICIES

__all__ = ["app", "main"]

app = typer.Typer(
    name="kvopt", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    help="Hindsight-optimal and online scheduling of LLM inference under a KV-cache limit.",
)
generate_app = typer.Typer(no_args_is_help=True, help="Write generated instances as JSON.")
app.add_typer(generate_app, name="generate")

# Choices follow the registries (mypy cannot see members of an Enum built at import time).
PolicyName = enum.Enum("PolicyName", {k: k for k in POLICIES}, type=str)  # type: ignore[misc]
BackendName = enum.Enum("BackendName", {k: k for k in BACKENDS}, type=str)  # type: ignore[misc]


class Arrivals(enum.StrEnum):
    zero = "zero"
    poisson = "poisson"


class ExportFormat(enum.StrEnum):
    mps = "mps"
    lp = "lp"


EXIT_BAD_INPUT = 2


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    line = " ".join(str(message).split())  # one line, whatever the message holds
    typer.echo(f"error: {line}", err=True)
    return typer.Exit(code)


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """Turn kvopt's and the file system's errors into one line on stderr and exit code 2."""
    try:
        yield
    except KvoptError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        where = exc.filename if exc.filename is not None else "file"
        raise _fail(f"{where}: {exc.strerror or exc}") from None


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data))


def _fmt(x: float | None, digits: int = 4) -> str:
    if x is None:
        return "-"
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    return f"{x:.{digits}g}" if isinstance(x, float) else str(x)


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths, strict=False)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip() for row in rows]
    return "\n".join(lines)


def _pairs(rows: list[list[str]]) -> str:
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def _check_target(path: Path) -> None:
    """Fail (before any work) when ``path`` cannot be written as a file."""
    if path.is_dir():
        raise KvoptError(f"{path}: is a directory, expected a file name")


KTH_HELP = ("Seconds for bounding each k-th completion by the least makespan of any k "
            "requests (CP-SAT): a sum bound, and completion caps for the LP.")


SERIAL_HELP = ("Moves of the serial priority-list search (rounds can be held for later "
               "arrivals) improving the incumbent before each solve.")


DEADLINE_HELP = ("Seconds kept back from the solver for the certified LP with deadline cuts "
                 "(CP-SAT), run after it when it proved nothing.")


def _needs_cpsat(inst, option: str, used: bool) -> None:
    """``option``, when ``used``, needs OR-Tools and a model CP-SAT can hold (``inst``, if
    given): one line if not."""
    if not used:
        return
    from kvopt.hindsight.exact import cpsat

    if not cpsat.cpsat_available():
        raise KvoptError(f"{option} needs OR-Tools: pip install 'kvopt[cpsat]'")
    if inst is not None:
        cpsat.check_size(inst)


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
        min=1, help="Solver threads (HiGHS, CBC) or CP-SAT workers (CP-SAT runs beside the LP, "
                    "which takes one more thread).")] = 1,
    kth_seconds: Annotated[float | None, typer.Option(min=0.0, help=KTH_HELP)] = None,
    deadline_seconds: Annotated[float | None, typer.Option(min=0.0, help=DEADLINE_HELP)] = None,
) -> None:
    """Solve the hindsight integer program: status, objective (total latency), bound, starts."""
    from kvopt.hindsight.solve import solve as solve_instance
    from kvopt.read import read_instance

    with _errors():
        inst = read_instance(instance)
        _needs_cpsat(inst, "--kth-seconds", kth_seconds is not None)
        _needs_cpsat(inst, "--deadline-seconds", deadline_seconds is not None)
        result = solve_instance(inst, str(getattr(backend, "value", backend)),
                                time_limit_s=time_limit, local_search_evaluations=local_search,
                                serial_moves=serial_moves, threads=threads,
                                kth_time_limit_s=kth_seconds,
                                deadline_time_limit_s=deadline_seconds)
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


# ---------------------------------------------------------------------------------- simulate
@app.command()
def simulate(
    instance: Annotated[Path, typer.Argument(help="Instance JSON file.")],
    policy: Annotated[PolicyName, typer.Option(help="Online policy.")],  # type: ignore[valid-type]
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    eps: Annotated[float, typer.Option(
        min=0.0, help="MC-SF/MC-Benchmark: relative prediction error; p = rint(o (1 + U[-eps, eps]))."
    )] = 0.0,
    margin: Annotated[float, typer.Option(
        min=0.0, help="MC-SF/MC-Benchmark: protection margin; plans with ceil(p (1 + margin)).")] = 0.0,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the run's random stream.")] = 0,
) -> None:
    """Run an online policy in the simulator; verify its schedule; print its latency."""
    from kvopt.read import read_instance
    from kvopt.sim.engine import simulate as run_policy
    from kvopt.verify import verify

    name = str(getattr(policy, "value", policy))
    with _errors():
        inst = read_instance(instance)
        if eps or margin:
            from kvopt.policies.mcsf import McSf

            if not issubclass(POLICIES[name], McSf):
                raise KvoptError(f"--eps and --margin apply to mcsf and mc-benchmark, not {name}")
            policy_obj = POLICIES[name](eps=eps, margin=margin)
        else:
            policy_obj = POLICIES[name]()
        schedule = run_policy(inst, policy_obj, rng=np.random.default_rng(seed))
        evaluation = verify(inst, schedule)
    data = {
        "instance": inst.name, "policy": name,
        "total_latency": evaluation.total_latency, "average_latency": evaluation.average_latency,
        "num_clearings": evaluation.num_clearings,
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
        ["clearings", str(evaluation.num_clearings)],
        ["peak memory", f"{evaluation.peak_memory_tokens} tokens"],
        ["starts", " ".join(map(str, data["starts"])) or "-"],
    ]
    typer.echo(_pairs(rows))


# ------------------------------------------------------------------------------------- ratio
def _parse_policies(text: str) -> tuple[str, ...]:
    if text.strip() == "all":
        return tuple(POLICIES)
    names = tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))
    if not names:
        raise KvoptError("--policies: no policy named")
    if unknown := [p for p in names if p not in POLICIES]:
        raise KvoptError(f"--policies: unknown policy '{unknown[0]}'; choose from "
                         f"{', '.join(POLICIES)} or all")
    return names


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
        help="Directory for ratios.csv, summary.csv, results.json and instances/<name>.json; "
             "a rerun reuses finished instances.")] = None,
    workers: Annotated[int | None, typer.Option(
        min=1, help="Local worker processes (default: CPU count).")] = None,
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
    from kvopt.experiment import ExperimentConfig, run, write_outputs

    with _errors():
        names = _parse_policies(policies)
        if out is not None and out.exists() and not out.is_dir():
            raise KvoptError(f"{out}: exists and is not a directory")
        _needs_cpsat(None, "--kth-seconds", kth_seconds is not None)
        _needs_cpsat(None, "--deadline-seconds", deadline_seconds is not None)
        config = ExperimentConfig(names, str(getattr(backend, "value", backend)), time_limit,
                                  local_search, kth_seconds, deadline_seconds, serial_moves)
        result = run(inputs, config, out_dir=out, workers=workers, scheduler=scheduler,
                     progress=progress)
        if out is not None:
            write_outputs(result, out)
    if as_json:
        _print_json(result.to_dict())
    else:
        if result.records:
            typer.echo(_ratio_tables(result))
        if out is not None:
            typer.echo(f"\nwrote {out}/ratios.csv, summary.csv, results.json "
                       f"({result.num_reused} instance(s) reused)")
    if result.failures:
        for name, err in result.failures:
            typer.echo("error: " + " ".join(f"{name}: {err}".split()), err=True)
        raise typer.Exit(1)


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
) -> None:
    """The paper's synthetic instances (spec section 6), seeded."""
    from kvopt.generate import synthetic_set
    from kvopt.read import write_instance

    with _errors():
        if count == 1:
            _check_target(out)
        elif out.exists() and not out.is_dir():
            raise KvoptError(f"{out}: exists and is not a directory (count > 1 writes a directory)")
        instances = synthetic_set(arrivals.value, seed, count, num_requests=num_requests)
        if count == 1:
            write_instance(out, instances[0])
            typer.echo(f"wrote {out}")
        else:
            out.mkdir(parents=True, exist_ok=True)
            for inst in instances:
                write_instance(out / f"{inst.name}.json", inst)
            typer.echo(f"wrote {count} instances to {out}")


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
) -> None:
    """Convert a request trace into an instance (arrival round = floor(seconds / round length))."""
    from kvopt.read import read_trace, write_instance

    with _errors():
        _check_target(out)
        inst = read_trace(trace, memory=memory, round_s=round_seconds, limit=limit,
                          drop_oversized=drop_oversized)
        write_instance(out, inst)
    typer.echo(f"wrote {out} ({inst.num_requests} requests)")


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
    """List the hardware/model profiles in models/, or show one."""
    from kvopt.profiles import available_profiles, load_profile

    with _errors():
        if name is None:
            typer.echo("\n".join(available_profiles()))
            return
        _print_json(load_profile(name).to_dict())


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
        min=1, help="Independent searches of --moves moves each, in parallel; the best "
                    "is kept.")] = 1,
    kth_seconds: Annotated[float | None, typer.Option(min=0.0, help=KTH_HELP)] = None,
    deadline_cuts: Annotated[bool, typer.Option(
        help="Also separate deadline cuts in the LP (CP-SAT), once the other cuts are "
             "done.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the best certified lower bound on the hindsight optimum and which relaxation gave it,
    MC-SF's total latency, the best priority-list schedule's, and the certified gaps."""
    from kvopt.hindsight.bounds import best_bound
    from kvopt.hindsight.incumbents import improved_priority_list, warm_start_schedule
    from kvopt.read import read_instance
    from kvopt.verify import verify

    with _errors():
        inst = read_instance(instance)
        upper = verify(inst, warm_start_schedule(inst)).total_latency if len(inst) else 0
        best, key = (improved_priority_list(inst, np.random.default_rng(seed), moves=moves,
                                            restarts=restarts)[1:]
                     if len(inst) else (0, "-"))
        use_lp = lp if lp is not None else inst.num_requests <= 2000
        _needs_cpsat(inst, "--kth-seconds", kth_seconds is not None)
        _needs_cpsat(inst, "--deadline-cuts", deadline_cuts)
        result = best_bound(inst, upper_bound=min(upper, best), time_limit_s=time_limit,
                            use_lp=use_lp, kth_time_limit_s=kth_seconds,
                            deadline_cuts=deadline_cuts)

    def gap(cost: int) -> float:
        return (cost - result.value) / cost if cost else 0.0

    data = {"instance": inst.name, **result.to_dict(), "mcsf_total_latency": upper,
            "mcsf_gap": gap(upper), "best_known_total_latency": best, "best_known_source": key,
            "best_known_gap": gap(best)}
    if as_json:
        _print_json(data)
        return
    typer.echo(_pairs([["instance", inst.name], ["bound", f"{result.value} rounds"],
                       ["source", result.source], ["seconds", f"{result.runtime_s:.3f}"],
                       ["MC-SF total latency", f"{upper} rounds (certified gap {gap(upper):.2%})"],
                       ["best known schedule", (f"{best} rounds, priority list by {key} "
                                               f"(certified gap {gap(best):.2%})")]]))


@app.command("show-versions")
def show_versions() -> None:
    """kvopt, Python, numpy, highspy, pulp, CBC and OR-Tools versions."""
    from kvopt.show_versions import show_versions as text

    typer.echo(text())


def _click_error() -> type[Exception]:
    """The ``ClickException`` class of the click that typer runs on (recent typer versions carry
    their own copy of click, older ones use the ``click`` package)."""
    return next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def main(argv: list[str] | None = None) -> None:
    """The ``kvopt`` console script: :data:`app`, with a usage error (an unknown option, a
    value out of its range) printed like bad input, as one line ``error: <command>: <what>``
    on stderr with exit code 2, instead of typer's boxed usage text."""
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="kvopt", standalone_mode=False)
    except _click_error() as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":    # `kvopt` alone: the help text
            typer.echo(exc.format_message(), err=True)
            raise SystemExit(exc.exit_code) from None
        ctx = getattr(exc, "ctx", None)
        where = ctx.command_path if ctx is not None else "kvopt"
        _fail(f"{where}: {exc.format_message()}")
        raise SystemExit(exc.exit_code) from None
    except typer.Abort:
        typer.echo("aborted", err=True)
        raise SystemExit(1) from None
    raise SystemExit(code if isinstance(code, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
