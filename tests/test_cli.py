"""The ``kvopt`` command line, through ``typer.testing.CliRunner``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from kvopt.cli import app, main
from kvopt.generate import synthetic_set
from kvopt.read import read_instance

DATA = Path(__file__).parent / "data"
SUBOPTIMAL = DATA / "mcsf_suboptimal.json"  # hand-solved in tests/data/README.md: OPT 10, MC-SF 12
# the shipped demo instance (package data), see kvopt/data/instances/README.md
DEMO = str(Path(__file__).parents[1] / "kvopt" / "data" / "instances" / "demo"
           / "paper-zero-n10.json")

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


# ------------------------------------------------------------------------------ solve
def test_solve_json_has_the_contract_keys(backend):
    """`solve --json`: status, objective, bound, gap, seconds, starts; the hand-solved optimum."""
    res = invoke("solve", SUBOPTIMAL, "--backend", backend, "--json")
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    assert {"status", "objective", "bound", "gap", "seconds", "starts"} <= set(data)
    assert data["status"] == "optimal"
    assert data["objective"] == 10 and data["bound"] == 10 and data["gap"] == 0
    assert data["starts"] == [3, 2]


def test_solve_threads_reach_the_solver(backend):
    """`--threads 2` solves the same hand-solved instance on every backend."""
    res = invoke("solve", SUBOPTIMAL, "--backend", backend, "--threads", 2, "--json")
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["objective"] == 10


def test_solve_prints_a_table():
    """Without --json: one `key value` line per field."""
    res = invoke("solve", SUBOPTIMAL)
    assert res.exit_code == 0, res.stderr
    assert "status" in res.stdout and "optimal" in res.stdout
    assert "starts     3 2" in res.stdout


def test_solve_unknown_backend_is_a_usage_error():
    """A backend outside the registry is rejected by the option parser (exit 2)."""
    res = invoke("solve", SUBOPTIMAL, "--backend", "gurobi")
    assert res.exit_code == 2


# --------------------------------------------------------------------------- simulate
def test_simulate_json_mcsf():
    """MC-SF starts request 0 on arrival and request 1 after it completes: latency 5 + 7."""
    res = invoke("simulate", SUBOPTIMAL, "--policy", "mcsf", "--json")
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["total_latency"] == 12 and data["average_latency"] == 6.0
    assert data["starts"] == [1, 6] and data["clearings"] == []


def test_simulate_table_and_unknown_policy():
    """The human output names the policy; an unknown policy is a usage error."""
    res = invoke("simulate", SUBOPTIMAL, "--policy", "mcsf")
    assert res.exit_code == 0 and "12 rounds" in res.stdout
    assert invoke("simulate", SUBOPTIMAL, "--policy", "nope").exit_code == 2


# --------------------------------------------------------------------------- generate
def test_generate_one_file_matches_the_library(tmp_path):
    """count 1 writes FILE, equal to synthetic_set with the same seed."""
    out = tmp_path / "g.json"
    res = invoke("generate", "synthetic", "--arrivals", "poisson", "--seed", "3",
                 "--num-requests", "7", "--out", out)
    assert res.exit_code == 0, res.stderr
    expected = synthetic_set("poisson", 3, 1, num_requests=7)[0]
    assert json.loads(out.read_text()) == expected.to_dict()


def test_generate_count_writes_a_directory(tmp_path):
    """count > 1 writes one JSON file per instance into a directory."""
    out = tmp_path / "set"
    res = invoke("generate", "synthetic", "--arrivals", "zero", "--seed", "1", "--count", "3",
                 "--num-requests", "4", "--out", out)
    assert res.exit_code == 0, res.stderr
    files = sorted(out.glob("*.json"))
    assert len(files) == 3
    assert all(read_instance(f).num_requests == 4 for f in files)


def test_generate_seed_is_required(tmp_path):
    """--seed has no default."""
    out = tmp_path / "g.json"
    res = invoke("generate", "synthetic", "--arrivals", "zero", "--out", out)
    assert res.exit_code == 2 and not out.exists()


# ----------------------------------------------------------------------- import-trace
def test_import_trace(tmp_path):
    """Vidur CSV, 0.1 s rounds: arrivals 0, 0.04, 0.25, 1.1 s -> rounds 0, 0, 2, 11."""
    out = tmp_path / "t.json"
    res = invoke("import-trace", DATA / "trace_vidur.csv", "--memory", "40",
                 "--round-seconds", "0.1", "--out", out)
    assert res.exit_code == 0, res.stderr
    inst = read_instance(out)
    assert inst.arrival.tolist() == [0, 0, 2, 11] and inst.output.tolist() == [4, 2, 1, 30]


def test_import_trace_oversized(tmp_path):
    """A request with s + o > M fails the import (naming it) unless --drop-oversized."""
    out = tmp_path / "t.json"
    args = ["import-trace", DATA / "trace_vidur.csv", "--memory", "10", "--round-seconds", "1",
            "--out", out]
    res = invoke(*args)
    assert res.exit_code == 2 and "request 3" in res.stderr and not out.exists()
    res = invoke(*args, "--limit", "3")
    assert res.exit_code == 0 and read_instance(out).num_requests == 3
    res = invoke(*args, "--drop-oversized")
    assert res.exit_code == 0 and read_instance(out).num_requests == 3



VIDUR_HEADER = "arrived_at,num_prefill_tokens,num_decode_tokens\n"
BAD_TRACE_FILES = {
    "latin-1": ((VIDUR_HEADER + "0.5,1,2 # café\n").encode("latin-1"), "line 2: byte 0xe9"),
    "utf-16": ((VIDUR_HEADER + "0.5,1,2\n").encode("utf-16"), "UTF-16"),
    "negative": ((VIDUR_HEADER + "0,1,2\n0.5,-4,2\n").encode(),
                 "line 3, field 'num_prefill_tokens': '-4' is negative"),
    "non-numeric": ((VIDUR_HEADER + "0,1,two\n").encode(),
                    "line 2, field 'num_decode_tokens': 'two' is not a whole number"),
    "empty": ((VIDUR_HEADER + ",1,2\n").encode(), "line 2, field 'arrived_at': empty"),
    "time column unknown": (b"arrival_s,num_prefill_tokens,num_decode_tokens\n0.5,1,2\n",
                            "column 'arrival_s' looks like timestamps"),
    "no rows": (VIDUR_HEADER.encode(), "no data rows"),
}


@pytest.mark.parametrize("case", list(BAD_TRACE_FILES))
def test_import_trace_bad_file_is_one_line_exit_2(tmp_path, capsys, case):
    """Through the console script each bad trace gives one line naming the file (and line and
    field), exit code 2, no traceback, nothing written."""
    content, match = BAD_TRACE_FILES[case]
    trace, out = tmp_path / "bad.csv", tmp_path / "t.json"
    trace.write_bytes(content)
    with pytest.raises(SystemExit) as stop:
        main(["import-trace", str(trace), "--memory", "40", "--round-seconds", "1",
              "--out", str(out)])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith(f"error: {trace}: ") and match in err and not out.exists()


def test_import_trace_reads_a_bom_prefixed_file(tmp_path):
    """A UTF-8 byte-order mark keeps the timestamps: rounds 0, 0, 2, 11 as without it."""
    trace, out = tmp_path / "bom.csv", tmp_path / "t.json"
    trace.write_bytes(b"\xef\xbb\xbf" + (DATA / "trace_vidur.csv").read_bytes())
    res = invoke("import-trace", trace, "--memory", "40", "--round-seconds", "0.1", "--out", out)
    assert res.exit_code == 0, res.stderr
    assert read_instance(out).arrival.tolist() == [0, 0, 2, 11]


def test_import_trace_azure_is_utc_under_any_time_zone(tmp_path):
    """`kvopt import-trace` run with TZ=America/New_York across the DST change writes the same
    arrivals as with TZ=UTC: rounds 0, 61, 119 (local time would give 0, 3661, 3719)."""
    import os
    import subprocess
    import sys

    trace = tmp_path / "dst.csv"
    trace.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n"
                     "2023-11-05 01:59:30.5000000,3,4\n2023-11-05 02:00:31.5000000,2,2\n"
                     "2023-11-05 02:01:30.0,1,1\n")
    root = Path(__file__).parents[1]
    arrivals = {}
    for tz in ("UTC", "America/New_York"):
        out = tmp_path / f"{tz.replace('/', '-')}.json"
        env = {**os.environ, "TZ": tz, "PYTHONPATH": str(root)}
        proc = subprocess.run(
            [sys.executable, "-m", "kvopt.cli", "import-trace", str(trace), "--memory", "20",
             "--round-seconds", "1", "--out", str(out)],
            env=env, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr
        arrivals[tz] = read_instance(out).arrival.tolist()
    assert arrivals["UTC"] == arrivals["America/New_York"] == [0, 61, 119]


def test_import_trace_sorts_unsorted_rows_with_a_warning(tmp_path):
    """Rows out of time order: sorted, one warning line on stderr, exit 0."""
    trace, out = tmp_path / "t.csv", tmp_path / "t.json"
    trace.write_text(VIDUR_HEADER + "0.0,3,4\n2.0,2,2\n1.0,5,1\n")
    res = invoke("import-trace", trace, "--memory", "40", "--round-seconds", "1", "--out", out)
    assert res.exit_code == 0, res.stderr
    assert res.stderr.startswith("warning: ") and len(res.stderr.splitlines()) == 1
    assert "not in time order" in res.stderr
    inst = read_instance(out)
    assert inst.arrival.tolist() == [0, 1, 2] and inst.prompt.tolist() == [3, 5, 2]


def test_import_trace_lengths_only_when_asked(tmp_path):
    """--format lengths reads a file with an unrecognised time column as lengths only."""
    trace, out = tmp_path / "t.csv", tmp_path / "t.json"
    trace.write_text("arrival_s,num_prefill_tokens,num_decode_tokens\n0.5,1,2\n9.0,3,4\n")
    res = invoke("import-trace", trace, "--memory", "40", "--round-seconds", "1", "--out", out,
                 "--format", "lengths")
    assert res.exit_code == 0, res.stderr
    assert read_instance(out).arrival.tolist() == [0, 0]
    res = invoke("import-trace", trace, "--memory", "40", "--round-seconds", "1", "--out", out,
                 "--format", "csv")
    assert res.exit_code == 2 and "unknown trace format 'csv'" in res.stderr


# ----------------------------------------------------------------------------- export
@pytest.mark.parametrize("fmt, marker", [("mps", "ROWS"), ("lp", "min")])
def test_export_writes_the_model_atomically(tmp_path, fmt, marker):
    """export writes an MPS/LP file and leaves no temporary file behind."""
    out = tmp_path / f"model.{fmt}"
    res = invoke("export", SUBOPTIMAL, "--format", fmt, "--out", out)
    assert res.exit_code == 0, res.stderr
    assert marker in out.read_text().lower() if fmt == "lp" else marker in out.read_text()
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


def test_exported_mps_solves_to_the_same_optimum(tmp_path):
    """The MPS file, read back by HiGHS, has the optimum `solve` proves (10)."""
    import highspy

    out = tmp_path / "m.mps"
    assert invoke("export", SUBOPTIMAL, "--format", "mps", "--out", out).exit_code == 0
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.readModel(str(out))
    h.run()
    assert h.getInfo().objective_function_value == pytest.approx(10)


# ---------------------------------------------------------------------- show-versions
def test_show_versions():
    """Every dependency the numbers hinge on is listed."""
    res = invoke("show-versions")
    assert res.exit_code == 0
    for key in ("kvopt", "python", "numpy", "highspy", "pulp", "cbc", "ortools"):
        assert f"{key}:" in res.stdout



def test_version():
    """`kvopt --version` prints the package version and exits 0."""
    from kvopt import __version__

    res = invoke("--version")
    assert res.exit_code == 0 and res.stdout == f"kvopt {__version__}\n"


def test_profiles_none_found_is_one_line_exit_2(tmp_path, monkeypatch):
    """An installation without its profiles says so (one line, exit 2) instead of printing an
    empty list and exiting 0."""
    import kvopt.profiles

    monkeypatch.setattr(kvopt.profiles, "MODELS_DIR", tmp_path / "absent")
    res = invoke("profiles")
    assert res.exit_code == 2 and len(res.stderr.splitlines()) == 1
    assert "no profiles found" in res.stderr and "reinstall" in res.stderr

# ------------------------------------------------------------------------- bad input
GOOD = {"memory": 7, "arrival": [0, 1], "prompt": [1, 2], "output": [3, 4]}


def _with(**changes):
    data = dict(GOOD)
    for k, v in changes.items():
        if v is None:
            data.pop(k)
        else:
            data[k] = v
    return json.dumps(data)


BAD_INPUTS = {
    # case: (file content, words the one-line message must contain)
    "invalid-json": ('{"memory": 7, "arrival": [0,', "invalid JSON"),
    "not-an-object": ("[1, 2, 3]", "JSON object"),
    "empty-file": ("", "empty"),
    "blank-file": ("  \n", "empty"),
    "missing-field": (_with(output=None), "'output'"),
    "mistyped-memory": (_with(memory="7"), "'memory'"),
    "mistyped-column": (_with(arrival=3), "'arrival'"),
    "mistyped-value": (_with(prompt=[1, "2"]), "'prompt', request 1"),
    "different-lengths": (_with(prompt=[1, 2, 3]), "'prompt' has 3 values"),
    "negative-arrival": (_with(arrival=[0, -1]), "'arrival', request 1"),
    "negative-memory": (_with(memory=-5), "'memory'"),
    "zero-prompt": (_with(prompt=[0, 2]), "'prompt', request 0"),
    "zero-output": (_with(output=[3, 0]), "'output', request 1"),
    "non-integer": (_with(arrival=[0, 1.5]), "'arrival', request 1"),
    "non-integer-memory": (_with(memory=7.5), "'memory'"),
    "boolean": (_with(output=[True, 4]), "'output', request 0"),
    "nan": (_with(arrival=[0, 1]).replace("[0, 1]", "[0, NaN]"), "'arrival', request 1"),
    "infinity": (_with(output=[3, 4]).replace("[3, 4]", "[3, Infinity]"), "'output', request 1"),
    "huge": (_with(arrival=[0, 10**30]), "'arrival', request 1"),
    "lower-above-upper": (_with(lower=[1, 5], upper=[3, 4]), "request 1: lower 5"),
    "too-big-for-memory": (_with(prompt=[1, 4]), "request 1 needs 8 KV tokens"),
    "unknown-field": (_with(colour=[1, 2]), "'colour'"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
@pytest.mark.parametrize("command", ["solve", "simulate", "export", "ratio"])
def test_bad_input_is_one_line_exit_2_nothing_written(tmp_path, case, command):
    """Issue 2 item 3: one line on stderr naming the file and the field or request; exit 2;
    no traceback; no output file."""
    content, words = BAD_INPUTS[case]
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    out = tmp_path / "out"
    args = {
        "solve": ["solve", bad, "--json"],
        "simulate": ["simulate", bad, "--policy", "mcsf"],
        "export": ["export", bad, "--format", "mps", "--out", out],
        "ratio": ["ratio", SUBOPTIMAL, bad, "--out", out, "--workers", "1"],
    }[command]
    res = invoke(*args)
    assert res.exit_code == 2, res.stdout
    assert res.stdout == ""
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(f"error: {bad}: ")
    assert words in lines[0]
    assert "Traceback" not in res.stderr
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json"]


def test_missing_file_is_one_line_exit_2(tmp_path):
    """A file that does not exist is named in one line."""
    res = invoke("solve", tmp_path / "nope.json")
    assert res.exit_code == 2 and len(res.stderr.splitlines()) == 1
    assert str(tmp_path / "nope.json") in res.stderr


def test_bad_trace_is_one_line_exit_2(tmp_path):
    """A trace with an unparsable row names the file and the line; nothing is written."""
    bad = tmp_path / "bad.csv"
    bad.write_text("arrived_at,num_prefill_tokens,num_decode_tokens\n0.0,3,4\n0.1,x,2\n")
    out = tmp_path / "t.json"
    res = invoke("import-trace", bad, "--memory", "40", "--round-seconds", "1", "--out", out)
    assert res.exit_code == 2 and len(res.stderr.splitlines()) == 1
    assert f"{bad}: line 3, field 'num_prefill_tokens'" in res.stderr and not out.exists()


def test_output_path_that_is_a_directory_fails_cleanly(tmp_path):
    """--out naming a directory where a file is expected: one line, exit 2."""
    res = invoke("generate", "synthetic", "--arrivals", "zero", "--seed", "1", "--out", tmp_path)
    assert res.exit_code == 2 and len(res.stderr.splitlines()) == 1


@pytest.mark.parametrize("args, option", [
    (["generate", "synthetic", "--arrivals", "zero", "--seed", "-1"], "--seed"),
    (["generate", "synthetic", "--arrivals", "zero", "--seed", "1", "--num-requests", "0"],
     "--num-requests"),
    (["generate", "adversarial", "--n", "3", "--long-output", "0"], "--long-output"),
    (["simulate", SUBOPTIMAL, "--policy", "mcsf", "--eps", "-1"], "--eps"),
    (["simulate", SUBOPTIMAL, "--policy", "mcsf", "--margin", "-0.5"], "--margin"),
    (["solve", SUBOPTIMAL, "--threads", "0"], "--threads"),
    (["bound", SUBOPTIMAL, "--time-limit", "-2"], "--time-limit"),
    (["solve", SUBOPTIMAL, "--no-such-option"], "--no-such-option"),
])
def test_usage_errors_are_one_line_exit_2(tmp_path, capsys, args, option):
    """The console script (`kvopt.cli.main`) reports a bad option value like bad input: one
    line naming the command and the option, exit code 2, no traceback, nothing written."""
    out = tmp_path / "out.json"
    argv = [str(a) for a in args]
    if argv[0] == "generate":
        argv += ["--out", str(out)]
    with pytest.raises(SystemExit) as stop:
        main(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert len(err.splitlines()) == 1 and err.startswith("error: kvopt ") and option in err
    assert "Traceback" not in err and not out.exists()


def test_main_runs_a_command_and_exits_0(capsys):
    """Through the console script a good command prints its result and exits 0."""
    with pytest.raises(SystemExit) as stop:
        main(["simulate", str(SUBOPTIMAL), "--policy", "mcsf", "--json"])
    assert stop.value.code == 0
    assert json.loads(capsys.readouterr().out)["total_latency"] == 12


def test_generate_same_seed_same_bytes(tmp_path):
    """Two runs with one seed write identical files."""
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    for out in (a, b):
        invoke("generate", "synthetic", "--arrivals", "zero", "--seed", "9", "--out", out)
    assert a.read_bytes() == b.read_bytes()
    assert np.all(read_instance(a).arrival == 0)


def test_demo_instance_is_proven_and_mcsf_is_not_optimal():
    """`make demo`: the shipped instance is proven optimal (154) and MC-SF (156) is not."""
    res = invoke("ratio", DEMO, "--policies", "mcsf", "--json", "--no-progress")
    assert res.exit_code == 0, res.stderr
    rec = json.loads(res.stdout)["instances"][0]
    assert rec["hindsight"]["status"] == "optimal" and rec["hindsight"]["objective"] == 154
    assert rec["policies"]["mcsf"]["total_latency"] == 156
    text = invoke("ratio", DEMO, "--policies", "mcsf,fcfs", "--no-progress").stdout
    assert "MC-SF" in text and "FCFS" in text          # human names in both tables
    assert "1.0130" in text


def test_generate_adversarial_then_simulate(tmp_path):
    """`generate adversarial` writes an instance on which MC-SF runs the long request first."""
    out = tmp_path / "adv.json"
    result = runner.invoke(app, ["generate", "adversarial", "--n", "4", "--out", str(out)])
    assert result.exit_code == 0, result.output
    inst = read_instance(out)
    assert inst.num_requests == 4
    sim = runner.invoke(app, ["simulate", str(out), "--policy", "mcsf", "--json"])
    data = json.loads(sim.stdout)
    assert data["starts"][0] == 0 and min(data["starts"][1:]) > 0


def test_simulate_noisy_predictions_are_seeded(tmp_path):
    """The same --seed gives the same schedule; --eps is refused for policies without it."""
    path = DEMO
    args = ["simulate", path, "--policy", "mcsf", "--eps", "0.5", "--seed", "3", "--json"]
    first, second = runner.invoke(app, args), runner.invoke(app, args)
    assert first.exit_code == 0 and first.stdout == second.stdout
    bad = runner.invoke(app, ["simulate", path, "--policy", "fcfs", "--eps", "0.5"])
    assert bad.exit_code == 2 and "apply to mcsf" in bad.stderr


def test_profiles_lists_and_shows():
    """`profiles` lists the shipped TOMLs and shows one as JSON with its KV capacity."""
    listing = runner.invoke(app, ["profiles"])
    assert "llama2-70b-a100x2" in listing.stdout.split()
    shown = runner.invoke(app, ["profiles", "llama2-70b-a100x2"])
    assert shown.exit_code == 0 and "16492" in shown.stdout


def test_calibrate_reports_error_against_vidur():
    """`calibrate` refits from a Vidur table and reports its MAPE below 5%."""
    table = (Path(__file__).parents[1]
             / "../shared/traces/profiles/vidur_predicted/batch_time_tp2.csv")
    if not table.exists():
        pytest.skip("shared traces not present")
    result = runner.invoke(app, ["calibrate", str(table)])
    assert result.exit_code == 0, result.output
    mape = float(result.stdout.split("MAPE ")[1].split("%")[0])
    assert mape < 5


def test_bound_prints_certified_bound():
    """`bound --json` gives an LP bound between the sum of outputs and MC-SF's cost."""
    result = runner.invoke(app, ["bound", DEMO, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    inst = read_instance(DEMO)
    assert int(inst.output.sum()) <= data["bound"] <= data["mcsf_total_latency"]
    assert data["source"].startswith("LP relaxation")
    best = data["best_known_total_latency"]
    assert data["bound"] <= best <= data["mcsf_total_latency"]
    assert data["best_known_gap"] == pytest.approx((best - data["bound"]) / best)
    assert data["mcsf_gap"] >= data["best_known_gap"]


def test_bound_with_local_moves_is_seeded():
    """`bound --moves N --seed S` reports the improved list: the same bytes for the same seed,
    never worse than without moves."""
    args = ["bound", DEMO, "--json", "--moves", "20"]
    plain = json.loads(runner.invoke(app, args[:3]).stdout)
    first, second = (runner.invoke(app, [*args, "--seed", "4"]) for _ in range(2))
    assert first.exit_code == 0, first.output
    data = json.loads(first.stdout)
    same = json.loads(second.stdout)
    assert data["best_known_total_latency"] == same["best_known_total_latency"]
    assert data["best_known_total_latency"] <= plain["best_known_total_latency"]
    assert data["best_known_source"].endswith("20 local moves, span 1")


def _n10_bounds(tmp_path, *options):
    """`bound --json` of a paper-style n = 10 instance (all at round 0, proven optimum 616),
    plain and with ``options``."""
    pytest.importorskip("ortools")
    from kvopt.generate import synthetic

    path = tmp_path / "n10.json"
    path.write_text(json.dumps(synthetic("zero", np.random.default_rng(100),
                                         num_requests=10).to_dict()))
    args = ["bound", str(path), "--json"]
    plain = json.loads(runner.invoke(app, args).stdout)
    result = runner.invoke(app, [*args, *options])
    assert result.exit_code == 0, result.output
    return plain, json.loads(result.stdout)


def test_bound_with_kth_completions(tmp_path):
    """`bound --kth-seconds` raises the bound of the n = 10 instance from 594 to within 1% of
    the optimum, and names the completion caps."""
    plain, data = _n10_bounds(tmp_path, "--kth-seconds", "20")
    assert plain["bound"] < 0.97 * 616 < 0.99 * 616 < data["bound"] <= 616
    assert "completion caps" in data["source"]


def test_bound_with_deadline_cuts(tmp_path):
    """`bound --deadline-cuts` raises the LP bound of the n = 10 instance and names the
    deadline cuts; never above the optimum."""
    plain, data = _n10_bounds(tmp_path, "--deadline-cuts")
    assert plain["bound"] < data["bound"] <= 616
    assert "deadline cuts" in data["source"]


@pytest.mark.parametrize("command", [
    ["bound", DEMO, "--kth-seconds", "1"],
    ["bound", DEMO, "--deadline-cuts"],
    ["solve", DEMO, "--deadline-seconds", "1"],
    ["ratio", DEMO, "--deadline-seconds", "1"],
])
def test_cpsat_options_without_ortools_are_one_line(monkeypatch, command):
    import kvopt.hindsight.exact.cpsat

    monkeypatch.setattr(kvopt.hindsight.exact.cpsat, "cpsat_available", lambda: False)
    result = runner.invoke(app, command)
    assert result.exit_code == 2
    option = command[2]
    assert result.output.strip().splitlines() == [
        f"error: {option} needs OR-Tools: pip install 'kvopt[cpsat]'"]


def test_ratio_with_kth_bounds_records_them(tmp_path):
    """`ratio --kth-seconds` on a cut-short solve: the run's records say which k-th budget they
    were made with, so a rerun with another budget does not reuse them. (Whether the k-th
    bounds raise the bound within a few seconds depends on the machine's load; that solve()
    takes the largest certified bound is tested deterministically in
    tests/hindsight/test_solve.py.)"""
    pytest.importorskip("ortools")
    from kvopt.generate import synthetic

    inst = synthetic("zero", np.random.default_rng(100), num_requests=14)
    path = tmp_path / "n14.json"
    path.write_text(json.dumps(inst.to_dict()))
    args = ["ratio", path, "--policies", "mcsf", "--json", "--no-progress", "--workers", "1",
            "--time-limit", "4"]
    plain = invoke(*args, "--out", tmp_path / "plain")
    helped = invoke(*args, "--kth-seconds", "2", "--out", tmp_path / "kth")
    assert plain.exit_code == helped.exit_code == 0, helped.stderr
    low = json.loads(plain.stdout)["instances"][0]["hindsight"]
    high = json.loads(helped.stdout)["instances"][0]["hindsight"]
    assert low["status"] == high["status"] == "feasible"
    assert low["bound"] <= low["objective"] and high["bound"] <= high["objective"]
    record = json.loads(next((tmp_path / "kth" / "hindsight").glob("*.json")).read_text())
    assert record["config"]["kth_time_limit_s"] == 2


def test_experiment_forwards_its_arguments(monkeypatch):
    """`kvopt experiment NAME ARGS` runs that experiment's main with ARGS and its exit code."""
    import kvopt.bins.experiment

    seen = []
    monkeypatch.setattr(kvopt.bins.experiment, "main", lambda argv: seen.append(argv) or 3)
    result = runner.invoke(app, ["experiment", "bins", "--out", "x", "--quick"])
    assert seen == [["--out", "x", "--quick"]] and result.exit_code == 3


def test_experiment_lists_every_experiment():
    """`kvopt experiment --help` names every experiment (these and any later one); an unknown
    one is exit 2."""
    from kvopt.cli.experiment import EXPERIMENTS

    result = runner.invoke(app, ["experiment", "--help"])
    assert result.exit_code == 0
    assert set(EXPERIMENTS) >= {"synthetic", "trace", "adversarial", "intervals", "bins",
                                "burst", "fluid", "leaderboard"}
    assert all(name in result.output for name in EXPERIMENTS)
    assert runner.invoke(app, ["experiment", "nosuch"]).exit_code == 2
