"""alpha-protection greedy and beta-clearing: hand-solved clearing behaviour, registry."""

from __future__ import annotations

import pytest
from conftest import make_instance

from kvopt.policies import ALPHA_CONFIGS, POLICIES
from kvopt.policies.alpha import AlphaBetaClearing, AlphaGreedy
from kvopt.sim.engine import simulate
from kvopt.verify import verify


def test_greedy_clears_all_then_keeps_the_oldest_against_livelock():
    """Clear all on overflow; the second clearing with no completion keeps the earliest."""
    # M = 10, alpha = 0.3: cap floor(7) = 7. R0 = R1 = (a 0, s 2, o 6). At 0: R0 (3 <= 7), R1
    # (6 <= 7). At 3 round 4 would hold 12: clear both, runs (0, 3); admit nothing. At 4 nothing
    # runs: R0 first (whatever the cap), R1 (6 <= 7). At 7 round 8 would hold 2 (2 + 4) = 12:
    # no completion since the last clearing, so keep R0 (earliest started), clear R1: run (4, 7).
    # (Clearing both again would repeat forever.) R1: round 9 holds 7, 7 + 3 > 7 waits; R0
    # completes at 10, R1 starts at 10 and completes at 16. Latency 10 + 16 = 26.
    inst = make_instance([(0, 2, 6), (0, 2, 6)], 10)
    sched = simulate(inst, AlphaGreedy(0.3))
    assert sched.clearings() == [(0, 0, 3), (1, 0, 3), (1, 4, 7)]
    assert sched.final_starts().tolist() == [4, 10]
    assert verify(inst, sched).total_latency == 26


def test_beta_clearing_clears_a_fraction_most_recent_first():
    """beta = 0.2 of two running requests: ceil(0.4) = 1 victim, the later one."""
    # M = 10, alpha = 0.2: cap 8. At 0: R0 (3), R1 (6 <= 8). At 3 round 4 would hold 12: clear
    # ceil(0.2 * 2) = 1, the most recently started R1: round 4 holds 6. From 4 on round t+1
    # holds 3 + t - 0 + ... = 2 + t + 1 >= 7 and 7 + 3 > 8: R1 waits until R0 completes at 6,
    # then starts at 6 and completes at 12. Latency 6 + 12 = 18.
    inst = make_instance([(0, 2, 6), (0, 2, 6)], 10)
    sched = simulate(inst, AlphaBetaClearing(0.2, 0.2))
    assert sched.clearings() == [(1, 0, 3)]
    assert sched.final_starts().tolist() == [0, 6]
    assert verify(inst, sched).total_latency == 18


def test_beta_clearing_clears_more_when_the_fraction_is_not_enough():
    """When ceil(beta q) victims leave an overflow, more are cleared, most recent first."""
    # M = 20, alpha = 0.1: cap 18. Nine (a 0, s 1, o 10) requests: at 0 all nine are admitted
    # (2 each, 18 <= 18). At 1 round 2 would hold 9 * 3 = 27 > 20. beta = 0.1 asks for
    # ceil(0.9) = 1 victim (R8, frees 3: 24), still over, so R7 (21) and R6 (18) go too.
    inst = make_instance([(0, 1, 10)] * 9, 20)
    sched = simulate(inst, AlphaBetaClearing(0.1, 0.1))
    first = [c for c in sched.clearings() if c[2] == 1]
    assert first == [(6, 0, 1), (7, 0, 1), (8, 0, 1)]
    verify(inst, sched)


def test_alpha_cap_does_not_block_a_lone_request():
    """With nothing running, a request above (1 - alpha) M still starts (it fits alone)."""
    inst = make_instance([(0, 4, 2)], 6)   # cap floor(0.7 * 6) = 4 < s + 1 = 5
    assert simulate(inst, AlphaGreedy(0.3)).final_starts().tolist() == [0]


def test_registry_has_the_six_configurations():
    """The six alpha/beta configurations are registered under their names, no argument needed."""
    names = {"greedy-a0.3", "greedy-a0.25", "clear-a0.2-b0.2", "clear-a0.2-b0.1",
             "clear-a0.1-b0.2", "clear-a0.1-b0.1"}
    assert names <= set(POLICIES) and len(ALPHA_CONFIGS) == 6
    for name in names:
        policy = POLICIES[name]()
        assert policy.name == name
    assert POLICIES["clear-a0.1-b0.2"]().alpha == 0.1
    assert POLICIES["clear-a0.1-b0.2"]().beta == 0.2


def test_bad_alpha_is_rejected():
    """alpha outside [0, 1) raises ValueError naming it."""
    with pytest.raises(ValueError, match="alpha"):
        AlphaGreedy(1.5)
