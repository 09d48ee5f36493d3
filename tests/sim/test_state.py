"""PolicyContext, SimState views and Decision defaults."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import make_instance

from kvopt.sim.engine import simulate
from kvopt.sim.predictions import Predictions
from kvopt.sim.state import NO_DECISION, UNREVEALED, Decision


class _Probe:
    """Records what it sees; admits on arrival."""

    name = "probe"

    def reset(self, context, rng):
        self.context = context
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


class _Columns:
    """Records the revealed columns, progress and clock at every call; admits on arrival."""

    name = "columns"

    def reset(self, context, rng):
        self.context = context
        self.seen = []

    def decide(self, state):
        self.seen.append({
            "round": state.round, "now_s": state.now_s, "replica": state.replica,
            "columns": [col.tolist() for col in (state.arrival, state.prompt, state.predicted,
                                                 state.lower, state.upper)],
            "progress": [state.progress(i) for i in range(len(state.prompt))],
            "progress_column": state.progress_column().tolist(),
        })
        return Decision(admit=state.arrived.tolist())


def test_columns_are_revealed_at_arrival():
    """Every column holds UNREVEALED until the request's arrival round; progress counts the
    tokens of the current run; the context's columns are the state's, read-only."""
    inst = make_instance([(0, 2, 3), (2, 1, 4), (5, 3, 2)], 20)
    preds = Predictions(np.array([4, 5, 6]), np.array([1, 2, 3]), np.array([7, 8, 9]))
    probe = _Columns()
    simulate(inst, probe, predicted=preds)
    u = UNREVEALED
    first, at_2 = probe.seen[0], probe.seen[2]
    assert first["round"] == 0 and first["now_s"] is None and first["replica"] == 0
    assert first["columns"] == [[0, u, u], [2, u, u], [4, u, u], [1, u, u], [7, u, u]]
    assert at_2["round"] == 2
    assert at_2["columns"] == [[0, 2, u], [2, 1, u], [4, 5, u], [1, 2, u], [7, 8, u]]
    assert at_2["progress"] == at_2["progress_column"] == [2, 0, 0]
    ctx = probe.context
    assert ctx.num_requests == 3 and ctx.memory == 20 and ctx.time_model is None
    assert ctx.arrival.tolist() == [0, 2, 5] and not ctx.predicted.flags.writeable
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.memory = 5


def test_point_predictions_are_their_own_intervals():
    """Without intervals, lower and upper are the point predictions."""
    probe = _Columns()
    simulate(make_instance([(0, 2, 3)], 20), probe, predicted=np.array([5]))
    assert probe.seen[0]["columns"][2:] == [[5], [5], [5]]


def test_default_decision_promises_nothing():
    """The default wake (0) is no promise: the engine calls at the next round; verbs are
    empty by default; a decision is immutable."""
    assert NO_DECISION.wake == 0 and Decision(wake=None).wake is None
    assert NO_DECISION.admit == NO_DECISION.clear == NO_DECISION.swap_out == ()
    with pytest.raises(AttributeError):
        NO_DECISION.wake = 5  # type: ignore[misc]
