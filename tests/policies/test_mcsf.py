"""MC-SF and MC-Benchmark: hand-solved cases, the original O(n^2) check as an oracle, wake."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_instance
from hypothesis import given, settings
from hypothesis import strategies as st

from kvopt.policies.mcsf import Checkpoints, McBenchmark, McSf
from kvopt.sim.engine import run, simulate
from kvopt.sim.predictions import PointPredictions
from kvopt.sim.reference import simulate_reference
from kvopt.sim.state import Decision
from kvopt.verify import verify


def _original_admissions(t, memory, prompt, predicted, run_start, running, order):
    """The project's first MC-SF check (O(n^2) per candidate), kept as the oracle."""
    run = np.asarray(running, dtype=np.int64)
    k = run_start[run]
    const = list((prompt[run] - k).tolist())
    end = list(np.maximum(k + predicted[run], t + 1).tolist())
    admitted = []
    for j in order:
        const.append(int(prompt[j]) - t)
        end.append(t + int(predicted[j]))
        const_arr, end_arr = np.asarray(const), np.asarray(end)
        checkpoints = end_arr[:, None]
        alive = end_arr[None, :] >= checkpoints
        if (alive * (const_arr[None, :] + checkpoints)).sum(axis=1).max() > memory:
            break
        admitted.append(j)
    return admitted


class _OriginalMcSf:
    """MC-SF as first written: called every round by the reference loop, no wake, no cache."""

    def __init__(self, benchmark=False):
        self.benchmark = benchmark
        self.name = "original"

    def reset(self, context, rng):
        self.waiting = set()

    def decide(self, state):
        self.waiting |= set(state.arrived.tolist())
        w = np.array(sorted(self.waiting), dtype=np.int64)
        if w.size == 0:
            return Decision()
        keys = (w, state.arrival[w]) if self.benchmark else (w, state.arrival[w],
                                                              state.predicted[w])
        order = w[np.lexsort(keys)].tolist()
        admit = _original_admissions(state.round, state.memory, state.prompt, state.predicted,
                                     state.run_start, list(state.running), order)
        self.waiting -= set(admit)
        return Decision(admit=admit)


@given(rows=st.lists(st.tuples(st.integers(0, 5), st.integers(1, 4), st.integers(1, 10)),
                     min_size=1, max_size=8),
       extra=st.integers(0, 12), benchmark=st.booleans())
@settings(max_examples=200, deadline=None)
def test_decisions_identical_to_original_check(rows, extra, benchmark):
    """With exact predictions, the incremental check admits exactly what the original did."""
    memory = max(s + o for _, s, o in rows) + extra
    inst = make_instance(rows, memory)
    new = simulate(inst, McBenchmark() if benchmark else McSf())
    old = simulate_reference(inst, _OriginalMcSf(benchmark))
    assert new.to_dict() == old.to_dict()


def test_shortest_first_ordering():
    """MC-SF starts the short request first; MC-Benchmark the earlier one."""
    # M = 10; A = (a 0, s 2, o 6) peaks at 8, B = (a 0, s 2, o 2): together at round 2 they hold
    # 4 + 4 = 8 (fine) but A alone reaches 8 at round 6, so both fit at 0 either way; make them
    # conflict: M = 9, A peaks at 8 and with B alive at rounds 1, 2: A 3 + B 3 = 6, A 4 + B 4 = 8.
    # Both fit at 0 for both orders; so use a third request C = (a 0, s 5, o 3) that fits only
    # after A or B completes. MC-SF walks B (p 2), C (p 3), A (p 6).
    inst = make_instance([(0, 2, 6), (0, 2, 2), (0, 5, 3)], 9)
    mcsf = simulate(inst, McSf()).final_starts().tolist()
    bench = simulate(inst, McBenchmark()).final_starts().tolist()
    # MC-SF at 0: B (end 2, 4 at round 2), C: rounds 1..3 -> round 2: 4 + 7 = 11 > 9, stop.
    # At 1 (no event): C at 1, rounds 2..4: round 2: B 4 + C 6 = 10 > 9. At 2 B completes; C
    # starts at 2 (peak 8); A: at round 5 C 8 + A 5 = 13 > 9 ... A waits for C (done at 5).
    assert mcsf == [5, 0, 2]
    # MC-Benchmark at 0: A (end 6, peak 8), B: round 2: A 4 + B 4 = 8, round 6 alone: fits.
    # C: round 3: A 5 + C 8 > 9, stop. C waits for A (done at 6).
    assert bench == [0, 0, 6]


def test_admission_one_round_later_without_event():
    """A later start holds less at the running request's peak: MC-SF admits with no event."""
    # M = 12. A = (a 0, s 1, o 9) starts at 0 and holds 1 + r at round r, 10 at round 9.
    # B = (a 1, s 1, o 9) started at t' holds 1 + 9 - t' at round 9: fits iff
    # 10 + 10 - t' <= 12, i.e. t' >= 8; round t'+1 = 9 then holds 10 + 2 = 12. A completes only
    # at 9, so round 8 is no event: the engine must wake there. Latency 9 + (8 + 9 - 1) = 25.
    inst = make_instance([(0, 1, 9), (1, 1, 9)], 12)
    result = run(inst, McSf())
    assert result.schedule.final_starts().tolist() == [0, 8]
    assert verify(inst, result.schedule).total_latency == 25
    assert result.num_decisions <= 4


def test_wrong_predictions_clear_most_recent_first():
    """Overrun predictions: MC-SF clears the most recently started until the next round fits."""
    # M = 10; R0 = R1 = (a 0, s 2, o 6), both predicted p = 3. At 0 MC-SF admits R0 (peak 5 at
    # round 3) and R1 (round 3: 5 + 5 = 10). Real round 4: 6 + 6 = 12 > 10, so at 3 it clears R1
    # (started last, admitted after R0): run (0, 3), and admits nothing. At 4 R0 overran (its
    # predicted end counts as 5): R1 at 4 -> round 5: 7 + 3 = 10, own end 7: 5; admitted. Real
    # round 6: R0 8 + R1 4 = 12 > 10: cleared at 5, run (4, 5). R0 completes at 6, R1 restarts
    # at 6 and completes at 12. Total latency 6 + 12 = 18.
    inst = make_instance([(0, 2, 6), (0, 2, 6)], 10).replace(predicted=[3, 3])
    sched = simulate(inst, McSf())
    ev = verify(inst, sched)
    assert sched.clearings() == [(1, 0, 3), (1, 4, 5)]
    assert ev.total_latency == 18 and ev.num_clearings == 2


def test_margin_prevents_the_clearing():
    """The environment's margin: MC-SF plans with p (1 + 1.0) = 6 = o: no clearing; R1 waits
    for R0 (latency 6 + 12)."""
    inst = make_instance([(0, 2, 6), (0, 2, 6)], 10).replace(predicted=[3, 3])
    sched = simulate(inst, McSf(), predicted=PointPredictions(margin=1.0))
    assert sched.num_clearings == 0 and sched.final_starts().tolist() == [0, 6]


def test_prediction_above_memory_is_capped():
    """A prediction with s + p > M is planned as M - s, so the request still starts."""
    inst = make_instance([(0, 2, 3)], 6).replace(predicted=[50])
    assert simulate(inst, McSf()).final_starts().tolist() == [0]


def test_checkpoints_first_fit_round_matches_brute_force():
    """first_fit_round equals the first t' at which try_add succeeds on a copy."""
    rng = np.random.default_rng(3)
    for _ in range(300):
        memory, t = int(rng.integers(10, 40)), int(rng.integers(0, 5))
        members = [(t + int(rng.integers(-2, 15)), int(rng.integers(-2, 6)) - t)
                   for _ in range(int(rng.integers(0, 5)))]
        s, p = int(rng.integers(1, 6)), int(rng.integers(1, 12))
        now = Checkpoints(memory, members, t)
        checkpoints = zip(now.ends, now.consts, now.counts, strict=True)
        if any(c + e * q > memory for e, c, q in checkpoints):
            continue   # unreachable: a running set always fits its own checkpoints
        got = Checkpoints(memory, members, t).first_fit_round(t, s, p)
        want = None
        # same set, later round: members whose predicted end passed count as ending at t' + 1
        for tp in range(t + 1, t + 60):
            if Checkpoints(memory, members, tp).try_add(tp + p, s - tp, s + p):
                want = tp
                break
        assert got == want, (memory, t, members, s, p)


def test_bad_options_are_rejected():
    """requeue is checked on construction; MC-SF has no prediction options (the environment's
    :class:`~kvopt.sim.predictions.PointPredictions` has them)."""
    with pytest.raises(TypeError):
        McSf(eps=0.5)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="requeue"):
        McSf(requeue="back")
