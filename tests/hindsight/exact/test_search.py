"""The exact branch and bound over decision rounds, against brute force."""

from __future__ import annotations

import numpy as np
from conftest import make_instance
from hypothesis import given, settings
from hypothesis import strategies as st

from kvopt.generate import synthetic
from kvopt.hindsight.exact.bruteforce import brute_force_optimum
from kvopt.hindsight.exact.search import exact_search
from kvopt.schedule import Schedule
from kvopt.verify import verify

ROWS = st.lists(st.tuples(st.integers(0, 4), st.integers(1, 3), st.integers(1, 4)),
                min_size=1, max_size=6)   # (arrival, prompt, output)


@given(rows=ROWS, memory=st.integers(5, 9))
@settings(max_examples=80, deadline=None)
def test_search_equals_brute_force(rows, memory):
    """Without an incumbent the search proves the brute-force optimum with a verified schedule."""
    inst = make_instance([(a, s, min(o, memory - s)) for a, s, o in rows], memory=memory)
    opt, _ = brute_force_optimum(inst)
    found = exact_search(inst)
    assert found.proven and found.objective == found.bound == opt
    assert verify(inst, Schedule.from_starts(found.starts, inst.output)).total_latency == opt


def test_incumbent_that_is_optimal_is_confirmed():
    """Given the optimum as incumbent, the search finds nothing better and proves it."""
    # M = 6, two (0, 2, 2): the optimum 6 starts them at 0 and 2 (see test_formulation).
    found = exact_search(make_instance([(0, 2, 2), (0, 2, 2)], memory=6), upper_bound=6)
    assert found.proven and found.objective is None and found.bound == 6


def test_node_limit_stops_without_claiming_optimality():
    """A search cut short reports a valid bound and no proof."""
    inst = synthetic("zero", np.random.default_rng(5), num_requests=12)
    found = exact_search(inst, max_nodes=50)
    assert not found.proven and found.starts is None
    assert found.bound == int(inst.output.sum())
