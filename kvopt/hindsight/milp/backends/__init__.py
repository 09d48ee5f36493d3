"""Solver backends: each translates a :class:`~kvopt.hindsight.milp.model.MilpModel` and reports what the
solver proved. ``BACKENDS`` maps a name to a loader, so a missing solver fails only when used."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Protocol

import numpy as np

from kvopt.exceptions import BackendUnavailableError
from kvopt.hindsight.milp.model import MilpModel

__all__ = ["BACKENDS", "Backend", "RawSolve", "get_backend"]


@dataclasses.dataclass(frozen=True)
class RawSolve:
    """What a backend read off its solver, before kvopt verifies anything.

    ``proven``: the solver proved optimality (to the requested gap). ``bound``: its dual bound on
    the model's objective (offset included), ``None`` if it gives none.
    """

    col_value: np.ndarray | None
    objective: float | None
    bound: float | None
    proven: bool
    infeasible: bool
    backend_status: str
    failed: bool = False   # the solver itself failed (crash, unreadable output)


class Backend(Protocol):
    name: str

    def solve(self, model: MilpModel, *, time_limit_s: float | None, mip_rel_gap: float,
              warm_start: np.ndarray | None, threads: int, seed: int) -> RawSolve: ...


def _load_highs() -> Backend:
    try:
        from kvopt.hindsight.milp.backends.highs import HighsBackend
    except ImportError as exc:
        raise BackendUnavailableError(f"backend 'highs' needs highspy: pip install highspy ({exc})") from None
    return HighsBackend()


def _load_cbc() -> Backend:
    try:
        from kvopt.hindsight.milp.backends.cbc import CbcBackend
    except ImportError as exc:
        raise BackendUnavailableError(f"backend 'cbc' needs pulp 3.x: pip install 'pulp<4' ({exc})") from None
    return CbcBackend()


class SearchBackend:
    """The exact combinatorial search (:mod:`kvopt.hindsight.exact.search`): it works on the instance, not
    on the MILP (``needs_instance``); ``kvopt.hindsight.solve.solve`` calls :meth:`solve_instance`."""

    name = "search"
    needs_instance = True

    def solve_instance(self, instance, *, incumbent: list[int], upper_bound: int,
                       time_limit_s: float | None, threads: int, seed: int):
        from kvopt.hindsight.exact.search import exact_search

        return exact_search(instance, upper_bound=upper_bound, time_limit_s=time_limit_s)


class CpSatBackend:
    """OR-Tools CP-SAT on the interval model of :mod:`kvopt.hindsight.exact.cpsat` (``needs_instance``)."""

    name = "cpsat"
    needs_instance = True
    #: runs in C++ without Python's lock, so :func:`kvopt.hindsight.solve.solve` runs it beside the LP
    concurrent = True

    def check(self, instance) -> None:
        from kvopt.hindsight.exact.cpsat import check_size

        check_size(instance)

    def solve_instance(self, instance, *, incumbent: list[int], upper_bound: int,
                       time_limit_s: float | None, threads: int, seed: int, stop=None):
        from kvopt.hindsight.exact.cpsat import cpsat_solve

        return cpsat_solve(instance, incumbent=incumbent, upper_bound=upper_bound,
                           time_limit_s=time_limit_s, threads=threads, seed=seed, stop=stop)


def _load_search() -> SearchBackend:
    return SearchBackend()


def _load_cpsat() -> CpSatBackend:
    try:
        import ortools.sat.python.cp_model  # noqa: F401
    except ImportError as exc:
        raise BackendUnavailableError(
            f"backend 'cpsat' needs OR-Tools: pip install 'kvopt[cpsat]' ({exc})") from None
    return CpSatBackend()


BACKENDS: dict[str, Callable[[], Backend]] = {
    "highs": _load_highs, "cbc": _load_cbc, "search": _load_search,  # type: ignore[dict-item]
    "cpsat": _load_cpsat,  # type: ignore[dict-item]
}


def get_backend(name: str) -> Backend:
    if name not in BACKENDS:
        raise BackendUnavailableError(f"unknown backend '{name}'; choose one of {sorted(BACKENDS)}")
    return BACKENDS[name]()
