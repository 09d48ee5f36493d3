import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvopt.exceptions import ScheduleError
from kvopt.instance import Instance
from kvopt.metrics import (
    batch_composition,
    round_end_times_s,
    schedule_round_ends_s,
    summarize,
    throughput_timeline,
    time_metrics,
)
from kvopt.schedule import Schedule
from kvopt.time_model import LinearBatchTime, UnitTime, round_durations_s
from kvopt.verify import memory_profile, verify


def make(rows, memory=10**6):
    """An instance from (arrival, prompt, output) rows."""
    a, s, o = zip(*rows, strict=False)
    return Instance(memory, list(a), list(s), list(o))


# Request 0: a=0, s=3, o=2 starts at 0: prefill in round 1, decode in round 2 (context 4).
# Request 1: a=1, s=5, o=3 cleared: run (1, 2) prefills in round 2; rerun from 3: prefill in
# round 4, decodes in 5 (context 6) and 6 (context 7).
INSTANCE = make([(0, 3, 2), (1, 5, 3)])
SCHEDULE = Schedule.from_runs(2, [(0, 0, 2), (1, 1, 2), (1, 3, 6)])


def loop_composition(instance, schedule):
    """Plain-loop reference for batch_composition."""
    horizon = int(schedule.run_end.max()) + 1
    out = np.zeros((5, horizon), dtype=np.int64)
    for i, k, e in zip(schedule.run_req, schedule.run_start, schedule.run_end, strict=False):
        s = int(instance.prompt[i])
        out[0, k + 1] += 1
        out[1, k + 1] += s
        out[2, k + 1] += s * s
        for t in range(k + 2, e + 1):
            out[3, t] += 1
            out[4, t] += s + t - k - 1
    return out


def test_batch_composition_hand_example():
    """Prefills in the round after each start, decodes after that, with their contexts."""
    b = batch_composition(INSTANCE, SCHEDULE)
    assert b.num_prefills.tolist() == [0, 1, 1, 0, 1, 0, 0]
    assert b.prefill_tokens.tolist() == [0, 3, 5, 0, 5, 0, 0]
    assert b.prefill_sq_tokens.tolist() == [0, 9, 25, 0, 25, 0, 0]
    assert b.num_decoding.tolist() == [0, 0, 1, 0, 0, 1, 1]
    assert b.decode_context_tokens.tolist() == [0, 0, 4, 0, 0, 6, 7]


runs_strategy = st.lists(
    st.tuples(st.integers(0, 6), st.integers(1, 5), st.integers(1, 5), st.integers(0, 1)),
    min_size=1, max_size=6,
)  # (arrival, prompt, output, cleared once first?)


def build(rows):
    """A valid schedule: each request starts on arrival, optionally after one cleared run."""
    inst = make([(a, s, o) for a, s, o, _ in rows])
    runs = []
    for i, (a, _, o, cleared) in enumerate(rows):
        k = a
        if cleared and o >= 2:
            runs.append((i, k, k + 1))
            k += 2
        runs.append((i, k, k + o))
    return inst, Schedule.from_runs(len(rows), runs)


@given(rows=runs_strategy)
@settings(max_examples=100, deadline=None)
def test_composition_equals_loop_and_memory(rows):
    """Vectorised composition equals a plain loop, and KV held equals verify.memory_profile."""
    inst, sched = build(rows)
    b = batch_composition(inst, sched)
    ref = loop_composition(inst, sched)
    got = np.vstack([b.num_prefills, b.prefill_tokens, b.prefill_sq_tokens, b.num_decoding,
                     b.decode_context_tokens])
    np.testing.assert_array_equal(got, ref)
    held = b.prefill_tokens + b.num_prefills + b.decode_context_tokens + b.num_decoding
    np.testing.assert_array_equal(held, memory_profile(inst, sched))


@given(rows=runs_strategy)
@settings(max_examples=100, deadline=None)
def test_unit_time_agrees_with_rounds(rows):
    """With unit rounds, latency and TTFT in seconds equal c - a and k + 1 - a; TPOT is 1."""
    inst, sched = build(rows)
    ends = schedule_round_ends_s(inst, sched, UnitTime())
    for arrival_s in (None, inst.arrival.astype(float)):
        m = time_metrics(inst, sched, ends, arrival_s=arrival_s)
        np.testing.assert_array_equal(m.latency_s, verify(inst, sched).latency)
        np.testing.assert_array_equal(m.ttft_s, sched.final_starts() + 1 - inst.arrival)
        tpot = m.tpot_s[inst.output > 1]
        np.testing.assert_array_equal(tpot, np.ones_like(tpot))
        assert np.isnan(m.tpot_s[inst.output == 1]).all()


def test_hand_example_in_seconds():
    """Durations d[t] = t/10: end times, latency, TTFT, TPOT and throughput by hand."""
    ends = round_end_times_s([9.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6])  # d[0] ignored
    np.testing.assert_allclose(ends, [0, 0.1, 0.3, 0.6, 1.0, 1.5, 2.1])
    m = time_metrics(INSTANCE, SCHEDULE, ends, arrival_s=[0.0, 0.05])
    np.testing.assert_allclose(m.latency_s, [0.3, 2.05])   # c = 2, 6
    np.testing.assert_allclose(m.ttft_s, [0.1, 0.95])      # first tokens at ends of rounds 1, 4
    np.testing.assert_allclose(m.tpot_s, [0.2, 0.55])      # (0.3-0.1)/1, (2.1-1.0)/2
    assert m.span_s == pytest.approx(2.1) and m.throughput_tokens_per_s == pytest.approx(5 / 2.1)
    assert m.throughput_requests_per_s == pytest.approx(2 / 2.1)


def test_start_before_arrival_in_seconds_is_rejected():
    """A run starting (in seconds) before its request arrives is named."""
    ends = round_end_times_s(np.ones(7))
    with pytest.raises(ScheduleError, match="request 1 starts at round 1"):
        time_metrics(INSTANCE, SCHEDULE, ends, arrival_s=[0.0, 1.5])


def test_round_ends_must_cover_and_not_decrease():
    """Too few or decreasing round end times are refused."""
    with pytest.raises(ScheduleError, match="covers rounds 0..3"):
        time_metrics(INSTANCE, SCHEDULE, [0, 1, 2, 3])
    with pytest.raises(ScheduleError, match="decreases at round 2"):
        time_metrics(INSTANCE, SCHEDULE, [0, 2, 1, 3, 4, 5, 6])
    with pytest.raises(ValueError, match="round 1 has duration -1"):
        round_end_times_s([0, -1])


def test_linear_model_post_hoc_durations():
    """A fixed schedule's round ends follow the time model; idle rounds take no time."""
    model = LinearBatchTime(0.05, 1e-3, 2e-3, 0, 0, 1e-4, 1000)
    b = batch_composition(INSTANCE, SCHEDULE)
    ends = schedule_round_ends_s(INSTANCE, SCHEDULE, model)
    np.testing.assert_allclose(np.diff(ends), round_durations_s(model, b)[1:])
    assert ends[3] == ends[2]  # round 3 is empty
    assert ends[1] == pytest.approx(0.05 + 3e-3)
    m = time_metrics(INSTANCE, SCHEDULE, ends)
    assert m.latency_s[0] == pytest.approx(ends[2])


def test_summarize_percentiles_ignore_nan():
    """Mean, median, P90, P99 over 1..100, NaNs left out; empty gives NaN."""
    s = summarize(np.r_[np.arange(1, 101), np.nan])
    assert (s.mean, s.median, s.count) == (50.5, 50.5, 100)
    assert s.p90 == pytest.approx(90.1) and s.p99 == pytest.approx(99.01)
    assert math.isnan(summarize([np.nan]).mean)


def test_summary_is_json_ready():
    """summary() holds Stats dicts for latency, TTFT and TPOT, and throughputs."""
    import json

    m = time_metrics(INSTANCE, SCHEDULE, round_end_times_s(np.ones(7)))
    d = json.loads(json.dumps(m.summary()))
    assert set(d["latency_s"]) == {"mean", "median", "p90", "p99", "count"}
    assert d["throughput_tokens_per_s"] == pytest.approx(5 / 6)


def test_throughput_timeline_counts_every_generated_token():
    """Windows sum to all generated tokens (the cleared run's first token included)."""
    b = batch_composition(INSTANCE, SCHEDULE)
    starts, rate = throughput_timeline(round_end_times_s(np.ones(7)), b, window_s=2.0)
    assert starts.tolist() == [0.0, 2.0, 4.0, 6.0]
    assert (rate * 2.0).sum() == 6 and (rate * 2.0).tolist() == [1, 2, 2, 1]
