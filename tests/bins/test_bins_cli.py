"""`kvopt bins`: the JSON contract, the closed form beside the measurement, one-line errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from kvopt.cli import app, main

runner = CliRunner()
BASE = ["bins", "--bins", "4", "--batch", "8", "--lengths", "uniform:1:20"]


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_json_has_the_contract_keys_and_the_closed_form():
    """Saturated uniform run: capacity within 1% of c_k, which the JSON carries."""
    res = invoke(*BASE, "--saturated", "--requests", "40000", "--json", "--seed", "1")
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    assert {"capacity", "tokens_per_unit", "mean_latency", "p99_latency",
            "theory_capacity"} <= set(data)
    assert data["theory_capacity"] == pytest.approx(8 / (10.5 + 19 * 7 / (2 * 4 * 9)))
    assert data["capacity"] == pytest.approx(data["theory_capacity"], rel=0.01)
    assert data["theory_source"].startswith("closed form")


def test_rate_mode_errors_and_strict_json():
    """Poisson arrivals with assignment errors: the mixture integral; no Infinity in JSON."""
    res = invoke("bins", "--bins", "4", "--batch", "8", "--servers", "8", "--lengths",
                 "lognormal:3.655:0.46", "--rate", "0.5", "--requests", "5000",
                 "--assign-error", "0.2", "--json")
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout, parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
    assert data["theory_source"] == "numerical integral"
    assert data["edges"][-1] is None and data["predictor"] == "error-neighbour-0.2"
    assert data["latency_law_light_load"] > 0


def test_same_seed_same_output():
    args = [*BASE, "--rate", "0.3", "--requests", "3000", "--seed", "4", "--json"]
    assert invoke(*args).stdout == invoke(*args).stdout


def test_text_output():
    res = invoke(*BASE, "--saturated", "--requests", "800")
    assert res.exit_code == 0 and "capacity" in res.stdout and "measured / theory" in res.stdout


@pytest.mark.parametrize(("args", "words"), [
    ([*BASE, "--requests", "10"], "exactly one of --saturated, --rate and --trace-times"),
    ([*BASE, "--requests", "10", "--trace-times"], "--trace-times needs --lengths trace:FILE"),
    ([*BASE, "--rate", "-1", "--requests", "10"], "--rate"),
    ([*BASE, "--saturated", "--requests", "10", "--assign-error", "2"], "--assign-error"),
    (["bins", "--bins", "3", "--batch", "8", "--lengths", "uniform:1:20", "--saturated",
      "--requests", "10", "--table1"], "--table1"),
    (["bins", "--bins", "3", "--batch", "8", "--lengths", "gamma:1", "--saturated",
      "--requests", "10"], "--lengths"),
    ([*BASE, "--saturated", "--requests", "10", "--edges", "cubic"], "--edges"),
    ([*BASE, "--saturated", "--requests", "10", "--flush", "never"], "flush"),
    ([*BASE, "--saturated", "--requests", "10", "--profile", "llama2-7b-a100", "--t0", "1"],
     "--profile"),
    ([*BASE, "--saturated", "--requests", "0"], "--requests"),
    (["bins", "--bins", "0", "--batch", "8", "--lengths", "uniform:1:20", "--saturated",
      "--requests", "10"], "--bins"),
])
def test_bad_options_are_one_line_exit_2(capsys, args, words):
    """Through the console script: one line naming the option, exit code 2, no traceback."""
    with pytest.raises(SystemExit) as stop:
        main([str(a) for a in args])
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert len(err.splitlines()) == 1 and err.startswith("error: kvopt bins: ") and words in err
    assert "Traceback" not in err


def test_trace_times_replay(tmp_path):
    """--trace-times replays a trace's own timestamps; the theory uses the replayed rows."""
    path = tmp_path / "t.csv"
    rows = "\n".join(f"{0.5 * i},3,{1 + i % 7}" for i in range(200))
    path.write_text("arrived_at,num_prefill_tokens,num_decode_tokens\n" + rows + "\n")
    res = invoke("bins", "--bins", "2", "--batch", "4", "--lengths", f"trace:{path}",
                 "--trace-times", "--requests", "100", "--json")
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["arrivals"] == "trace timestamps" and data["requests"] == 100
    assert data["num_served"] + data["num_unserved"] == 100
