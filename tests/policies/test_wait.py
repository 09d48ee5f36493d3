"""WAIT, Nested WAIT and their baselines vLLM and Sarathi (specs/fluid-wait.md sections 3, 4, 8):
the gate, one type = one segment, verified schedules, engines agree, memory, evictions, clock."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvopt.fluid import FluidModel, fluid_wait_thresholds, wait_memory
from kvopt.instance import Instance
from kvopt.metrics import batch_composition
from kvopt.policies import NestedWait, Sarathi, Vllm, Wait
from kvopt.sim.engine import simulate
from kvopt.sim.reference import simulate_reference
from kvopt.sim.timed import simulate_timed
from kvopt.time_model import LinearBatchTime, round_durations_s
from kvopt.verify import verify

D0, D1, D1P = 0.010, 0.32e-6, 72e-6
A100 = LinearBatchTime(base_s=D0, prefill_token_s=D1P, decode_request_s=0.0, compute_token_s=0.0,
                       prefill_attn_token2_s=0.0, decode_context_token_s=D1, knee_tokens=0.0)


def poisson(rate: float, n: int, seed: int) -> np.ndarray:
    return np.cumsum(np.random.default_rng(seed).exponential(1 / rate, n))


def mix(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """0.7 p512d20 + 0.3 p512d50: prompts and outputs."""
    rng = np.random.default_rng(seed + 1)
    return np.full(n, 512), np.where(rng.random(n) < 0.7, 20, 50)


def run(policy, rate=18.0, n=600, seed=0, memory=137_000, outputs=None):
    prompt, output = mix(n, seed) if outputs is None else (np.full(n, 512), np.full(n, outputs))
    return simulate_timed(poisson(rate, n, seed), prompt, output, memory, policy, A100)


def starts_per_round(res) -> np.ndarray:
    return np.bincount(res.schedule.final_starts())


def test_wait_starts_full_batches_until_every_request_has_arrived():
    """With an explicit threshold n, every start round before the last arrival starts exactly n
    of the type (or a multiple, one batch per type); leftovers start once all have arrived."""
    res = run(Wait(thresholds={(512, 20): 3, (512, 50): 2}), n=400)
    inst = res.instance
    starts = res.schedule.final_starts()
    last_arrival = int(inst.arrival.max())
    for out, n in ((20, 3), (50, 2)):
        sel = (inst.output == out) & (starts < last_arrival)
        counts = np.bincount(starts[sel])
        assert set(counts[counts > 0].tolist()) == {n}
    verify(inst, res.schedule)


def test_gate_holds_requests_until_the_threshold():
    """Nested WAIT with n_1 = 4 starts nothing while fewer than 4 wait (rounds engine)."""
    inst = Instance(1000, [0, 0, 0, 5, 9, 9], [3] * 6, [4] * 6)
    sched = simulate(inst, NestedWait(threshold=4))
    starts = sched.final_starts()
    assert starts[:4].tolist() == [5] * 4           # the 4th arrives at 5
    assert starts[4:].tolist() == [9, 9]            # all arrived: the rest go
    verify(inst, sched)


def test_one_type_one_segment_nested_wait_is_wait():
    """Nested WAIT with one segment ending at the only decode length equals WAIT (identical
    schedules and clocks), at several caps."""
    for cap in (21, 64, 128):
        a = run(Wait(cap=cap), outputs=20, rate=20.0)
        b = run(NestedWait(cap=cap, bounds=[20]), outputs=20, rate=20.0)
        assert np.array_equal(a.schedule.run_req, b.schedule.run_req)
        assert np.array_equal(a.schedule.run_start, b.schedule.run_start)
        assert np.array_equal(a.schedule.run_end, b.schedule.run_end)
        assert np.array_equal(a.round_end_s, b.round_end_s)


@st.composite
def one_type(draw):
    memory = draw(st.integers(20, 60))
    n = draw(st.integers(1, 10))
    s, o = draw(st.integers(1, 8)), draw(st.integers(1, 10))
    arrival = sorted(draw(st.integers(0, 12)) for _ in range(n))
    return Instance(memory, arrival, [s] * n, [o] * n), draw(st.integers(1, 40))


@given(one_type())
@settings(max_examples=60, deadline=None)
def test_one_type_equality_in_rounds(case):
    """The same equality on small instances in rounds, memory tight (same memory check)."""
    inst, cap = case
    o = int(inst.output[0])
    for check in ("next", "peak"):
        a = simulate(inst, Wait(cap=cap, memory_check=check))
        b = simulate(inst, NestedWait(cap=cap, bounds=[o], memory_check=check))
        assert a.to_dict() == b.to_dict()


POLICY_VARIANTS = {
    "wait": lambda: Wait(cap=12),
    "wait-stages-next": lambda: Wait(cap=20, rule="stages", memory_check="next"),
    "nested": lambda: NestedWait(cap=12, bounds=[3, 8]),
    "nested-peak": lambda: NestedWait(cap=30, bounds=[2, 5, 9], weights=[3, 2, 1],
                                      memory_check="peak"),
    "vllm": Vllm,
    "sarathi": lambda: Sarathi(chunk=6, max_requests=3),
}


@st.composite
def instances(draw):
    memory = draw(st.integers(10, 40))
    n = draw(st.integers(1, 12))
    rows = []
    for _ in range(n):
        s = draw(st.integers(1, min(8, memory - 1)))
        rows.append((draw(st.integers(0, 10)), s, draw(st.integers(1, min(10, memory - s))),
                     draw(st.integers(1, 12))))
    a, s, o, p = (list(c) for c in zip(*rows, strict=True))
    return Instance(memory, a, s, o, predicted=p)


@pytest.mark.parametrize("name", sorted(POLICY_VARIANTS))
@given(inst=instances())
@settings(max_examples=60, deadline=None)
def test_event_engine_equals_the_reference_loop(name, inst):
    """Parameterised variants (wrong predictions, tight memory): the event-skipping engine and
    the per-round reference loop give the same schedule, and it verifies."""
    make = POLICY_VARIANTS[name]
    fast = simulate(inst, make(), predicted=inst.predicted)
    slow = simulate_reference(inst, make(), predicted=inst.predicted)
    assert fast.to_dict() == slow.to_dict()
    verify(inst, fast)


@pytest.mark.parametrize("name", sorted(POLICY_VARIANTS))
def test_timed_schedules_verify_and_tau_is_the_time_model(name):
    """On the two-type mix in seconds: the schedule verifies, and every non-empty round lasts
    exactly the time model applied to its batch."""
    res = run(POLICY_VARIANTS[name](), n=300)
    verify(res.instance, res.schedule)
    batches = batch_composition(res.instance, res.schedule)
    want = round_durations_s(A100, batches)
    got = np.diff(res.round_end_s)
    busy = (batches.prefill_tokens + batches.num_decoding)[1:] > 0
    np.testing.assert_allclose(got[busy], want[1:][busy], rtol=1e-12, atol=1e-15)


def test_fluid_thresholds_never_evict_with_c_at_least_m_pi():
    """Strict fluid thresholds on the mix: with C = M^pi >= M* WAIT never clears and its memory
    stays at most M^pi; Nested WAIT with its threshold likewise."""
    model = FluidModel([512, 512], [20, 50], [12.6, 5.4], D0, D1, d1_prefill=D1P)
    n = fluid_wait_thresholds(model)
    m_pi = int(wait_memory(model, n))
    assert m_pi >= model.m_star
    wait = Wait(thresholds={(512, 20): int(n[0]), (512, 50): int(n[1])}, memory_check="next")
    for policy in (wait, NestedWait(threshold=int(n.sum()))):
        res = run(policy, rate=18.0, n=1000, memory=m_pi if policy is wait else 10**6)
        ev = verify(res.instance, res.schedule)
        assert ev.num_clearings == 0
        if policy is wait:
            assert ev.peak_memory_tokens <= m_pi


def test_wait_from_fluid_reads_the_time_model():
    """Wait.from_fluid on FluidModel.from_time_model: the thresholds of the engine's model."""
    model = FluidModel.from_time_model([512, 512], [20, 50], [12.6, 5.4], A100)
    assert (model.d0, model.d1, model.d1_prefill) == (D0, D1, D1P)
    wait = Wait.from_fluid(model)
    n = fluid_wait_thresholds(model)
    assert wait.thresholds == {(512, 20): int(n[0]), (512, 50): int(n[1])}
    with pytest.raises(ValueError, match="no decode_request_s term"):
        FluidModel.from_time_model([1], [1], [1.0], LinearBatchTime(
            base_s=0.01, prefill_token_s=0, decode_request_s=1e-3, compute_token_s=0,
            prefill_attn_token2_s=0, decode_context_token_s=0, knee_tokens=0))


def test_vllm_evicts_at_c_equal_m_star():
    """C = M* (p512d200 at 8 req/s, load 0.61): FCFS (vLLM) fills the memory at admission, the
    decodes then grow past it and it clears (its Omega(1) lower bound); every schedule verifies."""
    model = FluidModel([512], [200], [8.0], D0, D1, d1_prefill=D1P)
    memory = int(model.m_star)
    res = run(Vllm(), rate=8.0, n=800, outputs=200, memory=memory)
    ev = verify(res.instance, res.schedule)
    assert ev.num_clearings > 0 and ev.peak_memory_tokens <= memory


def test_sarathi_budget_and_cap():
    """At most ``chunk`` prompt tokens start per round (one prompt alone may exceed it), and at
    most ``max_requests`` run at once."""
    prompt = np.random.default_rng(3).integers(100, 700, 400)
    res = simulate_timed(poisson(30.0, 400, 3), prompt, np.full(400, 30), 137_000,
                         Sarathi(chunk=512, max_requests=40), A100)
    sched, inst = res.schedule, res.instance
    starts = sched.final_starts()
    tokens = np.bincount(starts, weights=inst.prompt)
    counts = np.bincount(starts)
    assert ((tokens <= 512) | (counts == 1))[counts > 0].all()
    ends = starts + inst.output
    for r in np.unique(starts)[::7]:
        assert int(((starts <= r) & (ends > r)).sum()) <= 40 + counts[r]
    verify(inst, sched)


@pytest.mark.parametrize("make", [Wait, NestedWait, Vllm, Sarathi])
def test_fixed_seed_repeats(make):
    """Same arrivals and seed: the same schedule and clock, byte for byte."""
    a, b = run(make(), n=300, seed=7), run(make(), n=300, seed=7)
    assert a.schedule.to_dict() == b.schedule.to_dict()
    assert a.round_end_s.tobytes() == b.round_end_s.tobytes()


def test_bad_parameters_name_themselves():
    with pytest.raises(ValueError, match="cap must be > 0"):
        Wait(cap=0)
    with pytest.raises(ValueError, match="bounds must be increasing"):
        NestedWait(bounds=[5, 5])
    with pytest.raises(ValueError, match="memory_check"):
        Wait(memory_check="never")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="reserve"):
        Vllm(reserve=1.0)
