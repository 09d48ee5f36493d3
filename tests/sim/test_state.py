"""SimState views and Decision defaults."""

from __future__ import annotations

from conftest import make_instance

from kvopt.sim.engine import simulate
from kvopt.sim.state import NO_DECISION, Decision


class _Probe:
    """Records what it sees; admits on arrival."""

    name = "probe"

    def reset(self, instance, rng):
        self.seen = []

    def decide(self, state):
        self.seen.append((state.round, state.arrived.tolist(), list(state.running),
                          state.memory_next_tokens, state.memory_in_round(state.round + 1),
                          state.run_start.flags.writeable))
        return Decision(admit=state.arrived.tolist(), wake=None)


def test_policy_sees_read_only_consistent_state():
    """Arrivals, running set and next-round memory as the engine has them; arrays read-only."""
    # M = 10: (0, 2, 3) starts at 0; at 1 it holds 3 in round 1 and will hold 4 in round 2;
    # (1, 1, 1) arrives at 1.
    probe = _Probe()
    simulate(make_instance([(0, 2, 3), (1, 1, 1)], 10), probe)
    assert probe.seen[0] == (0, [0], [], 0, 0, False)
    assert probe.seen[1] == (1, [1], [0], 4, 4, False)


def test_default_decision_promises_nothing():
    """The default wake (0) is no promise: the engine calls at the next round."""
    assert NO_DECISION.wake == 0 and Decision(wake=None).wake is None
