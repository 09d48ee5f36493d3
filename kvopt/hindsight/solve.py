"""``solve``: the hindsight optimum, honestly reported."""

from __future__ import annotations

import concurrent.futures
import math
import threading
import time

import numpy as np

from kvopt.exceptions import KvoptError
from kvopt.hindsight.bounds.combinatorial import core_bound, headroom_bound, volume_bound
from kvopt.hindsight.bounds.deadline import kth_completion_bounds, sorted_completion_bound
from kvopt.hindsight.bounds.lp_certificate import reduced_cost_fixing
from kvopt.hindsight.bounds.priced_lp import HEADROOM_CUT_ROUNDS, lp_bound
from kvopt.hindsight.exact.cpsat import cpsat_available
from kvopt.hindsight.incumbents import (
    SERIAL_MAX_REQUESTS,
    SERIAL_MOVES,
    best_priority_list,
    local_search,
    serial_search,
    twins_in_order,
    warm_start_schedule,
)
from kvopt.hindsight.milp.backends import get_backend
from kvopt.hindsight.milp.decode import decode, encode
from kvopt.hindsight.milp.formulation import ModelTooLargeError, build
from kvopt.hindsight.probing import probe_fixing
from kvopt.instance import Instance
from kvopt.result import SolveResult, SolveStatus
from kvopt.schedule import Schedule
from kvopt.verify import verify

__all__ = ["solve"]


#: with a time limit, the certified LP gets this share of what is left, for up to
#: :data:`LP_MAX_CUT_ROUNDS` separation rounds (it stops earlier once no cut is violated); the
#: solver gets the rest. At the paper's sizes the LP is still rising after 15 rounds and
#: CP-SAT's own bound is far below it, but CP-SAT still improves schedules. Measured on 20
#: paper-size instances at 60 s, median gap 12.8% / 13.8% with 50%, 12.5% / 13.6% with 80%,
#: 12.5% / 13.3% with all of it (15 rounds and all of it: 13.4% / 14.8%); at n = 20 and 10 s,
#: all of it leaves CP-SAT no time to improve a schedule it improves by 5.7% with 80%
LP_SHARE = 0.8
LP_MAX_CUT_ROUNDS = 100
#: with a time limit, the serial search (``serial_moves``) stops after this share of it
SERIAL_SHARE = 0.2
#: LP probing (:func:`kvopt.hindsight.probing.probe_fixing`) before HiGHS or CBC, on restricted programs
#: of at most this many free columns (at n = 10-12 a probe takes about 4 ms; a pass over a
#: paper-size program would take minutes), with a time limit for at most PROBE_SHARE of what
#: is left after the LP
PROBE_MAX_COLUMNS = 5000
PROBE_SHARE = 0.5


def _remaining(t0: float, time_limit_s: float | None) -> float | None:
    if time_limit_s is None:
        return None
    return max(0.01, time_limit_s - (time.perf_counter() - t0))


def _lp_beside_solver(solver, instance: Instance, model, *, incumbent: np.ndarray, upper: int,
                      seconds: float | None, kth: np.ndarray | None, threads: int, seed: int):
    """The certified LP in this thread, the solver (``concurrent``: it releases Python's lock)
    in another, both for ``seconds``; returns ``(lp bound, solver result)``. The LP stops once
    the solver has proved its schedule optimal; the solver is stopped once the LP bound reaches
    ``upper`` (the incumbent is then optimal), or if the LP fails or is interrupted."""
    stop = threading.Event()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor:
        future = executor.submit(solver.solve_instance, instance, incumbent=incumbent,
                                 upper_bound=upper, time_limit_s=seconds, threads=threads,
                                 seed=seed, stop=stop)
        try:
            lp = lp_bound(instance, model, time_limit_s=seconds, kth=kth,
                          cut_rounds=(HEADROOM_CUT_ROUNDS if seconds is None
                                      else LP_MAX_CUT_ROUNDS),
                          stop=lambda: future.done() and future.result().proven)
            if lp is not None and lp.value >= upper:
                stop.set()
            return lp, future.result()
        except BaseException:
            stop.set()   # an error or Ctrl-C: do not leave the solver running
            raise


def solve(
    instance: Instance,
    backend: str = "highs",
    *,
    time_limit_s: float | None = None,
    mip_rel_gap: float = 0.0,
    threads: int = 1,
    seed: int = 0,
    lp_first: bool = True,
    local_search_evaluations: int = 0,
    serial_moves: int = SERIAL_MOVES,
    kth_time_limit_s: float | None = None,
    deadline_time_limit_s: float | None = None,
    probing: bool = True,
) -> SolveResult:
    """Solve the hindsight integer program of ``specs/kv-scheduling.md`` section 3.

    MC-SF's schedule and the best of a few priority lists
    (:func:`kvopt.hindsight.incumbents.best_priority_list`) are verified first; the better one narrows the
    start windows and warm-starts the solver, so the returned schedule is never worse than
    MC-SF's. Every schedule passes
    :func:`~kvopt.verify.verify`, and a solver objective that differs from the verified one
    raises. ``OPTIMAL`` only when ``ceil(bound) >= objective`` (the objective is integral).

    Parameters
    ----------
    backend
        ``"highs"`` or ``"cbc"`` (the integer program), ``"search"`` (the exact
        combinatorial search of :mod:`kvopt.hindsight.exact.search`, which shares nothing with it), or
        ``"cpsat"`` (OR-Tools CP-SAT on the interval model of :mod:`kvopt.hindsight.exact.cpsat`).
    time_limit_s
        Wall-clock limit for the whole call (``None``: none). HiGHS checks it only between
        its root cut rounds: on models of millions of nonzeros the call can end 1-4 s late.
    mip_rel_gap
        Relative gap at which the solver may stop (0: prove optimality).
    local_search_evaluations
        Before the solver, improve MC-SF's schedule by this many local-search moves
        (:func:`kvopt.hindsight.incumbents.local_search`, seeded by ``seed``); the better schedule is the
        warm start and narrows the start windows.
    serial_moves
        Then this many moves of :func:`kvopt.hindsight.incumbents.serial_search` (priority lists placed
        serially, so rounds can be held for later arrivals; seeded by ``seed``), up to
        :data:`~kvopt.hindsight.incumbents.SERIAL_MAX_REQUESTS` requests and, with ``time_limit_s``, for
        at most :data:`SERIAL_SHARE` of it; a better schedule replaces the incumbent.
    lp_first
        Certify the LP-relaxation bound (:func:`kvopt.hindsight.bounds.lp_bound`) before the MIP, so a
        time-limited solve reports at least that bound. With ``time_limit_s`` the LP gets
        :data:`LP_SHARE` of what is left and up to :data:`LP_MAX_CUT_ROUNDS` cut rounds (it
        stops earlier once no cut is violated); the solver gets the rest. CP-SAT instead runs
        *beside* the LP, in a thread (it works in C++ without Python's lock, so on a second
        core), both until the time limit: the LP stops when CP-SAT proves its schedule
        optimal, and CP-SAT is stopped if the LP proves the incumbent optimal. Measured on three paper-size
        instances, 60 s, ``threads=2``: gaps 12.4%, 12.5%, 15.7% one after the other, 12.3%,
        11.7%, 15.2% beside (CP-SAT's two workers improve the schedules by 1-4%).
    kth_time_limit_s
        Seconds (at most half of what is left of ``time_limit_s``) for CP-SAT's bounds on each
        k-th completion (:func:`kvopt.hindsight.bounds.kth_completion_bounds`, needs OR-Tools): their
        sum is a bound, and the certified LP takes them as completion caps. They raise the reported bound of an
        unproven solve; the solver itself does not use them (measured: no faster).
    probing
        Before HiGHS or CBC, fix more columns by LP probing (:func:`kvopt.hindsight.probing.probe_fixing`)
        on restricted programs of at most :data:`PROBE_MAX_COLUMNS` free columns, for at most
        :data:`PROBE_SHARE` of what is left of ``time_limit_s``. When it leaves some request no
        column of a better schedule, the incumbent is proven optimal without the solver.
    deadline_time_limit_s
        Seconds (at most half of what is left of ``time_limit_s`` after the LP) kept back from
        the solver for the certified LP with deadline cuts (:class:`kvopt.hindsight.bounds.DeadlineCuts`,
        needs OR-Tools), run after the solver if it proved nothing, on windows narrowed by the
        best schedule found, which also serves as a witness.
    """
    t0 = time.perf_counter()
    if deadline_time_limit_s is not None and not cpsat_available():
        raise KvoptError("deadline cuts need OR-Tools: pip install 'kvopt[cpsat]'")
    solver = get_backend(backend)
    if hasattr(solver, "check"):
        solver.check(instance)   # refuse a model the backend cannot hold before any work
    if instance.num_requests == 0:
        return SolveResult(SolveStatus.OPTIMAL, 0.0, 0.0, Schedule.from_starts([], []), backend,
                           "empty instance", time.perf_counter() - t0, "trivial")
    incumbent = warm_start_schedule(instance)
    upper = verify(instance, incumbent).total_latency
    # the cheap bounds first: when MC-SF already meets one, no search is needed
    lower = int(instance.output.sum())
    volume = max(volume_bound(instance), headroom_bound(instance), core_bound(instance),
                 key=lambda b: b.value)
    bound, bound_source = float(lower), "sum of outputs"
    if volume.value > bound:
        bound, bound_source = float(volume.value), volume.source
    if upper > bound:
        listed, cost, _ = best_priority_list(instance)
        if cost < upper:
            incumbent, upper = twins_in_order(instance, listed), cost
    if local_search_evaluations > 0 and upper > bound:
        improved, cost = local_search(instance, np.random.default_rng(seed),
                                      time_limit_s=math.inf,
                                      max_evaluations=local_search_evaluations)
        if cost < upper:
            incumbent, upper = twins_in_order(instance, improved), cost
    if serial_moves > 0 and instance.num_requests <= SERIAL_MAX_REQUESTS and upper > bound:
        # with a time limit, at most SERIAL_SHARE of what is left
        improved, cost = serial_search(
            instance, np.random.default_rng(seed), moves=serial_moves, incumbent=incumbent,
            time_limit_s=None if time_limit_s is None else SERIAL_SHARE * _remaining(t0, time_limit_s))
        if cost < upper:
            incumbent, upper = twins_in_order(instance, improved), cost
    best, best_cost = incumbent, float(upper)
    kth = None
    if kth_time_limit_s is not None and upper > bound:
        # at most half of what is left of time_limit_s: the solver gets the rest
        budget = kth_time_limit_s if time_limit_s is None else min(
            kth_time_limit_s, _remaining(t0, time_limit_s) / 2)
        kth = kth_completion_bounds(instance, time_limit_s=budget)
        summed = sorted_completion_bound(instance, kth)
        if summed.value > bound:
            bound, bound_source = float(summed.value), summed.source
    words = f"the incumbent meets the {bound_source} bound"
    failed = False
    model = None
    if upper > bound:
        try:
            model = build(instance, upper_bound=upper)
        except ModelTooLargeError:
            if not getattr(solver, "needs_instance", False):
                raise
    # a solver that runs without Python's lock (CP-SAT) runs beside the LP, on its own core
    beside = (lp_first and model is not None and upper > bound
              and getattr(solver, "concurrent", False))
    reserve = None

    def keep_back() -> float | None:
        """The seconds kept back for the deadline cuts: at most half of what is left."""
        if deadline_time_limit_s is None or time_limit_s is None:
            return deadline_time_limit_s
        return min(deadline_time_limit_s, _remaining(t0, time_limit_s) / 2)

    def solver_time() -> float | None:
        left = _remaining(t0, time_limit_s)
        return left if left is None or reserve is None else max(0.01, left - reserve)

    lp = found = mip = None
    if beside:
        reserve = keep_back()
        lp, found = _lp_beside_solver(
            solver, instance, model, incumbent=incumbent.final_starts(), upper=upper,
            seconds=solver_time(), kth=kth, threads=threads, seed=seed)
    elif lp_first and model is not None:
        # the certified LP bound first: cheap, and kept even if the MIP stops before its root
        if time_limit_s is None:
            lp = lp_bound(instance, model, kth=kth)
        else:
            lp = lp_bound(instance, model, time_limit_s=LP_SHARE * _remaining(t0, time_limit_s),
                          cut_rounds=LP_MAX_CUT_ROUNDS, kth=kth)
    if lp is not None and lp.value > bound:
        bound, bound_source = float(lp.value), lp.source
        words = "the incumbent meets the LP bound"
    if not beside:
        reserve = keep_back()

    # best_cost is still the incumbent's cost here: bound < best_cost means "not yet proven"
    if found is not None or (bound < best_cost and getattr(solver, "needs_instance", False)):
        if found is None:
            found = solver.solve_instance(instance, incumbent=incumbent.final_starts(),
                                          upper_bound=upper, time_limit_s=solver_time(),
                                          threads=threads, seed=seed)
        words = (f"{backend}: {'proven' if found.proven else 'stopped'} after {found.nodes} "
                 "nodes")
        if found.starts is not None:
            schedule = Schedule.from_starts(found.starts, instance.output)
            cost = verify(instance, schedule).total_latency
            if cost != found.objective:
                raise KvoptError(f"search objective {found.objective} differs from the verified "
                                 f"total latency {cost}")
            if cost < best_cost:
                best, best_cost = schedule, float(cost)
        if found.bound > bound:
            bound, bound_source = float(found.bound), backend
    elif bound < best_cost:
        warm = encode(model, incumbent.final_starts())
        mip = model
        if lp is not None and lp.certificate is not None:
            # the LP's cuts join, and columns in no better schedule are fixed at 0 (exact: see
            # reduced_cost_fixing); the incumbent's columns stay
            mip = reduced_cost_fixing(model, lp.certificate, best_cost, keep=warm)
            if probing and int((mip.col_upper > 0.5).sum()) <= PROBE_MAX_COLUMNS:
                # more columns fixed, each by an LP with it forced (exact: see probe_fixing)
                left = _remaining(t0, time_limit_s)
                probed = probe_fixing(mip, best_cost, keep=warm,
                                      time_limit_s=None if left is None else PROBE_SHARE * left)
                mip = probed.model
                probed_bound = float(math.ceil(probed.bound - 1e-6))
                if probed_bound > bound:
                    bound, bound_source = probed_bound, "LP probing"
                    words = "the incumbent meets the LP probing bound"
    if mip is not None and bound < best_cost:
        raw = solver.solve(mip, time_limit_s=solver_time(), mip_rel_gap=mip_rel_gap,
                           warm_start=warm, threads=threads, seed=seed)
        words, failed = raw.backend_status, raw.failed
        if raw.infeasible:
            raise KvoptError(f"{backend} calls the model infeasible, but MC-SF's schedule is feasible")
        if raw.col_value is not None:
            schedule = decode(instance, mip, raw.col_value)
            cost = verify(instance, schedule).total_latency
            if raw.objective is None or abs(raw.objective - cost) > 1e-6 * max(1.0, cost):
                raise KvoptError(f"{backend} objective {raw.objective} differs from the verified "
                                 f"total latency {cost}")
            if cost < best_cost:
                best, best_cost = schedule, float(cost)
        if raw.bound is not None and math.ceil(raw.bound - 1e-6) > bound:
            bound, bound_source = float(math.ceil(raw.bound - 1e-6)), backend
        if raw.proven and mip_rel_gap == 0 and raw.col_value is not None and bound < best_cost:
            # the solver proved its incumbent optimal (integral objective, absolute gap < 1)
            bound, bound_source = best_cost, backend
    if reserve is not None and bound < best_cost and model is not None:
        # the deadline cuts last: windows narrowed by the best schedule, which is a witness
        narrowed = build(instance, upper_bound=best_cost)
        late = lp_bound(instance, narrowed, kth=kth, deadline_cuts=True,
                        time_limit_s=reserve if time_limit_s is None
                        else _remaining(t0, time_limit_s),
                        cut_rounds=LP_MAX_CUT_ROUNDS,
                        witnesses=[best.final_starts() + instance.output])
        if late is not None and late.value > bound:
            bound, bound_source = float(late.value), late.source
    if bound > best_cost + 1e-6:
        raise KvoptError(f"bound {bound} exceeds the verified schedule cost {best_cost}")
    status = SolveStatus.OPTIMAL if bound >= best_cost else SolveStatus.FEASIBLE
    if failed and status is not SolveStatus.OPTIMAL:
        status = SolveStatus.ERROR  # the incumbent and bound stay available, but say it failed
    return SolveResult(status, best_cost, bound, best, backend, words,
                       time.perf_counter() - t0, bound_source)
