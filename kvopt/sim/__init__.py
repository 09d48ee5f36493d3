"""Simulation of online policies under the model of ``specs/kv-scheduling.md``.

:func:`simulate` (event-skipping engine) and :func:`simulate_reference` (plain per-round loop)
produce identical schedules; policies see a :class:`SimState` and answer a :class:`Decision`.
"""

from kvopt.sim.engine import Policy, SimResult, SimulationError, run, simulate
from kvopt.sim.predictions import noisy_predictions, with_margin
from kvopt.sim.reference import simulate_reference
from kvopt.sim.state import Decision, SimState

__all__ = ["Decision", "Policy", "SimResult", "SimState", "SimulationError", "noisy_predictions",
           "run", "simulate", "simulate_reference", "with_margin"]
