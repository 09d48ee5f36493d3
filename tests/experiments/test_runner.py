"""The ratio-experiment runner: records, resume, process pool, dask, output files."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from kvopt.cli import app
from kvopt.exceptions import KvoptError
from kvopt.experiments import runner
from kvopt.experiments.runner import ExperimentConfig, collect_instance_paths, run, write_outputs
from kvopt.instance import Instance
from kvopt.read import read_instance, write_instance
from kvopt.schedule import Schedule
from kvopt.verify import verify

DATA = Path(__file__).parents[1] / "data"
TINY = [DATA / "mcsf_suboptimal.json", DATA / "two_identical.json"]  # MC-SF ratios 1.2 and 1.0
MCSF = ExperimentConfig(("mcsf",), "highs", None)


def _ratios(result, policy="mcsf"):
    return {r["instance"]: r["policies"][policy]["ratio"]["ratio"] for r in result.records}


def test_run_inline_hand_solved(backend):
    """The two hand-solved cases: MC-SF 12 vs 10 and 6 vs 6, proven, on every backend."""
    result = run(TINY, ExperimentConfig(("mcsf",), backend, None), workers=1, progress=False)
    assert _ratios(result) == {"mcsf-suboptimal": pytest.approx(1.2), "two-identical": 1.0}
    s = result.summaries()["mcsf"]
    assert s.num_exactly_optimal == 1 and s.num_proven == 2
    assert s.mean == pytest.approx((1.1, 1.1)) and s.worst == pytest.approx((1.2, 1.2))


def test_every_number_comes_from_a_verified_schedule():
    """The record's schedules re-verify to exactly the costs it reports."""
    result = run(TINY, MCSF, workers=1, progress=False)
    for rec in result.records:
        inst = read_instance(next(p for p in TINY if read_instance(p).name == rec["instance"]))
        hs = rec["hindsight"]
        assert verify(inst, Schedule.from_starts(hs["starts"], inst.output)).total_latency \
            == hs["objective"]
        pol = rec["policies"]["mcsf"]
        assert verify(inst, Schedule.from_starts(pol["starts"], inst.output)).total_latency \
            == pol["total_latency"]


def test_resume_recomputes_only_missing(tmp_path, monkeypatch):
    """An interrupted run, restarted with the same --out, computes only the missing instance."""
    calls: list[str] = []
    real = runner.evaluate_instance

    def interrupted(data, config):
        if calls:
            raise KeyboardInterrupt  # the second instance never finishes
        calls.append(data["name"])
        return real(data, config)

    monkeypatch.setattr(runner, "evaluate_instance", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(TINY, MCSF, out_dir=tmp_path, workers=1, progress=False)
    written = sorted(p.name for p in (tmp_path / "instances").iterdir())
    assert written == ["mcsf-suboptimal.json"]  # no partial or temporary file
    first_bytes = (tmp_path / "instances" / "mcsf-suboptimal.json").read_bytes()

    calls.clear()

    def counting(data, config):
        calls.append(data["name"])
        return real(data, config)

    monkeypatch.setattr(runner, "evaluate_instance", counting)
    result = run(TINY, MCSF, out_dir=tmp_path, workers=1, progress=False)
    assert calls == ["two-identical"] and result.num_reused == 1
    assert len(result.records) == 2
    assert (tmp_path / "instances" / "mcsf-suboptimal.json").read_bytes() == first_bytes


def test_resume_ignores_records_of_another_config_or_instance(tmp_path, monkeypatch):
    """A changed backend, time limit, policy list or instance content is recomputed."""
    run(TINY[:1], MCSF, out_dir=tmp_path, workers=1, progress=False)
    calls: list[str] = []
    real = runner.evaluate_instance
    monkeypatch.setattr(runner, "evaluate_instance",
                        lambda d, c: calls.append(d["name"]) or real(d, c))
    run(TINY[:1], MCSF, out_dir=tmp_path, workers=1, progress=False)
    assert calls == []
    run(TINY[:1], ExperimentConfig(("mcsf",), "highs", 30.0), out_dir=tmp_path, workers=1,
        progress=False)
    run(TINY[:1], ExperimentConfig(("mcsf", "fcfs"), "highs", 30.0), out_dir=tmp_path,
        workers=1, progress=False)
    assert len(calls) == 2
    # a subset of the recorded policies is reused
    run(TINY[:1], ExperimentConfig(("fcfs",), "highs", 30.0), out_dir=tmp_path, workers=1,
        progress=False)
    assert len(calls) == 2
    changed = read_instance(TINY[0]).replace(memory=8)
    copy = tmp_path / "in" / "mcsf-suboptimal.json"
    write_instance(copy, changed)
    run([copy], ExperimentConfig(("fcfs",), "highs", 30.0), out_dir=tmp_path, workers=1,
        progress=False)
    assert len(calls) == 3
    # time kept for deadline cuts is part of the config too
    pytest.importorskip("ortools")
    run([copy], ExperimentConfig(("fcfs",), "highs", 30.0, deadline_time_limit_s=1.0),
        out_dir=tmp_path, workers=1, progress=False)
    assert len(calls) == 4


def test_corrupt_record_is_recomputed(tmp_path):
    """A record that does not parse counts as missing."""
    run(TINY[:1], MCSF, out_dir=tmp_path, workers=1, progress=False)
    (tmp_path / "instances" / "mcsf-suboptimal.json").write_text("{trunc")
    result = run(TINY[:1], MCSF, out_dir=tmp_path, workers=1, progress=False)
    assert result.num_reused == 0 and _ratios(result) == {"mcsf-suboptimal": pytest.approx(1.2)}


def test_process_pool_matches_inline():
    """Two local worker processes give the same records as the inline run."""
    inline = run(TINY, MCSF, workers=1, progress=False)
    pooled = run(TINY, MCSF, workers=2, progress=False)
    assert [r["policies"] for r in pooled.records] == [r["policies"] for r in inline.records]


def test_dask_local_cluster(tmp_path):
    """--scheduler runs the instances on a dask.distributed cluster; results are identical."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        res = CliRunner().invoke(app, ["ratio", *map(str, TINY), "--json", "--out", str(tmp_path),
                                       "--scheduler", cluster.scheduler_address,
                                       "--no-progress"])
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    assert {r["instance"]: r["policies"]["mcsf"]["ratio"]["ratio"] for r in data["instances"]} \
        == {"mcsf-suboptimal": pytest.approx(1.2), "two-identical": 1.0}
    assert len(list((tmp_path / "instances").glob("*.json"))) == 2


def test_failure_is_reported_and_not_written(tmp_path, monkeypatch):
    """An instance whose evaluation fails is listed, not written; the others are."""
    real = runner.evaluate_instance

    def flaky(data, config):
        if data["name"] == "two-identical":
            raise KvoptError("solver disagrees")
        return real(data, config)

    monkeypatch.setattr(runner, "evaluate_instance", flaky)
    result = run(TINY, MCSF, out_dir=tmp_path, workers=1, progress=False)
    assert result.failures == [("two-identical", "solver disagrees")]
    assert [p.name for p in (tmp_path / "instances").iterdir()] == ["mcsf-suboptimal.json"]


def test_unproven_optimum_gives_intervals():
    """A solve stopped by its time limit yields [cost/objective, cost/bound], never one number."""
    from kvopt.generate import synthetic_set

    inst = synthetic_set("zero", 1, 1, num_requests=10)[0]  # not provable in 0.05 s
    result = run([inst], ExperimentConfig(("mcsf",), "highs", 0.05), workers=1, progress=False)
    rec = result.records[0]
    assert rec["hindsight"]["status"] == "feasible"
    ratio = rec["policies"]["mcsf"]["ratio"]
    assert ratio["ratio"] is None and ratio["ratio_low"] < ratio["ratio_high"]
    s = result.summaries()["mcsf"]
    assert s.num_exactly_optimal == 0 and s.mean[0] < s.mean[1]


def test_write_outputs(tmp_path):
    """ratios.csv, summary.csv and results.json (with versions) are written."""
    result = run(TINY, MCSF, workers=1, progress=False)
    write_outputs(result, tmp_path)
    rows = list(csv.DictReader((tmp_path / "ratios.csv").open()))
    assert [r["instance"] for r in rows] == ["mcsf-suboptimal", "two-identical"]
    assert float(rows[0]["ratio"]) == pytest.approx(1.2)
    summary = list(csv.DictReader((tmp_path / "summary.csv").open()))
    assert summary[0]["policy"] == "mcsf" and summary[0]["num_exactly_optimal"] == "1"
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["versions"]["kvopt"] and data["summary"]["mcsf"]["worst_high"] == pytest.approx(1.2)


def test_inputs_directory_and_errors(tmp_path):
    """Directories expand to their *.json files; missing paths and empty dirs are errors."""
    assert collect_instance_paths([DATA]) == sorted(DATA.glob("*.json"))
    with pytest.raises(KvoptError, match="no such file"):
        collect_instance_paths([tmp_path / "nope"])
    with pytest.raises(KvoptError, match="no .json"):
        collect_instance_paths([tmp_path])


def test_duplicate_names_and_unknown_policy():
    """Two instances with one name would share a record file; an unknown policy is refused."""
    with pytest.raises(KvoptError, match="named 'mcsf-suboptimal'"):
        run([TINY[0], TINY[0]], MCSF, workers=1, progress=False)
    with pytest.raises(KvoptError, match="unknown policy 'nope'"):
        run(TINY, ExperimentConfig(("nope",)), workers=1, progress=False)


def test_policy_rng_does_not_depend_on_order():
    """A policy's random stream depends on the instance and the policy only."""
    inst = Instance(7, [1, 2], [1, 1], [5, 3])
    d = runner.instance_digest(inst)
    a = runner._policy_rng(d, "mcsf").integers(0, 2**32, 4)
    b = runner._policy_rng(d, "mcsf").integers(0, 2**32, 4)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, runner._policy_rng(d, "fcfs").integers(0, 2**32, 4))


def test_cli_ratio_policies_all_and_table(tmp_path):
    """`kvopt ratio DIR --policies all` prints per-instance rows and one summary row per
    policy, and a second run with --out reuses both records."""
    from kvopt.policies import POLICIES

    src = tmp_path / "set"
    src.mkdir()
    for p in TINY:
        shutil.copy(p, src)
    args = ["ratio", str(src), "--policies", "all", "--workers", "1", "--out", str(tmp_path / "o")]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.stderr
    for name in POLICIES:
        assert name in res.stdout
    assert "1.2000" in res.stdout
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0 and "2 instance(s) reused" in res.stdout


def test_cli_ratio_bad_policy():
    """An unknown --policies name is bad input: one line, exit 2."""
    res = CliRunner().invoke(app, ["ratio", str(TINY[0]), "--policies", "mcsf,nope"])
    assert res.exit_code == 2 and len(res.stderr.splitlines()) == 1
    assert res.stderr.startswith("error: --policies: unknown policy 'nope'")
