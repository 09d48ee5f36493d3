"""Hindsight replay: the optimum run through the engine reproduces it exactly."""

from __future__ import annotations

import pytest
from conftest import make_instance

from kvopt.hindsight.solve import solve
from kvopt.policies.replay import Replay
from kvopt.schedule import Schedule
from kvopt.sim.engine import simulate
from kvopt.verify import verify


def test_replays_the_hindsight_optimum():
    """The proven-optimal schedule of a small instance comes back unchanged."""
    inst = make_instance([(0, 2, 5), (0, 1, 2), (1, 3, 3), (2, 1, 6), (2, 2, 1)], 12)
    opt = solve(inst, "highs", time_limit_s=30)
    replayed = simulate(inst, Replay(opt.schedule))
    assert replayed.to_dict() == opt.schedule.to_dict()
    assert verify(inst, replayed).total_latency == opt.objective


def test_replays_idle_rounds_and_clearings():
    """A schedule that idles and clears is reproduced: the engine wakes at each start."""
    inst = make_instance([(0, 1, 4), (0, 1, 2)], 10)
    sched = Schedule.from_runs(2, [(0, 3, 5), (0, 6, 10), (1, 7, 9)])
    assert simulate(inst, Replay(sched)).to_dict() == sched.to_dict()


def test_schedule_of_another_size_is_rejected():
    """A schedule for a different number of requests raises ValueError."""
    with pytest.raises(ValueError, match="requests"):
        simulate(make_instance([(0, 1, 1)], 5), Replay(Schedule.from_starts([0, 0], [1, 1])))
