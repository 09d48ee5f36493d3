"""Solver backends. A :class:`Backend` translates a :class:`~kvopt.hindsight.milp.model.MilpModel`
and reports what its solver proved; an :class:`InstanceBackend` (the exact search, CP-SAT) works
on the instance itself. ``BACKENDS`` maps a name to a loader, so a missing solver fails only
when used."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol, TypeGuard

import numpy as np

from kvopt.exceptions import BackendUnavailableError
from kvopt.hindsight.exact.search import ExactResult
from kvopt.hindsight.milp.model import MilpModel, RawSolve
from kvopt.instance import Instance

__all__ = ["BACKENDS", "Backend", "InstanceBackend", "get_backend",
           "is_instance_backend"]


class Backend(Protocol):
    """A solver of the integer program."""

    name: str

    def solve(self, model: MilpModel, *, time_limit_s: float | None, mip_rel_gap: float,
              warm_start: np.ndarray | None, threads: int, seed: int) -> RawSolve: ...


class InstanceBackend(Protocol):
    """An exact solver working on the instance, not on the integer program
    (``needs_instance``); ``concurrent`` when it runs without Python's lock, so that
    :func:`kvopt.hindsight.solve.solve` runs it beside the LP."""

    name: str
    needs_instance: bool
    concurrent: bool

    def check(self, instance: Instance) -> None:
        """Refuse, with one line, an instance too large for the model."""

    def solve_instance(self, instance: Instance, *, incumbent: list[int], upper_bound: int,
                       time_limit_s: float | None, threads: int, seed: int,
                       stop: threading.Event | None = None) -> ExactResult: ...


def is_instance_backend(backend: Backend | InstanceBackend) -> TypeGuard[InstanceBackend]:
    """Whether ``backend`` works on the instance (:class:`InstanceBackend`)."""
    return bool(getattr(backend, "needs_instance", False))


def _load_highs() -> Backend:
    try:
        from kvopt.hindsight.milp.backends.highs import HighsBackend
    except ImportError as exc:
        raise BackendUnavailableError(
            f"backend 'highs' needs highspy: pip install highspy ({exc})") from None
    return HighsBackend()


def _load_cbc() -> Backend:
    try:
        from kvopt.hindsight.milp.backends.cbc import CbcBackend
    except ImportError as exc:
        raise BackendUnavailableError(
            f"backend 'cbc' needs pulp 3.x: pip install 'pulp<4' ({exc})") from None
    return CbcBackend()


class SearchBackend:
    """The exact combinatorial search (:mod:`kvopt.hindsight.exact.search`)."""

    name = "search"
    needs_instance = True
    concurrent = False

    def check(self, instance: Instance) -> None:
        """Any size is accepted (the search stops at its time limit)."""

    def solve_instance(self, instance: Instance, *, incumbent: list[int], upper_bound: int,
                       time_limit_s: float | None, threads: int, seed: int,
                       stop: threading.Event | None = None) -> ExactResult:
        from kvopt.hindsight.exact.search import exact_search

        return exact_search(instance, upper_bound=upper_bound, time_limit_s=time_limit_s)


class CpSatBackend:
    """OR-Tools CP-SAT on the interval model of :mod:`kvopt.hindsight.exact.cpsat`."""

    name = "cpsat"
    needs_instance = True
    #: runs in C++ without Python's lock, so :func:`kvopt.hindsight.solve.solve` runs it beside
    #: the LP
    concurrent = True

    def check(self, instance: Instance) -> None:
        from kvopt.hindsight.exact.cpsat import check_size

        check_size(instance)

    def solve_instance(self, instance: Instance, *, incumbent: list[int], upper_bound: int,
                       time_limit_s: float | None, threads: int, seed: int,
                       stop: threading.Event | None = None) -> ExactResult:
        from kvopt.hindsight.exact.cpsat import cpsat_solve

        return cpsat_solve(instance, incumbent=incumbent, upper_bound=upper_bound,
                           time_limit_s=time_limit_s, threads=threads, seed=seed, stop=stop)


def _load_search() -> InstanceBackend:
    return SearchBackend()


def _load_cpsat() -> InstanceBackend:
    try:
        import ortools.sat.python.cp_model  # noqa: F401
    except ImportError as exc:
        raise BackendUnavailableError(
            f"backend 'cpsat' needs OR-Tools: pip install 'kvopt[cpsat]' ({exc})") from None
    return CpSatBackend()


BACKENDS: dict[str, Callable[[], Backend | InstanceBackend]] = {
    "highs": _load_highs, "cbc": _load_cbc, "search": _load_search, "cpsat": _load_cpsat,
}


def get_backend(name: str) -> Backend | InstanceBackend:
    """The backend called ``name``, loaded (:class:`BackendUnavailableError` if it cannot be)."""
    if name not in BACKENDS:
        raise BackendUnavailableError(f"unknown backend '{name}'; choose one of {sorted(BACKENDS)}")
    return BACKENDS[name]()
