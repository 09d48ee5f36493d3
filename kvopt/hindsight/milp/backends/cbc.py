"""CBC through PuLP (pulp 3.x bundles the CBC binary).

PuLP's ``status`` says "Optimal" when CBC stops on its time limit holding an incumbent; only
``sol_status`` tells them apart, and it is what this backend reads. CBC's dual bound is not
exposed by PuLP: it is read from CBC's log ("Lower bound:", plus the objective's constant, which
PuLP leaves out of the file CBC reads), or equals the objective when CBC proved optimality;
otherwise the backend reports none.
"""

from __future__ import annotations

import decimal
import os
import re
import tempfile
import time

import numpy as np
import pulp

from kvopt.hindsight.milp.model import MilpModel, RawSolve

__all__ = ["CbcBackend", "to_pulp"]

_LOWER_BOUND = re.compile(r"^Lower bound:\s+(\S+)", re.MULTILINE)


def to_pulp(model: MilpModel, name: str = "kvopt") -> tuple[pulp.LpProblem, list[pulp.LpVariable]]:
    """A ``LpProblem`` holding ``model``."""
    prob = pulp.LpProblem(name, pulp.LpMinimize)
    names = model.col_names()
    cols = []
    for j in range(model.num_cols):
        cat = pulp.LpInteger if model.integrality[j] else pulp.LpContinuous
        lo, hi = float(model.col_lower[j]), float(model.col_upper[j])
        if cat == pulp.LpInteger and lo == 0 and hi == 1:
            cat = pulp.LpBinary
        cols.append(pulp.LpVariable(names[j], lo, hi, cat))
    prob += pulp.LpAffineExpression(
        [(cols[j], float(c)) for j, c in enumerate(model.cost) if c != 0], constant=model.offset
    ), "total_latency"
    for row_name, lo, hi, idx, val in model.rows():
        expr = pulp.LpAffineExpression([(cols[j], float(v))
                                        for j, v in zip(idx.tolist(), val.tolist(), strict=True)])
        if lo == hi:
            prob += pulp.LpConstraint(expr, pulp.LpConstraintEQ, row_name, lo)
        else:
            if np.isfinite(hi):
                prob += pulp.LpConstraint(expr, pulp.LpConstraintLE, row_name, hi)
            if np.isfinite(lo):
                prob += pulp.LpConstraint(expr, pulp.LpConstraintGE, row_name + "_lo", lo)
    return prob, cols


def _logged_bound(text: str, constant: float) -> float | None:
    """CBC's logged lower bound as a bound on the whole objective: PuLP writes the objective
    without its constant, so CBC's bound lacks it; and CBC rounds it to the digits it prints
    (``270.624`` for 270.62446), so half a unit of the last digit comes off to keep it valid."""
    try:
        logged = decimal.Decimal(text)
    except decimal.InvalidOperation:
        return None
    exponent = logged.as_tuple().exponent
    if not logged.is_finite() or not isinstance(exponent, int):
        return None
    return float(logged) - 0.5 * 10.0 ** exponent + constant


_SOL_STATUS_WORDS = {
    pulp.LpSolutionOptimal: "optimal",
    pulp.LpSolutionIntegerFeasible: "integer feasible (stopped)",
    pulp.LpSolutionNoSolutionFound: "no solution found",
    pulp.LpSolutionInfeasible: "infeasible",
    pulp.LpSolutionUnbounded: "unbounded",
}


class CbcBackend:
    name = "cbc"

    def solve(self, model: MilpModel, *, time_limit_s: float | None, mip_rel_gap: float,
              warm_start: np.ndarray | None, threads: int, seed: int) -> RawSolve:
        """Solve with CBC. CBC 2.10 can crash (segfault) when its time limit expires while it
        is still processing a MIP start; then the solve is retried once without the warm start
        in the time that is left (``solve()`` keeps the warm-start schedule as incumbent)."""
        deadline = None if time_limit_s is None else time.perf_counter() + time_limit_s
        prob, cols = to_pulp(model)
        raw = self._run(prob, cols, model, time_limit_s, mip_rel_gap, warm_start, threads, seed)
        if raw.failed and warm_start is not None:
            left = None if deadline is None else max(0.1, deadline - time.perf_counter())
            raw = self._run(prob, cols, model, left, mip_rel_gap, None, threads, seed)
        return raw

    def _run(self, prob, cols, model, time_limit_s, mip_rel_gap, warm_start, threads, seed):
        if warm_start is not None:
            for var, v in zip(cols, warm_start.tolist(), strict=False):
                var.setInitialValue(round(v))
        fd, log_path = tempfile.mkstemp(prefix="kvopt-cbc-", suffix=".log")
        os.close(fd)
        try:
            solver = pulp.PULP_CBC_CMD(
                msg=False,
                timeLimit=time_limit_s,
                gapRel=mip_rel_gap,
                # integral objective: an absolute gap below 1 proves the incumbent optimal
                gapAbs=1.0 - 1e-6 if mip_rel_gap == 0 else None,
                warmStart=warm_start is not None,
                threads=threads,
                logPath=log_path,
                options=[f"randomCbcSeed {max(1, int(seed))}"],
            )
            try:
                prob.solve(solver)
            except pulp.PulpSolverError as exc:
                return RawSolve(None, None, None, False, False, f"error: {exc}", failed=True)
            with open(log_path, encoding="utf-8", errors="replace") as fh:
                log = fh.read()
        finally:
            os.unlink(log_path)
        sol_status = prob.sol_status
        has_solution = sol_status in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible)
        col_value = np.array([v.varValue or 0.0 for v in cols]) if has_solution else None
        objective = float(pulp.value(prob.objective)) if has_solution else None
        proven = sol_status == pulp.LpSolutionOptimal
        bound = None
        if proven and objective is not None and mip_rel_gap == 0:
            bound = objective  # gapAbs < 1 on an integral objective
        elif (m := _LOWER_BOUND.search(log)) is not None:
            bound = _logged_bound(m.group(1), float(prob.objective.constant))
        words = f"{pulp.LpStatus.get(prob.status, prob.status)}; sol_status: " + \
            _SOL_STATUS_WORDS.get(sol_status, str(sol_status))
        return RawSolve(col_value, objective, bound, proven,
                        sol_status == pulp.LpSolutionInfeasible, words)
