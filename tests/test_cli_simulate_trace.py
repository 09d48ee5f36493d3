"""``kvopt simulate TRACE.csv --profile NAME``: the timed engine on a trace, from the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kvopt.cli import app
from kvopt.instance import Instance
from kvopt.profiles import load_profile
from kvopt.read import write_instance

DATA = Path(__file__).parent / "data"
AZURE = DATA / "trace_azure.csv"      # 3 requests: (4, 4), (2, 3), (6, 2) tokens
VIDUR = DATA / "trace_vidur.csv"      # 4 requests
PROFILE = "llama2-70b-a100x2"
TRACES_DIR = Path(__file__).resolve().parents[2] / "shared" / "traces"
AZURE_CONV = TRACES_DIR / "azure_llm_2023" / "AzureLLMInferenceTrace_conv.csv"
KEYS = {"requests", "completed", "makespan_s", "mean_latency_s", "p50_latency_s",
        "p99_latency_s", "mean_ttft_s", "p99_ttft_s", "mean_tpot_s", "throughput_tokens_per_s",
        "clearings", "policy", "profile", "memory", "seed", "rate"}

runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def run_json(*args: object) -> dict:
    res = invoke("simulate", *args, "--json")
    assert res.exit_code == 0, res.stderr
    return json.loads(res.stdout)


def unit_profile(tmp_path: Path, memory: int) -> Path:
    """A profile whose rounds last 1 s each, with KV capacity ``memory``."""
    text = load_profile(PROFILE).path.read_text(encoding="utf-8")   # type: ignore[union-attr]
    head = text[: text.index("[time_model]")]
    if "[memory]" in head:
        head = head[: head.index("[memory]")]
    path = tmp_path / "unit.toml"
    path.write_text(head + f"[memory]\nkv_capacity_tokens_override = {memory}\n\n"
                    "[time_model]\nkind = \"unit\"\nround_s = 1.0\n", encoding="utf-8")
    return path


def one_error_line(res, *words: str) -> str:
    assert res.exit_code == 2, res.stdout
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert "Traceback" not in res.stderr
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


# ------------------------------------------------------------------------------ the command
def test_trace_json_has_the_contract_keys():
    """An Azure trace with a profile: every key of the issue, all requests completed, the
    profile's capacity, statistics in order."""
    data = run_json(AZURE, "--profile", PROFILE, "--policy", "mcsf")
    assert set(data) >= KEYS
    assert (data["requests"], data["completed"], data["dropped"]) == (3, 3, 0)
    assert data["memory"] == load_profile(PROFILE).kv_capacity_tokens
    assert (data["profile"], data["policy"], data["rate"], data["seed"]) == (
        PROFILE, "mcsf", None, 0)
    assert 0 < data["mean_ttft_s"] <= data["mean_latency_s"]
    assert data["p50_latency_s"] <= data["p99_latency_s"] <= data["makespan_s"]
    # the last request arrives 1.319 s after the first (trace_azure.csv) and needs 2 rounds
    assert data["makespan_s"] > 1.3194
    assert data["throughput_tokens_per_s"] == pytest.approx(9 / data["makespan_s"])


@pytest.mark.parametrize("policy", ["mcsf", "fcfs", "clear-a0.1-b0.1"])
def test_unit_rounds_give_the_round_based_latency(tmp_path, policy):
    """With 1-s rounds and whole-second arrivals, seconds are rounds: the trace run's mean
    latency and clearings equal those of `simulate INSTANCE.json` on the same requests."""
    rows = [(0, 5, 4), (0, 3, 6), (1, 4, 2), (2, 6, 3), (2, 2, 5), (4, 3, 1)]
    csv_path = tmp_path / "t.csv"
    csv_path.write_text("arrived_at,num_prefill_tokens,num_decode_tokens\n"
                        + "".join(f"{a},{s},{o}\n" for a, s, o in rows))
    memory = 16
    inst = tmp_path / "t.json"
    write_instance(inst, Instance(memory, *(list(c) for c in zip(*rows, strict=True))))
    timed = run_json(csv_path, "--profile", unit_profile(tmp_path, memory), "--policy", policy)
    rounds = run_json(inst, "--policy", policy)
    assert timed["memory"] == memory
    assert timed["mean_latency_s"] == pytest.approx(rounds["average_latency"])
    assert timed["mean_latency_rounds"] == pytest.approx(rounds["average_latency"])
    assert timed["clearings"] == rounds["num_clearings"]


def test_memory_override_oversized_and_limit():
    """--memory replaces the profile's capacity; a request that cannot fit is refused in one
    line naming it, or dropped and counted with --drop-oversized; --limit keeps the first N."""
    res = invoke("simulate", AZURE, "--profile", PROFILE, "--policy", "fcfs", "--memory", 6)
    one_error_line(res, str(AZURE), "request 0", "--drop-oversized")
    data = run_json(AZURE, "--profile", PROFILE, "--policy", "fcfs", "--memory", 6,
                    "--drop-oversized")
    assert (data["memory"], data["requests"], data["dropped"]) == (6, 1, 2)
    assert run_json(VIDUR, "--profile", PROFILE, "--policy", "fcfs", "--limit", 2)[
        "requests"] == 2


def test_poisson_retiming_is_seeded():
    """--rate re-times the trace from --seed: the same seed prints the same bytes, another
    seed other arrivals."""
    args = ["simulate", VIDUR, "--profile", PROFILE, "--policy", "mcsf", "--rate", "2",
            "--json"]
    a, b = invoke(*args, "--seed", 3), invoke(*args, "--seed", 3)
    c = invoke(*args, "--seed", 4)
    assert a.exit_code == 0 and a.stdout == b.stdout
    assert json.loads(a.stdout)["rate"] == 2.0
    assert json.loads(a.stdout)["mean_latency_s"] != json.loads(c.stdout)["mean_latency_s"]
    own = run_json(VIDUR, "--profile", PROFILE, "--policy", "mcsf")
    assert own["mean_latency_s"] != json.loads(a.stdout)["mean_latency_s"]


def test_noisy_predictions_on_a_trace_are_seeded():
    """--eps on a trace gives MC-SF noisy predictions drawn from --seed."""
    args = [VIDUR, "--profile", PROFILE, "--policy", "mcsf", "--eps", "0.5", "--seed", "1"]
    assert run_json(*args) == run_json(*args)
    one_error_line(invoke("simulate", VIDUR, "--profile", PROFILE, "--policy", "fcfs", "--eps",
                          "0.5"), "--eps")


def test_table_output_names_units():
    """Without --json: a table in seconds and tokens/s."""
    res = invoke("simulate", VIDUR, "--profile", PROFILE, "--policy", "mc-benchmark")
    assert res.exit_code == 0, res.stderr
    for words in ("4 requests, own timestamps", "memory 16492 tokens", "latency", " s,",
                  "output tokens/s", "clearings"):
        assert words in res.stdout


@pytest.mark.parametrize("option", [["--rate", "3"], ["--profile", PROFILE], ["--limit", "2"],
                                    ["--memory", "40"], ["--drop-oversized"]])
def test_trace_options_refused_for_an_instance(option):
    """An instance JSON keeps the round-based run: a trace-only option is one line, exit 2."""
    res = invoke("simulate", DATA / "two_identical.json", "--policy", "mcsf", *option)
    one_error_line(res, option[0], "trace CSV")


def test_trace_needs_a_profile_and_a_known_one():
    """A CSV without --profile, or with an unknown profile, is one line and exit 2."""
    one_error_line(invoke("simulate", AZURE, "--policy", "mcsf"), str(AZURE), "--profile")
    one_error_line(invoke("simulate", AZURE, "--policy", "mcsf", "--profile", "nope"),
                   "unknown profile 'nope'")
    one_error_line(invoke("simulate", AZURE, "--policy", "mcsf", "--profile", PROFILE,
                          "--rate", "0"), "rate")


def test_detected_by_content_without_a_suffix(tmp_path):
    """Without a .csv or .json suffix, a JSON object is an instance and anything else a trace."""
    trace = tmp_path / "trace.txt"
    trace.write_bytes(AZURE.read_bytes())
    inst = tmp_path / "inst.txt"
    inst.write_bytes((DATA / "two_identical.json").read_bytes())
    assert run_json(trace, "--profile", PROFILE, "--policy", "fcfs")["requests"] == 3
    assert "total_latency" in run_json(inst, "--policy", "fcfs")


@pytest.mark.skipif(not AZURE_CONV.exists(), reason="../shared/traces is not available")
def test_azure_conversation_slice():
    """The issue's target: a 2,000-request slice of the Azure conversation trace."""
    data = run_json(AZURE_CONV, "--profile", PROFILE, "--policy", "mcsf", "--limit", 2000)
    assert (data["requests"], data["completed"]) == (2000, 2000)
    assert data["p99_latency_s"] >= data["p50_latency_s"] > 0
