"""The leaderboard: outputs (self-contained HTML), certified intervals, ranks, resume, the
policy list from the registry."""

from __future__ import annotations

import json
import shutil
import types
from pathlib import Path

import pytest

from kvopt.experiments import leaderboard
from kvopt.experiments.leaderboard_report import human_name

TINY_TRACE = Path(__file__).parents[1] / "data" / "trace_azure.csv"
POLICIES = "mcsf,svf,sorted-f,fcfs,hsf"

_JOB = leaderboard.instance_job


@pytest.fixture
def calls(monkeypatch):
    """(scenario, j, policies, hindsight) of every instance job each main() call runs."""
    seen: list[tuple[str, int, tuple[str, ...], bool]] = []

    def counting(scenario, j, policies, hindsight, time_limit_s):
        seen.append((scenario.name, j, tuple(policies), hindsight))
        return _JOB(scenario, j, policies, hindsight, time_limit_s)

    monkeypatch.setattr(leaderboard, "instance_job", counting)
    return seen


def _strip_times(obj):
    if isinstance(obj, dict):
        return {k: _strip_times(v) for k, v in obj.items()
                if k not in ("seconds", "wall_seconds", "versions")}
    if isinstance(obj, list):
        return [_strip_times(v) for v in obj]
    return obj


def test_leaderboard_outputs_intervals_and_resume(tmp_path, calls, monkeypatch):
    monkeypatch.setattr(leaderboard, "LOCAL_SEARCH", 0)       # speed: the solve alone
    traces = tmp_path / "traces" / "azure_llm_2023"
    traces.mkdir(parents=True)
    shutil.copy(TINY_TRACE, traces / "AzureLLMInferenceTrace_conv.csv")
    out = tmp_path / "lb"
    args = ["--out", str(out), "--count", "1", "--trace-requests", "60", "--time-limit", "1",
            "--traces", str(tmp_path / "traces"), "--workers", "1", "--policies", POLICIES,
            "--scenarios", "hetero-poisson,azure-conv-high,adversarial"]
    assert leaderboard.main(args) == 0
    assert sorted({c[0] for c in calls}) == ["adversarial", "azure-conv-high", "hetero-poisson"]
    data = json.loads((out / "leaderboard.json").read_text())
    assert [s["name"] for s in data["scenarios"]] == ["hetero-poisson", "azure-conv-high",
                                                      "adversarial"]
    assert any("azure-code" in n for n in data["config"]["notes"])     # absent trace: a note
    for sc in data["scenarios"]:
        for inst in sc["instances"]:
            assert 0 < inst["bound"] <= inst["upper"]
        ranks = sorted(r["rank"] for r in sc["rows"] if r["rank"] is not None)
        assert ranks[0] == 1 and len(ranks) == 4
        for r in sc["rows"]:
            assert 1.0 <= r["ratio_low"] <= r["ratio_high"]
            assert (r["rank"] is None) == (r["policy"] == "hsf")
    # the adversarial family is built against MC-SF: shorts-first beats it, the bound is proven
    adv = {r["policy"]: r for r in data["scenarios"][-1]["rows"]}
    assert adv["mcsf"]["ratio_low"] > 1.5
    page = (out / "index.html").read_text()
    assert page.count("data:image/png;base64,") == 2
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert "Sorted-F (reconstructed)" in page and "SVF" in page
    assert "Sorted-F (reconstructed)" in (out / "leaderboard.md").read_text()
    # a rerun computes nothing and writes the same figures
    calls.clear()
    assert leaderboard.main(args) == 0 and calls == []
    again = json.loads((out / "leaderboard.json").read_text())
    assert _strip_times(again) == _strip_times(data)
    # one more policy: only its runs, no hindsight solve
    assert leaderboard.main([*args[:-3], POLICIES + ",mc-benchmark", *args[-2:]]) == 0
    assert {(c[2], c[3]) for c in calls} == {(("mc-benchmark",), False)}


def test_policy_list_follows_the_registry_and_engines(monkeypatch):
    """Every registered policy in order; one made only for the engine in seconds is left
    out."""
    from kvopt import policies

    names = leaderboard.policy_names()
    assert names == list(policies.POLICIES)
    fake = types.SimpleNamespace(engines=("seconds",), predictions=None, description="x")
    monkeypatch.setitem(policies.POLICIES, "seconds-only", fake)
    assert "seconds-only" not in leaderboard.policy_names()
    with pytest.raises(ValueError, match="seconds-only"):
        leaderboard.policy_names("mcsf,seconds-only")


def test_human_names():
    assert human_name("sorted-f") == "Sorted-F (reconstructed)"
    assert human_name("clear-a0.2-b0.1") == "alpha-beta clearing, alpha 0.2, beta 0.1"
    assert human_name("greedy-a0.25") == "alpha greedy, alpha 0.25"


@pytest.mark.parametrize("bad", [["--count", "0"], ["--time-limit", "0"],
                                 ["--policies", "nope"], ["--scenarios", "nope"]])
def test_bad_arguments_exit_2(tmp_path, bad):
    with pytest.raises(SystemExit) as exc:
        leaderboard.main(["--out", str(tmp_path), *bad])
    assert exc.value.code == 2
