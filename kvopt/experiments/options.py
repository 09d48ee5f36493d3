"""The options every experiment shares, checked the same way before any work starts.

:class:`ExperimentParser` is ``argparse`` with kvopt's convention for bad input: one line
``error: <what>`` on stderr and exit code 2, no usage text and no traceback.
:meth:`ExperimentParser.parse_checked` parses and then checks the shared options an experiment
has, so that a bad value ends the run before anything is computed or written:

* ``--out``: a directory that exists and is writable, or one that can be created
  (:func:`kvopt.experiments.jobs.check_output_dir`; nothing is created here);
* ``--seed``: at least 0 (numpy's seeds are non-negative);
* ``--workers``: 1 to :data:`kvopt.experiments.jobs.MAX_WORKERS` (``None`` is the
  experiment's own default);
* ``--traces-dir`` (or the leaderboard's ``--traces``): an existing directory, when it is given
  on the command line; the default location may be absent, and each experiment says what it
  leaves out then.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from kvopt.exceptions import KvoptError
from kvopt.experiments.jobs import MAX_WORKERS, check_output_dir

__all__ = ["ExperimentParser"]

#: option name -> the attribute argparse gives it, for the directories of traces
_TRACE_DIRS = {"--traces-dir": "traces_dir", "--traces": "traces"}


class ExperimentParser(argparse.ArgumentParser):
    """Bad options end the run with one line ``error: <what>`` and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, "error: " + " ".join(message.split()) + "\n")

    def parse_checked(self, argv: Sequence[str] | None = None) -> argparse.Namespace:
        """:meth:`parse_args`, then the checks of the module docstring."""
        args = self.parse_args(argv)
        seed = getattr(args, "seed", None)
        if seed is not None and seed < 0:
            self.error(f"--seed must be >= 0, got {seed}")
        workers = getattr(args, "workers", None)
        if workers is not None and not 1 <= workers <= MAX_WORKERS:
            self.error(f"--workers must be between 1 and {MAX_WORKERS}, got {workers}")
        for option, dest in _TRACE_DIRS.items():
            value = getattr(args, dest, None)
            if (isinstance(value, Path) and value != self.get_default(dest)
                    and not value.is_dir()):
                self.error(f"{option} {value}: no such directory")
        out = getattr(args, "out", None)
        if out is not None:
            try:
                check_output_dir(out)
            except KvoptError as exc:
                self.error(str(exc))
        return args
