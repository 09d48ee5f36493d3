"""kvopt: hindsight-optimal and online scheduling of LLM inference under a KV-cache limit.

The library in one import: :func:`read_instance` and :func:`read_trace` (files in),
:func:`solve` (the hindsight optimum), :func:`simulate` (an online policy in rounds),
:func:`simulate_timed` (in seconds), :func:`verify` (the only checker and metric source),
:data:`POLICIES` (the registry) and :func:`load_profile` (LLM x GPU profiles). The solver,
engines, policies, profiles and readers load on first use (module ``__getattr__``), so that
``import kvopt`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kvopt.exceptions import BackendUnavailableError, InstanceError, KvoptError, ScheduleError
from kvopt.instance import Instance
from kvopt.result import SolveResult, SolveStatus
from kvopt.schedule import Schedule
from kvopt.verify import Evaluation, verify

if TYPE_CHECKING:
    from kvopt.hindsight.solve import solve
    from kvopt.policies import POLICIES
    from kvopt.profiles import load_profile
    from kvopt.read import read_instance, read_trace
    from kvopt.sim.engine import simulate
    from kvopt.sim.timed import simulate_timed

__version__ = "0.1.0"

__all__ = [
    "POLICIES", "BackendUnavailableError", "Evaluation", "Instance", "InstanceError",
    "KvoptError", "Schedule", "ScheduleError", "SolveResult", "SolveStatus", "__version__",
    "load_profile", "read_instance", "read_trace", "simulate", "simulate_timed", "solve",
    "verify",
]

_LAZY = ("POLICIES", "load_profile", "read_instance", "read_trace", "simulate",
         "simulate_timed", "solve")


def __getattr__(name: str) -> Any:
    """The lazily loaded part of the API (each import runs once; Python caches the module)."""
    if name == "solve":
        from kvopt.hindsight.solve import solve
        return solve
    if name == "simulate":
        from kvopt.sim.engine import simulate
        return simulate
    if name == "simulate_timed":
        from kvopt.sim.timed import simulate_timed
        return simulate_timed
    if name == "POLICIES":
        from kvopt.policies import POLICIES
        return POLICIES
    if name == "load_profile":
        from kvopt.profiles import load_profile
        return load_profile
    if name in ("read_instance", "read_trace"):
        from kvopt import read
        return getattr(read, name)
    raise AttributeError(f"module 'kvopt' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
