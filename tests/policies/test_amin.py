"""A_min: the reconstructed default by hand, its options, its event rounds (the engine equals the
per-round loop for every option), a fixed seed repeats its evictions, evicted work accounted."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvopt.instance import Instance
from kvopt.policies.amin import Amin, evict_victims, first_fit_round, fits_at
from kvopt.policies.mcsf import Checkpoints
from kvopt.sim.engine import run, simulate
from kvopt.sim.intervals import IntervalPredictions
from kvopt.sim.predictions import Predictions
from kvopt.sim.reference import simulate_reference
from kvopt.verify import verify

OPTIONS = {
    "refine": ["progress", "on_evict", "double"],
    "evict_order": ["least_progress", "lowest_estimate", "most_progress", "random"],
    "admit_check": ["future_peak", "next_round"],
    "admit_scan": ["prefix", "skip"],
    "keep_estimate": [True, False],
    "restart_penalty_steps": [0, 1, 3],
}
options = st.fixed_dictionaries({k: st.sampled_from(v) for k, v in OPTIONS.items()})
models = st.one_of(
    st.builds(IntervalPredictions, alpha=st.sampled_from([1, 0.8, 0.5, 0.25, 0.1, 0.05]),
              generator=st.sampled_from(["g1", "g2", "g3"]),
              placement=st.sampled_from(["uniform", "low", "high"]),
              classes=st.sampled_from(["geometric", "quantile"])),
    st.builds(IntervalPredictions, alpha=st.sampled_from([0.8, 0.5, 0.25]),
              generator=st.just("g2"), miss_prob=st.sampled_from([0.2, 0.7])))


def same_schedule(x, y) -> bool:
    return all(np.array_equal(getattr(x, f), getattr(y, f))
               for f in ("run_req", "run_start", "run_end"))


@st.composite
def instances(draw, max_requests: int = 9) -> Instance:
    memory = draw(st.integers(4, 32))
    n = draw(st.integers(1, max_requests))
    s = [draw(st.integers(1, min(6, memory - 1))) for _ in range(n)]
    o = [draw(st.integers(1, memory - si)) for si in s]
    a = [draw(st.integers(0, 6)) for _ in range(n)]
    return Instance(memory, a, s, o)


@given(inst=instances(), opts=options, model=models, seed=st.integers(0, 2**16))
@settings(max_examples=600, deadline=None)
def test_engine_equals_reference_loop_for_every_option(inst, opts, model, seed):
    """The event-skipping engine calls A_min only at events and the rounds it names in ``wake``;
    the per-round loop calls it every round: the schedules must be the same, and verify."""
    fast = simulate(inst, Amin(**opts), rng=np.random.default_rng(seed), predicted=model)
    slow = simulate_reference(inst, Amin(**opts), rng=np.random.default_rng(seed),
                              predicted=model)
    verify(inst, fast)
    assert same_schedule(fast, slow)


@given(inst=instances(), opts=options, model=models, seed=st.integers(0, 2**16))
@settings(max_examples=150, deadline=None)
def test_evicted_work_is_accounted(inst, opts, model, seed):
    """Every run is in the schedule: the tokens of all runs are the outputs plus the wasted
    tokens of the evicted ones, and the evictions are the cleared runs."""
    sched = simulate(inst, Amin(**opts), rng=np.random.default_rng(seed), predicted=model)
    ev = verify(inst, sched)
    cleared = sched.clearings()
    assert ev.num_clearings == len(cleared)
    assert ev.wasted_tokens == sum(e - k for _, k, e in cleared)
    assert int((sched.run_end - sched.run_start).sum()) == int(inst.output.sum()) + \
        ev.wasted_tokens


def _tied_pair():
    """M = 12, two requests at 0 with s = 2, o = 6, both estimated 2: admitted together, they
    overflow round 5 at round 4 with equal progress, so one of them, drawn, is evicted."""
    inst = Instance(12, [0, 0], [2, 2], [6, 6])
    preds = Predictions(np.array([2, 2]), np.array([2, 2]), np.array([12, 12]))
    return inst, preds


def test_the_default_rule_by_hand():
    """Both start at 0; at 4 one is evicted (4 tokens wasted, estimate refined to 5) and, as
    round 5 then fits with it restarted, re-admitted at once: it completes at 10."""
    inst, preds = _tied_pair()
    sched = simulate(inst, Amin(), rng=np.random.default_rng(0), predicted=preds)
    ev = verify(inst, sched)
    assert ev.num_clearings == 1 and ev.wasted_tokens == 4
    (victim, start, end), = sched.clearings()
    assert (start, end) == (0, 4)
    assert sorted(ev.completion.tolist()) == [6, 10]
    assert ev.completion[victim] == 10


def test_fixed_seed_repeats_its_evictions():
    """The same seed evicts the same request; over seeds both are drawn."""
    inst, preds = _tied_pair()

    def victim(seed):
        sched = simulate(inst, Amin(), rng=np.random.default_rng(seed), predicted=preds)
        return sched.clearings()

    assert all(victim(s) == victim(s) for s in range(5))
    assert {victim(s)[0][0] for s in range(20)} == {0, 1}


def test_exact_lower_bounds_evict_nothing():
    """lower = o: every estimate is right; nothing is evicted."""
    inst = Instance(30, [0, 0, 1, 2], [3, 2, 4, 1], [9, 14, 5, 20])
    preds = Predictions(inst.output, inst.output, inst.output * 3)
    sched = simulate(inst, Amin(), predicted=preds)
    assert verify(inst, sched).num_clearings == 0


def test_restart_penalty_delays_the_restart():
    """With r = 3 the evicted request restarts 3 rounds after it passed the check."""
    inst, preds = _tied_pair()
    sched = simulate(inst, Amin(restart_penalty_steps=3), rng=np.random.default_rng(0),
                     predicted=preds)
    ev = verify(inst, sched)
    (victim, _, end), = sched.clearings()
    assert sched.final_starts()[victim] >= end + 3
    assert ev.completion[victim] >= 13


def test_rounds_without_events_are_skipped():
    """One request, lower bound far too low: called at its arrival only (refinement needs no
    call, nothing waits)."""
    inst = Instance(60, [0], [1], [50])
    preds = Predictions(np.array([2]), np.array([2]), np.array([59]))
    assert run(inst, Amin(), predicted=preds).num_decisions == 1


def test_most_progress_terminates_with_the_guard():
    """Evicting the most advanced request would swap two requests forever; the guard keeps the
    earliest started until a completion."""
    inst = Instance(9, [3, 4], [3, 1], [5, 8])
    preds = Predictions(np.array([1, 1]), np.array([1, 1]), np.array([9, 9]))
    for check in ("future_peak", "next_round"):
        policy = Amin(evict_order="most_progress", admit_check=check)
        verify(inst, simulate(inst, policy, predicted=preds))


@st.composite
def checkpoint_cases(draw):
    memory = draw(st.integers(5, 60))
    t = draw(st.integers(0, 10))
    members = []
    for _ in range(draw(st.integers(0, 6))):
        k = draw(st.integers(0, t))
        members.append((k + draw(st.integers(1, 20)), draw(st.integers(1, 6)) - k))
    s = draw(st.integers(1, 4))
    return memory, t, members, s, draw(st.integers(1, min(20, memory - s)))   # s + p <= M


@given(case=checkpoint_cases(), later=st.integers(0, 8))
@settings(max_examples=400, deadline=None)
def test_first_fit_round_is_the_first_round_try_add_accepts(case, later):
    """Against brute force: the first ``t' > t`` at which a fresh check at ``t'`` accepts, and
    :func:`fits_at` is that check, with the checkpoints built at ``t`` and asked ``later``."""
    memory, t, members, s, p = case
    points = Checkpoints(memory, members, t)
    got = first_fit_round(points, t + later, s, p)
    want = None
    for tp in range(t + later + 1, t + 4 * memory + 40):
        if Checkpoints(memory, members, tp).try_add(tp + p, s - tp, s + p):
            want = tp
            break
    assert got == want
    tp = t + later
    assert fits_at(points, tp, s, p) == Checkpoints(memory, members, tp).try_add(
        tp + p, s - tp, s + p)


class _Spy(Amin):
    """Records the victims :func:`evict_victims` picks with its own seeded stream."""

    def __init__(self, seed: int, seen: set) -> None:
        super().__init__()
        self.seed, self.seen = seed, seen

    def decide(self, state):
        if state.memory_next_tokens > state.memory:
            self.seen.add(tuple(evict_victims(state, self._s, "least_progress",
                                              np.random.default_rng(self.seed))))
        return super().decide(state)


def test_evict_victims_breaks_ties_with_the_stream():
    """least_progress on a tie: the stream draws the victim; over seeds, either."""
    inst, preds = _tied_pair()
    seen: set = set()
    for seed in range(10):
        simulate(inst, _Spy(seed, seen), predicted=preds)
    assert seen == {(0,), (1,)}


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"refine": "halve"}, "refine must be one of"),
    ({"evict_order": "oldest"}, "evict_order must be one of"),
    ({"admit_check": "none"}, "admit_check must be one of"),
    ({"admit_scan": "all"}, "admit_scan must be one of"),
    ({"restart_penalty_steps": -1}, "restart_penalty_steps must be"),
])
def test_bad_options_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Amin(**kwargs)


def test_names_say_the_options():
    assert Amin().name == "amin"
    assert Amin(evict_order="random", refine="double", restart_penalty_steps=2).name == \
        "amin-random-refine-double-penalty2"
