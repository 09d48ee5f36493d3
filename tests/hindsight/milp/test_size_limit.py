"""Models too large to build are refused with one line, and the bounds that scale still work."""

from __future__ import annotations

import json

import pytest
from conftest import make_instance
from typer.testing import CliRunner

from kvopt.cli import app
from kvopt.hindsight.bounds import best_bound
from kvopt.hindsight.bounds.combinatorial import volume_bound
from kvopt.hindsight.bounds.priced_lp import lp_bound
from kvopt.hindsight.milp import formulation
from kvopt.hindsight.milp.formulation import ModelTooLargeError, build, count_nonzeros
from kvopt.hindsight.solve import solve
from kvopt.read import write_instance

ROWS = [(0, 2, 3), (0, 2, 3), (1, 1, 4), (2, 3, 2)]
SUBOPTIMAL = [(1, 1, 5), (2, 1, 3)]   # tests/data/mcsf_suboptimal.json: MC-SF 12, optimum 10


def test_count_nonzeros_covers_the_built_model():
    """One assignment entry per column plus o_i capacity entries; dropping rows only removes."""
    inst = make_instance(ROWS, memory=6)
    model = build(inst, upper_bound=30, symmetry=False)
    ncols = model.num_cols
    assert count_nonzeros(inst, 30) == ncols + int(inst.output[model.col_req].sum())
    assert model.num_nonzeros <= count_nonzeros(inst, 30)


def test_too_large_is_refused_and_bounds_fall_back(monkeypatch, tmp_path):
    # no cheap bound proves it, once the serial search is off (it finds the optimum)
    inst = make_instance(SUBOPTIMAL, memory=7, name="big")
    monkeypatch.setattr(formulation, "MAX_NONZEROS", 10)
    with pytest.raises(ModelTooLargeError, match="nonzeros"):
        solve(inst, "highs", serial_moves=0)
    assert lp_bound(inst, upper_bound=12) is None
    assert best_bound(inst, upper_bound=12).value >= volume_bound(inst).value
    result = solve(inst, "search")                 # needs no model: the LP is skipped
    assert result.objective == result.bound == 10
    path = tmp_path / "big.json"
    write_instance(path, inst)
    runner = CliRunner()
    res = runner.invoke(app, ["solve", str(path), "--serial-moves", "0"])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1 and "nonzeros" in res.stderr
    res = runner.invoke(app, ["bound", str(path), "--json"])
    assert res.exit_code == 0, res.stderr
    assert not json.loads(res.stdout)["source"].startswith("LP")


def test_no_search_when_mcsf_meets_a_cheap_bound(monkeypatch):
    """A long horizon that MC-SF already schedules optimally (every request starts on arrival,
    so the sum of outputs is met): ``solve`` proves it from the bound and runs no list search,
    whose cost grows with the horizon (a million rounds here)."""
    import kvopt.hindsight.solve as solve_module

    def refuse(*args, **kwargs):
        raise AssertionError("no search should run once MC-SF meets a bound")

    for name in ("best_priority_list", "local_search", "serial_search"):
        monkeypatch.setattr(solve_module, name, refuse)
    inst = make_instance([(0, 1, 1_000_000), (5, 3, 7)], memory=2_000_000)
    result = solve(inst, "highs", local_search_evaluations=10)
    assert result.status.value == "optimal" and result.objective == result.bound == 1_000_007
