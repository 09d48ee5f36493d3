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
from kvopt.hindsight.milp.formulation import ModelTooLargeError, build
from kvopt.instance import Instance

__all__ = ["best_bound"]


def best_bound(instance: Instance, *, upper_bound: float | None = None,
               time_limit_s: float | None = None, use_lp: bool = True,
               kth_time_limit_s: float | None = None, deadline_cuts: bool = False,
               cut_rounds: int = HEADROOM_CUT_ROUNDS) -> Bound:
    """The largest of every certified bound computed (the first of equals, in this order): the
    combinatorial ones; with ``kth_time_limit_s`` the sum of the k-th completion bounds
    (:func:`~kvopt.hindsight.bounds.deadline.kth_completion_bound`, CP-SAT, that many seconds
    in all), whose :math:`L_k` the LP then takes as completion caps; and with ``use_lp`` the
    certified LP (:func:`lp_bound`, on the start windows of ``upper_bound``, each run for at
    most ``time_limit_s``; the LP has one column per request and start round, too many for
    traces of thousands of requests). With ``deadline_cuts`` the LP that also separates
    deadline cuts (CP-SAT, up to :data:`DEADLINE_CUT_ROUNDS` cut rounds: they start once the
    other cuts are nearly done, which takes more than the default 15 rounds) runs first, and
    then the LP without them, with ``cut_rounds`` rounds of headroom cuts.

    Turning an option on never lowers the result (without a time limit): each option only adds
    sources. The LP with completion caps continues the LP without them (:func:`lp_bound`), and
    the LP without deadline cuts runs beside the one with them, so every LP computed for a set
    of options is computed, or continued, for the set with one more.
    """
    t0 = time.perf_counter()
    sources = [sum_of_outputs_bound(instance), volume_bound(instance), headroom_bound(instance),
               core_bound(instance)]
    kth = None
    if instance.num_requests and kth_time_limit_s is not None:
        t1 = time.perf_counter()
        kth = kth_completion_bounds(instance, time_limit_s=kth_time_limit_s)
        sources.append(sorted_completion_bound(instance, kth, time.perf_counter() - t1))
    if instance.num_requests and use_lp:
        try:
            model = build(instance, upper_bound=upper_bound)
        except ModelTooLargeError:
            model = None
        runs = [True, False] if deadline_cuts else [False]
        for with_deadlines in runs if model is not None else []:
            lp = lp_bound(instance, model, time_limit_s=time_limit_s, kth=kth,
                          deadline_cuts=with_deadlines,
                          cut_rounds=DEADLINE_CUT_ROUNDS if with_deadlines else cut_rounds)
            if lp is not None:
                sources.append(lp)
    best = max(sources, key=lambda b: b.value)
    return dataclasses.replace(best, runtime_s=time.perf_counter() - t0)
