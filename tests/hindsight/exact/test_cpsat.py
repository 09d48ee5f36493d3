"""The CP-SAT backend: loads beside highspy, and proves the hand-solved optimum."""

from __future__ import annotations

import pytest
from conftest import make_instance

pytest.importorskip("ortools")

from pathlib import Path

from kvopt.hindsight.exact.cpsat import cpsat_solve
from kvopt.hindsight.solve import solve
from kvopt.read import read_instance
from kvopt.result import SolveStatus
from kvopt.schedule import Schedule
from kvopt.verify import verify

DEMO = (Path(__file__).resolve().parents[3] / "kvopt" / "data" / "instances" / "demo"
        / "paper-zero-n10.json")


def test_ortools_and_highspy_share_one_process():
    """Newer OR-Tools wheels bundle a HiGHS whose symbols clash with highspy's (ImportError in
    whichever loads second); the pinned one does not."""
    import highspy
    from ortools.sat.python import cp_model

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.run()
    model = cp_model.CpModel()
    x = model.new_int_var(0, 3, "x")
    model.minimize(x)
    assert cp_model.CpSolver().solve(model) == cp_model.OPTIMAL


def test_cpsat_proves_a_forced_wait():
    # M = 6, three requests (0, s=2, o=2); started at k, one holds 3 in round k+1, 4 in k+2.
    # Two starts at the same round hold 4 + 4 > 6 in their last round, one round apart
    # 4 + 3 > 6: no two may overlap at all, so the optimum is serial, latencies 2 + 4 + 6 = 12.
    inst = make_instance([(0, 2, 2), (0, 2, 2), (0, 2, 2)], memory=6)
    found = cpsat_solve(inst, incumbent=[0, 2, 4], upper_bound=12)
    assert found.proven and found.objective == found.bound == 12
    assert verify(inst, Schedule.from_starts(found.starts, inst.output)).total_latency == 12


def test_cpsat_beats_mcsf_on_the_demo_instance():
    """The shipped demo: MC-SF 156, optimum 154, proven by CP-SAT itself (not by a bound)."""
    inst = read_instance(DEMO)
    result = solve(inst, "cpsat", time_limit_s=60)
    assert result.status is SolveStatus.OPTIMAL and result.objective == 154
    assert result.backend_status.startswith("cpsat: proven")


def test_a_stop_event_ends_the_search():
    """An n = 12 benchmark instance CP-SAT needs about 20 s to prove; with the stop event set
    (even before the search starts) it returns unproven, its bound below the hint's cost."""
    import threading

    import numpy as np

    from kvopt.generate import synthetic_set
    from kvopt.hindsight.incumbents import warm_start_schedule

    inst = synthetic_set("zero", 20260113, 4, num_requests=12)[3]
    hint = warm_start_schedule(inst)
    cost = verify(inst, hint).total_latency
    stop = threading.Event()
    stop.set()
    found = cpsat_solve(inst, incumbent=np.asarray(hint.final_starts()).tolist(),
                        upper_bound=cost, time_limit_s=120, stop=stop)
    assert not found.proven and found.bound < cost


def test_cpsat_runs_beside_the_lp_and_stops_once_the_lp_proves(monkeypatch):
    """solve starts the solver before the LP, hands the LP a stop test (false while the solver
    runs), and sets the solver's stop event once the LP bound reaches the incumbent. Here
    the solver waits for that event and the LP bound is faked to the incumbent's cost."""
    from kvopt.hindsight import solve as solve_module
    from kvopt.hindsight.bounds.combinatorial import Bound
    from kvopt.hindsight.exact.search import ExactResult
    from kvopt.hindsight.milp.backends import CpSatBackend

    inst = read_instance(DEMO)
    seen = {}

    def waiting_solver(self, instance, *, stop, **kw):
        seen["stopped"] = stop.wait(60)
        return ExactResult(False, None, None, 0, 0)

    def fake_lp(instance, model, **kw):
        seen["solver running"] = not kw["stop"]()
        return Bound(156, "fake LP", 0.0)   # MC-SF's cost, the incumbent here

    monkeypatch.setattr(CpSatBackend, "solve_instance", waiting_solver)
    monkeypatch.setattr(solve_module, "lp_bound", fake_lp)
    monkeypatch.setattr(solve_module, "best_priority_list",
                        lambda instance: (None, 10**9, None))   # keep MC-SF as the incumbent
    result = solve(inst, "cpsat", time_limit_s=120, serial_moves=0)
    assert seen == {"solver running": True, "stopped": True}
    assert result.status is SolveStatus.OPTIMAL and result.objective == result.bound == 156


def test_an_lp_error_stops_the_solver_beside_it(monkeypatch):
    """If the LP fails (or Ctrl-C arrives) while CP-SAT runs beside it, the error comes
    through and CP-SAT is told to stop, not left running."""
    import time

    from kvopt.hindsight import solve as solve_module
    from kvopt.hindsight.exact.search import ExactResult
    from kvopt.hindsight.milp.backends import CpSatBackend

    seen = {}

    def waiting_solver(self, instance, *, stop, **kw):
        seen["stopped"] = stop.wait(60)
        return ExactResult(False, None, None, 0, 0)

    def failing_lp(instance, model, **kw):
        raise RuntimeError("LP failed")

    monkeypatch.setattr(CpSatBackend, "solve_instance", waiting_solver)
    monkeypatch.setattr(solve_module, "lp_bound", failing_lp)
    with pytest.raises(RuntimeError, match="LP failed"):
        solve(read_instance(DEMO), "cpsat", time_limit_s=120)
    for _ in range(100):
        if "stopped" in seen:
            break
        time.sleep(0.05)
    assert seen == {"stopped": True}


def test_cpsat_refuses_a_model_too_large(make_instance, monkeypatch, tmp_path):
    """One interval per output token: a trace-sized instance gets a one-line error (exit 2)
    before any work, not an out-of-memory machine."""
    from typer.testing import CliRunner

    from kvopt import cli
    from kvopt.exceptions import KvoptError
    from kvopt.hindsight.exact import cpsat
    from kvopt.read import write_instance

    inst = make_instance([(0, 1, 9)] * 3, memory=30, name="big")
    monkeypatch.setattr(cpsat, "MAX_INTERVALS", 20)
    with pytest.raises(KvoptError, match="too many for the cpsat backend"):
        solve(inst, "cpsat")
    path = tmp_path / "big.json"
    write_instance(path, inst)
    res = CliRunner().invoke(cli.app, ["solve", str(path), "--backend", "cpsat"])
    assert res.exit_code == 2
    assert res.stderr.strip().count("\n") == 0 and "too many for the cpsat backend" in res.stderr
