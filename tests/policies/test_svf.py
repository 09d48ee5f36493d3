"""SVF: the volume key, MC-SF's schedule whenever the two keys order alike, a hand case where
they differ."""

from __future__ import annotations

import numpy as np
from conftest import make_instance
from hypothesis import given, settings
from hypothesis import strategies as st

from kvopt.policies import McSf, Svf
from kvopt.policies.svf import volume
from kvopt.sim.engine import simulate
from kvopt.sim.predictions import PointPredictions
from kvopt.sim.reference import simulate_reference
from kvopt.verify import verify


def same_schedule(x, y) -> bool:
    return all(np.array_equal(getattr(x, f), getattr(y, f))
               for f in ("run_req", "run_start", "run_end"))


def test_volume_is_the_area_of_a_run():
    """``s p + p (p + 1) / 2`` is the memory summed over the rounds a run holds it."""
    for s in range(0, 5):
        for p in range(1, 8):
            assert volume(s, p) == sum(s + r for r in range(1, p + 1))


def test_smallest_volume_goes_first_where_mcsf_differs():
    """M = 12; A (s 10, o 2, volume 23) and B (s 1, o 4, volume 14) cannot run together
    (13 > 12 at their first round): MC-SF starts the shorter A first, SVF the smaller B."""
    inst = make_instance([(0, 10, 2), (0, 1, 4)], memory=12)
    mcsf, svf = simulate(inst, McSf()), simulate(inst, Svf())
    assert mcsf.final_starts().tolist() == [0, 2]
    assert svf.final_starts().tolist() == [4, 0]
    # total latency: SVF 4 + 6, MC-SF 2 + 6 (the smaller volume is not always the better bet)
    assert (verify(inst, svf).total_latency, verify(inst, mcsf).total_latency) == (10, 8)


@st.composite
def alike_instances(draw):
    """Instances whose prompts make the volume key order like the predicted length: prompts a
    non-decreasing function of the prediction (all equal included), predictions wrong or right
    but never capped (at most ``M`` minus the largest prompt)."""
    memory = draw(st.integers(6, 30))
    n = draw(st.integers(1, 9))
    equal = draw(st.booleans())
    top = draw(st.integers(1, min(6, memory - 2)))
    max_p = memory - top
    levels = sorted(draw(st.lists(st.integers(1, top), min_size=max_p, max_size=max_p)))
    rows, predicted = [], []
    for _ in range(n):
        p = draw(st.integers(1, max_p))
        s = top if equal else levels[p - 1]            # non-decreasing in p
        rows.append((draw(st.integers(0, 6)), s, draw(st.integers(1, memory - s))))
        predicted.append(p)
    return make_instance(rows, memory).replace(predicted=predicted)


@given(inst=alike_instances(), seed=st.integers(0, 2**16))
@settings(max_examples=150, deadline=None)
def test_svf_equals_mcsf_when_the_keys_order_alike(inst, seed):
    """Equal prompts (or prompts rising with the prediction): SVF's schedule is MC-SF's,
    clearings included, in the engine and the per-round loop; it verifies."""
    for engine in (simulate, simulate_reference):
        svf = engine(inst, Svf(), rng=np.random.default_rng(seed))
        assert same_schedule(svf, engine(inst, McSf(), rng=np.random.default_rng(seed)))
        verify(inst, svf)


@given(inst=alike_instances(), seed=st.integers(0, 2**16))
@settings(max_examples=60, deadline=None)
def test_svf_equals_mcsf_with_equal_prompts_and_noise(inst, seed):
    """All prompts equal and noisy predictions from the environment (capped alike): still MC-SF's
    schedule."""
    s = int(inst.prompt[0])
    inst = make_instance([(int(a), s, int(o)) for a, o in zip(inst.arrival, inst.output,
                                                               strict=True)],
                         max(inst.memory, s + int(inst.output.max())))
    model = PointPredictions(eps=0.5)
    svf = simulate(inst, Svf(), rng=np.random.default_rng(seed), predicted=model)
    mcsf = simulate(inst, McSf(), rng=np.random.default_rng(seed), predicted=model)
    assert same_schedule(svf, mcsf)
