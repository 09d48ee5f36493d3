"""The static-batch engine: equal to the plain reference, to plain static batching at k = 1, to
the closed forms within sampling error, and reproducible."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kvopt.bins.edges import SymmetricError
from kvopt.bins.engine import (
    FLUSH,
    FULL,
    KV,
    TIMEOUT,
    EngineConfig,
    Workload,
    make_workload,
    run,
    simulate_batches,
    trace_workload,
)
from kvopt.bins.errors import BinsError
from kvopt.bins.lengths import LogNormal, Uniform
from kvopt.bins.reference import simulate_reference
from kvopt.bins.theory import (
    capacity_uniform,
    expected_batch_time_uniform,
    latency_law,
    theory_capacity,
)
from kvopt.bins.verify import verify_batches
from kvopt.time_model import LinearBatchTime, UnitTime

FIELDS = ("ptr", "members", "bin", "kind", "formed", "start", "end", "unserved")


@st.composite
def cases(draw, profile: bool = False):
    """A small workload and options; gaps and timeouts on a 0.5 grid make ties frequent."""
    n = draw(st.integers(1, 24))
    k = draw(st.integers(1, 4))
    gaps = draw(st.lists(st.sampled_from([0.0, 0.0, 0.5, 1.0, 2.5]), min_size=n, max_size=n))
    length = draw(st.lists(st.sampled_from([0.75, 1.0, 2.0, 3.0, 4.5]) if profile
                           else st.floats(0.1, 10.0), min_size=n, max_size=n))
    prompt = draw(st.lists(st.integers(1 if profile else 0, 5), min_size=n, max_size=n))
    bins = draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n))
    w = Workload(np.cumsum(gaps), length, bins, k, prompt=prompt)
    need = max(np.asarray(length) + np.asarray(prompt))
    kv = draw(st.none() | st.floats(0.0, 15.0).map(lambda x: float(need + x)))
    timeout = draw(st.none() | st.sampled_from([0.5, 1.0, 2.0, 3.5]))
    cfg = EngineConfig(
        batch_size=draw(st.integers(1, 4)), servers=draw(st.integers(1, 3)),
        t0=0.0 if profile else draw(st.sampled_from([0.0, 0.25])),
        t_tok=1.0 if profile else draw(st.sampled_from([1.0, 0.5])),
        kv_limit_tokens=kv, flush=draw(st.sampled_from(["none", "at_end"])), timeout_s=timeout,
        time_model=draw(st.sampled_from([UnitTime(0.5), LinearBatchTime(
            0.5, 0.01, 0.02, 0.001, 0.0001, 0.003, 4.0)])) if profile else None,
    )
    return w, cfg


@given(case=cases())
@settings(max_examples=250, deadline=None)
def test_fast_engine_equals_reference(case):
    """Same batches, members, kinds and times as the event-by-event loop; both verify."""
    w, cfg = case
    fast, ref = simulate_batches(w, cfg), simulate_reference(w, cfg)
    for field in FIELDS:
        assert np.array_equal(getattr(fast, field), getattr(ref, field)), field
    verify_batches(w, cfg, fast)


@given(case=cases(profile=True))
@example(case=(  # more bins than requests: bin 3's timeout and bin 0's flush fall at t = 3.5
    Workload([0.0, 1.0, 3.5], [0.75] * 3, [3, 0, 0], 4, prompt=[1, 1, 1]),
    EngineConfig(batch_size=3, servers=1, flush="at_end", timeout_s=3.5,
                 time_model=UnitTime(0.5))))
@settings(max_examples=100, deadline=None)
def test_fast_engine_equals_reference_with_a_time_model(case):
    """Under a profile's time model (seconds per round) the times agree to rounding."""
    w, cfg = case
    fast, ref = simulate_batches(w, cfg), simulate_reference(w, cfg)
    for field in ("ptr", "members", "bin", "kind", "formed", "unserved"):
        assert np.array_equal(getattr(fast, field), getattr(ref, field)), field
    np.testing.assert_allclose(fast.end, ref.end, rtol=1e-12)
    verify_batches(w, cfg, fast)


def _plain_static_batching(arrival, length, b):
    """Textbook static batching, one server: consecutive groups of B in arrival order."""
    ends, completion = [], {}
    free = 0.0
    for first in range(0, len(arrival) - len(arrival) % b, b):
        group = range(first, first + b)
        start = max(arrival[first + b - 1], free)
        free = start + max(length[i] for i in group)
        ends.append(free)
        completion.update({i: free for i in group})
    return ends, completion


@pytest.mark.parametrize("arrivals", ["saturated", "poisson"])
def test_one_bin_is_plain_static_batching(arrivals):
    """k = 1 reproduces plain static batching: the same batch ends and request latencies."""
    w = make_workload(Uniform(1, 20), 1000, num_bins=1, seed=3, arrivals=arrivals, rate=0.3)
    res = run(w, EngineConfig(8, saturated=arrivals == "saturated"))
    ends, completion = _plain_static_batching(w.arrival.tolist(), w.length.tolist(), 8)
    assert res.batches.end.tolist() == ends
    lat = np.array([completion[i] - w.arrival[i] for i in res.batches.members])
    assert res.evaluation.mean_latency == pytest.approx(lat.mean(), rel=1e-12)
    assert res.evaluation.num_unserved == 1000 % 8


@pytest.mark.parametrize("k", [1, 2, 4, 8, 16, 32])
def test_saturated_capacity_matches_closed_form(k):
    """The target: B = 128, U[1, 20], 128,000 requests, m = 1, within 1% of c_k (seed 0; the
    sampling error over 10 seeds is 0.02% at k = 1 and 0.2% at k = 32, one s.d.)."""
    w = make_workload(Uniform(1, 20), 128_000, num_bins=k, seed=0)
    ev = run(w, EngineConfig(128, saturated=True)).evaluation
    assert ev.capacity == pytest.approx(capacity_uniform(k, 128, 1, 20), rel=0.01)


@pytest.mark.parametrize("lengths", [Uniform(1, 20), LogNormal.with_mean(43, 0.46)])
def test_capacity_grows_with_bins(lengths):
    """Oracle lengths, B = 8, m = 8, 50,000 requests: each doubling of k raises the measured
    capacity, allowing a 0.5% shortfall (sampling s.d. ~0.1%; the smallest theoretical step,
    k = 16 -> 32, is +2.3% for U[1, 20] and +3.7% for the lognormal)."""
    caps = []
    for k in (1, 2, 4, 8, 16, 32):
        w = make_workload(lengths, 50_000, num_bins=k, seed=11)
        caps.append(run(w, EngineConfig(8, servers=8, saturated=True)).evaluation.capacity)
    assert all(b >= a * (1 - 0.005) for a, b in zip(caps, caps[1:], strict=False))
    assert caps[-1] > caps[0] * 1.3


def test_assignment_errors_match_their_theory():
    """Symmetric errors p_e = 0.3 at k = 8: measured capacity within 1% of the mixture integral."""
    dist = LogNormal.with_mean(43, 0.46)
    pred = SymmetricError(0.3)
    w = make_workload(dist, 100_000, num_bins=8, seed=5, predictor=pred)
    ev = run(w, EngineConfig(8, servers=8, saturated=True)).evaluation
    theory = theory_capacity(dist, w.edges, 8, servers=8, confusion=pred.confusion(8))
    assert ev.capacity == pytest.approx(theory, rel=0.01)


def test_latency_law_with_many_servers_at_light_load():
    """Infinitely many servers (m >= batches): mean latency E[T_k] + k(B - 1)/(2 lambda)."""
    k, b, lam = 4, 8, 2.0
    w = make_workload(Uniform(1, 20), 40_000, num_bins=k, seed=2, arrivals="poisson", rate=lam)
    ev = run(w, EngineConfig(b, servers=10**6)).evaluation
    law = latency_law(k, b, lam, expected_batch_time_uniform(k, b, 1, 20))
    assert ev.mean_latency == pytest.approx(law, rel=0.02)
    assert ev.mean_queue_wait == 0.0


def test_same_seed_same_bytes():
    """A seed fixes lengths, arrivals, assignment errors and so every batch, byte for byte."""
    def once():
        w = make_workload(LogNormal.with_mean(43, 0.46), 5000, num_bins=4, seed=9,
                          arrivals="poisson", rate=3.0, predictor=SymmetricError(0.2))
        return simulate_batches(w, EngineConfig(8, servers=2))
    a, b = once(), once()
    for field in FIELDS:
        assert getattr(a, field).tobytes() == getattr(b, field).tobytes()


def test_timeout_closes_partial_batches():
    """B = 3, one bin, arrivals 0, 1, 5, timeout 2: {0, 1} leaves at 2, {2} at 7."""
    w = Workload([0.0, 1.0, 5.0], [1.0, 2.0, 1.0], [0, 0, 0], 1)
    bt = simulate_batches(w, EngineConfig(3, timeout_s=2.0))
    assert bt.ptr.tolist() == [0, 2, 3]
    assert bt.kind.tolist() == [TIMEOUT, TIMEOUT]
    assert bt.formed.tolist() == [2.0, 7.0]
    assert bt.end.tolist() == [4.0, 8.0]


def test_kv_limit_closes_a_batch_when_the_next_request_does_not_fit():
    """M = 10, prompts 2: outputs 3 and 3 fill it (10); the third (2 + 1) does not fit, so
    {0, 1} forms at the third's arrival (2); {2, 3} is flushed at the last arrival (3)."""
    w = Workload([0.0, 1.0, 2.0, 3.0], [3.0, 3.0, 1.0, 1.0], [0, 0, 0, 0], 1,
                 prompt=[2, 2, 2, 2])
    bt = simulate_batches(w, EngineConfig(3, kv_limit_tokens=10, flush="at_end"))
    assert bt.ptr.tolist() == [0, 2, 4]
    assert bt.kind.tolist() == [KV, FLUSH]
    assert bt.formed.tolist() == [2.0, 3.0]
    bt = simulate_batches(w, EngineConfig(2, kv_limit_tokens=10))
    assert bt.kind.tolist() == [FULL, FULL]
    assert bt.formed.tolist() == [1.0, 3.0]


def test_bad_inputs_name_the_field():
    with pytest.raises(BinsError, match="non-decreasing"):
        Workload([1.0, 0.0], [1.0, 1.0], [0, 0], 1)
    with pytest.raises(BinsError, match="length of request 1"):
        Workload([0.0, 0.0], [1.0, 0.0], [0, 0], 1)
    with pytest.raises(BinsError, match="bin of request 0"):
        Workload([0.0], [1.0], [2], 2)
    with pytest.raises(BinsError, match="batch_size"):
        EngineConfig(0)
    with pytest.raises(BinsError, match="flush"):
        EngineConfig(2, flush="sometimes")
    with pytest.raises(BinsError, match="KV limit"):
        simulate_batches(Workload([0.0], [5.0], [0], 1, prompt=[6]),
                         EngineConfig(2, kv_limit_tokens=10))


def test_trace_replay_keeps_timestamps_lengths_and_prompts(tmp_path):
    """`trace_workload`: rows in time order from 0, their outputs and prompts; a length-only
    trace is refused."""
    path = tmp_path / "t.csv"
    path.write_text("arrived_at,num_prefill_tokens,num_decode_tokens\n"
                    "10.0,3,4\n10.5,5,1\n12.0,2,9\n13.0,1,2\n")
    w = trace_workload(path, num_bins=2, seed=0, num_requests=3)
    assert w.arrival.tolist() == [0.0, 0.5, 2.0]
    assert w.length.tolist() == [4.0, 1.0, 9.0] and w.prompt.tolist() == [3, 5, 2]
    assert w.bin.tolist() == [1, 0, 1]
    res = run(w, EngineConfig(2, flush="at_end"))
    assert res.evaluation.num_served == 3
    lengths_only = tmp_path / "l.csv"
    lengths_only.write_text("num_prefill_tokens,num_decode_tokens\n1,2\n")
    with pytest.raises(BinsError, match="no timestamps"):
        trace_workload(lengths_only, num_bins=1, seed=0)
