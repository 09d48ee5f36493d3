"""FCFS with recompute preemption: hand-solved clearing behaviour."""

from __future__ import annotations

from conftest import make_instance

from kvopt.policies.fcfs import Fcfs
from kvopt.sim.engine import simulate
from kvopt.sim.reference import simulate_reference
from kvopt.verify import verify


def test_clears_most_recent_until_it_fits():
    """Two growing requests: the later-admitted one is cleared twice, then restarts."""
    # M = 10; R0 = R1 = (a 0, s 2, o 6). At 0 FCFS admits R0 (round 1: 3) and R1 (3 + 3 = 6).
    # Round r holds 2 (2 + r) <= 10 while r <= 3. At 3, round 4 would hold 12: clear R1 (admitted
    # last): run (0, 3); round 4 holds 6; no admission in a clearing round. At 4: round 5 holds 7,
    # R1 needs 3 more: 10 <= 10, admitted. At 5, round 6 would hold 8 + 4 = 12: clear R1, run
    # (4, 5). R0 completes at 6; R1 restarts at 6, completes at 12. Latency 6 + 12 = 18.
    inst = make_instance([(0, 2, 6), (0, 2, 6)], 10)
    sched = simulate(inst, Fcfs())
    assert sched.clearings() == [(1, 0, 3), (1, 4, 5)]
    assert sched.final_starts().tolist() == [0, 6]
    assert verify(inst, sched).total_latency == 18
    assert simulate_reference(inst, Fcfs()).to_dict() == sched.to_dict()


def test_cleared_request_goes_to_the_front():
    """A cleared request restarts before a request that arrived earlier but waited."""
    # M = 10. R0 = (0, 2, 6), R1 = (0, 2, 6) as above; R2 = (1, 5, 1) arrives at 1 and needs
    # 6 in round 2: at 1, round 2 holds 8, 8 + 6 > 10, R2 waits. At 3 R1 is cleared and put in
    # front of R2. At 4 R1 (3 more: 7 + 3 = 10) is admitted before R2 is considered; it is
    # cleared again at 5. At 6 R0 completes: R1 is first (round 7: 3), then R2 (3 + 6 = 9).
    inst = make_instance([(0, 2, 6), (0, 2, 6), (1, 5, 1)], 10)
    sched = simulate(inst, Fcfs())
    assert sched.final_starts().tolist() == [0, 6, 6]
    assert sched.clearings() == [(1, 0, 3), (1, 4, 5)]
    verify(inst, sched)


def test_no_clearing_when_everything_fits():
    """Small requests never overflow: FCFS starts them on arrival."""
    inst = make_instance([(0, 1, 2), (1, 1, 2), (2, 1, 2)], 20)
    sched = simulate(inst, Fcfs())
    assert sched.num_clearings == 0 and sched.final_starts().tolist() == [0, 1, 2]
