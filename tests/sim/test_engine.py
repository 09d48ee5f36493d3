"""The event-skipping engine: identical to the per-round reference loop, and its own checks."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_instance
from hypothesis import given, settings
from hypothesis import strategies as st

from kvopt.instance import Instance
from kvopt.policies import POLICIES, Amax, Amin, McBenchmark, McSf, McSfBound, Replay
from kvopt.sim.engine import SimulationError, run, simulate
from kvopt.sim.intervals import IntervalPredictions
from kvopt.sim.predictions import PointPredictions
from kvopt.sim.reference import simulate_reference
from kvopt.sim.state import Decision
from kvopt.verify import verify


def same_schedule(x, y) -> bool:
    return all(np.array_equal(getattr(x, f), getattr(y, f))
               for f in ("run_req", "run_start", "run_end"))


@st.composite
def instances(draw, max_requests: int = 8, wrong_predictions: bool = False) -> Instance:
    memory = draw(st.integers(4, 24))
    n = draw(st.integers(1, max_requests))
    rows, predicted = [], []
    for _ in range(n):
        s = draw(st.integers(1, min(6, memory - 1)))
        o = draw(st.integers(1, memory - s))
        rows.append((draw(st.integers(0, 6)), s, o))
        predicted.append(draw(st.integers(1, memory)) if wrong_predictions else o)
    inst = make_instance(rows, memory)
    return inst.replace(predicted=predicted) if wrong_predictions else inst


def policy_cases():
    """Every registered policy with the instance's predictions, and variants: ``name ->
    (policy factory, the environment's prediction model or None)``."""
    out = {name: (spec, None) for name, spec in POLICIES.items()}
    out["mcsf-noisy"] = (McSf, PointPredictions(eps=0.5))
    out["mcsf-margin"] = (McSf, PointPredictions(eps=0.3, margin=0.2))
    out["mcsf-sorted-requeue"] = (lambda: McSf(requeue="sorted"), PointPredictions(eps=0.5))
    out["mc-benchmark-noisy"] = (McBenchmark, PointPredictions(eps=0.5))
    # interval predictions (issue 27); every A_min option is in tests/policies/test_amin.py
    out["amax-g2-miss"] = (Amax, IntervalPredictions(0.5, "g2", miss_prob=0.5))
    out["amin-g3"] = (Amin, IntervalPredictions(0.25))
    out["amin-g3-high"] = (Amin, IntervalPredictions(0.1, placement="high"))
    out["amin-lowest-estimate-g2"] = (lambda: Amin(evict_order="lowest_estimate"),
                                      IntervalPredictions(0.5, "g2"))
    out["amin-double-penalty-g1"] = (lambda: Amin(refine="double", restart_penalty_steps=2),
                                     IntervalPredictions(1, "g1"))
    out["mcsf-lower-g3"] = (lambda: McSfBound("lower"), IntervalPredictions(0.25))
    out["mcsf-mid-g2-miss"] = (lambda: McSfBound("mid"),
                               IntervalPredictions(0.25, "g2", miss_prob=0.3))
    # issue 30: the peer policies with noisy predictions
    out["svf-noisy"] = (POLICIES["svf"], PointPredictions(eps=0.5))
    out["sorted-f-noisy"] = (POLICIES["sorted-f"], PointPredictions(eps=0.5))
    return out


CASES = policy_cases()


def both_engines(name, inst, seed):
    factory, model = CASES[name]
    fast = simulate(inst, factory(), rng=np.random.default_rng(seed), predicted=model)
    slow = simulate_reference(inst, factory(), rng=np.random.default_rng(seed), predicted=model)
    return fast, slow


@pytest.mark.parametrize("name", sorted(CASES))
@given(inst=instances(), seed=st.integers(0, 2**16))
@settings(max_examples=150, deadline=None)
def test_engine_equals_reference_loop(name, inst, seed):
    """Zero differences from the per-round loop, every policy, exact predictions."""
    fast, slow = both_engines(name, inst, seed)
    verify(inst, fast)
    assert same_schedule(fast, slow)


@pytest.mark.parametrize("name", sorted(CASES))
@given(inst=instances(wrong_predictions=True), seed=st.integers(0, 2**16))
@settings(max_examples=100, deadline=None)
def test_engine_equals_reference_loop_wrong_predictions(name, inst, seed):
    """Zero differences with wrong predictions (overruns, clearings by MC-SF)."""
    fast, slow = both_engines(name, inst, seed)
    verify(inst, fast)
    assert same_schedule(fast, slow)


@given(inst=instances(wrong_predictions=True))
@settings(max_examples=40, deadline=None)
def test_replay_through_engine_reproduces_every_policy(inst):
    """Replaying any policy's schedule, clearings included, gives it back exactly."""
    for factory, model in CASES.values():
        sched = simulate(inst, factory(), predicted=model)
        assert same_schedule(simulate(inst, Replay(sched)), sched)


def test_fixed_seed_repeats_noisy_schedule():
    """The same seed gives the same noisy-prediction schedule."""
    inst = make_instance([(0, 2, 9), (0, 3, 5), (1, 1, 12), (2, 2, 3)], 20)
    noisy = PointPredictions(eps=0.5)
    a = simulate(inst, McSf(), rng=np.random.default_rng(7), predicted=noisy)
    b = simulate(inst, McSf(), rng=np.random.default_rng(7), predicted=noisy)
    assert same_schedule(a, b)


def test_cleared_runs_cause_no_call():
    """A cleared run's completion round is no event: the engine does not call the policy at
    the round a true output alone would explain (MC-SF clears R1, o = 6, at 3; no call at 6
    beyond the real events)."""
    inst = make_instance([(0, 2, 6), (0, 2, 6)], 10).replace(predicted=[3, 3])
    rounds = []

    class Spy(McSf):
        def decide(self, state):
            rounds.append(state.round)
            return super().decide(state)

    simulate(inst, Spy())
    # events: 0 (arrivals), 3 (overflow), 4 (wake), 5 (overflow), 6 (R0 completes and wake)
    assert rounds == [0, 3, 4, 5, 6]


def test_rounds_without_events_are_skipped():
    """One long request: the engine calls the policy at its arrival only, not every round."""
    inst = make_instance([(0, 1, 50)], 60)
    result = run(inst, McSf())
    assert result.num_decisions == 1 and result.last_round == 50


class _Stubborn:
    """Admits everything it sees; a bad policy."""

    name = "stubborn"

    def reset(self, context, rng):
        self.waiting = []

    def decide(self, state):
        self.waiting += state.arrived.tolist()
        admit, self.waiting = self.waiting, []
        return Decision(admit=admit)


def test_engine_rejects_overflowing_decision():
    """A decision that makes the next round overflow raises SimulationError."""
    inst = make_instance([(0, 3, 3), (0, 3, 3)], 7)
    with pytest.raises(SimulationError, match="round 1 would hold 8"):
        simulate(inst, _Stubborn())
    with pytest.raises(SimulationError, match="round 1 would hold 8"):
        simulate_reference(inst, _Stubborn())


class _Lazy:
    """Never admits anything."""

    name = "lazy"

    def reset(self, context, rng):
        pass

    def decide(self, state):
        return Decision(wake=None)


def test_engine_reports_stall():
    """Nothing runs, nothing is admitted, nothing arrives: a stall, not an endless loop."""
    inst = make_instance([(0, 1, 1)], 5)
    with pytest.raises(SimulationError, match="nothing runs"):
        simulate(inst, _Lazy())
    with pytest.raises(SimulationError, match="nothing runs"):
        simulate_reference(inst, _Lazy())


class _Clearer:
    """Clears a request that is not running."""

    name = "clearer"

    def reset(self, context, rng):
        pass

    def decide(self, state):
        return Decision(clear=[0])


def test_engine_rejects_clearing_a_waiting_request():
    """Clearing a request that does not run raises."""
    with pytest.raises(SimulationError, match="clears a request that is not running"):
        simulate(make_instance([(0, 1, 2)], 5), _Clearer())


class _Mover:
    """Admits on arrival, then tries a verb these engines do not apply."""

    name = "mover"

    def __init__(self, verb, value):
        self.verb, self.value = verb, value

    def reset(self, context, rng):
        pass

    def decide(self, state):
        if state.round == 0:
            return Decision(admit=state.arrived.tolist())
        return Decision(**{self.verb: self.value})


@pytest.mark.parametrize(("verb", "value"), [("swap_out", [0]), ("swap_in", [0]),
                                             ("migrate", [(0, 1)])])
def test_swap_and_migrate_are_not_supported(verb, value):
    """Swaps and migrations are explicit verbs that both engines reject, by name."""
    inst = make_instance([(0, 1, 4), (1, 1, 1)], 9)
    for engine in (simulate, simulate_reference):
        with pytest.raises(SimulationError, match=f"round 1: {verb} is not supported"):
            engine(inst, _Mover(verb, value))


def test_bad_prediction_column_is_rejected():
    """A prediction column of the wrong length raises ValueError."""
    with pytest.raises(ValueError, match="shape"):
        simulate(make_instance([(0, 1, 2)], 5), McSf(), predicted=np.array([1, 2]))


def test_empty_instance():
    """No requests, empty schedule."""
    inst = Instance(5, [], [], [])
    assert simulate(inst, McSf()).num_requests == 0
