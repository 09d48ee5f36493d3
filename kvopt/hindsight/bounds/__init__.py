r"""Certified lower bounds on the hindsight optimum (total latency, rounds).

Each bound is proved valid in its docstring and property-tested never to exceed the optimum
(``tests/hindsight/bounds/``), one module per concern:

* :mod:`~kvopt.hindsight.bounds.combinatorial`: sum of outputs, memory volume, growth
  headroom, disjoint cores (no LP; any scale);
* :mod:`~kvopt.hindsight.bounds.lp_certificate`: the LP's certificate by weak duality, the
  Lagrangian bound, reduced-cost fixing;
* :mod:`~kvopt.hindsight.bounds.priced_lp`: the certified LP relaxation (:func:`lp_bound`);
* :mod:`~kvopt.hindsight.bounds.cuts`: its cut rows (core cliques, headroom cuts, conflict
  cliques);
* :mod:`~kvopt.hindsight.bounds.deadline`: k-th completion bounds, completion caps and
  deadline cuts (CP-SAT).

:func:`best_bound` returns the largest of them with its name.
"""

from __future__ import annotations

import dataclasses
import time

from kvopt.hindsight.bounds.combinatorial import (
    Bound,
    core_bound,
    headroom_bound,
    sum_of_outputs_bound,
    volume_bound,
)
from kvopt.hindsight.bounds.deadline import (
    DEADLINE_CUT_ROUNDS,
    kth_completion_bounds,
    sorted_completion_bound,
)
from kvopt.hindsight.bounds.priced_lp import HEADROOM_CUT_ROUNDS, lp_bound
from kvopt.instance import Instance

__all__ = ["best_bound"]


def best_bound(instance: Instance, *, upper_bound: float | None = None,
               time_limit_s: float | None = None, use_lp: bool = True,
               kth_time_limit_s: float | None = None, deadline_cuts: bool = False) -> Bound:
    """The largest of the bounds above (the LP one only with ``use_lp`` and if it finishes in
    ``time_limit_s``; the LP has one column per request and start round, too many for traces of
    thousands of requests). With ``kth_time_limit_s`` also :func:`kth_completion_bound`
    (CP-SAT, that many seconds in all), whose :math:`L_k` the LP then takes as completion
    caps; with ``deadline_cuts`` the LP also separates :class:`DeadlineCuts` (CP-SAT), for up
    to :data:`DEADLINE_CUT_ROUNDS` cut rounds (they start once the other cuts are nearly
    done, which takes more than the default 15 rounds)."""
    t0 = time.perf_counter()
    best = max(sum_of_outputs_bound(instance), volume_bound(instance), headroom_bound(instance),
               core_bound(instance), key=lambda b: b.value)
    kth = None
    if instance.num_requests and kth_time_limit_s is not None:
        t1 = time.perf_counter()
        kth = kth_completion_bounds(instance, time_limit_s=kth_time_limit_s)
        best = max(best, sorted_completion_bound(instance, kth, time.perf_counter() - t1),
                   key=lambda b: b.value)
    if instance.num_requests and use_lp:
        lp = lp_bound(instance, upper_bound=upper_bound, time_limit_s=time_limit_s, kth=kth,
                      deadline_cuts=deadline_cuts,
                      cut_rounds=DEADLINE_CUT_ROUNDS if deadline_cuts else HEADROOM_CUT_ROUNDS)
        if lp is not None and lp.value > best.value:
            best = lp
    return dataclasses.replace(best, runtime_s=time.perf_counter() - t0)
