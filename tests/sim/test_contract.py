"""The online contract: a policy decides on what it may know online, and nothing else.

* Replacing the true outputs (the predictions fixed: the environment made them before the run)
  changes no decision until a completion reveals an output.
* Changing a request that has not arrived yet (its arrival, prompt, output, predictions)
  changes no decision before it arrives.
* Nothing reachable from the context, the state or the random stream a policy is given is the
  instance, its outputs or the engine.

Checked for every registered policy, in the event-skipping engine, the per-round reference loop
and (for the first property) the engine in seconds.
"""

from __future__ import annotations

import gc
import sys
import types

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvopt.instance import Instance
from kvopt.policies import POLICIES, McSf
from kvopt.sim.engine import simulate
from kvopt.sim.predictions import Predictions
from kvopt.sim.reference import simulate_reference
from kvopt.sim.state import Decision
from kvopt.sim.timed import simulate_timed
from kvopt.time_model import LinearBatchTime

LINEAR = LinearBatchTime(base_s=0.05, prefill_token_s=1e-3, decode_request_s=2e-3,
                         compute_token_s=1e-3, prefill_attn_token2_s=1e-6,
                         decode_context_token_s=1e-4, knee_tokens=8)
NAMES = sorted(POLICIES)


class Recorder:
    """Wraps a policy; logs what each call showed (round, arrivals, completions) and answered."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.log = inner, inner.name, []

    def reset(self, context, rng) -> None:
        self.inner.reset(context, rng)

    def decide(self, state) -> Decision:
        decision = self.inner.decide(state)
        seen = (state.round, tuple(state.arrived.tolist()), tuple(state.completed))
        answer = (tuple(int(i) for i in decision.admit), tuple(int(i) for i in decision.clear),
                  decision.wake)
        self.log.append((seen, answer))
        return decision


def assert_same_until_a_completion(x: list, y: list) -> None:
    """Two logs answer alike call by call until the calls first show something different,
    and that difference is a completion (an output revealed), never anything else."""
    for (seen_x, answer_x), (seen_y, answer_y) in zip(x, y, strict=False):
        if seen_x != seen_y:
            if seen_x[0] == seen_y[0]:
                assert seen_x[1] == seen_y[1] and seen_x[2] != seen_y[2], \
                    f"round {seen_x[0]} shows something other than a completion differently"
            else:        # the earlier call happened because of a completion
                earlier = seen_x if seen_x[0] < seen_y[0] else seen_y
                assert earlier[2], f"a call at round {earlier[0]} without a completion"
            return
        assert answer_x == answer_y, f"decided differently at round {seen_x[0]} before any " \
                                     f"output was revealed"


@st.composite
def twin_outputs(draw):
    """An instance, the same requests with other true outputs, and fixed predictions."""
    memory = draw(st.integers(6, 30))
    n = draw(st.integers(1, 8))
    arrival = [draw(st.integers(0, 6)) for _ in range(n)]
    prompt = [draw(st.integers(1, min(6, memory - 1))) for _ in range(n)]
    out_x = [draw(st.integers(1, memory - s)) for s in prompt]
    out_y = [draw(st.integers(1, memory - s)) for s in prompt]
    predicted = [draw(st.integers(1, memory)) for _ in range(n)]
    return (Instance(memory, arrival, prompt, out_x), Instance(memory, arrival, prompt, out_y),
            np.array(predicted))


@pytest.mark.parametrize("name", NAMES)
@given(case=twin_outputs(), seed=st.integers(0, 2**16))
@settings(max_examples=60, deadline=None)
def test_true_outputs_stay_hidden_until_completion(name, case, seed):
    """Replacing the true outputs changes no decision before a completion reveals one."""
    inst_x, inst_y, predicted = case
    for engine in (simulate, simulate_reference):
        x, y = Recorder(POLICIES[name]()), Recorder(POLICIES[name]())
        for inst, rec in ((inst_x, x), (inst_y, y)):
            engine(inst, rec, rng=np.random.default_rng(seed), predicted=predicted)
        assert_same_until_a_completion(x.log, y.log)
    x, y = Recorder(POLICIES[name]()), Recorder(POLICIES[name]())
    arrival_s = inst_x.arrival * 0.07
    for inst, rec in ((inst_x, x), (inst_y, y)):
        simulate_timed(arrival_s, inst.prompt, inst.output, inst.memory, rec, LINEAR,
                       rng=np.random.default_rng(seed), predicted=predicted)
    assert_same_until_a_completion(x.log, y.log)


#: the policies that read the interval columns (issue 27)
INTERVAL_NAMES = [n for n in NAMES if n.startswith(("amax", "amin", "mcsf-"))]


@st.composite
def twin_outputs_with_intervals(draw):
    """:func:`twin_outputs` with interval predictions (``lower <= upper``, unrelated to the
    outputs) besides the point predictions."""
    inst_x, inst_y, predicted = draw(twin_outputs())
    memory = inst_x.memory
    lower = [draw(st.integers(0, memory)) for _ in predicted]
    upper = [lo + draw(st.integers(0, memory)) for lo in lower]
    return inst_x, inst_y, Predictions(predicted, np.array(lower), np.maximum(1, upper))


@pytest.mark.parametrize("name", INTERVAL_NAMES)
@given(case=twin_outputs_with_intervals(), seed=st.integers(0, 2**16))
@settings(max_examples=60, deadline=None)
def test_true_outputs_stay_hidden_behind_intervals(name, case, seed):
    """With interval predictions too, replacing the true outputs changes no decision of an
    interval policy before a completion reveals one."""
    inst_x, inst_y, predictions = case
    for engine in (simulate, simulate_reference):
        x, y = Recorder(POLICIES[name]()), Recorder(POLICIES[name]())
        for inst, rec in ((inst_x, x), (inst_y, y)):
            engine(inst, rec, rng=np.random.default_rng(seed), predicted=predictions)
        assert_same_until_a_completion(x.log, y.log)


@st.composite
def twin_futures(draw):
    """An instance and a copy whose last request (arriving at 1 or later in both) differs in
    arrival, prompt, output and prediction; the earlier of its two arrival rounds."""
    memory = draw(st.integers(6, 30))
    n = draw(st.integers(2, 8))
    rows = []
    for _ in range(n):
        s = draw(st.integers(1, min(6, memory - 1)))
        rows.append((draw(st.integers(0, 6)), s, draw(st.integers(1, memory - s)),
                     draw(st.integers(1, memory))))
    other = []
    for _ in range(2):
        s = draw(st.integers(1, min(6, memory - 1)))
        other.append((draw(st.integers(1, 8)), s, draw(st.integers(1, memory - s)),
                      draw(st.integers(1, memory))))
    rows_x = rows[:-1] + [other[0]]
    rows_y = rows[:-1] + [other[1]]

    def build(rows):
        a, s, o, p = (list(c) for c in zip(*rows, strict=True))
        return Instance(memory, a, s, o, predicted=p)

    return build(rows_x), build(rows_y), min(other[0][0], other[1][0])


@pytest.mark.parametrize("name", NAMES)
@given(case=twin_futures(), seed=st.integers(0, 2**16))
@settings(max_examples=60, deadline=None)
def test_future_requests_stay_hidden_until_they_arrive(name, case, seed):
    """Changing a request that has not arrived changes no decision before its arrival."""
    inst_x, inst_y, first_arrival = case
    for engine in (simulate, simulate_reference):
        x, y = Recorder(POLICIES[name]()), Recorder(POLICIES[name]())
        for inst, rec in ((inst_x, x), (inst_y, y)):
            engine(inst, rec, rng=np.random.default_rng(seed))
        before_x = [entry for entry in x.log if entry[0][0] < first_arrival]
        before_y = [entry for entry in y.log if entry[0][0] < first_arrival]
        assert before_x == before_y


class _Clairvoyant(McSf):
    """Shortest *true* output first: reaches the truth through a closure (not online)."""

    def __init__(self, output) -> None:
        super().__init__()
        self._truth = list(output)

    def _key(self, i: int) -> tuple[int, ...]:
        return (self._truth[i], i)


def test_the_check_catches_a_policy_that_knows_the_outputs():
    """The comparison is not vacuous: a clairvoyant policy fails it."""
    # M = 9; two requests at 0 with s = 4: only one runs at a time; which one first depends on
    # the true outputs (1 then 4, or 4 then 1) before any completion.
    inst_x = Instance(9, [0, 0], [4, 4], [1, 4])
    inst_y = Instance(9, [0, 0], [4, 4], [4, 1])
    x, y = Recorder(_Clairvoyant(inst_x.output)), Recorder(_Clairvoyant(inst_y.output))
    simulate(inst_x, x, predicted=np.array([2, 2]))
    simulate(inst_y, y, predicted=np.array([2, 2]))
    with pytest.raises(AssertionError, match="before any output was revealed"):
        assert_same_until_a_completion(x.log, y.log)


def _reachable(roots) -> list:
    """Every object reachable from ``roots`` by references, not entering modules, classes or
    module namespaces (the code, not the data a policy was handed); arrays' bases included."""
    skip = {id(vars(m)) for m in list(sys.modules.values()) if m is not None}
    seen: set[int] = set()
    out, stack = [], list(roots)
    while stack:
        obj = stack.pop()
        if id(obj) in seen or id(obj) in skip or isinstance(obj, type | types.ModuleType):
            continue
        seen.add(id(obj))
        out.append(obj)
        stack.extend(gc.get_referents(obj))
        if isinstance(obj, np.ndarray) and obj.base is not None:
            stack.append(obj.base)
        assert len(seen) < 200_000, "walk too large"
    return out


class _Snoop:
    """Drives a run with FCFS and collects everything reachable from what it is given."""

    name = "snoop"

    def __init__(self) -> None:
        self.found: list = []
        self.inner = POLICIES["fcfs"]()

    def reset(self, context, rng) -> None:
        self.found += _reachable([context, rng])
        self.inner.reset(context, rng)

    def decide(self, state) -> Decision:
        self.found += _reachable([state])
        return self.inner.decide(state)


def _assert_no_truth(found: list, output: np.ndarray) -> None:
    truth = output.tolist()
    for obj in found:
        assert not isinstance(obj, Instance), "an Instance is reachable"
        assert not type(obj).__name__.endswith(("EventCore", "RevealedColumns")), \
            f"the engine's {type(obj).__name__} is reachable"
        if isinstance(obj, np.ndarray):
            assert not np.shares_memory(obj, output), "the output array is reachable"
            assert obj.tolist() != truth, "an array of the true outputs is reachable"
        elif isinstance(obj, list | tuple):
            assert list(obj) != truth, "a list of the true outputs is reachable"


@pytest.mark.parametrize("engine", ["engine", "reference", "timed"])
def test_nothing_reachable_is_the_truth(engine):
    """From the context, the state and the rng, no path leads to the instance, its outputs
    (distinctive values here, the predictions different) or the engine."""
    n = 6
    output = np.array([1000 + 37 * i for i in range(n)])
    inst = Instance(100_000, [0, 0, 1, 3, 3, 5], [5, 3, 8, 2, 9, 4], output,
                    predicted=output - 500)
    snoop = _Snoop()
    if engine == "engine":
        simulate(inst, snoop)
    elif engine == "reference":
        simulate_reference(inst, snoop)
    else:
        simulate_timed(inst.arrival * 0.5, inst.prompt, inst.output, inst.memory, snoop, LINEAR,
                       predicted=inst.predicted)
    assert len(snoop.found) > 10
    _assert_no_truth(snoop.found, inst.output)


def test_the_walk_finds_a_hidden_output():
    """The reachability check is not vacuous: outputs behind a view, a list or a closure in a
    slotted object are found."""
    output = np.array([1000, 1037, 1074])
    inst = Instance(100_000, [0, 0, 0], [1, 2, 3], output)

    class Holder:
        __slots__ = ("stash",)

    for stash in (inst.output[1:].view(), [[{"x": inst}]], (lambda: inst)):
        holder = Holder()
        holder.stash = stash
        with pytest.raises(AssertionError, match="reachable"):
            _assert_no_truth(_reachable([holder]), output)
