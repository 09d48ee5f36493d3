"""``kvopt cluster``: the JSON contract, time scaling and one-line errors."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from kvopt.cli import app

runner = CliRunner()
KEYS = {"requests", "completed", "p50_ttft_s", "p99_ttft_s", "p50_tbt_s", "p99_tbt_s",
        "throughput_tokens_per_s", "preemptions", "recomputed_tokens", "bytes_swapped",
        "bytes_migrated", "bytes_exchanged", "drops", "restores", "seconds_grouped"}


def write_trace(path, n=60, seed=0):
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.exponential(0.5, n))
    rows = [f"{a:.3f},{p},{o}" for a, p, o in zip(t, rng.integers(100, 2000, n),
                                                  rng.integers(10, 300, n), strict=True)]
    path.write_text("arrived_at,num_prefill_tokens,num_decode_tokens\n" + "\n".join(rows) + "\n")
    return path


def invoke(*args):
    return runner.invoke(app, ["cluster", *[str(a) for a in args]])


def test_json_has_the_contract_keys(tmp_path):
    trace = write_trace(tmp_path / "t.csv")
    res = invoke(trace, "--handler", "param", "--replicas", 2, "--json")
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    assert set(data) >= KEYS and data["requests"] == data["completed"] == 60


def test_time_scale_divides_inter_arrival_times(tmp_path):
    """35x faster arrivals make the same requests wait longer for their first token."""
    trace = write_trace(tmp_path / "t.csv", n=120)
    slow = json.loads(invoke(trace, "--replicas", 1, "--json").stdout)
    fast = json.loads(invoke(trace, "--replicas", 1, "--time-scale", 35, "--json").stdout)
    assert fast["p99_ttft_s"] > slow["p99_ttft_s"]
    limited = json.loads(invoke(trace, "--limit", 10, "--start", 5, "--json").stdout)
    assert limited["requests"] == 10


def test_bad_options_are_one_line_with_exit_2(tmp_path):
    trace = write_trace(tmp_path / "t.csv")
    for args, text in [(["--profile", "gpt-5"], "unknown profile 'gpt-5'"),
                       (["--handler", "param", "--replicas", 3], "does not divide"),
                       (["--time-scale", 0], "--time-scale"),
                       (["--start", 1000], "--start")]:
        res = invoke(trace, *args)
        assert res.exit_code == 2 and text in res.stderr, (args, res.stderr)
        assert len(res.stderr.strip().splitlines()) == 1
    assert invoke(trace, "--handler", "magic").exit_code == 2
    assert invoke(tmp_path / "missing.csv").exit_code == 2
