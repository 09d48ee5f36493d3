"""Adversarial arrivals: the construction, its analytic costs, and the measured ratio."""

from __future__ import annotations

import pytest

from kvopt.adversarial import (
    adaptive_adversarial_instance,
    adversarial_instance,
    analytic_costs,
    ratio_vs_n,
    shorts_first_schedule,
)
from kvopt.policies import POLICIES
from kvopt.sim.engine import simulate
from kvopt.sim.state import Decision
from kvopt.verify import verify


def test_instance_shape():
    """m shorts after the long request; every request holds more than M / 2."""
    inst = adversarial_instance(3)
    assert inst.memory == 18 and inst.num_requests == 4
    assert inst.arrival.tolist() == [0, 1, 1, 1] and inst.output.tolist() == [9, 1, 1, 1]
    assert (inst.prompt + 1 > inst.memory // 2).all()


def test_every_registered_policy_pays_the_analytic_cost():
    """All policies start the long request at 0 and keep it: cost (m + 1) P + m (m - 1) / 2."""
    m = 4
    inst = adversarial_instance(m)
    alg, _ = analytic_costs(m, 16)
    # threshold gates (issue 30) hold the lone long request until more arrive (here: until all
    # have, at round 1): the same schedule one round later, every request one round later
    gates = {"wait", "nested-wait"}
    for name, cls in POLICIES.items():
        cost = verify(inst, simulate(inst, cls())).total_latency
        assert cost == (alg + m + 1 if name in gates else alg), name


def test_shorts_first_is_the_hindsight_optimum(backend):
    """The solver proves the shorts-first schedule optimal (m = 3: 6 + 4 + 9 = 19)."""
    from kvopt.hindsight.solve import solve

    inst = adversarial_instance(3)
    opt = solve(inst, backend, time_limit_s=60)
    assert verify(inst, shorts_first_schedule(inst)).total_latency == 19
    assert opt.status.value == "optimal" and opt.objective == 19


class _StartsAtFive:
    """Waits until round 5, then admits everything waiting."""

    name = "late"

    def reset(self, instance, rng):
        self.waiting = []

    def decide(self, state):
        self.waiting += state.arrived.tolist()
        if state.round < 5:
            return Decision(wake=5)
        admit, self.waiting = self.waiting, []
        return Decision(admit=admit, wake=None)


def test_adaptive_instance_follows_the_policy():
    """The shorts arrive one round after the policy starts the long request alone."""
    inst = adaptive_adversarial_instance(_StartsAtFive, 2)
    assert inst.arrival.tolist() == [0, 6, 6]


def test_ratio_grows_and_is_bracketed():
    """MC-SF's ratio grows with n; proven optima give a point, the rest an interval."""
    points = ratio_vs_n([2, 4, 30], solve_up_to=4, time_limit_s=30)
    assert [p.opt_status for p in points] == ["optimal", "optimal", "not solved"]
    assert points[0].ratio_low == points[0].ratio_high
    assert points[2].ratio_low < points[2].ratio_high     # unsolved: an interval, not a point
    assert points[0].ratio_low < points[1].ratio_low < points[2].ratio_low
    assert points[1].ratio_low == pytest.approx(points[1].analytic_ratio)
    assert points[2].ratio_low > 15


def test_bad_sizes_raise():
    """num_short < 1 or long_output < 2 raise ValueError."""
    with pytest.raises(ValueError, match="num_short"):
        adversarial_instance(0)
    with pytest.raises(ValueError, match="long_output"):
        adversarial_instance(2, long_output=1)
