"""Simulation of online policies under the model of ``specs/kv-scheduling.md``.

:func:`simulate` (event-skipping engine) and :func:`simulate_reference` (plain per-round loop)
produce identical schedules; a policy (:class:`kvopt.policies.base.Policy`) is given a
:class:`PolicyContext`, sees a :class:`SimState` and answers a :class:`Decision`; the
environment's predictions come from :mod:`kvopt.sim.predictions`.
"""

from kvopt.sim.engine import SimResult, SimulationError, run, simulate
from kvopt.sim.predictions import (
    PointPredictions,
    PredictionModel,
    Predictions,
    noisy_predictions,
    with_margin,
)
from kvopt.sim.reference import simulate_reference
from kvopt.sim.state import UNREVEALED, Decision, PolicyContext, SimState

__all__ = ["UNREVEALED", "Decision", "PointPredictions", "PolicyContext", "PredictionModel",
           "Predictions", "SimResult", "SimState", "SimulationError", "noisy_predictions", "run",
           "simulate", "simulate_reference", "with_margin"]
