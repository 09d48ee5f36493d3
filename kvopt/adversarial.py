r"""Adversarial arrivals: instances on which deterministic online policies degrade with ``n``.

The spec (section 4) states that no deterministic online algorithm has a constant competitive
ratio under arbitrary arrivals (the paper proves a lower bound of order :math:`\sqrt n`). This
module builds a sound family of instances showing it, and measures MC-SF on it.

**The construction.** Fix :math:`P \ge 2` and ``m`` short requests (``n = m + 1`` in all).
``M = 2P``. At round 0 a *long* request ``L`` arrives with ``s = P, o = P`` (it holds
:math:`P + j > M/2` tokens in its j-th round); then ``m`` *short* requests with ``s = P, o = 1``
(each holds :math:`P + 1 > M/2` in its one round) arrive together at round :math:`\tau + 1`, where
:math:`\tau` is the round at which the policy starts ``L`` when ``L`` is alone. Every request
holds more than half the memory in every round it runs, so no two ever run together: the
instance is single-machine scheduling, ``L`` taking ``P`` rounds and each short one round.

**The argument.** A deterministic online policy sees only ``L`` up to round :math:`\tau` (the
shorts arrive after it), so it starts ``L`` at :math:`\tau` on this instance too (if it never
starts ``L`` alone, its cost is unbounded). A policy that never clears a running request when
the memory does not overflow (MC-SF and MC-Benchmark; here also the alpha/beta and FCFS
baselines, since the memory never overflows: no admission next to ``L`` fits) then keeps ``L``
until :math:`\tau + P`, and short ``j = 0..m-1`` completes at round
:math:`\tau + P + j + 1` at the earliest:

.. math:: \mathrm{ALG} \ge \tau + P + mP + m(m-1)/2 .

Hindsight can run the shorts first (rounds :math:`\tau+2 .. \tau+m+1`, latencies
:math:`1..m`) and ``L`` after them (started at :math:`\tau + m + 1`):

.. math:: \mathrm{OPT} \le m(m+1)/2 + \tau + m + 1 + P .

With :math:`\tau = 0` (every policy here starts a request that fits alone at once) and
:math:`P = m^2`, the ratio is :math:`(m^3 + \tfrac32 m^2 - \tfrac12 m)/(\tfrac32 m^2 + \tfrac32 m
+ 1) \approx 2m/3`: it grows linearly in ``n``. (That is more than the paper's
:math:`\sqrt n`; the classical Omega(n) bound of non-preemptive single-machine flow time,
embedded by making every request hold more than ``M/2``. :math:`P = m^{3/2}` gives order
:math:`\sqrt n`.) With :math:`\tau = 0` the shorts-first schedule is optimal: starting ``L``
at 0 costs :math:`(m+1)P + m(m-1)/2`, and any schedule putting ``L`` between shorts delays the
shorts after it by ``P`` each; :func:`ratio_vs_n` checks it against the integer program.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import numpy as np

from kvopt.instance import Instance
from kvopt.schedule import Schedule
from kvopt.verify import verify

if TYPE_CHECKING:
    from kvopt.sim.engine import Policy

__all__ = [
    "RatioPoint",
    "adaptive_adversarial_instance",
    "adversarial_instance",
    "analytic_costs",
    "ratio_vs_n",
    "shorts_first_schedule",
]


def _long_output(num_short: int, long_output: int | None) -> int:
    if num_short < 1:
        raise ValueError(f"num_short must be at least 1, got {num_short}")
    p = max(2, num_short * num_short) if long_output is None else int(long_output)
    if p < 2:
        raise ValueError(f"long_output must be at least 2, got {long_output}")
    return p


def adversarial_instance(num_short: int, *, long_output: int | None = None,
                         long_start_round: int = 0, name: str | None = None) -> Instance:
    """The instance for a policy that starts the long request at ``long_start_round`` (tau).

    Parameters
    ----------
    num_short
        ``m``, the number of short requests (the instance has ``m + 1``).
    long_output
        ``P`` (default ``max(2, m^2)``): the long request's prompt and output; ``M = 2P``.
    long_start_round
        ``tau``: the shorts arrive at ``tau + 1``.

    Raises
    ------
    ValueError
        If ``num_short < 1``, ``long_output < 2`` or ``long_start_round < 0``.
    """
    p = _long_output(num_short, long_output)
    if long_start_round < 0:
        raise ValueError(f"long_start_round must be >= 0, got {long_start_round}")
    arrival = np.array([0] + [long_start_round + 1] * num_short)
    return Instance(2 * p, arrival, np.full(num_short + 1, p), np.array([p] + [1] * num_short),
                    name=name or f"adversarial-m{num_short}-P{p}")


def adaptive_adversarial_instance(policy_factory: Callable[[], Policy], num_short: int, *,
                                  long_output: int | None = None,
                                  rng_seed: int = 0) -> Instance:
    """The instance adapted to a deterministic policy: run it on the long request alone, read
    the round ``tau`` at which it starts it, and release the shorts at ``tau + 1``."""
    from kvopt.sim.engine import simulate

    p = _long_output(num_short, long_output)
    alone = Instance(2 * p, np.array([0]), np.array([p]), np.array([p]))
    tau = int(simulate(alone, policy_factory(), rng=np.random.default_rng(rng_seed))
              .final_starts()[0])
    return adversarial_instance(num_short, long_output=p, long_start_round=tau)


def shorts_first_schedule(instance: Instance) -> Schedule:
    """Shorts one per round from their arrival, the long request after them (request 0)."""
    tau1 = int(instance.arrival[1])
    m = instance.num_requests - 1
    starts = [tau1 + m] + [tau1 + j for j in range(m)]
    return Schedule.from_starts(starts, instance.output)


def analytic_costs(num_short: int, long_output: int, long_start_round: int = 0) -> tuple[int, int]:
    """``(ALG, OPT upper bound)`` of the module docstring: a non-clearing work-conserving policy
    that starts the long request at ``tau``, and the better of shorts-first and long-first at 0."""
    m, p, tau = num_short, long_output, long_start_round
    alg = tau + p + m * p + m * (m - 1) // 2
    shorts_first = m * (m + 1) // 2 + tau + m + 1 + p
    long_first = p + m * max(0, p - tau - 1) + m * (m + 1) // 2
    return alg, min(shorts_first, long_first)


@dataclasses.dataclass(frozen=True)
class RatioPoint:
    """One instance size: the policy's cost and what is known of the optimum."""

    num_requests: int
    num_short: int
    long_output: int
    memory: int
    policy_cost: int
    opt_upper: int              # best verified schedule: shorts-first or the solver's
    opt_lower: float            # best proven bound: the solver's, or sum of outputs
    opt_status: str             # "optimal" (proven), "feasible" (solver gap), "not solved"
    ratio_low: float            # policy / opt_upper
    ratio_high: float           # policy / opt_lower
    analytic_ratio: float       # analytic_costs ratio (tau = the policy's start of L)
    solve_seconds: float

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def ratio_vs_n(
    num_shorts: Iterable[int],
    *,
    policy_factory: Callable[[], Policy] | None = None,
    long_output: Callable[[int], int] | None = None,
    solve_up_to: int = 12,
    time_limit_s: float = 30.0,
    backend: str = "highs",
) -> list[RatioPoint]:
    """The policy's ratio on the adaptive adversarial instance, for each number of shorts.

    The optimum is bracketed, never assumed: the upper end is the best *verified* schedule (the
    shorts-first one, or the solver's), the lower end the solver's proven bound (or the sum of
    outputs when the instance is not solved), so the ratio is the interval
    ``[policy / opt_upper, policy / opt_lower]``; a single number only when the solver proves it.

    Parameters
    ----------
    num_shorts
        Values of ``m`` (``n = m + 1`` requests).
    policy_factory
        A deterministic policy (default MC-SF).
    long_output
        ``P`` as a function of ``m`` (default ``max(2, m^2)``).
    solve_up_to
        Solve the integer program only for ``m`` up to this.
    time_limit_s
        Per-instance solver limit.
    """
    from kvopt.hindsight.solve import solve
    from kvopt.policies.mcsf import McSf
    from kvopt.sim.engine import simulate

    policy_factory = McSf if policy_factory is None else policy_factory
    points = []
    for m in num_shorts:
        p = _long_output(m, None if long_output is None else long_output(m))
        inst = adaptive_adversarial_instance(policy_factory, m, long_output=p)
        tau = int(inst.arrival[1]) - 1
        cost = verify(inst, simulate(inst, policy_factory())).total_latency
        upper = verify(inst, shorts_first_schedule(inst)).total_latency
        lower, status, seconds = float(inst.output.sum()), "not solved", 0.0
        if m <= solve_up_to:
            res = solve(inst, backend, time_limit_s=time_limit_s)
            seconds = res.runtime_s
            if res.schedule is not None:
                upper = min(upper, verify(inst, res.schedule).total_latency)
            if res.bound is not None:
                lower = max(lower, res.bound)
            status = res.status.value
        if lower >= upper:
            status, lower = "optimal", float(upper)
        alg_a, opt_a = analytic_costs(m, p, tau)
        points.append(RatioPoint(
            num_requests=m + 1, num_short=m, long_output=p, memory=inst.memory,
            policy_cost=cost, opt_upper=upper, opt_lower=lower, opt_status=status,
            ratio_low=cost / upper, ratio_high=cost / lower if lower > 0 else math.inf,
            analytic_ratio=alg_a / opt_a, solve_seconds=seconds))
    return points
