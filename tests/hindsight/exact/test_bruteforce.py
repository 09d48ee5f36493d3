"""The exhaustive reference used by the property tests."""

from __future__ import annotations

import pytest
from conftest import make_instance

from kvopt.hindsight.exact.bruteforce import brute_force_optimum
from kvopt.schedule import Schedule
from kvopt.verify import verify


def test_hand_solved_pair():
    """Two requests that cannot overlap: the second waits two rounds (total 6)."""
    # M = 6, both (0, s=2, o=2): together they hold 4 + 4 = 8 > 6 at round 2 (start 0, 0) or
    # 4 + 3 = 7 at round 2 (start 0, 1); at 0 and 2 they never overlap: 2 + 4 = 6.
    inst = make_instance([(0, 2, 2), (0, 2, 2)], memory=6)
    opt, starts = brute_force_optimum(inst)
    assert opt == 6 and sorted(starts) == [0, 2]
    assert verify(inst, Schedule.from_starts(starts, inst.output)).total_latency == 6


def test_node_limit_raises():
    """The search refuses to run past its node budget."""
    inst = make_instance([(0, 1, 3)] * 6, memory=5)
    with pytest.raises(RuntimeError, match="max_nodes"):
        brute_force_optimum(inst, max_nodes=5)
