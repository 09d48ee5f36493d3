"""Solver backends: each translates a :class:`~kvopt.milp.model.MilpModel` and reports what the
solver proved. ``BACKENDS`` maps a name to a loader, so a missing solver fails only when used."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Protocol

import numpy as np

from kvopt.exceptions import BackendUnavailableError
from kvopt.milp.model import MilpModel

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
        from kvopt.milp.backends.highs import HighsBackend
    except ImportError as exc:
        raise BackendUnavailableError(f"backend 'highs' needs highspy: pip install highspy ({exc})") from None
    return HighsBackend()


def _load_cbc() -> Backend:
    try:
        from kvopt.milp.backends.cbc import CbcBackend
    except ImportError as exc:
        raise BackendUnavailableError(f"backend 'cbc' needs pulp 3.x: pip install 'pulp<4' ({exc})") from None
    return CbcBackend()


class SearchBackend:
    """Marker for the exact combinatorial search (:mod:`kvopt.exact.search`): it works on the
    instance, not on the MILP, and ``kvopt.solve.solve`` dispatches it itself."""

    name = "search"
    needs_instance = True


def _load_search() -> SearchBackend:
    return SearchBackend()


BACKENDS: dict[str, Callable[[], Backend]] = {
    "highs": _load_highs, "cbc": _load_cbc, "search": _load_search,  # type: ignore[dict-item]
}


def get_backend(name: str) -> Backend:
    if name not in BACKENDS:
        raise BackendUnavailableError(f"unknown backend '{name}'; choose one of {sorted(BACKENDS)}")
    return BACKENDS[name]()
