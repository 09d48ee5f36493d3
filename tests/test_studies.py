"""studies/incumbent_study.py: the record of a warm-started plain solve, resume, the summary."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from conftest import make_instance

STUDY = Path(__file__).resolve().parents[1] / "studies" / "incumbent_study.py"


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("incumbent_study", STUDY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tasks(backend: str = "highs"):
    insts = [make_instance([(0, 2, 3), (0, 1, 1), (0, 2, 2), (0, 1, 4)], memory=7, name="tiny-0"),
             make_instance([(0, 2, 3), (1, 1, 2), (2, 2, 1)], memory=6, name="tiny-1")]
    return [(inst, "zero", backend, 1.0) for inst in insts]


def test_records_and_resume(study, tmp_path):
    results = tmp_path / "r.jsonl"
    logged: list[str] = []
    assert study.run_study(_tasks(), results, log=logged.append) == (2, 0)
    records = study.load_records(results)
    assert [r["instance"] for r in records] == ["tiny-0", "tiny-1"] and len(logged) == 2
    for r in records:
        assert r["backend"] == "highs" and r["time_limit_s"] == 1.0 and r["threads"] == 1
        assert r["status"] == "optimal"  # tiny: proven at once
        assert r["returned_cost"] <= r["mcsf_cost"]
        assert r["solver_objective"] == r["returned_cost"]
        assert r["equal_mcsf"] == (r["returned_cost"] == r["mcsf_cost"])
        assert r["better_than_mcsf"] == (r["returned_cost"] < r["mcsf_cost"])
        assert r["ratio"] == r["mcsf_cost"] / r["returned_cost"]
        assert r["bound"] is not None and r["gap"] == pytest.approx(0.0, abs=1e-9)
        assert len(r["loadavg_after"]) == 3 and r["solve_s"] >= 0 and r["solve_cpu_s"] >= 0
    # a rerun skips both; a killed run's cut-off line is skipped and the next record starts on
    # a line of its own
    assert study.run_study(_tasks(), results, log=logged.append) == (0, 2)
    with open(results, "a", encoding="utf-8") as fh:
        fh.write('{"instance": "cut')
    assert study.run_study(_tasks("cbc")[:1], results, log=logged.append) == (1, 0)
    records = study.load_records(results)
    assert len(records) == 3 and records[-1]["backend"] == "cbc"
    assert records[-1]["returned_cost"] == records[0]["returned_cost"]  # both proven optimal
    assert len(results.read_text().splitlines()) == 4


def test_summary_mode(study, tmp_path, capsys):
    results = tmp_path / "r.jsonl"
    study.run_study(_tasks(), results, log=lambda s: None)
    assert study.main(["--summary", "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert "| all at round 0 | HiGHS, 1 s | 2 |" in out
    assert "1.005 / 1.074 / 114 of 200" in out
    rows = study.summarise(study.load_records(results))
    assert rows[0]["instances"] == 2 and rows[0]["proven"] == 2
    assert rows[0]["equal_mcsf"] + rows[0]["better"] == 2
    assert study.main(["--summary", "--results", str(tmp_path / "none.jsonl")]) == 2
    json.dumps(rows)  # the rows are plain data


def test_bad_options_exit_2(study):
    for argv in (["--limits", "x"], ["--limits", "0"], ["--backends", "gurobi"],
                 ["--count", "0"], ["--shard", "2/2"], ["--shard", "x"], ["--shard", "0/0"]):
        with pytest.raises(SystemExit) as exc:
            study.main(argv)
        assert exc.value.code == 2


def test_shards_split_the_instances(study):
    """Shards K/N take the instances j with j % N == K: together all of them, none twice."""
    names = [[t[0].name for t in study.tasks_for("zero", 5, ["highs"], [10.0], (k, 2))]
             for k in (0, 1)]
    every = [t[0].name for t in study.tasks_for("zero", 5, ["highs"], [10.0])]
    assert names[0] == every[0::2] and names[1] == every[1::2]
