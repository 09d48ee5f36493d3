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


def test_json_has_the_section_7_metrics_and_slo_options(tmp_path):
    trace = write_trace(tmp_path / "t.csv")
    base = json.loads(invoke(trace, "--replicas", 2, "--json").stdout)
    for key in ("p50_queue_s", "p90_queue_s", "p99_queue_s", "p999_queue_s", "p90_ttft_s",
                "p999_ttft_s", "stall_s", "slo_attainment"):
        assert key in base, key
    assert base["slo_ttft_ref_s"] == base["p50_ttft_s"] and base["slo_ttft_factor"] == 5.0
    strict = json.loads(invoke(trace, "--replicas", 2, "--slo-ttft-ref", 1e-6,
                               "--json").stdout)
    assert strict["slo_attainment"] == 0.0 <= base["slo_attainment"]
    loose = json.loads(invoke(trace, "--replicas", 2, "--slo-ttft-factor", 1e6,
                              "--slo-tbt-factor", 1e6, "--json").stdout)
    assert loose["slo_attainment"] == 1.0
    res = invoke(trace, "--slo-tbt-factor", -1)
    assert res.exit_code == 2 and "--slo-tbt-factor" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
