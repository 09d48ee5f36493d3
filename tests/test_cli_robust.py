"""Issue 26, items 3 and 5: per-policy certified gaps (``bound --policies``), ``ratio`` on an
instance too large for the integer program, and the one-line refusals of long runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ctrl_c_as_at_a_terminal
from typer.testing import CliRunner

import kvopt
from kvopt.cli import app, main
from kvopt.experiments import runner as runner_module
from kvopt.hindsight.milp import formulation
from kvopt.hindsight.solve import SolveInterrupted, solve
from kvopt.read import read_instance
from kvopt.schedule import Schedule
from kvopt.verify import verify

DATA = Path(__file__).parent / "data"
SUBOPTIMAL = DATA / "mcsf_suboptimal.json"   # MC-SF 12, optimum 10 (tests/data/README.md)
DEMO = Path(kvopt.__file__).parent / "data" / "instances" / "demo" / "paper-zero-n10.json"
ROOT = Path(kvopt.__file__).parents[1]
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def _one_line_exit_2(capsys, *args) -> str:
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and err.startswith("error: "), err
    return err


# ------------------------------------------------------------------------ bound --policies
def test_bound_policies_json_can_be_re_verified():
    """Each policy's cost is its verified total latency (as ``ratio`` runs it), its gap
    (cost - bound) / cost; the best schedule's start rounds verify to its total latency."""
    result = invoke("bound", DEMO, "--policies", "mcsf,fcfs,greedy-a0.3", "--moves", "20",
                    "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    inst = read_instance(DEMO)
    ratio = json.loads(invoke("ratio", DEMO, "--policies", "mcsf,fcfs,greedy-a0.3",
                              "--json", "--no-progress").stdout)["instances"][0]["policies"]
    assert list(data["policies"]) == ["mcsf", "fcfs", "greedy-a0.3"]
    for name, entry in data["policies"].items():
        assert entry["total_latency"] == ratio[name]["total_latency"]
        assert entry["gap"] == pytest.approx((entry["total_latency"] - data["bound"])
                                             / entry["total_latency"])
    best = data["best_schedule"]
    schedule = Schedule.from_starts(best["starts"], inst.output)
    assert verify(inst, schedule).total_latency == best["total_latency"]
    assert data["bound"] <= best["total_latency"] <= min(
        data["best_known_total_latency"], data["mcsf_total_latency"],
        *(e["total_latency"] for e in data["policies"].values() if e["num_clearings"] == 0))
    assert data["gap_convention"] == "(total_latency - bound) / total_latency"


def test_bound_policies_all_table_and_without_the_option_nothing_new():
    table = invoke("bound", DEMO, "--policies", "all")
    assert table.exit_code == 0, table.output
    assert "certified gap" in table.stdout and "fcfs" in table.stdout
    plain = json.loads(invoke("bound", DEMO, "--json").stdout)
    assert "policies" not in plain and "best_schedule" not in plain   # recorded outputs stay


def test_bound_unknown_policy_is_one_line(capsys):
    err = _one_line_exit_2(capsys, "bound", DEMO, "--policies", "mcsf,nope")
    assert "unknown policy 'nope'" in err


# ------------------------------------------------------------- too large: an interval
def test_ratio_too_large_falls_back_to_an_interval(monkeypatch):
    """With the integer program over the size cap, ``ratio`` keeps MC-SF's schedule and the
    certified bound, says so, and reports intervals; ``solve`` itself still refuses."""
    monkeypatch.setattr(formulation, "MAX_NONZEROS", 10)
    result = invoke("ratio", SUBOPTIMAL, "--serial-moves", "0", "--json", "--no-progress")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)["instances"][0]
    assert record["hindsight_mode"].startswith("interval (integer program too large (")
    hs = record["hindsight"]
    assert hs["status"] == "feasible" and hs["objective"] == 12 and hs["bound"] <= 10
    inst = read_instance(SUBOPTIMAL)
    assert verify(inst, Schedule.from_starts(hs["starts"], inst.output)).total_latency == 12
    ratio = record["policies"]["mcsf"]["ratio"]
    assert ratio["ratio"] is None and ratio["ratio_low"] == 1.0
    assert ratio["ratio_high"] == pytest.approx(12 / hs["bound"])
    assert "integer program too large" in result.stderr
    with pytest.raises(formulation.ModelTooLargeError):
        solve(inst, "highs", serial_moves=0)


def test_ratio_of_a_small_instance_has_no_mode_key():
    record = json.loads(invoke("ratio", SUBOPTIMAL, "--json", "--no-progress").stdout)
    assert "hindsight_mode" not in record["instances"][0]


# -------------------------------------------------------------------- --out, caps, dask
def test_ratio_adding_a_policy_reuses_the_hindsight_solve(tmp_path, monkeypatch):
    """``ratio --out`` goes through the runner's records: a second run with one more policy
    solves nothing again and keeps the first run's records."""
    out = tmp_path / "out"
    first = invoke("ratio", SUBOPTIMAL, "--out", out, "--no-progress")
    assert first.exit_code == 0, first.output
    stored = (out / "hindsight" / "mcsf-suboptimal.json").read_bytes()
    import kvopt.hindsight.solve as solve_module

    def refuse(*args, **kwargs):
        raise AssertionError("the hindsight solve should be reused")

    monkeypatch.setattr(solve_module, "solve", refuse)
    second = invoke("ratio", SUBOPTIMAL, "--out", out, "--policies", "mcsf,fcfs",
                    "--no-progress")
    assert second.exit_code == 0, second.output
    assert "1 hindsight solve(s) reused" in second.stdout
    assert (out / "hindsight" / "mcsf-suboptimal.json").read_bytes() == stored
    assert (out / "policies" / "mcsf-suboptimal" / "fcfs.json").exists()


@pytest.fixture
def no_work(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("no instance should be evaluated")

    monkeypatch.setattr(runner_module, "evaluate_instance", refuse)


def test_out_not_writable_is_refused_before_any_work(tmp_path, capsys, no_work):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    err = _one_line_exit_2(capsys, "ratio", SUBOPTIMAL, "--out", blocker / "out")
    assert "--out" in err and "not a directory" in err
    err = _one_line_exit_2(capsys, "ratio", SUBOPTIMAL, "--out", blocker)
    assert "exists and is not a directory" in err


def test_out_equal_to_an_input_directory_is_refused(tmp_path, capsys, no_work):
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.json").write_text(SUBOPTIMAL.read_text())
    err = _one_line_exit_2(capsys, "ratio", src, "--out", src / ".")
    assert "is an input directory" in err
    assert sorted(p.name for p in src.iterdir()) == ["a.json"]


@pytest.mark.parametrize(("command", "option"), [("solve", "--threads"), ("ratio", "--workers")])
def test_threads_and_workers_are_capped(capsys, command, option):
    err = _one_line_exit_2(capsys, command, SUBOPTIMAL, option, "100000")
    assert option in err and "256" in err


def test_bad_scheduler_address_is_one_line(capsys):
    pytest.importorskip("distributed")
    err = _one_line_exit_2(capsys, "ratio", SUBOPTIMAL, "--scheduler", "notanaddress",
                           "--no-progress")
    assert "--scheduler notanaddress" in err


# ------------------------------------------------------------------------------ Ctrl-C
def test_interrupted_solve_keeps_the_best_schedule_and_bound(monkeypatch):
    """A Ctrl-C after the incumbent stage: the partial result holds MC-SF's verified
    schedule and a certified bound."""
    import kvopt.hindsight.solve as solve_module

    def interrupt(ctx):
        raise KeyboardInterrupt

    monkeypatch.setattr(solve_module, "_kth_bounds", interrupt)
    inst = read_instance(SUBOPTIMAL)
    with pytest.raises(SolveInterrupted) as exc:
        solve(inst, "highs", serial_moves=0)
    partial = exc.value.partial
    assert partial.schedule is not None
    assert verify(inst, partial.schedule).total_latency == partial.objective
    assert partial.bound is not None and partial.bound <= 10 <= partial.objective
    assert partial.status.value in ("feasible", "optimal")


def _cpu_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ctrl_c_in_solve_prints_the_best_so_far(tmp_path):
    from kvopt.generate import synthetic_set
    from kvopt.read import write_instance

    inst = synthetic_set("poisson", 7, 1)[0]     # 36 requests: not proven within a minute
    path = tmp_path / "slow.json"
    write_instance(path, inst)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "kvopt.cli", "solve", str(path),
                             "--time-limit", "60", "--json"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=ctrl_c_as_at_a_terminal)
    try:
        end = time.monotonic() + 60
        while _cpu_seconds(proc.pid) < 2.5 and proc.poll() is None:   # past imports and MC-SF
            assert time.monotonic() < end
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    assert stderr.count("\n") == 1 and stderr.startswith("interrupted: "), stderr
    data = json.loads(stdout)
    schedule = Schedule.from_starts(data["starts"], inst.output)
    assert verify(inst, schedule).total_latency == data["objective"]
    assert data["bound"] <= data["objective"]


def test_ctrl_c_in_an_experiment_says_what_was_saved(monkeypatch, capsys):
    """A command without its own Ctrl-C handler (``kvopt experiment``) still ends with one
    line and exit code 130, saying what the runner saved."""
    import kvopt.experiments.synthetic
    from kvopt.experiments.runner import RunInterrupted

    def interrupted(argv):
        raise RunInterrupted(3, 10, True)

    monkeypatch.setattr(kvopt.experiments.synthetic, "main", interrupted)
    with pytest.raises(SystemExit) as exc:
        main(["experiment", "synthetic", "--out", "x"])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 130 and err == "interrupted: 3 of 10 saved; rerun to resume"
