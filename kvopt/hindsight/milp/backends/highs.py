"""HiGHS through highspy directly (no PuLP on this path)."""

from __future__ import annotations

import highspy
import numpy as np

from kvopt.hindsight.interrupt import CTRL_C
from kvopt.hindsight.milp.model import MilpModel, RawSolve

__all__ = ["HEURISTICS_MAX_FREE_COLUMNS", "PRESOLVE_MAX_NONZEROS", "HighsBackend", "to_highs"]

PRESOLVE_MAX_NONZEROS = 200_000
HEURISTICS_MAX_FREE_COLUMNS = 5_000

# HiGHS's primal heuristics that run whatever ``mip_heuristic_effort`` says
_HEURISTICS = ("mip_heuristic_run_feasibility_jump", "mip_heuristic_run_root_reduced_cost",
               "mip_heuristic_run_rins", "mip_heuristic_run_rens")


def to_highs(model: MilpModel) -> highspy.Highs:
    """A ``Highs`` object holding ``model`` (row-wise matrix), output off."""
    lp = highspy.HighsLp()
    lp.num_col_ = model.num_cols
    lp.num_row_ = model.num_rows
    lp.offset_ = model.offset
    lp.col_cost_ = model.cost
    lp.col_lower_ = model.col_lower
    lp.col_upper_ = model.col_upper
    lp.row_lower_ = np.where(np.isinf(model.row_lower), -highspy.kHighsInf, model.row_lower)
    lp.row_upper_ = np.where(np.isinf(model.row_upper), highspy.kHighsInf, model.row_upper)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = model.row_ptr.astype(np.int32)
    lp.a_matrix_.index_ = model.col_idx.astype(np.int32)
    lp.a_matrix_.value_ = model.values
    lp.integrality_ = [highspy.HighsVarType.kInteger if f else highspy.HighsVarType.kContinuous
                       for f in model.integrality]
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.passModel(lp)
    return h


class HighsBackend:
    name = "highs"

    def solve(self, model: MilpModel, *, time_limit_s: float | None, mip_rel_gap: float,
              warm_start: np.ndarray | None, threads: int, seed: int,
              max_nodes: int | None = None) -> RawSolve:
        """Solve with HiGHS. ``max_nodes`` (``None``: none) stops the branch-and-bound after
        that many nodes (HiGHS's ``mip_max_nodes``): with one thread an effort limit that gives
        the same result on every run and machine, unlike ``time_limit_s``."""
        h = to_highs(model)
        if time_limit_s is not None:
            h.setOptionValue("time_limit", float(time_limit_s))
        if max_nodes is not None:
            h.setOptionValue("mip_max_nodes", int(max_nodes))
        h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
        # the objective is integral: a gap below 1 already proves the incumbent optimal
        h.setOptionValue("mip_abs_gap", 1.0 - 1e-6 if mip_rel_gap == 0 else 1e-6)
        h.setOptionValue("threads", int(threads))
        if threads > 1:
            # HiGHS's parallel tree search runs only with "parallel" on ("choose", the default,
            # keeps one search worker whatever the thread count). Its path does not depend on
            # timing (the same nodes and iterations on a rerun). Measured on the restricted
            # n = 10-12 benchmark programs, two threads: 10 of 10 proven at n = 10 within 20 s
            # (one thread: 9) and 5 of 10 at n = 12 (4); 322 in 10.1 s instead of 12.4 s
            h.setOptionValue("parallel", "on")
        h.setOptionValue("random_seed", int(seed))
        # no root restart: kvopt has already fixed columns by reduced cost, and a restart
        # repeats presolve and the root cut loop on what HiGHS fixes after that. Measured on
        # the restricted n = 10 models (one thread): proofs in 1.14 s instead of 4.46 s,
        # 0.29 s instead of 0.63 s, 1.54 s instead of 3.66 s; faster on 8 of the 8 proven
        # (benchmarks and figures in docs/exact-solving.md)
        h.setOptionValue("mip_allow_restart", False)
        if int((model.col_upper > model.col_lower).sum()) <= HEURISTICS_MAX_FREE_COLUMNS:
            # on small programs (kvopt's restricted ones at n = 10-12) the serial search's
            # incumbent is already at or near the optimum, and the time is in the proof. The
            # heuristics below run even with mip_heuristic_effort 0. Off, on the 17 restricted
            # n = 10-12 benchmark programs (one thread, 20 s): 261 in 0.86 s instead of 1.55 s,
            # 563 in 12.9 s instead of 17.3 s, 455 in 12.9 s instead of 17.3 s; faster on the
            # 9 proven that take over 0.15 s, and the bound after 20 s higher on the 5 open
            for name in _HEURISTICS:
                h.setOptionValue(name, False)
        if model.num_nonzeros > PRESOLVE_MAX_NONZEROS:
            # on paper-size models presolve reduces nothing, ignores the time limit (10-20 s at
            # a 10 s limit, measured) and then leaves no root bound at all
            h.setOptionValue("presolve", "off")
        if warm_start is not None:
            sol = highspy.HighsSolution()
            sol.col_value = list(map(float, warm_start))
            h.setSolution(sol)
        # HiGHS keeps one global thread pool per process, sized by the first run; a later run
        # asking for another size fails ("global scheduler has already been initialized"), so
        # the pool is rebuilt for this run
        highspy.Highs.resetGlobalScheduler(True)
        # Ctrl-C during solve() (kvopt.hindsight.interrupt): stop at HiGHS's next check
        h.cbMipInterrupt += lambda event: event.interrupt() if CTRL_C.is_set() else None
        run_status = h.run()
        status = h.getModelStatus()
        info = h.getInfo()
        words = h.modelStatusToString(status)
        has_solution = info.primal_solution_status == 2  # kSolutionStatusFeasible
        col_value = np.array(h.getSolution().col_value) if has_solution else None
        dual_bound = float(info.mip_dual_bound)
        bound = dual_bound if np.isfinite(dual_bound) else None
        return RawSolve(
            col_value=col_value,
            objective=float(info.objective_function_value) if has_solution else None,
            bound=bound,
            proven=status == highspy.HighsModelStatus.kOptimal,
            infeasible=status == highspy.HighsModelStatus.kInfeasible,
            backend_status=words,
            failed=run_status == highspy.HighsStatus.kError
            or status == highspy.HighsModelStatus.kNotset,
        )
