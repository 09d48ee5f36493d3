"""The ratio experiment on the runner: records, resume, seeds, process pool, dask, outputs."""

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
_EVALUATE = runner.evaluate_instance


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


def _records(out):
    """The record files under ``out``, relative, sorted."""
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())


def _spy(monkeypatch, calls, fail_after=None):
    """Record each evaluate_instance call as (name, solves hindsight, run labels)."""
    real = _EVALUATE

    def spy(data, config, solve_hindsight=True, runs=None):
        if fail_after is not None and len(calls) >= fail_after:
            raise KeyboardInterrupt  # the run is killed before this instance finishes
        labels = [r[0] for r in (config.runs() if runs is None else runs)]
        calls.append((data["name"], solve_hindsight, labels))
        return real(data, config, solve_hindsight, runs)

    monkeypatch.setattr(runner, "evaluate_instance", spy)


def test_records_on_disk(tmp_path):
    """One hindsight record per instance, one policy record per instance x policy."""
    run(TINY, ExperimentConfig(("mcsf", "fcfs")), out_dir=tmp_path, workers=1, progress=False)
    assert _records(tmp_path) == [
        "hindsight/mcsf-suboptimal.json", "hindsight/two-identical.json",
        "policies/mcsf-suboptimal/fcfs.json", "policies/mcsf-suboptimal/mcsf.json",
        "policies/two-identical/fcfs.json", "policies/two-identical/mcsf.json"]
    hs = json.loads((tmp_path / "hindsight" / "mcsf-suboptimal.json").read_text())
    assert hs["kind"] == "hindsight" and hs["hindsight"]["objective"] == 10
    assert "policies" not in hs["config"] and hs["versions"]["kvopt"]
    pol = json.loads((tmp_path / "policies" / "mcsf-suboptimal" / "mcsf.json").read_text())
    assert (pol["kind"], pol["policy"], pol["seed"], pol["total_latency"]) == \
        ("policy", "mcsf", None, 12)
    assert "ratio" not in pol  # ratios are computed from the records, never stored


def test_resume_recomputes_only_missing(tmp_path, monkeypatch):
    """An interrupted run, restarted with the same --out, computes only the missing instance."""
    calls: list = []
    _spy(monkeypatch, calls, fail_after=1)
    with pytest.raises(KeyboardInterrupt):
        run(TINY, MCSF, out_dir=tmp_path, workers=1, progress=False)
    # both records of the first instance, and no partial or temporary file
    assert _records(tmp_path) == ["hindsight/mcsf-suboptimal.json",
                                  "policies/mcsf-suboptimal/mcsf.json"]
    first_bytes = (tmp_path / "hindsight" / "mcsf-suboptimal.json").read_bytes()

    calls.clear()
    _spy(monkeypatch, calls)
    result = run(TINY, MCSF, out_dir=tmp_path, workers=1, progress=False)
    assert calls == [("two-identical", True, ["mcsf"])] and result.num_reused == 1
    assert len(result.records) == 2 and _ratios(result)["mcsf-suboptimal"] == pytest.approx(1.2)
    assert (tmp_path / "hindsight" / "mcsf-suboptimal.json").read_bytes() == first_bytes


def test_adding_a_policy_reuses_the_hindsight_solves(tmp_path, monkeypatch):
    """A second run with one more policy runs that policy only; its output equals a fresh run's."""
    run(TINY, MCSF, out_dir=tmp_path / "o", workers=1, progress=False)
    before = {p: (tmp_path / "o" / p).read_bytes() for p in _records(tmp_path / "o")}
    calls: list = []
    _spy(monkeypatch, calls)
    both = ExperimentConfig(("mcsf", "fcfs"))
    resumed = run(TINY, both, out_dir=tmp_path / "o", workers=1, progress=False)
    assert calls == [("mcsf-suboptimal", False, ["fcfs"]), ("two-identical", False, ["fcfs"])]
    assert resumed.num_hindsight_reused == 2 and resumed.num_reused == 0
    assert all((tmp_path / "o" / p).read_bytes() == b for p, b in before.items())
    fresh = run(TINY, both, workers=1, progress=False)
    assert _strip_clock(resumed.to_dict()) == _strip_clock(fresh.to_dict())
    # a subset of the stored policies needs no work at all
    calls.clear()
    assert run(TINY, ExperimentConfig(("fcfs",)), out_dir=tmp_path / "o", workers=1,
               progress=False).num_reused == 2 and calls == []


def _strip_clock(data):
    if isinstance(data, dict):
        return {k: _strip_clock(v) for k, v in data.items() if k != "seconds"}
    if isinstance(data, list):
        return [_strip_clock(v) for v in data]
    return data


def test_solver_settings_re_solve_but_reuse_policy_runs(tmp_path, monkeypatch):
    """A new time limit (or deadline seconds) re-solves; the policy runs are reused."""
    run(TINY[:1], MCSF, out_dir=tmp_path, workers=1, progress=False)
    calls: list = []
    _spy(monkeypatch, calls)
    run(TINY[:1], MCSF, out_dir=tmp_path, workers=1, progress=False)
    assert calls == []
    run(TINY[:1], ExperimentConfig(("mcsf",), "highs", 30.0), out_dir=tmp_path, workers=1,
        progress=False)
    assert calls == [("mcsf-suboptimal", True, [])]
    pytest.importorskip("ortools")
    run(TINY[:1], ExperimentConfig(("mcsf",), "highs", 30.0, deadline_time_limit_s=1.0),
        out_dir=tmp_path, workers=1, progress=False)
    assert calls[1:] == [("mcsf-suboptimal", True, [])]


def test_changed_instance_is_recomputed(tmp_path, monkeypatch):
    """Records of an instance whose content changed (same name) are not reused."""
    run(TINY[:1], MCSF, out_dir=tmp_path, workers=1, progress=False)
    changed = read_instance(TINY[0]).replace(memory=8)
    copy = tmp_path / "in" / "mcsf-suboptimal.json"
    write_instance(copy, changed)
    calls: list = []
    _spy(monkeypatch, calls)
    result = run([copy], MCSF, out_dir=tmp_path, workers=1, progress=False)
    assert calls == [("mcsf-suboptimal", True, ["mcsf"])]
    assert result.records[0]["memory"] == 8


def test_corrupt_record_is_recomputed(tmp_path, monkeypatch):
    """A record that does not parse counts as missing; the others are reused."""
    run(TINY[:1], MCSF, out_dir=tmp_path, workers=1, progress=False)
    (tmp_path / "hindsight" / "mcsf-suboptimal.json").write_text("{trunc")
    calls: list = []
    _spy(monkeypatch, calls)
    result = run(TINY[:1], MCSF, out_dir=tmp_path, workers=1, progress=False)
    assert calls == [("mcsf-suboptimal", True, [])]
    assert result.num_reused == 0 and _ratios(result) == {"mcsf-suboptimal": pytest.approx(1.2)}


def test_seeds_give_one_run_per_policy_and_seed(tmp_path):
    """With seeds, each (policy, seed) is its own run, record and summary row."""
    config = ExperimentConfig(("mcsf", "fcfs"), seeds=(1, 2))
    result = run(TINY[:1], config, out_dir=tmp_path, workers=1, progress=False)
    assert list(result.summaries()) == ["mcsf@1", "mcsf@2", "fcfs@1", "fcfs@2"]
    assert sorted(p.name for p in (tmp_path / "policies" / "mcsf-suboptimal").iterdir()) == [
        "fcfs.seed1.json", "fcfs.seed2.json", "mcsf.seed1.json", "mcsf.seed2.json"]
    assert result.to_dict()["config"]["seeds"] == [1, 2]
    assert "seeds" not in MCSF.to_dict()  # the default keeps ratio --json as it was
    assert {r["policy"] for r in result.rows()} == {"mcsf@1", "mcsf@2", "fcfs@1", "fcfs@2"}


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
    assert len(list((tmp_path / "hindsight").glob("*.json"))) == 2


def test_failure_is_reported_and_not_written(tmp_path, monkeypatch):
    """An instance whose evaluation fails is listed, not written; the others are."""
    real = runner.evaluate_instance

    def flaky(data, *args):
        if data["name"] == "two-identical":
            raise KvoptError("solver disagrees")
        return real(data, *args)

    monkeypatch.setattr(runner, "evaluate_instance", flaky)
    result = run(TINY, MCSF, out_dir=tmp_path, workers=1, progress=False)
    assert result.failures == [("two-identical", "solver disagrees")]
    assert [r["instance"] for r in result.records] == ["mcsf-suboptimal"]
    assert _records(tmp_path) == ["hindsight/mcsf-suboptimal.json",
                                  "policies/mcsf-suboptimal/mcsf.json"]


def test_policy_beating_a_proven_optimum_is_a_failure(tmp_path):
    """A stored run cheaper than the proven optimum (a model bug) fails its instance."""
    run(TINY[:1], MCSF, out_dir=tmp_path, workers=1, progress=False)
    path = tmp_path / "policies" / "mcsf-suboptimal" / "mcsf.json"
    rec = json.loads(path.read_text())
    rec["total_latency"] = 9
    path.write_text(json.dumps(rec))
    result = run(TINY[:1], MCSF, out_dir=tmp_path, workers=1, progress=False)
    assert result.records == [] and "below the proven optimum" in result.failures[0][1]


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
    assert not np.array_equal(a, runner._policy_rng(d, "mcsf", 0).integers(0, 2**32, 4))


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
