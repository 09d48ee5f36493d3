"""Certified lower bounds never exceed the optimum."""

from __future__ import annotations

import numpy as np
from conftest import make_instance
from hypothesis import given, settings
from hypothesis import strategies as st

from kvopt.bounds import (
    best_bound,
    certified_dual_bound,
    lp_bound,
    sum_of_outputs_bound,
    volume_bound,
)
from kvopt.bruteforce import brute_force_optimum
from kvopt.milp.formulation import build

ROWS = st.lists(st.tuples(st.integers(0, 4), st.integers(1, 3), st.integers(1, 4)),
                min_size=1, max_size=5)   # (arrival, prompt, output)


def _instance(rows, memory):
    return make_instance([(a, s, min(o, memory - s)) for a, s, o in rows], memory=memory)


@given(rows=ROWS, memory=st.integers(5, 9))
@settings(max_examples=60, deadline=None)
def test_bounds_never_exceed_brute_force_optimum(rows, memory):
    """Sum of outputs <= LP bound <= optimum, on random tiny instances."""
    inst = _instance(rows, memory)
    opt, _ = brute_force_optimum(inst)
    trivial = sum_of_outputs_bound(inst).value
    volume = volume_bound(inst).value
    lp = lp_bound(inst, upper_bound=opt)
    assert lp is not None
    assert trivial <= volume <= opt and lp.value <= opt
    assert best_bound(inst, upper_bound=opt).value == max(volume, lp.value)


@given(rows=ROWS, memory=st.integers(5, 9), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=60, deadline=None)
def test_any_dual_vector_gives_a_valid_bound(rows, memory, seed):
    """Weak duality holds for arbitrary (even wrong-signed) dual vectors."""
    inst = _instance(rows, memory)
    opt, _ = brute_force_optimum(inst)
    model = build(inst, upper_bound=opt)
    y = np.random.default_rng(seed).normal(0, 3, size=model.num_rows)
    assert certified_dual_bound(model, y) <= opt + 1e-9


def test_lp_bound_beats_sum_of_outputs_when_memory_binds():
    """Two requests that cannot overlap at all: the LP sees part of the forced wait."""
    # M = 6, both (0, s=2, o=2): optimum 6 (one waits 2 rounds); sum of outputs 4.
    inst = make_instance([(0, 2, 2), (0, 2, 2)], memory=6)
    assert sum_of_outputs_bound(inst).value == 4
    assert 4 < lp_bound(inst, upper_bound=6).value <= 6


def test_volume_bound_when_memory_is_the_bottleneck():
    """Three identical requests that can only run one at a time: volume sees the queue."""
    # M = 5, (0, s=2, o=3): volume 2*3 + 6 = 12 token-rounds = 2.4 rounds of full memory each.
    # SRPT completions 2.4, 4.8, 7.2 -> ceil 3, 5, 8; a + o = 3 each: bound 3 + 5 + 8 = 16.
    # The optimum runs them back to back (any overlap exceeds 5): 3 + 6 + 9 = 18.
    inst = make_instance([(0, 2, 3)] * 3, memory=5)
    assert volume_bound(inst).value == 16
    assert brute_force_optimum(inst)[0] == 18
