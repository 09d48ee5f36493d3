"""The simulator in seconds: agrees with the round engine under unit time, and its clock."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvopt.instance import Instance
from kvopt.metrics import batch_composition
from kvopt.policies import POLICIES, McSf
from kvopt.sim.engine import SimulationError, run
from kvopt.sim.predictions import PointPredictions, noisy_predictions
from kvopt.sim.state import UNREVEALED, Decision
from kvopt.sim.timed import simulate_timed
from kvopt.time_model import LinearBatchTime, UnitTime, round_durations_s
from kvopt.verify import verify

LINEAR = LinearBatchTime(base_s=0.05, prefill_token_s=1e-3, decode_request_s=2e-3,
                         compute_token_s=1e-3, prefill_attn_token2_s=1e-6,
                         decode_context_token_s=1e-4, knee_tokens=8)


def same_schedule(x, y) -> bool:
    return all(np.array_equal(getattr(x, f), getattr(y, f))
               for f in ("run_req", "run_start", "run_end"))


@st.composite
def small_cases(draw):
    memory = draw(st.integers(6, 40))
    n = draw(st.integers(1, 10))
    s = np.array(draw(st.lists(st.integers(1, 5), min_size=n, max_size=n)))
    o = np.array(draw(st.lists(st.integers(1, 9), min_size=n, max_size=n)))
    a = np.array(draw(st.lists(st.integers(0, 12), min_size=n, max_size=n)))
    return memory, a, s, np.minimum(o, memory - s)


@settings(max_examples=60, deadline=None)
@given(small_cases(), st.sampled_from(sorted(POLICIES)))
def test_unit_time_integer_arrivals_equal_round_engine(case, name):
    """UnitTime and integer arrivals: same schedule, arrival rounds and calls as simulate()."""
    memory, a, s, o = case
    expected = run(Instance(memory, a, s, o), POLICIES[name]())
    got = simulate_timed(a.astype(float), s, o, memory, POLICIES[name](), UnitTime())
    assert same_schedule(got.schedule, expected.schedule)
    assert np.array_equal(got.instance.arrival, a)
    assert got.num_decisions == expected.num_decisions
    assert np.array_equal(got.round_end_s, np.arange(got.last_round + 1, dtype=float))
    m = got.metrics()
    assert np.allclose(m.latency_s, verify(Instance(memory, a, s, o), expected.schedule).latency)


@settings(max_examples=40, deadline=None)
@given(small_cases(), st.sampled_from(sorted(POLICIES)),
       st.lists(st.floats(0, 3, allow_nan=False), min_size=10, max_size=10))
def test_linear_time_clock_matches_batches(case, name, jitter):
    """Busy rounds last the time model's duration of their batch; arrivals see the next point."""
    memory, a, s, o = case
    arrival_s = a * 0.07 + np.array(jitter[: len(a)])
    res = simulate_timed(arrival_s, s, o, memory, POLICIES[name](), LINEAR)
    verify(res.instance, res.schedule)
    tau = res.round_end_s
    batches = batch_composition(res.instance, res.schedule)
    d = round_durations_s(LINEAR, batches)[1:]
    busy = batches.batch_tokens[1:] > 0
    assert np.allclose(np.diff(tau)[busy], d[busy], rtol=0, atol=1e-12)
    idle = np.flatnonzero(~busy & (np.diff(tau) > 0)) + 1   # idle rounds end at an arrival
    assert all(np.isclose(arrival_s, tau[t]).any() for t in idle)
    ar = res.instance.arrival
    assert np.all(tau[ar] >= arrival_s)
    assert np.all((ar == 0) | (tau[np.maximum(ar - 1, 0)] < arrival_s))


def test_idle_jump_single_request():
    """One request at 5.3 s under a zero-idle model: round 1 ends at 5.3 s, then its run."""
    res = simulate_timed([5.3], [4], [3], 10, POLICIES["fcfs"](), LINEAR)
    assert res.round_end_s[1] == 5.3
    assert res.instance.arrival.tolist() == [1]
    d1 = LINEAR.round_time_s(4, 16, 0, 0)
    d2 = LINEAR.round_time_s(0, 0, 1, 5)
    d3 = LINEAR.round_time_s(0, 0, 1, 6)
    m = res.metrics()
    assert m.ttft_s[0] == pytest.approx(d1)
    assert m.latency_s[0] == pytest.approx(d1 + d2 + d3)
    assert m.tpot_s[0] == pytest.approx((d2 + d3) / 2)


def test_unit_time_fractional_arrival_visible_at_next_round():
    """Under UnitTime a request arriving at 2.5 s becomes visible at round 3."""
    res = simulate_timed([2.5, 0.0], [1, 1], [2, 2], 10, POLICIES["mcsf"](), UnitTime())
    assert res.instance.arrival.tolist() == [3, 0]
    assert res.metrics().latency_s.tolist() == [2.5, 2.0]


def test_unsorted_input_is_mapped_back():
    """Results come back in the caller's order whatever the order of arrival_s."""
    rng = np.random.default_rng(3)
    a = rng.uniform(0, 2, 30)
    s, o = rng.integers(1, 20, 30), rng.integers(1, 30, 30)
    perm = rng.permutation(30)
    x = simulate_timed(a, s, o, 80, POLICIES["mcsf"](), LINEAR)
    y = simulate_timed(a[perm], s[perm], o[perm], 80, POLICIES["mcsf"](), LINEAR)
    assert np.allclose(x.metrics().latency_s[perm], y.metrics().latency_s)
    assert np.array_equal(x.instance.arrival[perm], y.instance.arrival)


def test_noisy_predictions_clear_and_verify():
    """MC-SF with noisy predictions and a margin overflows, clears, and still verifies."""
    rng = np.random.default_rng(5)
    a, s, o = np.sort(rng.uniform(0, 3, 200)), rng.integers(1, 40, 200), rng.integers(1, 60, 200)
    res = simulate_timed(a, s, o, 300, McSf(), LINEAR, rng=np.random.default_rng(1),
                         predicted=PointPredictions(eps=0.8))
    verify(res.instance, res.schedule)
    assert res.num_clearings().sum() == res.schedule.num_clearings > 0
    res2 = simulate_timed(a, s, o, 300, McSf(), LINEAR, rng=np.random.default_rng(1),
                          predicted=PointPredictions(eps=0.8, margin=0.1))
    verify(res2.instance, res2.schedule)
    assert np.all(res2.start_s() >= a)


def test_state_arrival_is_live():
    """Policies see the columns of visible requests, UNREVEALED for the others, the clock in
    seconds and the time model."""
    seen = []

    class Spy:
        name = "spy"

        def reset(self, context, rng):
            assert context.time_model is LINEAR
            self.inner = POLICIES["fcfs"]()
            self.inner.reset(context, rng)

        def decide(self, state):
            seen.append((state.arrival.tolist(), state.prompt.tolist(), state.now_s))
            return self.inner.decide(state)

    simulate_timed([0.0, 4.0], [2, 3], [1, 1], 8, Spy(), LINEAR)
    assert seen[0] == ([0, UNREVEALED], [2, UNREVEALED], 0.0)
    assert seen[-1][:2] == ([0, 2], [2, 3]) and seen[-1][2] >= 4.0


def test_prediction_model_draws_in_arrival_order():
    """A prediction model is applied to the requests in arrival order, from the run's stream
    before the run: the same as explicit predictions drawn so, given in the caller's order."""
    rng = np.random.default_rng(4)
    a = rng.uniform(0, 3, 40)                        # unsorted
    s, o = rng.integers(1, 20, 40), rng.integers(1, 40, 40)
    order = np.argsort(a, kind="stable")
    pred = np.empty(40, dtype=np.int64)
    pred[order] = noisy_predictions(o[order], 0.6, np.random.default_rng(9))
    x = simulate_timed(a, s, o, 150, McSf(), LINEAR, rng=np.random.default_rng(9),
                       predicted=PointPredictions(eps=0.6))
    y = simulate_timed(a, s, o, 150, McSf(), LINEAR, predicted=pred)
    assert same_schedule(x.schedule, y.schedule)
    assert np.array_equal(x.instance.predicted, pred)


def test_unsupported_verbs_are_rejected():
    """A swap is not applied by the engine in seconds: a clear SimulationError."""

    class Swapper:
        name = "swapper"

        def reset(self, context, rng):
            pass

        def decide(self, state):
            return Decision(admit=state.arrived.tolist(), swap_out=list(state.running))

    with pytest.raises(SimulationError, match="swap_out is not supported by this engine"):
        simulate_timed([0.0, 0.5], [1, 1], [3, 3], 9, Swapper(), UnitTime())


def test_bad_input_rejected():
    """Negative arrival times and stalling policies raise with a clear message."""
    with pytest.raises(ValueError, match="arrival_s"):
        simulate_timed([-1.0], [1], [1], 5, POLICIES["fcfs"](), UnitTime())

    class Never:
        name = "never"

        def reset(self, context, rng):
            pass

        def decide(self, state):
            from kvopt.sim.state import IDLE
            return IDLE

    with pytest.raises(SimulationError, match="nothing runs"):
        simulate_timed([0.0], [1], [1], 5, Never(), LINEAR)
