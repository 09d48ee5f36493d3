"""Shared test fixtures.

* ``backend``: any test taking it runs once per solver backend; ``--backend NAME`` (repeatable)
  picks them, default every installed one (``kvopt.hindsight.milp.backends.BACKENDS``).
* ``make_instance(rows, memory)``: an :class:`~kvopt.instance.Instance` from
  ``(arrival, prompt, output)`` rows; importable (``from conftest import make_instance``) and a
  fixture of the same name.
* ``ctrl_c_as_at_a_terminal``: a ``preexec_fn`` for a child that a test stops with SIGINT.
"""

from __future__ import annotations

import signal
from collections.abc import Sequence

import pytest

from kvopt.exceptions import BackendUnavailableError
from kvopt.hindsight.milp.backends import BACKENDS
from kvopt.instance import Instance


def installed_backends() -> list[str]:
    """The backends whose solver loads here, in registry order."""
    names = []
    for name, load in BACKENDS.items():
        try:
            load()
        except BackendUnavailableError:
            continue
        names.append(name)
    return names


def ctrl_c_as_at_a_terminal() -> None:
    """In the child before ``exec``: SIGINT's default action, as a terminal's foreground job has.

    A process started with SIGINT ignored (``cmd &`` in a shell without job control, some CI
    runners) passes that on to its children, and Python then installs no Ctrl-C handler, so a
    test of Ctrl-C would hang instead of testing kvopt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def make_instance(rows: Sequence[tuple[int, int, int]], memory: int = 10, *,
                  kv_capacity_tokens: int | None = None, name: str = "test") -> Instance:
    """An instance from ``(arrival, prompt, output)`` rows; ``kv_capacity_tokens`` is an alias
    of ``memory`` (STYLE's spelling)."""
    memory = memory if kv_capacity_tokens is None else kv_capacity_tokens
    arrival = [r[0] for r in rows]
    prompt = [r[1] for r in rows]
    output = [r[2] for r in rows]
    return Instance(memory, arrival, prompt, output, name=name)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend", action="append", default=None, choices=sorted(BACKENDS),
        help="solver backend for tests taking `backend` (repeatable; default: all installed)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        names = metafunc.config.getoption("backend") or installed_backends()
        metafunc.parametrize("backend", names)


@pytest.fixture(name="make_instance")
def _make_instance_fixture():
    """The :func:`make_instance` factory as a fixture."""
    return make_instance
