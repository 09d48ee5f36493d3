"""The per-round reference loop: round semantics on hand-solved cases."""

from __future__ import annotations

import pytest
from conftest import make_instance

from kvopt.policies import Fcfs, McSf
from kvopt.sim.reference import SimulationError, round_limit, simulate_reference
from kvopt.sim.state import Decision
from kvopt.verify import verify


def test_start_convention_and_idle_gap():
    """A request starts on arrival (latency o); the loop jumps an idle gap to the next arrival."""
    # M = 10: (a 0, s 1, o 2) runs rounds 1-2, completes at 2; (a 7, s 1, o 3) starts at 7.
    inst = make_instance([(0, 1, 2), (7, 1, 3)], 10)
    sched = simulate_reference(inst, McSf())
    assert sched.final_starts().tolist() == [0, 7]
    assert verify(inst, sched).total_latency == 2 + 3


def test_completion_frees_memory_for_a_start_in_the_same_round():
    """A run completing at t frees its memory for a request started at t."""
    # M = 6; (0, 2, 4) holds 6 at round 4 and completes at 4; (0, 2, 1) needs 3 in one round:
    # with the first alive it never fits until round 5, i.e. a start at 4.
    inst = make_instance([(0, 2, 4), (0, 2, 1)], 6)
    sched = simulate_reference(inst, Fcfs())
    assert sched.final_starts().tolist()[1] in (0, 4)
    verify(inst, sched)


class _Clear:
    name = "clear"

    def reset(self, context, rng):
        pass

    def decide(self, state):
        return Decision(clear=[0]) if state.round == 1 else Decision(admit=state.arrived.tolist())


def test_clearing_a_request_not_running_raises():
    """Clearing a request that does not run is a SimulationError naming the round."""
    with pytest.raises(SimulationError, match="round 1: clears a request that is not running"):
        simulate_reference(make_instance([(0, 1, 1), (1, 1, 1)], 5), _Clear())


def test_round_limit_covers_a_serial_schedule():
    """The livelock limit is far beyond the serial makespan."""
    inst = make_instance([(3, 1, 4), (0, 1, 5)], 10)
    assert round_limit(inst) > 3 + 4 + 5
