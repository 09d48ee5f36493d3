"""What every ``kvopt`` command shares: the typer app, the registries' choices, option help
texts, and the one way a command fails (one line on stderr, exit code 2)."""


from __future__ import annotations

import contextlib
import enum
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from kvopt.exceptions import KvoptError
from kvopt.hindsight.milp.backends import BACKENDS
from kvopt.policies import POLICIES

app = typer.Typer(
    name="kvopt", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    help="Hindsight-optimal and online scheduling of LLM inference under a KV-cache limit.",
)


def _print_version(value: bool) -> None:
    if value:
        from kvopt import __version__

        typer.echo(f"kvopt {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True,
        help="Print kvopt's version and exit.")] = False,
) -> None:
    """Hindsight-optimal and online scheduling of LLM inference under a KV-cache limit."""


generate_app = typer.Typer(no_args_is_help=True, help="Write generated instances as JSON.")
app.add_typer(generate_app, name="generate")

# Choices follow the registries (mypy cannot see members of an Enum built at import time).
PolicyName = enum.Enum("PolicyName", {k: k for k in POLICIES}, type=str)  # type: ignore[misc]
#: the registered policies whose decisions depend on predictions (``simulate --eps``)
PREDICTION_READERS = ", ".join(k for k, spec in POLICIES.items() if spec.reads_predictions)
BackendName = enum.Enum("BackendName", {k: k for k in BACKENDS}, type=str)  # type: ignore[misc]


class Arrivals(enum.StrEnum):
    zero = "zero"
    poisson = "poisson"


class ExportFormat(enum.StrEnum):
    mps = "mps"
    lp = "lp"


EXIT_BAD_INPUT = 2
#: exit code after Ctrl-C (128 + SIGINT, as a shell reports it)
EXIT_INTERRUPTED = 130
#: the most --threads and --workers accepted (kvopt.experiments.jobs.MAX_WORKERS): more is a
#: typing error; a fixed number, so the limit does not depend on the machine
MAX_PARALLEL = 256


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
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip()
              for row in rows]
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


def _parse_policies(text: str) -> tuple[str, ...]:
    """``--policies``: 'all' or comma-separated registered names (duplicates dropped)."""
    if text.strip() == "all":
        return tuple(POLICIES)
    names = tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))
    if not names:
        raise KvoptError("--policies: no policy named")
    if unknown := [p for p in names if p not in POLICIES]:
        raise KvoptError(f"--policies: unknown policy '{unknown[0]}'; choose from "
                         f"{', '.join(POLICIES)} or all")
    return names


def _interrupted(message: str = "interrupted") -> typer.Exit:
    """Ctrl-C: one line on stderr, exit code 130."""
    typer.echo(message, err=True)
    return typer.Exit(EXIT_INTERRUPTED)


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
