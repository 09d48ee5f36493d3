r"""The certified LP relaxation, grown by pricing and strengthened by cut rounds:
:func:`lp_bound`.

The LP over every start column of :func:`kvopt.hindsight.milp.formulation.build` is large; it
starts from a subset of the columns and adds those of negative reduced cost (:class:`_PricedLp`).
Every solve's dual vector is certified on the whole model
(:mod:`kvopt.hindsight.bounds.lp_certificate`), so the subset never makes a bound invalid, and
the cut families of :mod:`kvopt.hindsight.bounds.cuts` and :mod:`kvopt.hindsight.bounds.deadline`
join round by round.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from kvopt.hindsight.bounds.combinatorial import Bound
from kvopt.hindsight.bounds.cuts import (
    conflict_clique_cuts,
    core_clique_rows,
    cut_index,
    headroom_cuts,
)
from kvopt.hindsight.bounds.deadline import DEADLINE_TRIGGER, DeadlineCuts, completion_cap_rows
from kvopt.hindsight.bounds.lp_certificate import (
    LpCertificate,
    Row,
    certified_dual_bound,
    lagrangian_bound,
    with_rows,
)
from kvopt.hindsight.milp.formulation import ModelTooLargeError, build
from kvopt.hindsight.milp.model import MilpModel
from kvopt.instance import Instance

__all__ = ["CUT_MAX_ROWS", "CUT_PURGE_SOLVES", "HEADROOM_CUT_ROUNDS", "PRICING_MAX_COLUMNS",
           "flatten_rows", "lp_bound", "row_values"]


#: separation rounds of :func:`headroom_cuts` in :func:`lp_bound` (0: the plain LP)
HEADROOM_CUT_ROUNDS = 15


def flatten_rows(rows: list[Row]):
    """``rows`` (columns, coefficients, upper side) flattened, for :func:`row_values`."""
    if not rows:
        return None
    lengths = np.array([len(c) for c, _, _ in rows])
    return (np.repeat(np.arange(len(rows)), lengths), np.concatenate([c for c, _, _ in rows]),
            np.concatenate([v for _, v, _ in rows]))


def row_values(flat, x: np.ndarray, num_rows: int) -> np.ndarray:
    """The left sides of the rows of :func:`flatten_rows` at the point ``x``."""
    row, cols, vals = flat
    return np.bincount(row, weights=vals * x[cols], minlength=num_rows)


#: pricing adds at most this many columns per LP solve (the most negative reduced costs)
PRICING_MAX_COLUMNS = 5_000


#: a cut row slack (zero dual) in this many LP solves in a row leaves the LP.
#: Measured with 60 s of LP at the paper's sizes (five instances, two at a time): the rows
#: never purged grow to thousands and each re-solve slows; purging after 1, 3 or 6 solves
#: gives about the same, 0.1-1.5 points of gap above never (7,914 -> 7,995 at n = 50,
#: 16,548 -> 16,904 at n = 76). Dropping columns of large reduced cost as well was worse.
CUT_PURGE_SOLVES = 3


#: at most this many of the separated clique and headroom rows join the LP per cut round, the
#: most *effective* first (violation over the row's Euclidean norm; deadline cuts always join).
#: Measured with 60 s of LP on six paper-size instances: the first round at n = 76 separates
#: 1,486 rows with 2.0 million entries (more than the LP's own), and its re-solve takes 19.7 s
#: of simplex; with 300 a round the bound is equal or higher on all six at 10 s (7,943 ->
#: 8,228 at n = 49, 7,225 -> 7,341 at n = 50, 5,777 -> 5,883 at n = 44) and on five at 60 s
#: (17,145 -> 17,468 at n = 76; 9,438 -> 9,418 at n = 49). The 300 most violated, not
#: normalised, were lower at 30 s (15,152 and 16,198 against 16,258 at n = 76 for 100 and 300).
CUT_MAX_ROWS = 300


def _most_effective(rows: list[Row], x: np.ndarray,
                    limit: int) -> np.ndarray:
    """The indices (in order) of the ``limit`` rows of largest efficacy at ``x``: violation
    ``a x - b`` over ``||a||``; all of them if there are no more than ``limit``."""
    if len(rows) <= limit:
        return np.arange(len(rows))
    flat = flatten_rows(rows)
    violation = row_values(flat, x, len(rows)) - np.array([upper for _, _, upper in rows])
    norm = np.sqrt(np.bincount(flat[0], weights=flat[2] ** 2, minlength=len(rows)))
    efficacy = violation / np.maximum(norm, 1e-12)
    return np.sort(np.argsort(-efficacy, kind="stable")[:limit])


def _initial_columns(instance: Instance, model: MilpModel) -> np.ndarray:
    """The columns the priced LP starts from: each request's starts up to ``max o`` rounds after
    its arrival, and the starts of a serial schedule (in arrival order, each request after the
    previous one completes), which fits alone in every round, so the restricted LP has a
    feasible point whenever those starts lie in the model's windows."""
    order = np.argsort(instance.arrival, kind="stable")
    serial = np.zeros(instance.num_requests, dtype=np.int64)
    clock = 0
    for i in order.tolist():
        serial[i] = max(clock, int(instance.arrival[i]))
        clock = serial[i] + int(instance.output[i])
    wait = model.col_start - instance.arrival[model.col_req]
    early = wait <= int(instance.output.max(initial=0))
    return np.flatnonzero(early | (model.col_start == serial[model.col_req]))


class _PricedLp:
    """The LP relaxation of ``model`` plus cut rows, over a subset of its columns that grows by
    pricing (``initial=None``: all columns from the start).

    Rows are kept in the whole model's column space (``rows``) and handed to HiGHS restricted
    to the active columns; a column entering later brings its entries in every row. Each
    solve's dual vector is certified on the *whole* model with these rows
    (:func:`certified_dual_bound`: the absent columns' negative reduced costs are charged), so
    the bound is valid whatever columns are active; the columns with negative reduced cost are
    the ones to add next (none: the restricted optimum is the whole LP's optimum)."""

    def __init__(self, model: MilpModel, initial: np.ndarray | None) -> None:
        import highspy

        self.model = model
        self.rows: list[Row] = []
        self.slack_rounds = np.zeros(0, dtype=np.int64)   # per cut row: solves slack in a row
        self.active = np.zeros(model.num_cols, dtype=bool)
        self.position = np.full(model.num_cols, -1, dtype=np.int64)
        self.columns: list[int] = []
        self.x = np.zeros(model.num_cols)
        self.dual = np.zeros(0)   # the last solve's row duals (model rows, then cut rows)
        row_of = np.repeat(np.arange(model.num_rows), np.diff(model.row_ptr))
        by_col = np.argsort(model.col_idx, kind="stable")
        self.csc_row, self.csc_val = row_of[by_col], model.values[by_col]
        self.csc_ptr = np.concatenate([[0], np.cumsum(np.bincount(model.col_idx,
                                                                  minlength=model.num_cols))])
        self.highs = highspy.Highs()
        self.highs.setOptionValue("output_flag", False)
        self.highs.setOptionValue("solver", "simplex")
        inf = highspy.kHighsInf
        self.highs.addRows(model.num_rows,
                           np.where(np.isinf(model.row_lower), -inf, model.row_lower),
                           np.where(np.isinf(model.row_upper), inf, model.row_upper), 0,
                           np.zeros(model.num_rows, dtype=np.int32), np.zeros(0, dtype=np.int32),
                           np.zeros(0))
        self.add_columns(np.arange(model.num_cols) if initial is None else initial)

    def add_columns(self, cols: np.ndarray) -> None:
        cols = np.unique(np.asarray(cols, dtype=np.int64))
        cols = cols[~self.active[cols]]
        if len(cols) == 0:
            return
        counts = self.csc_ptr[cols + 1] - self.csc_ptr[cols]
        take = np.repeat(self.csc_ptr[cols], counts) + (
            np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
        entry_col = np.repeat(np.arange(len(cols)), counts)
        entry_row, entry_val = self.csc_row[take], self.csc_val[take]
        flat = flatten_rows(self.rows)
        if flat is not None:
            row_id, cut_cols, cut_vals = flat
            local = np.full(self.model.num_cols, -1, dtype=np.int64)
            local[cols] = np.arange(len(cols))
            hit = local[cut_cols] >= 0
            entry_col = np.concatenate([entry_col, local[cut_cols[hit]]])
            entry_row = np.concatenate([entry_row, self.model.num_rows + row_id[hit]])
            entry_val = np.concatenate([entry_val, cut_vals[hit]])
        order = np.lexsort((entry_row, entry_col))
        starts = np.searchsorted(entry_col[order], np.arange(len(cols)))
        m = self.model
        self.highs.addCols(len(cols), m.cost[cols], m.col_lower[cols], m.col_upper[cols],
                           len(order), starts.astype(np.int32),
                           entry_row[order].astype(np.int32), entry_val[order])
        self.position[cols] = len(self.columns) + np.arange(len(cols))
        self.columns.extend(cols.tolist())
        self.active[cols] = True

    def add_rows(self, rows: list[Row]) -> None:
        import highspy

        if rows:
            on = [self.active[cols] for cols, _, _ in rows]
            kept = [(self.position[cols[o]], vals[o])
                    for (cols, vals, _), o in zip(rows, on, strict=True)]
            counts = np.array([len(idx) for idx, _ in kept], dtype=np.int64)
            self.highs.addRows(len(rows), np.full(len(rows), -highspy.kHighsInf),
                               np.array([upper for _, _, upper in rows], dtype=np.float64),
                               int(counts.sum()),
                               np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int32),
                               np.concatenate([idx for idx, _ in kept]).astype(np.int32),
                               np.concatenate([val for _, val in kept]).astype(np.float64))
        self.rows.extend(rows)
        self.slack_rounds = np.concatenate([self.slack_rounds, np.zeros(len(rows), np.int64)])

    def purge(self, min_rounds: int) -> int:
        """Drop the cut rows that were slack with a zero dual in each of the last
        ``min_rounds`` solves; returns how many. Any subset of valid rows gives a valid LP bound,
        and a dropped row that is violated again is separated again."""
        drop = np.flatnonzero(self.slack_rounds >= min_rounds)
        if len(drop) == 0:
            return 0
        self.highs.deleteRows(len(drop), (self.model.num_rows + drop).astype(np.int32))
        keep = np.ones(len(self.rows), dtype=bool)
        keep[drop] = False
        self.rows = [row for row, k in zip(self.rows, keep.tolist(), strict=False) if k]
        self.slack_rounds = self.slack_rounds[keep]
        return len(drop)

    def solve(self, time_left_s: float | None) -> tuple[float, np.ndarray] | None:
        """Solve; ``(certified bound, columns to add)``, or ``None`` if out of time or no
        dual vector came back. A restricted LP without a feasible point gets every column."""
        import highspy

        if time_left_s is not None:
            if time_left_s <= 0:
                return None
            # HiGHS measures its time limit on the clock of all this object's runs together
            self.highs.setOptionValue("time_limit", float(time_left_s) + self.highs.getRunTime())
        self.highs.run()
        sol = self.highs.getSolution()
        # an infeasible restricted LP can still come with "valid" duals (HiGHS 1.15), whose
        # point is no LP solution: check the status first
        if self.highs.getModelStatus() == highspy.HighsModelStatus.kInfeasible:
            if self.active.all():
                return None
            self.add_columns(np.flatnonzero(~self.active))   # no feasible point yet
            return self.solve(time_left_s)
        if not sol.dual_valid:
            return None
        self.x = np.zeros(self.model.num_cols)
        self.x[self.columns] = sol.col_value
        dual = np.array(sol.row_dual)
        self.dual = dual
        full = with_rows(self.model, self.rows)
        if len(self.rows):
            first = self.model.num_rows
            slack = ((np.array(sol.row_value)[first:] < full.row_upper[first:] - 1e-6)
                     & (np.abs(dual[first:]) < 1e-9))
            self.slack_rounds = np.where(slack, self.slack_rounds + 1, 0)
        _, reduced = certified_dual_bound(full, dual, with_reduced_costs=True)
        value = lagrangian_bound(full, dual)
        entering = np.flatnonzero(~self.active & (reduced < -1e-9))
        if len(entering) > PRICING_MAX_COLUMNS:
            entering = entering[np.argsort(reduced[entering], kind="stable")[:PRICING_MAX_COLUMNS]]
        return value, entering


class _CutRounds:
    """The solves and separation rounds of :func:`lp_bound` on one :class:`_PricedLp`: every
    solve's certificate is kept if it is the best so far, and each round adds the violated cut
    rows of the families asked for."""

    def __init__(self, instance: Instance, model: MilpModel, relax: _PricedLp, *,
                 with_cuts: bool, core_cliques: bool, conflict_cliques: bool,
                 deadlines: DeadlineCuts | None, until: float | None,
                 stop: Callable[[], bool] | None) -> None:
        self.instance, self.model, self.relax = instance, model, relax
        # core cliques are many dense rows: only the violated ones join the LP, as cuts
        self.cliques = core_clique_rows(instance, model) if core_cliques and with_cuts else []
        self.clique_flat = flatten_rows(self.cliques)
        self.index = cut_index(instance, model) if with_cuts else None
        self.conflict_cliques = conflict_cliques
        self.deadlines = deadlines
        self.until = until
        self.stop = stop
        self.used = {"completion caps": 0, "core cliques": 0, "conflict cliques": 0,
                     "headroom cuts": 0, "deadline cuts": 0}
        self.best: float | None = None
        self.certificate: LpCertificate | None = None

    def solve(self) -> bool:
        """Price columns in until none has a negative reduced cost (``x`` is then the LP
        optimum of the whole model with these rows; every solve's certificate counts either
        way). ``False`` when out of time, without a dual vector, or stopped."""
        while True:
            solved = self.relax.solve(None if self.until is None
                                      else self.until - time.perf_counter())
            if solved is None:
                return False
            value, entering = solved
            if self.best is None or value > self.best:
                self.best = value
                self.certificate = LpCertificate(list(self.relax.rows), self.relax.dual)
            if self.stop is not None and self.stop():
                return False
            if len(entering) == 0:
                return True
            self.relax.add_columns(entering)

    def add(self, name: str, rows: list[Row]) -> bool:
        """Rows of family ``name`` join the LP, which is solved again; as :meth:`solve`."""
        if not rows:
            return True
        self.used[name] += len(rows)
        self.relax.add_rows(rows)
        return self.solve()

    def rounds(self, count: int, *, with_deadlines: bool) -> bool:
        """Up to ``count`` rounds of separation and re-solve, fewer once no cut is violated;
        ``False`` as :meth:`solve`."""
        for _ in range(count):
            x = self.relax.x
            violated = ([self.cliques[r] for r in np.flatnonzero(
                row_values(self.clique_flat, x, len(self.cliques)) > 1 + 1e-6)]
                if self.cliques else [])
            conflicts = (conflict_clique_cuts(self.instance, self.model, x)
                         if self.conflict_cliques else [])
            cuts = headroom_cuts(self.instance, self.model, x, index=self.index)
            late = []
            if (with_deadlines and self.deadlines is not None
                    and len(violated) + len(conflicts) + len(cuts) < DEADLINE_TRIGGER):
                late = self.deadlines.cuts(x, until=self.until)   # each costs CP-SAT: all join
            if not violated and not conflicts and not cuts and not late:
                return True
            # the most effective rows join; the others are separated again while still violated
            family = np.repeat(np.arange(3), [len(violated), len(conflicts), len(cuts)])
            separated = violated + conflicts + cuts
            keep = _most_effective(separated, x, CUT_MAX_ROWS)
            for name, count_ in zip(("core cliques", "conflict cliques", "headroom cuts"),
                                    np.bincount(family[keep], minlength=3).tolist(), strict=True):
                self.used[name] += count_
            self.used["deadline cuts"] += len(late)
            self.relax.purge(CUT_PURGE_SOLVES)
            self.relax.add_rows([separated[r] for r in keep.tolist()] + late)
            if not self.solve():
                return False
        return True

    def source(self) -> str:
        """``LP relaxation + <the families that joined> (dual-certified)``."""
        extras = [name for name, count in self.used.items() if count]
        return " + ".join(["LP relaxation", *extras]) + " (dual-certified)"


def lp_bound(instance: Instance, model: MilpModel | None = None, *,
             upper_bound: float | None = None, time_limit_s: float | None = None,
             cut_rounds: int = HEADROOM_CUT_ROUNDS,
             kth: np.ndarray | None = None, core_cliques: bool = True,
             conflict_cliques: bool = True, pricing: bool = True, with_point: bool = False,
             deadline_cuts: bool = False, witnesses: list[np.ndarray] | None = None,
             stop: Callable[[], bool] | None = None):
    r"""The LP relaxation of the hindsight integer program, strengthened by cut rows and
    certified by weak duality.

    Valid: every schedule is a 0/1 point of the integer program (whose start windows keep every
    optimal schedule, see :func:`kvopt.hindsight.windows.start_windows`) and satisfies every cut
    row below, so the LP minimum with any set of them is at most the optimum;
    :func:`~kvopt.hindsight.bounds.lp_certificate.certified_dual_bound` (here its Lagrangian
    form) is at most that LP minimum; and the objective is integral, so the bound rounds up
    (after a guard of ``1e-6`` for floating-point sums). Every solve's certificate counts: the
    largest is returned.

    The cut rows join in two stages:

    1. up to ``cut_rounds`` rounds (fewer once none is violated) of headroom cuts
       (:func:`~kvopt.hindsight.bounds.cuts.headroom_cuts`; measured: 5-7% above the plain LP
       at the paper's sizes, in 0.3-10 s), with ``core_cliques`` the violated rows of
       :func:`~kvopt.hindsight.bounds.cuts.core_clique_rows`, with ``conflict_cliques`` the
       violated cliques of :func:`~kvopt.hindsight.bounds.cuts.conflict_clique_cuts`; of the
       rows separated in a round, the :data:`CUT_MAX_ROWS` most effective join
       (:func:`_most_effective`; any subset of valid rows keeps the bound valid, and a row left
       out is separated again while violated). With ``deadline_cuts`` (needs OR-Tools) the
       violated rows of :class:`~kvopt.hindsight.bounds.deadline.DeadlineCuts` join too, in
       rounds where fewer than :data:`~kvopt.hindsight.bounds.deadline.DEADLINE_TRIGGER`
       other cuts are violated (measured at n = 50: separating them as soon as the bound
       stalls, before the other cuts are done, leaves it lower after 550 s); ``witnesses`` are
       known schedules' completion rounds, which spare CP-SAT checks;
    2. with ``kth`` (lower bounds on the sorted completion rounds,
       :func:`~kvopt.hindsight.bounds.deadline.kth_completion_bounds`), the completion caps of
       :func:`~kvopt.hindsight.bounds.deadline.completion_cap_rows`, then up to ``cut_rounds``
       more rounds as in the first stage.

    The second stage continues the LP of the first, which is the LP without ``kth``: the caps
    only add solves, so (without a time limit) they never lower the bound. Joining from the
    first solve instead, they sent the separation another way, often lower (the LP of 43 of
    174 instances at n = 8-12, by 1-9).

    With ``pricing`` the LP starts from a subset of the columns and grows by pricing
    (:class:`_PricedLp`); every certificate is taken on the whole model, so the subset never
    makes a bound invalid. ``stop`` is asked after every LP solve; ``True`` ends the run there
    (as a time limit does). Returns ``None`` if the LP solver gives no dual vector in the time
    limit, or if the model is too large to build
    (:data:`kvopt.hindsight.milp.formulation.MAX_NONZEROS`). With ``with_point`` returns
    ``(bound, x)``, ``x`` the last LP solution over all the model's columns (``None`` in place
    of the bound as above).
    """
    t0 = time.perf_counter()
    if model is None:
        try:
            model = build(instance, upper_bound=upper_bound)
        except ModelTooLargeError:
            return (None, None) if with_point else None
    relax = _PricedLp(model, _initial_columns(instance, model) if pricing else None)
    deadlines = DeadlineCuts(instance, model, witnesses) if deadline_cuts and cut_rounds else None
    run = _CutRounds(instance, model, relax, with_cuts=cut_rounds > 0, core_cliques=core_cliques,
                     conflict_cliques=conflict_cliques, deadlines=deadlines,
                     until=None if time_limit_s is None else t0 + time_limit_s, stop=stop)
    alive = run.solve() and run.rounds(cut_rounds, with_deadlines=deadlines is not None)
    if alive and kth is not None and run.add("completion caps",
                                             completion_cap_rows(instance, model, kth)):
        run.rounds(cut_rounds, with_deadlines=deadlines is not None)
    if run.best is None:
        return (None, relax.x) if with_point else None
    bound = Bound(math.ceil(run.best - 1e-6), run.source(), time.perf_counter() - t0,
                  run.certificate)
    return (bound, relax.x) if with_point else bound
