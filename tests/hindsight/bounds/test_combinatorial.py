"""The combinatorial bounds (sum of outputs, memory volume, headroom, cores) never exceed the
optimum and see what they are built for."""

from __future__ import annotations

import numpy as np
from conftest import make_instance
from hindsight.cases import (
    ROWS,
    small_instance,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from kvopt.hindsight.bounds import best_bound
from kvopt.hindsight.bounds.combinatorial import (
    core_bound,
    headroom_bound,
    sum_of_outputs_bound,
    volume_bound,
)
from kvopt.hindsight.bounds.priced_lp import lp_bound
from kvopt.hindsight.cores import disjoint_cores
from kvopt.hindsight.exact.bruteforce import brute_force_optimum


@given(rows=ROWS, memory=st.integers(5, 9))
@settings(max_examples=60, deadline=None)
def test_bounds_never_exceed_brute_force_optimum(rows, memory):
    """Sum of outputs <= volume, LP and core bounds <= optimum, on random tiny instances."""
    inst = small_instance(rows, memory)
    opt, _ = brute_force_optimum(inst)
    trivial = sum_of_outputs_bound(inst).value
    volume = volume_bound(inst).value
    core = core_bound(inst).value
    headroom = headroom_bound(inst).value
    lp = lp_bound(inst, upper_bound=opt)
    assert lp is not None
    assert trivial <= volume <= headroom <= opt and lp.value <= opt and core <= opt
    assert best_bound(inst, upper_bound=opt).value == max(headroom, lp.value, core)


def test_core_bound_sees_requests_that_cannot_overlap():
    """M = 5, both (0, s=2, o=2): holding 4 in its last round, neither can run beside the other
    (4 + 2 + 1 > 5), so the cores are whole runs: completions 2 and 4, total 6 = optimum; the
    memory volume (14 token-rounds at 5 per round) only gives 2 + 3 = 5."""
    inst = make_instance([(0, 2, 2), (0, 2, 2)], memory=5)
    assert disjoint_cores(inst, np.array([0, 1])).tolist() == [2, 2]
    assert volume_bound(inst).value == 5
    assert core_bound(inst).value == 6 == brute_force_optimum(inst)[0]


def test_volume_bound_when_memory_is_the_bottleneck():
    """Three identical requests that can only run one at a time: volume sees the queue."""
    # M = 5, (0, s=2, o=3): volume 2*3 + 6 = 12 token-rounds = 2.4 rounds of full memory each.
    # SRPT completions 2.4, 4.8, 7.2 -> ceil 3, 5, 8; a + o = 3 each: bound 3 + 5 + 8 = 16.
    # The optimum runs them back to back (any overlap exceeds 5): 3 + 6 + 9 = 18.
    inst = make_instance([(0, 2, 3)] * 3, memory=5)
    assert volume_bound(inst).value == 16
    assert brute_force_optimum(inst)[0] == 18


def test_headroom_bound_sees_growth():
    """M = 4; (0, s=1, o=2) has volume 2 + 3 = 5, (0, s=2, o=2) has 4 + 3 = 7. A gap of g rounds
    before a completion holds at most F(g) = sum_{d<g} (4 - d): F(1) = 4, F(2) = 7. The first
    completion needs F(c1) >= 5, so c1 >= 2; both need F(g1) + F(g2) >= 12 with g1 + g2 = c2:
    3 rounds give at most 4 + 7 = 11, so c2 >= 4 and the bound is 2 + 4 = 6, the optimum (they
    cannot overlap: 3 + 4 > 4 in the first one's last round). The plain volume bound gives
    ceil(5/4) = 2 and ceil(12/4) = 3: 5."""
    inst = make_instance([(0, 1, 2), (0, 2, 2)], memory=4)
    assert volume_bound(inst).value == 5
    assert headroom_bound(inst).value == 6 == brute_force_optimum(inst)[0]
