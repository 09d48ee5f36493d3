"""``solve``: the hindsight optimum, honestly reported, in named stages over one time budget.

The stages run in this order, each a small function of one :class:`SolveContext` (what it
reads and writes is in its docstring):

1. :func:`_cheap_bounds`: sum of outputs, memory volume, growth headroom, disjoint cores;
2. :func:`_incumbent`: MC-SF's schedule, then, while no bound meets it, the best priority list,
   local search and serial search;
3. :func:`_kth_bounds` (``kth_time_limit_s``): the k-th completion bounds (CP-SAT);
4. :func:`_lp`: the integer program on the incumbent's start windows and its certified LP
   (CP-SAT instead runs *beside* the LP, in a thread);
5. :func:`_fixing` (HiGHS, CBC): reduced-cost fixing and LP probing;
6. :func:`_instance_solver` or :func:`_mip_solver`: the backend;
7. :func:`_deadline_lp` (``deadline_time_limit_s``): the LP with deadline cuts on the best
   schedule's windows.

Every schedule passes :func:`~kvopt.verify.verify` and only a cheaper one replaces the
incumbent; every stage's certified bound is offered to :meth:`SolveContext.raise_bound`, which
keeps the largest, so the reported bound is the largest of every certified source computed.
Without a time limit an option only adds a source (the LP with completion caps continues the
LP without them), so it never lowers the bound; with one, its seconds come out of the same
budget and the other stages get fewer.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import math
import threading
import time
from typing import TYPE_CHECKING, cast

import numpy as np

from kvopt.exceptions import KvoptError
from kvopt.hindsight.bounds.combinatorial import (
    Bound,
    core_bound,
    headroom_bound,
    sum_of_outputs_bound,
    volume_bound,
)
from kvopt.hindsight.bounds.deadline import kth_completion_bounds, sorted_completion_bound
from kvopt.hindsight.bounds.lp_certificate import reduced_cost_fixing
from kvopt.hindsight.bounds.priced_lp import HEADROOM_CUT_ROUNDS, lp_bound
from kvopt.hindsight.exact.cpsat import cpsat_available
from kvopt.hindsight.exact.search import ExactResult
from kvopt.hindsight.incumbents import (
    SERIAL_MAX_REQUESTS,
    SERIAL_MOVES,
    best_priority_list,
    local_search,
    serial_search,
    twins_in_order,
    warm_start_schedule,
)
from kvopt.hindsight.interrupt import SolveInterrupted, noting_ctrl_c
from kvopt.hindsight.milp import formulation
from kvopt.hindsight.milp.backends import Backend, InstanceBackend, get_backend, is_instance_backend
from kvopt.hindsight.milp.decode import decode, encode
from kvopt.hindsight.milp.formulation import ModelTooLargeError, build
from kvopt.hindsight.milp.model import MilpModel
from kvopt.hindsight.probing import probe_fixing
from kvopt.instance import Instance
from kvopt.result import SolveResult, SolveStatus
from kvopt.schedule import Schedule
from kvopt.verify import verify

if TYPE_CHECKING:
    from kvopt.hindsight.milp.backends.highs import HighsBackend

__all__ = ["TOO_LARGE", "Budget", "SolveContext", "SolveInterrupted", "SolveOptions", "solve"]

#: how ``backend_status`` starts when the integer program was too large to build and
#: ``interval_if_too_large`` kept the best schedule found and the certified bound instead
TOO_LARGE = "integer program too large"


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
#: LP probing (:func:`kvopt.hindsight.probing.probe_fixing`) before HiGHS or CBC, on restricted
#: programs of at most this many free columns (at n = 10-12 a probe takes about 4 ms; a pass
#: over a paper-size program would take minutes), with a time limit for at most PROBE_SHARE of
#: what is left after the LP
PROBE_MAX_COLUMNS = 5000
PROBE_SHARE = 0.5


@dataclasses.dataclass(frozen=True)
class SolveOptions:
    """The arguments of :func:`solve` after the instance (documented there)."""

    backend: str = "highs"
    time_limit_s: float | None = None
    mip_rel_gap: float = 0.0
    threads: int = 1
    seed: int = 0
    lp_first: bool = True
    local_search_evaluations: int = 0
    serial_moves: int = SERIAL_MOVES
    kth_time_limit_s: float | None = None
    deadline_time_limit_s: float | None = None
    probing: bool = True
    interval_if_too_large: bool = False
    mip_max_nodes: int | None = None
    mip_time_limit_s: float | None = None
    lp_cut_rounds: int = HEADROOM_CUT_ROUNDS


class Budget:
    """One wall-clock budget for the whole call (``time_limit_s=None``: none), with the seconds
    kept back from the solver for the deadline LP (:meth:`keep_back`)."""

    def __init__(self, time_limit_s: float | None) -> None:
        self.t0 = time.perf_counter()
        self.time_limit_s = time_limit_s
        self.reserve_s: float | None = None

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def remaining(self) -> float | None:
        """Seconds left (at least 0.01), ``None`` without a limit."""
        if self.time_limit_s is None:
            return None
        return max(0.01, self.time_limit_s - self.elapsed())

    def share(self, fraction: float) -> float | None:
        """``fraction`` of what is left, ``None`` without a limit."""
        left = self.remaining()
        return None if left is None else fraction * left

    def capped(self, seconds: float) -> float:
        """``seconds``, but at most half of what is left (the solver gets the rest)."""
        left = self.remaining()
        return seconds if left is None else min(seconds, left / 2)

    def keep_back(self, seconds: float | None) -> None:
        """Keep ``seconds`` (at most half of what is left) back from the solver."""
        self.reserve_s = None if seconds is None else self.capped(seconds)

    def for_solver(self) -> float | None:
        """What is left, less what is kept back."""
        left = self.remaining()
        return left if left is None or self.reserve_s is None else max(0.01, left - self.reserve_s)


@dataclasses.dataclass
class SolveContext:
    """What the stages of :func:`solve` share: the instance and options (read only), the best
    verified schedule and its cost (:meth:`offer`), the best certified bound and its source
    (:meth:`raise_bound`), what the last stage said (``words``, the result's
    ``backend_status``), and the stages' products: the k-th completion bounds (``kth``), the
    integer program on the incumbent's windows (``model``) and the LP bound (``lp``)."""

    instance: Instance
    options: SolveOptions
    budget: Budget
    exact: InstanceBackend | None   # a backend working on the instance (search, CP-SAT) ...
    mip: Backend | None             # ... or on the integer program (HiGHS, CBC)
    schedule: Schedule | None = None
    cost: float = math.inf
    bound: float = 0.0
    bound_source: str = ""
    words: str = ""
    failed: bool = False
    kth: np.ndarray | None = None
    model: MilpModel | None = None
    lp: Bound | None = None
    interrupt: threading.Event = dataclasses.field(default_factory=threading.Event)

    @property
    def proven(self) -> bool:
        """Whether the bound meets the best schedule's cost (integral: it is optimal)."""
        return self.bound >= self.cost

    def raise_bound(self, value: float, source: str, words: str | None = None) -> bool:
        """Keep ``value`` if it is the largest bound so far (then ``words`` too); whether it
        was."""
        if value <= self.bound:
            return False
        self.bound, self.bound_source = float(value), source
        if words is not None:
            self.words = words
        return True

    def offer(self, schedule: Schedule, cost: float) -> None:
        """Keep ``schedule`` (verified, total latency ``cost``) if it is the cheapest so far."""
        if cost < self.cost:
            self.schedule, self.cost = schedule, float(cost)

    def result(self) -> SolveResult:
        if self.bound > self.cost + 1e-6:
            raise KvoptError(f"bound {self.bound} exceeds the verified schedule cost {self.cost}")
        status = SolveStatus.OPTIMAL if self.proven else SolveStatus.FEASIBLE
        if self.failed and status is not SolveStatus.OPTIMAL:
            status = SolveStatus.ERROR  # the incumbent and bound stay available, but say so
        return SolveResult(status, self.cost, self.bound, self.schedule, self.options.backend,
                           self.words, self.budget.elapsed(), self.bound_source)

    def partial(self) -> SolveResult:
        """The best verified schedule and certified bound so far (for :class:`SolveInterrupted`):
        ``no_solution`` before MC-SF's schedule is verified, else ``optimal`` or ``feasible``."""
        status = (SolveStatus.NO_SOLUTION if self.schedule is None
                  else SolveStatus.OPTIMAL if self.proven else SolveStatus.FEASIBLE)
        return SolveResult(status, self.cost, self.bound, self.schedule, self.options.backend,
                           "interrupted: the best schedule and bound so far",
                           self.budget.elapsed(), self.bound_source)


def _cheap_bounds(ctx: SolveContext) -> None:
    """The bounds without an LP: the sum of outputs, then the largest of memory volume, growth
    headroom and disjoint cores. When MC-SF already meets one, no search is needed."""
    first = sum_of_outputs_bound(ctx.instance)
    ctx.bound, ctx.bound_source = float(first.value), first.source
    best = max(volume_bound(ctx.instance), headroom_bound(ctx.instance), core_bound(ctx.instance),
               key=lambda b: b.value)
    ctx.raise_bound(best.value, best.source)


def _incumbent(ctx: SolveContext) -> None:
    """MC-SF's schedule (:func:`~kvopt.hindsight.incumbents.warm_start_schedule`), then, each
    while no bound meets the incumbent: the best priority list, ``local_search_evaluations``
    local moves and ``serial_moves`` moves of the serial search (up to
    :data:`~kvopt.hindsight.incumbents.SERIAL_MAX_REQUESTS` requests, for at most
    :data:`SERIAL_SHARE` of the time left). Identical requests start in position order, as
    the integer program's symmetry rows ask."""
    instance, options = ctx.instance, ctx.options
    start = warm_start_schedule(instance)
    ctx.offer(start, verify(instance, start).total_latency)
    if not ctx.proven:
        listed, cost, _ = best_priority_list(instance)
        if cost < ctx.cost:
            ctx.offer(twins_in_order(instance, listed), cost)
    if options.local_search_evaluations > 0 and not ctx.proven:
        improved, cost = local_search(instance, np.random.default_rng(options.seed),
                                      time_limit_s=math.inf,
                                      max_evaluations=options.local_search_evaluations)
        if cost < ctx.cost:
            ctx.offer(twins_in_order(instance, improved), cost)
    if (options.serial_moves > 0 and instance.num_requests <= SERIAL_MAX_REQUESTS
            and not ctx.proven):
        improved, cost = serial_search(instance, np.random.default_rng(options.seed),
                                       moves=options.serial_moves, incumbent=ctx.schedule,
                                       time_limit_s=ctx.budget.share(SERIAL_SHARE))
        if cost < ctx.cost:
            ctx.offer(twins_in_order(instance, improved), cost)
    ctx.words = f"the incumbent meets the {ctx.bound_source} bound"


def _kth_bounds(ctx: SolveContext) -> None:
    """With ``kth_time_limit_s`` (at most half of the time left) and no proof yet: the k-th
    completion bounds (``ctx.kth``, for the LP's completion caps) and their sum."""
    seconds = ctx.options.kth_time_limit_s
    if seconds is None or ctx.proven:
        return
    ctx.kth = kth_completion_bounds(ctx.instance, time_limit_s=ctx.budget.capped(seconds))
    summed = sorted_completion_bound(ctx.instance, ctx.kth)
    ctx.raise_bound(summed.value, summed.source, f"the incumbent meets the {summed.source} bound")


def _integer_program(ctx: SolveContext) -> None:
    """The integer program on the incumbent's start windows (``ctx.model``), unless the
    incumbent is proven; a backend working on the instance does without one that is too
    large."""
    if ctx.proven:
        return
    try:
        ctx.model = build(ctx.instance, upper_bound=ctx.cost)
    except ModelTooLargeError:
        if ctx.exact is not None:
            return
        if not ctx.options.interval_if_too_large:
            raise
        size = formulation.count_nonzeros(ctx.instance, ctx.cost)
        ctx.words = (f"{TOO_LARGE} ({size:,} nonzeros, limit {formulation.MAX_NONZEROS:,}): "
                     "the best schedule found and the certified bound")


def _lp(ctx: SolveContext) -> ExactResult | None:
    """The certified LP bound (``ctx.lp``) on ``ctx.model``, with ``lp_first``; with a time
    limit it gets :data:`LP_SHARE` of what is left and up to :data:`LP_MAX_CUT_ROUNDS` cut
    rounds, and the k-th completion bounds' caps after its own cuts. A backend that runs
    without Python's lock (CP-SAT) runs beside it instead (:func:`_lp_beside_solver`); then
    returns its result."""
    if not ctx.options.lp_first or ctx.model is None:
        ctx.budget.keep_back(ctx.options.deadline_time_limit_s)
        return None
    found = None
    if ctx.exact is not None and ctx.exact.concurrent:
        ctx.budget.keep_back(ctx.options.deadline_time_limit_s)
        ctx.lp, found = _lp_beside_solver(ctx, ctx.exact, ctx.model)
    elif ctx.options.time_limit_s is None:
        ctx.lp = lp_bound(ctx.instance, ctx.model, kth=ctx.kth, stop=ctx.interrupt.is_set,
                          cut_rounds=ctx.options.lp_cut_rounds)
    else:
        ctx.lp = lp_bound(ctx.instance, ctx.model, time_limit_s=ctx.budget.share(LP_SHARE),
                          cut_rounds=LP_MAX_CUT_ROUNDS, kth=ctx.kth, stop=ctx.interrupt.is_set)
    if ctx.lp is not None:
        ctx.raise_bound(ctx.lp.value, ctx.lp.source, "the incumbent meets the LP bound")
    if found is None:
        ctx.budget.keep_back(ctx.options.deadline_time_limit_s)
    return found


def _lp_beside_solver(ctx: SolveContext, solver: InstanceBackend,
                      model: MilpModel) -> tuple[Bound | None, ExactResult]:
    """The certified LP in this thread, the solver (``concurrent``: it releases Python's lock)
    in another, both for the solver's time; returns ``(lp bound, solver result)``. The LP stops
    once the solver has proved its schedule optimal; the solver is stopped once the LP bound
    reaches the incumbent's cost (the incumbent is then optimal), or if the LP fails or is
    interrupted."""
    assert ctx.schedule is not None
    seconds = ctx.budget.for_solver()
    upper = int(ctx.cost)
    stop = threading.Event()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor:
        future = executor.submit(solver.solve_instance, ctx.instance,
                                 incumbent=ctx.schedule.final_starts().tolist(),
                                 upper_bound=upper, time_limit_s=seconds,
                                 threads=ctx.options.threads, seed=ctx.options.seed, stop=stop)
        try:
            lp = lp_bound(ctx.instance, model, time_limit_s=seconds, kth=ctx.kth,
                          cut_rounds=(ctx.options.lp_cut_rounds if seconds is None
                                      else LP_MAX_CUT_ROUNDS),
                          stop=lambda: ctx.interrupt.is_set() or (
                              future.done() and future.result().proven))
            if lp is not None and lp.value >= upper or ctx.interrupt.is_set():
                stop.set()
            return lp, future.result()
        except BaseException:
            stop.set()   # an error or Ctrl-C: do not leave the solver running
            raise


def _instance_solver(ctx: SolveContext, solver: InstanceBackend,
                     found: ExactResult | None) -> None:
    """The search or CP-SAT on the instance (unless it already ran beside the LP: ``found``),
    from the incumbent, for the time left less what is kept back; its schedule is verified."""
    if found is None:
        assert ctx.schedule is not None
        found = solver.solve_instance(ctx.instance,
                                      incumbent=ctx.schedule.final_starts().tolist(),
                                      upper_bound=int(ctx.cost),
                                      time_limit_s=ctx.budget.for_solver(),
                                      threads=ctx.options.threads, seed=ctx.options.seed)
    ctx.words = (f"{ctx.options.backend}: {'proven' if found.proven else 'stopped'} after "
                 f"{found.nodes} nodes")
    if found.starts is not None:
        schedule = Schedule.from_starts(found.starts, ctx.instance.output)
        cost = verify(ctx.instance, schedule).total_latency
        if cost != found.objective:
            raise KvoptError(f"search objective {found.objective} differs from the verified "
                             f"total latency {cost}")
        ctx.offer(schedule, cost)
    ctx.raise_bound(found.bound, ctx.options.backend)


def _fixing(ctx: SolveContext) -> tuple[MilpModel, np.ndarray | None]:
    """The program the MIP solver gets and its warm start (the incumbent's columns): with an LP
    certificate, its cut rows join and the columns in no better schedule are fixed at 0
    (:func:`~kvopt.hindsight.bounds.lp_certificate.reduced_cost_fixing`); then, with
    ``probing``, on at most :data:`PROBE_MAX_COLUMNS` free columns and for at most
    :data:`PROBE_SHARE` of the time left, LP probing fixes more
    (:func:`~kvopt.hindsight.probing.probe_fixing`), whose bound is offered."""
    assert ctx.model is not None and ctx.schedule is not None
    warm = encode(ctx.model, ctx.schedule.final_starts())
    mip = ctx.model
    if ctx.lp is None or ctx.lp.certificate is None:
        return mip, warm
    # exact: see reduced_cost_fixing; the incumbent's columns stay
    mip = reduced_cost_fixing(ctx.model, ctx.lp.certificate, ctx.cost, keep=warm)
    if ctx.options.probing and int((mip.col_upper > 0.5).sum()) <= PROBE_MAX_COLUMNS:
        # more columns fixed, each by an LP with it forced (exact: see probe_fixing)
        probed = probe_fixing(mip, ctx.cost, keep=warm, time_limit_s=ctx.budget.share(PROBE_SHARE))
        mip = probed.model
        ctx.raise_bound(float(math.ceil(probed.bound - 1e-6)), "LP probing",
                        "the incumbent meets the LP probing bound")
    return mip, warm


def _mip_solver(ctx: SolveContext, solver: Backend, mip: MilpModel,
                warm: np.ndarray | None) -> None:
    """HiGHS or CBC on ``mip`` from the warm start, for the time left less what is kept back;
    its schedule is decoded and verified, its dual bound rounded up and offered."""
    options = ctx.options
    seconds = ctx.budget.for_solver()
    if options.mip_time_limit_s is not None:
        seconds = min(options.mip_time_limit_s, math.inf if seconds is None else seconds)
    if options.mip_max_nodes is None:
        raw = solver.solve(mip, time_limit_s=seconds, mip_rel_gap=options.mip_rel_gap,
                           warm_start=warm, threads=options.threads, seed=options.seed)
    else:   # HiGHS only (checked by solve())
        raw = cast("HighsBackend", solver).solve(
            mip, time_limit_s=seconds, mip_rel_gap=options.mip_rel_gap, warm_start=warm,
            threads=options.threads, seed=options.seed, max_nodes=options.mip_max_nodes)
    ctx.words, ctx.failed = raw.backend_status, raw.failed
    if raw.infeasible:
        raise KvoptError(f"{options.backend} calls the model infeasible, but MC-SF's schedule "
                         "is feasible")
    if raw.col_value is not None:
        schedule = decode(ctx.instance, mip, raw.col_value)
        cost = verify(ctx.instance, schedule).total_latency
        if raw.objective is None or abs(raw.objective - cost) > 1e-6 * max(1.0, cost):
            raise KvoptError(f"{options.backend} objective {raw.objective} differs from the "
                             f"verified total latency {cost}")
        ctx.offer(schedule, cost)
    if raw.bound is not None:
        ctx.raise_bound(float(math.ceil(raw.bound - 1e-6)), options.backend)
    if raw.proven and options.mip_rel_gap == 0 and raw.col_value is not None:
        # the solver proved its incumbent optimal (integral objective, absolute gap < 1)
        ctx.raise_bound(ctx.cost, options.backend)


def _deadline_lp(ctx: SolveContext) -> None:
    """With ``deadline_time_limit_s`` and no proof yet: the certified LP with deadline cuts
    (:class:`~kvopt.hindsight.bounds.deadline.DeadlineCuts`) on the windows of the best
    schedule, which is a witness, for the seconds kept back (what is left, with a limit)."""
    if ctx.budget.reserve_s is None or ctx.proven or ctx.model is None:
        return
    assert ctx.schedule is not None
    narrowed = build(ctx.instance, upper_bound=ctx.cost)
    late = lp_bound(ctx.instance, narrowed, kth=ctx.kth, deadline_cuts=True,
                    time_limit_s=(ctx.budget.reserve_s if ctx.options.time_limit_s is None
                                  else ctx.budget.remaining()),
                    cut_rounds=LP_MAX_CUT_ROUNDS,
                    witnesses=[ctx.schedule.final_starts() + ctx.instance.output])
    if late is not None:
        ctx.raise_bound(late.value, late.source)


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
    interval_if_too_large: bool = False,
    mip_max_nodes: int | None = None,
    mip_time_limit_s: float | None = None,
    lp_cut_rounds: int = HEADROOM_CUT_ROUNDS,
) -> SolveResult:
    """Solve the hindsight integer program of ``specs/kv-scheduling.md`` section 3.

    MC-SF's schedule and the best of a few priority lists
    (:func:`kvopt.hindsight.incumbents.best_priority_list`) are verified first; the better one
    narrows the start windows and warm-starts the solver, so the returned schedule is never
    worse than MC-SF's. Every schedule passes :func:`~kvopt.verify.verify`, and a solver
    objective that differs from the verified one raises. ``OPTIMAL`` only when
    ``ceil(bound) >= objective`` (the objective is integral). The stages are listed in the
    module's docstring.

    Parameters
    ----------
    backend
        ``"highs"`` or ``"cbc"`` (the integer program), ``"search"`` (the exact
        combinatorial search of :mod:`kvopt.hindsight.exact.search`, which shares nothing with
        it), or ``"cpsat"`` (OR-Tools CP-SAT on the interval model of
        :mod:`kvopt.hindsight.exact.cpsat`).
    time_limit_s
        Wall-clock limit for the whole call (``None``: none). HiGHS checks it only between
        its root cut rounds: on models of millions of nonzeros the call can end 1-4 s late.
    mip_rel_gap
        Relative gap at which the solver may stop (0: prove optimality).
    local_search_evaluations
        Before the solver, improve MC-SF's schedule by this many local-search moves
        (:func:`kvopt.hindsight.incumbents.local_search`, seeded by ``seed``); the better
        schedule is the warm start and narrows the start windows.
    serial_moves
        Then this many moves of :func:`kvopt.hindsight.incumbents.serial_search` (priority
        lists placed serially, so rounds can be held for later arrivals; seeded by ``seed``),
        up to :data:`~kvopt.hindsight.incumbents.SERIAL_MAX_REQUESTS` requests and, with
        ``time_limit_s``, for at most :data:`SERIAL_SHARE` of it; a better schedule replaces
        the incumbent.
    lp_first
        Certify the LP-relaxation bound (:func:`kvopt.hindsight.bounds.priced_lp.lp_bound`)
        before the MIP, so a time-limited solve reports at least that bound. With
        ``time_limit_s`` the LP gets :data:`LP_SHARE` of what is left and up to
        :data:`LP_MAX_CUT_ROUNDS` cut rounds (it stops earlier once no cut is violated); the
        solver gets the rest. CP-SAT instead runs *beside* the LP, in a thread (it works in
        C++ without Python's lock, so on a second core), both until the time limit: the LP
        stops when CP-SAT proves its schedule optimal, and CP-SAT is stopped if the LP proves
        the incumbent optimal. Measured on three paper-size instances, 60 s, ``threads=2``:
        gaps 12.4%, 12.5%, 15.7% one after the other, 12.3%, 11.7%, 15.2% beside (CP-SAT's two
        workers improve the schedules by 1-4%).
    kth_time_limit_s
        Seconds (at most half of what is left of ``time_limit_s``) for CP-SAT's bounds on each
        k-th completion (:func:`kvopt.hindsight.bounds.deadline.kth_completion_bounds`, needs
        OR-Tools): their sum is a bound, and the certified LP takes them as completion caps
        once its own cuts are done. They raise the reported bound of an unproven solve; the
        solver itself does not use them (measured: no faster).
    probing
        Before HiGHS or CBC, fix more columns by LP probing
        (:func:`kvopt.hindsight.probing.probe_fixing`) on restricted programs of at most
        :data:`PROBE_MAX_COLUMNS` free columns, for at most :data:`PROBE_SHARE` of what is left
        of ``time_limit_s``. When it leaves some request no column of a better schedule, the
        incumbent is proven optimal without the solver.
    deadline_time_limit_s
        Seconds (at most half of what is left of ``time_limit_s`` after the LP) kept back from
        the solver for the certified LP with deadline cuts
        (:class:`kvopt.hindsight.bounds.deadline.DeadlineCuts`, needs OR-Tools), run after the
        solver if it proved nothing, on windows narrowed by the best schedule found, which
        also serves as a witness.
    interval_if_too_large
        When the integer program of HiGHS or CBC would exceed
        :data:`~kvopt.hindsight.milp.formulation.MAX_NONZEROS`, skip it (and the LP, built on
        it) and return the best schedule found and the certified bound (``feasible``, unless
        they meet), ``backend_status`` starting with :data:`TOO_LARGE`; otherwise (the default)
        raise :class:`~kvopt.hindsight.milp.formulation.ModelTooLargeError`.
    mip_max_nodes
        HiGHS only: stop its branch-and-bound after this many nodes (``None``: no limit; 0:
        no LP probing and no solver, so the result is the incumbent stages' schedule and the
        certified LP's bound).
        Without ``time_limit_s`` and with one thread, every stage is then limited by counts
        (moves, cut rounds, nodes), so the result is the same on every run and machine.
    mip_time_limit_s
        HiGHS or CBC: a wall-clock limit on the solver stage alone (with ``time_limit_s``, the
        smaller one), e.g. a safety limit beside ``mip_max_nodes``; when it binds,
        ``backend_status`` says so (HiGHS: ``Time limit reached``) and the result depends on
        the machine's speed.
    lp_cut_rounds
        Without ``time_limit_s``: the certified LP's rounds of headroom cuts (fewer: a weaker
        bound, sooner). With a time limit the LP's own limit applies.

    Raises
    ------
    SolveInterrupted
        On Ctrl-C (a ``KeyboardInterrupt``), holding the best schedule and bound so far.
    """
    options = SolveOptions(backend, time_limit_s, mip_rel_gap, threads, seed, lp_first,
                           local_search_evaluations, serial_moves, kth_time_limit_s,
                           deadline_time_limit_s, probing, interval_if_too_large,
                           mip_max_nodes, mip_time_limit_s, lp_cut_rounds)
    if lp_cut_rounds < 0:
        raise KvoptError(f"lp_cut_rounds must be at least 0, got {lp_cut_rounds}")
    if mip_max_nodes is not None and backend != "highs":
        raise KvoptError(f"mip_max_nodes is a HiGHS option, not one of {backend!r}")
    budget = Budget(time_limit_s)
    if deadline_time_limit_s is not None and not cpsat_available():
        raise KvoptError("deadline cuts need OR-Tools: pip install 'kvopt[cpsat]'")
    loaded = get_backend(backend)
    exact = loaded if is_instance_backend(loaded) else None
    if exact is not None:
        exact.check(instance)   # refuse a model the backend cannot hold before any work
    if instance.num_requests == 0:
        empty = Schedule.from_starts([], np.zeros(0, np.int64))
        return SolveResult(SolveStatus.OPTIMAL, 0.0, 0.0, empty, backend,
                           "empty instance", budget.elapsed(), "trivial")
    ctx = SolveContext(instance, options, budget, exact,
                       None if exact is not None else cast(Backend, loaded))
    try:
        with noting_ctrl_c(ctx.interrupt):
            _stages(ctx)
    except KeyboardInterrupt:
        raise SolveInterrupted(ctx.partial()) from None
    return ctx.result()


def _stages(ctx: SolveContext) -> None:
    """The stages of the module's docstring, in order, with a look at ``ctx.interrupt`` after
    each (:func:`~kvopt.hindsight.interrupt.noting_ctrl_c`)."""

    def go_on() -> bool:
        if ctx.interrupt.is_set():
            raise KeyboardInterrupt
        return True

    _cheap_bounds(ctx)
    _incumbent(ctx)
    _kth_bounds(ctx)
    _integer_program(ctx)
    found = _lp(ctx)
    if go_on() and ctx.exact is not None and (found is not None or not ctx.proven):
        _instance_solver(ctx, ctx.exact, found)
    elif (ctx.mip is not None and ctx.model is not None and not ctx.proven
          and ctx.options.mip_max_nodes != 0):
        mip, warm = _fixing(ctx)
        if go_on() and not ctx.proven:
            _mip_solver(ctx, ctx.mip, mip, warm)
    go_on()
    _deadline_lp(ctx)
    go_on()
