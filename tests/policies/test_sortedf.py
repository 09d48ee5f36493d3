"""Sorted-F (reconstructed): the F prefix, hand cases with skipping and the F cut, one batch at
a time, schedules verify."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_instance
from hypothesis import given, settings
from hypothesis import strategies as st

from kvopt.policies import POLICIES, SortedF
from kvopt.policies.sortedf import best_f_prefix
from kvopt.sim.engine import simulate
from kvopt.sim.predictions import PointPredictions
from kvopt.sim.reference import simulate_reference
from kvopt.sim.state import Decision
from kvopt.verify import verify


@pytest.mark.parametrize(("planned", "k"), [
    ([5], 1), ([1, 100], 1), ([2, 2, 2], 3), ([1, 3], 2),    # F 1 and 4/4: a tie, the larger
    ([1, 4], 1), ([1, 1, 1, 10], 3), ([3, 3, 3, 3, 20], 4), ([3, 3, 3, 3, 4], 5),  # 16/25 < 12/16
])
def test_best_f_prefix(planned, k):
    """The prefix of least ``sum / k^2``, ties to the larger prefix."""
    assert best_f_prefix(planned) == k
    f = [sum(planned[:j]) / j**2 for j in range(1, len(planned) + 1)]
    assert f[k - 1] == min(f)


def test_f_cuts_the_long_request_from_the_batch():
    """Outputs 1, 1, 1, 10 all at round 0, memory for all: F of the prefixes 1, 2/4, 3/9, 13/16,
    so the first batch is the three short requests; the long one starts when they are done."""
    inst = make_instance([(0, 1, 1), (0, 1, 1), (0, 1, 10), (0, 1, 1)], memory=40)
    sched = simulate(inst, SortedF())
    assert sched.final_starts().tolist() == [0, 0, 1, 0]
    verify(inst, sched)


def test_first_fit_skips_a_request_that_does_not_fit():
    """M = 20. Sorted by output: A (s 15, o 2), B (s 2, o 3), C (s 2, o 3), D (s 1, o 3).
    A fits; B and C would hold 17 + 4 = 21 with A at round 2 and are skipped; D holds 17 + 3 = 20
    there and joins (F 5/4 < 2). B and C start together when the batch is done, at round 3."""
    inst = make_instance([(0, 15, 2), (0, 2, 3), (0, 2, 3), (0, 1, 3)], memory=20)
    sched = simulate(inst, SortedF())
    assert sched.final_starts().tolist() == [0, 3, 3, 0]
    assert verify(inst, sched).peak_memory_tokens == 20


def test_arrivals_wait_for_the_running_batch():
    """A request arriving while a batch runs waits for the whole batch, even with memory free."""
    inst = make_instance([(0, 1, 5), (1, 1, 1)], memory=40)
    assert simulate(inst, SortedF()).final_starts().tolist() == [0, 5]


@st.composite
def hetero_instances(draw, wrong: bool):
    memory = draw(st.integers(6, 40))
    n = draw(st.integers(1, 10))
    rows, predicted = [], []
    for _ in range(n):
        s = draw(st.integers(1, memory - 1))            # prompts over the whole range
        rows.append((draw(st.integers(0, 8)), s, draw(st.integers(1, memory - s))))
        predicted.append(draw(st.integers(1, memory)))
    inst = make_instance(rows, memory)
    return inst.replace(predicted=predicted) if wrong else inst


@given(inst=hetero_instances(wrong=False))
@settings(max_examples=150, deadline=None)
def test_one_batch_at_a_time_with_exact_predictions(inst):
    """Exact predictions: no clearing, and a request starts only when nothing else runs except
    the requests starting with it."""
    sched = simulate(inst, SortedF())
    ev = verify(inst, sched)
    assert ev.num_clearings == 0
    for k in np.unique(sched.run_start).tolist():
        others = sched.run_start != k
        assert not np.any((sched.run_start[others] < k) & (sched.run_end[others] > k))


@given(inst=hetero_instances(wrong=True), seed=st.integers(0, 2**16))
@settings(max_examples=100, deadline=None)
def test_engine_equals_reference_loop_heterogeneous_prompts(inst, seed):
    """Wide prompts, wrong or noisy predictions: the event engine's schedule is the per-round
    loop's, for Sorted-F and SVF, and it verifies."""
    for name in ("sorted-f", "svf"):
        for model in (None, PointPredictions(eps=0.5)):
            fast = simulate(inst, POLICIES[name](), rng=np.random.default_rng(seed),
                            predicted=model)
            slow = simulate_reference(inst, POLICIES[name](), rng=np.random.default_rng(seed),
                                      predicted=model)
            verify(inst, fast)
            assert fast.to_dict() == slow.to_dict()


class _PlainSortedF(SortedF):
    """The batch walk written with MC-SF's general check (:class:`Checkpoints`), as an oracle
    for the policy's closed-form slack."""

    def decide(self, state):
        from kvopt.policies.mcsf import Checkpoints

        if state.memory_next_tokens > state.memory or len(state.running):
            return super().decide(state)
        if len(state.arrived):
            self._arrive(state)
        if not self._pool:
            return Decision()
        t, s, p = state.round, self._s, self._p
        points, batch = Checkpoints(state.memory, (), t), []
        for _, _, j in self._pool:
            if points.try_add(t + p[j], s[j] - t, s[j] + p[j]):
                batch.append(j)
        admit = batch[:best_f_prefix([p[j] for j in batch])]
        self._pool = [key for key in self._pool if key[2] not in set(admit)]
        return Decision(admit=admit)


@given(inst=hetero_instances(wrong=True), seed=st.integers(0, 2**16))
@settings(max_examples=150, deadline=None)
def test_slack_walk_equals_the_general_check(inst, seed):
    """The policy's walk (one comparison per candidate, early stop) starts exactly the batches
    that MC-SF's general future-peak check with no early stop gives."""
    for model in (None, PointPredictions(eps=0.5)):
        fast = simulate(inst, SortedF(), rng=np.random.default_rng(seed), predicted=model)
        plain = simulate_reference(inst, _PlainSortedF(), rng=np.random.default_rng(seed),
                                   predicted=model)
        assert fast.to_dict() == plain.to_dict()
