"""The independent verifier: arrivals, memory in every round, completions, clearings."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_instance
from hypothesis import given, settings
from hypothesis import strategies as st

from kvopt.exceptions import ScheduleError
from kvopt.schedule import Schedule
from kvopt.verify import memory_profile, verify

# M = 6, two requests (0, 2, 2). Started at k a request holds 2 + t - k at t = k+1, k+2.
PAIR = make_instance([(0, 2, 2), (0, 2, 2)], memory=6)


def test_sequential_schedule_latency():
    """Starts 0 and 2: completions 2 and 4, latency 6; peak 4 tokens."""
    ev = verify(PAIR, Schedule.from_starts([0, 2], PAIR.output))
    assert ev.completion.tolist() == [2, 4] and ev.total_latency == 6
    assert ev.average_latency == 3.0 and ev.peak_memory_tokens == 4 and ev.num_clearings == 0


def test_memory_overflow_names_the_round():
    """Starts 0 and 1: round 2 holds 4 + 3 = 7 > 6."""
    with pytest.raises(ScheduleError, match="round 2 holds 7 KV tokens"):
        verify(PAIR, Schedule.from_starts([0, 1], PAIR.output))


def test_memory_profile_by_hand():
    """Starts 0 and 2: rounds 0..4 hold 0, 3, 4, 3, 4."""
    assert memory_profile(PAIR, Schedule.from_starts([0, 2], PAIR.output)).tolist() == \
        [0, 3, 4, 3, 4]


def test_start_before_arrival():
    """A request cannot start before it arrives."""
    inst = make_instance([(0, 1, 1), (3, 1, 1)], memory=5)
    with pytest.raises(ScheduleError, match="request 1 starts at round 2 before its arrival 3"):
        verify(inst, Schedule.from_starts([0, 2], inst.output))


def test_incomplete_and_missing_runs():
    """The last run must complete; every request must run."""
    with pytest.raises(ScheduleError, match="needs 2 rounds"):
        verify(PAIR, Schedule.from_runs(2, [(0, 0, 2), (1, 2, 3)]))
    with pytest.raises(ScheduleError, match="request 1 never runs"):
        verify(PAIR, Schedule.from_runs(2, [(0, 0, 2)]))
    with pytest.raises(ScheduleError, match="schedule has 1 requests"):
        verify(PAIR, Schedule.from_starts([0], [2]))


def test_clearing_restarts_from_scratch():
    """Request 0 (o = 3) runs 0..1, is cleared at 1, restarts at 1 and completes at 4."""
    inst = make_instance([(0, 1, 3)], memory=5)
    ev = verify(inst, Schedule.from_runs(1, [(0, 0, 1), (0, 1, 4)]))
    assert ev.total_latency == 4 and ev.num_clearings == 1


def test_bad_clearings():
    """A cleared run ends strictly inside its run; a restart waits for the clearing."""
    inst = make_instance([(0, 1, 3)], memory=9)
    with pytest.raises(ScheduleError, match="strictly"):
        verify(inst, Schedule.from_runs(1, [(0, 0, 3), (0, 3, 6)]))
    with pytest.raises(ScheduleError, match="restarts at round 1 before"):
        verify(inst, Schedule.from_runs(1, [(0, 0, 2), (0, 1, 4)]))


rows = st.lists(st.tuples(st.integers(0, 4), st.integers(1, 3), st.integers(1, 3)),
                min_size=1, max_size=6)


@given(rows=rows, capacity=st.integers(6, 12), gaps=st.lists(st.integers(0, 6), min_size=6,
                                                             max_size=6))
@settings(max_examples=100, deadline=None)
def test_verdict_equals_a_plain_loop(rows, capacity, gaps):
    """verify() accepts a schedule exactly when a per-round loop over the rules does, and then
    reports the loop's total latency."""
    inst = make_instance(rows, memory=capacity)
    starts = inst.arrival + np.array(gaps[: len(rows)])
    horizon = int((starts + inst.output).max()) + 1
    held = [0] * (horizon + 1)
    for i in range(len(rows)):
        for j in range(1, int(inst.output[i]) + 1):
            held[int(starts[i]) + j] += int(inst.prompt[i]) + j
    fits = max(held) <= capacity
    schedule = Schedule.from_starts(starts, inst.output)
    if fits:
        expected = int((starts + inst.output - inst.arrival).sum())
        assert verify(inst, schedule).total_latency == expected
    else:
        with pytest.raises(ScheduleError):
            verify(inst, schedule)


# ----------------------------------------------------------------------------- run segments
# One request, s = 1, o = 4, M = 10: it runs 0..2 (progress 2), is parked on the host 2..4 and
# resumes 4..6. On the GPU it holds 1 + 1, 1 + 2 in rounds 1, 2, nothing in rounds 3, 4, and
# 1 + 2 + 1, 1 + 2 + 2 in rounds 5, 6; the host holds 1 + 2 = 3 in rounds 3, 4.
ONE = make_instance([(0, 1, 4)], memory=10)
SWAP = [(0, 0, 0, 2, 0, "gpu"), (0, 0, 2, 4, 2, "host"), (0, 0, 4, 6, 2, "gpu")]


def test_swap_out_and_in_by_hand():
    """Progress is kept across the host segment: completion 6, no clearing."""
    sched = Schedule.from_segments(1, SWAP)
    ev = verify(ONE, sched)
    assert ev.completion.tolist() == [6] and ev.num_clearings == 0 and ev.peak_memory_tokens == 5
    assert memory_profile(ONE, sched).tolist() == [0, 2, 3, 0, 0, 4, 5]
    assert memory_profile(ONE, sched, tier="host").tolist() == [0, 0, 0, 3, 3, 0, 0]
    with pytest.raises(ScheduleError, match="parks 3 tokens in host memory, over its capacity 2"):
        verify(ONE, sched, host_memory=2)
    assert verify(ONE, sched, host_memory=3).total_latency == 6


def test_migration_and_memory_per_replica():
    """Two requests (s = 2, o = 2, M = 6) at once overflow one replica (round 2: 4 + 4) but fit
    on two; request 1 migrates to replica 1 after one round (progress kept)."""
    inst = make_instance([(0, 2, 2), (0, 2, 2)], memory=6)
    both = Schedule.from_segments(2, [(0, 0, 0, 2, 0, "gpu"), (1, 1, 0, 2, 0, "gpu")])
    with pytest.raises(ScheduleError, match="replica 1, but there are 1 replica"):
        verify(inst, both)
    assert verify(inst, both, num_replicas=2).total_latency == 4
    moved = Schedule.from_segments(2, [(0, 0, 0, 2, 0, "gpu"), (1, 0, 0, 1, 0, "gpu"),
                                       (1, 1, 1, 2, 1, "gpu")])
    ev = verify(inst, moved, num_replicas=2)
    assert ev.completion.tolist() == [2, 2] and ev.num_clearings == 0
    assert memory_profile(inst, moved, replica=1).tolist() == [0, 0, 4]
    crowded = Schedule.from_segments(2, [(0, 1, 0, 2, 0, "gpu"), (1, 0, 0, 1, 0, "gpu"),
                                         (1, 1, 1, 2, 1, "gpu")])
    with pytest.raises(ScheduleError, match="replica 1: round 2 holds 8 KV tokens"):
        verify(inst, crowded, num_replicas=2)


@pytest.mark.parametrize(("rows", "match"), [
    # the request runs twice at once: a restart before the cleared run ended
    ([(0, 0, 0, 2, 0, "gpu"), (0, 0, 1, 5, 0, "gpu")], "restarts at round 1 before"),
    # a resumed segment overlapping its predecessor
    ([(0, 0, 0, 2, 0, "gpu"), (0, 0, 1, 3, 2, "gpu")], "resuming at round 1 keeps the KV"),
    # progress not conserved: resumes at 3 after stopping at 2
    ([(0, 0, 0, 2, 0, "gpu"), (0, 0, 2, 3, 3, "gpu")], "resumes at progress 3, but the one "
                                                      "before it ended at progress 2"),
    # a kept KV cache resumes later than its segment ended
    ([(0, 0, 0, 2, 0, "gpu"), (0, 0, 3, 5, 2, "gpu")], "must start then"),
    # parked on the host at the end
    ([(0, 0, 0, 2, 0, "gpu"), (0, 0, 2, 3, 2, "host")], "parked on the host"),
    # the first segment cannot start with progress
    ([(0, 0, 0, 2, 2, "gpu")], "first segment starts with progress 2"),
    # a host segment from progress 0 (first segment)
    ([(0, 0, 0, 2, 0, "host"), (0, 0, 2, 6, 0, "gpu")], "from progress 0"),
    # a host segment of no round
    ([(0, 0, 0, 2, 0, "gpu"), (0, 0, 2, 2, 2, "host"), (0, 0, 2, 4, 2, "gpu")],
     "at least one round"),
    # a GPU segment that reaches completion before the last one
    ([(0, 0, 0, 4, 0, "gpu"), (0, 0, 4, 5, 4, "host"), (0, 0, 5, 5, 4, "gpu")], "strictly"),
    # the last segment does not complete
    ([(0, 0, 0, 2, 0, "gpu"), (0, 0, 2, 3, 2, "gpu")], "from progress 2 and ends at 3, but "
                                                      "needs 2 rounds"),
])
def test_segment_rule_violations(rows, match):
    """Each rule of run segments, broken once, is a ScheduleError saying which."""
    with pytest.raises(ScheduleError, match=match):
        verify(ONE, Schedule.from_segments(1, rows))


@st.composite
def segmented(draw):
    """A random instance and a valid schedule of restarts, swaps and migrations (two
    replicas), with a plain per-round account of the memory held and the completions."""
    n = draw(st.integers(1, 4))
    rows = [(draw(st.integers(0, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 5)))
            for _ in range(n)]
    inst = make_instance(rows, memory=100)
    segments = []
    for i, (a, _, o) in enumerate(rows):
        t, p, rep = a + draw(st.integers(0, 3)), 0, draw(st.integers(0, 1))
        while True:
            length = draw(st.integers(1, o - p))
            segments.append((i, rep, t, t + length, p, "gpu"))
            t, p = t + length, p + length
            if p == o:
                break
            action = draw(st.sampled_from(["clear", "swap", "migrate"]))
            if action == "clear":
                t, p = t + draw(st.integers(0, 2)), 0
            elif action == "swap":
                back = t + draw(st.integers(1, 3))
                segments.append((i, rep, t, back, p, "host"))
                t = back
            rep = draw(st.integers(0, 1)) if action != "swap" else rep
    return inst, segments


@given(case=segmented())
@settings(max_examples=150, deadline=None)
def test_segments_equal_a_plain_loop(case):
    """On random valid segment schedules, verify's memory per replica and tier and its
    completions equal a per-round loop over the segments."""
    inst, segments = case
    horizon = max(e for _, _, _, e, _, _ in segments) + 1
    held = {(rep, tier): [0] * horizon for rep in (0, 1) for tier in ("gpu", "host")}
    completion = [0] * inst.num_requests
    for i, rep, k, e, p, tier in segments:
        s = int(inst.prompt[i])
        for t in range(k + 1, e + 1):
            held[rep, tier][t] += s + p + (t - k) if tier == "gpu" else s + p
        if tier == "gpu" and p + e - k == inst.output[i]:
            completion[i] = e
    sched = Schedule.from_segments(inst.num_requests, segments)
    ev = verify(inst, sched, num_replicas=2)
    assert ev.completion.tolist() == completion
    assert ev.peak_memory_tokens == max(max(held[rep, "gpu"]) for rep in (0, 1))
    for (rep, tier), loop in held.items():
        got = memory_profile(inst, sched, replica=rep, tier=tier).tolist()
        assert got + [0] * (horizon - len(got)) == loop
