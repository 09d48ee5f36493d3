"""The ``kvopt`` command line: parse, call the library, print.

Every :class:`~kvopt.exceptions.KvoptError` (a bad instance, an unreadable file, ...) and every
``OSError`` ends the command with one line ``error: <file>: <what>`` on stderr and exit code 2,
before anything is written. Numbers printed come from schedules that passed
:func:`kvopt.verify.verify`. The commands live in one module per side: :mod:`.hindsight`
(solve, bound, export), :mod:`.online` (simulate, ratio), :mod:`.data` (generate, import-trace,
calibrate, profiles, show-versions), :mod:`.bins` (bins), :mod:`.experiment` (experiment NAME),
:mod:`.cluster` (cluster);
importing them registers them on :data:`app`.
"""

from __future__ import annotations

from typing import Any

import typer

from kvopt.cli import bins, cluster, data, experiment, hindsight, online
from kvopt.cli._app import _fail, app

__all__ = ["app", "main"]
# imported for their registrations
_COMMAND_MODULES = (hindsight, online, data, bins, experiment, cluster)


def _click_error() -> Any:
    """The ``ClickException`` class of the click that typer runs on (recent typer versions carry
    their own copy of click, older ones use the ``click`` package): no static type to give."""
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
