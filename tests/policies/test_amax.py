"""A_max: MC-SF on the upper bound; never overflows with valid intervals and then equals MC-SF run
on ``upper``; at alpha = 1 A_max, A_min and H-SF agree; with misses it evicts and verifies."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvopt.instance import Instance
from kvopt.policies import POLICIES, Amax, McSf, McSfBound
from kvopt.sim.engine import simulate
from kvopt.sim.intervals import IntervalPredictions
from kvopt.sim.predictions import Predictions
from kvopt.sim.reference import simulate_reference
from kvopt.verify import verify


def same_schedule(x, y) -> bool:
    return all(np.array_equal(getattr(x, f), getattr(y, f))
               for f in ("run_req", "run_start", "run_end"))


@st.composite
def instances(draw, max_requests: int = 10) -> Instance:
    memory = draw(st.integers(4, 40))
    n = draw(st.integers(1, max_requests))
    s = [draw(st.integers(1, min(6, memory - 1))) for _ in range(n)]
    o = [draw(st.integers(1, memory - si)) for si in s]
    a = [draw(st.integers(0, 6)) for _ in range(n)]
    return Instance(memory, a, s, o)


valid_models = st.builds(
    IntervalPredictions, alpha=st.sampled_from([1, 0.8, 0.5, 0.25, 0.1, 0.05]),
    generator=st.sampled_from(["g1", "g2", "g3"]),
    placement=st.sampled_from(["uniform", "low", "high"]),
    classes=st.sampled_from(["geometric", "quantile"]))


@given(inst=instances(), model=valid_models, seed=st.integers(0, 2**16))
@settings(max_examples=200, deadline=None)
def test_amax_never_overflows_and_equals_mcsf_on_upper(inst, model, seed):
    """Valid intervals: no clearing at all, and the schedule of MC-SF planning with ``upper``
    (``mcsf-upper``, and plain MC-SF given ``upper`` as its point predictions)."""
    preds = model.predict(inst, np.random.default_rng(seed))
    amax = simulate(inst, Amax(), rng=np.random.default_rng(seed), predicted=preds)
    ev = verify(inst, amax)
    assert ev.num_clearings == 0 and ev.wasted_tokens == 0
    upper = simulate(inst, McSfBound("upper"), predicted=preds)
    plain = simulate(inst, McSf(), predicted=Predictions.point(preds.upper))
    assert same_schedule(amax, upper) and same_schedule(amax, plain)


@given(inst=instances(), generator=st.sampled_from(["g2", "g3"]),
       placement=st.sampled_from(["uniform", "low", "high"]), seed=st.integers(0, 2**16))
@settings(max_examples=150, deadline=None)
def test_at_alpha_one_amax_amin_and_hsf_agree(inst, generator, placement, seed):
    """alpha = 1: lower = upper = o, so A_max, A_min and H-SF give one schedule; A_min evicts
    nothing."""
    model = IntervalPredictions(1, generator, placement=placement)
    runs = {}
    for name in ("amax", "amin", "hsf"):
        spec = POLICIES[name]
        predicted = model if spec.predictions is None else spec.predictions
        runs[name] = simulate(inst, spec(), rng=np.random.default_rng(seed), predicted=predicted)
    assert same_schedule(runs["amax"], runs["hsf"]) and same_schedule(runs["amin"], runs["hsf"])
    assert verify(inst, runs["amin"]).num_clearings == 0


def test_amax_caps_the_plan_at_memory_minus_prompt():
    """upper far above M - s: planned as M - s, so the request still starts."""
    inst = Instance(10, [0], [4], [6])
    preds = Predictions(np.array([50]), np.array([1]), np.array([50]))
    sched = simulate(inst, Amax(), predicted=preds)
    assert sched.final_starts().tolist() == [0]


def test_amax_waits_for_the_upper_bound():
    """Two requests that fit together by their outputs but not by their upper bounds: A_max
    runs them one after the other, H-SF together."""
    inst = Instance(12, [0, 0], [2, 2], [3, 3])
    preds = Predictions(np.array([4, 4]), np.array([3, 3]), np.array([9, 9]))
    amax = simulate(inst, Amax(), predicted=preds)
    assert amax.final_starts().tolist() == [0, 3]
    hsf = simulate(inst, POLICIES["hsf"](), predicted=POLICIES["hsf"].predictions)
    assert hsf.final_starts().tolist() == [0, 0]


@given(inst=instances(), seed=st.integers(0, 2**16))
@settings(max_examples=150, deadline=None)
def test_amax_with_misses_evicts_verifies_and_matches_the_reference(inst, seed):
    """Outputs outside their interval (miss_prob): A_max can overflow, evicts by A_min's step,
    and the event-skipping engine equals the per-round loop."""
    model = IntervalPredictions(0.5, "g2", miss_prob=0.7)
    fast = simulate(inst, Amax(), rng=np.random.default_rng(seed), predicted=model)
    slow = simulate_reference(inst, Amax(), rng=np.random.default_rng(seed), predicted=model)
    verify(inst, fast)
    assert same_schedule(fast, slow)


def test_amax_evicts_least_progress_on_a_miss():
    """Two requests whose upper bounds lie: the later started (less progress) is evicted."""
    inst = Instance(12, [0, 1], [2, 2], [8, 8])
    preds = Predictions(np.array([2, 2]), np.array([1, 1]), np.array([2, 2]))
    sched = simulate(inst, Amax(), predicted=preds)
    ev = verify(inst, sched)
    assert ev.num_clearings >= 1
    assert sched.clearings()[0][0] == 1


def test_bad_plan_is_refused():
    with pytest.raises(ValueError, match="plan must be"):
        McSfBound("max")  # type: ignore[arg-type]
