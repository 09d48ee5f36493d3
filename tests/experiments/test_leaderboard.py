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

    def counting(scenario, j, policies, hindsight, limits):
        seen.append((scenario.name, j, tuple(policies), hindsight))
        return _JOB(scenario, j, policies, hindsight, limits)

    monkeypatch.setattr(leaderboard, "instance_job", counting)
    return seen


def _strip_times(obj):
    if isinstance(obj, dict):
        return {k: _strip_times(v) for k, v in obj.items()
                if k not in ("seconds", "wall_seconds", "versions")}
    if isinstance(obj, list):
        return [_strip_times(v) for v in obj]
    return obj


@pytest.fixture
def fast(monkeypatch, tmp_path):
    """Speed: no local search, the paper-size instances get the combinatorial bounds (the
    certified LP without a clock takes tens of seconds there); the tiny trace copied."""
    monkeypatch.setattr(leaderboard, "LOCAL_SEARCH", 0)
    monkeypatch.setattr(leaderboard, "SOLVE_MAX", 12)     # the adversarial ones: the solve
    monkeypatch.setattr(leaderboard, "LP_MAX", 0)
    from kvopt.hindsight import incumbents

    monkeypatch.setattr(incumbents, "SERIAL_MOVES", 50)   # read by leaderboard.effort()
    traces = tmp_path / "traces" / "azure_llm_2023"
    traces.mkdir(parents=True)
    shutil.copy(TINY_TRACE, traces / "AzureLLMInferenceTrace_conv.csv")
    return tmp_path / "traces"


def test_leaderboard_outputs_intervals_and_resume(tmp_path, calls, fast):
    out = tmp_path / "lb"
    args = ["--out", str(out), "--count", "1", "--trace-requests", "60", "--mip-nodes", "20",
            "--traces", str(fast), "--workers", "1", "--policies", POLICIES,
            "--scenarios", "hetero-poisson,azure-conv-high,adversarial"]
    assert leaderboard.main(args) == 0
    assert sorted({c[0] for c in calls}) == ["adversarial", "azure-conv-high", "hetero-poisson"]
    data = json.loads((out / "leaderboard.json").read_text())
    assert [s["name"] for s in data["scenarios"]] == ["hetero-poisson", "azure-conv-high",
                                                      "adversarial"]
    assert any("azure-code" in n for n in data["config"]["notes"])     # absent trace: a note
    assert data["config"]["effort"]["mip_nodes"] == 20
    for sc in data["scenarios"]:
        assert sc["deterministic"]
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
    assert human_name("amin") == "A_min (reconstructed)"
    assert human_name("hsf") == "H-SF (clairvoyant reference)"
    assert human_name("clear-a0.2-b0.1") == "β-clearing α=0.2 β=0.1"
    assert [human_name(p) for p in ("wait", "nested-wait", "vllm", "sarathi")] == [
        "WAIT", "Nested WAIT", "vLLM", "Sarathi (approx.)"]


def test_same_seeds_same_json(tmp_path, fast):
    """Every hindsight limit is a count: two runs from scratch into two directories
    write the same leaderboard.json once timings are stripped (one worker: the speed-ups
    patched here do not reach worker processes); other limits, another record identity."""
    base = ["--count", "2", "--trace-requests", "60", "--mip-nodes", "20", "--traces",
            str(fast), "--policies", "mcsf,svf,fcfs", "--scenarios",
            "hetero-zero,azure-conv-low,adversarial"]
    texts = []
    for k, workers in enumerate(("1", "1")):
        assert leaderboard.main(["--out", str(tmp_path / f"lb{k}"), "--workers", workers,
                                 *base]) == 0
        texts.append(json.loads((tmp_path / f"lb{k}" / "leaderboard.json").read_text()))
    assert _strip_times(texts[0]) == _strip_times(texts[1])
    again = leaderboard._hindsight_identity(leaderboard.scenarios(30, 2, 60, fast)[0][0], 0,
                                            leaderboard.effort(21, 600.0))
    assert again["effort"]["mip_nodes"] == 21      # the effort is part of the record identity


def test_mip_nodes_reach_highs(monkeypatch):
    """The node limit is HiGHS's, on one thread, and no clock decides the result."""
    from kvopt.hindsight import solve as solve_mod
    from kvopt.hindsight.milp.backends.highs import HighsBackend

    seen = []
    real = HighsBackend.solve

    def spy(self, model, **kw):
        seen.append(kw)
        return real(self, model, **kw)

    monkeypatch.setattr(HighsBackend, "solve", spy)
    inst = leaderboard.build(leaderboard.scenarios(30, 1, 1, None)[0][-1], 0)[0]
    res = solve_mod.solve(inst, "highs", mip_max_nodes=5, mip_time_limit_s=600, probing=False,
                          lp_first=False)
    assert res.objective >= res.bound
    assert seen and seen[0]["max_nodes"] == 5 and seen[0]["time_limit_s"] == 600
    with pytest.raises(Exception, match="HiGHS"):
        solve_mod.solve(inst, "cbc", mip_max_nodes=5)


@pytest.mark.parametrize("bad", [["--count", "0"], ["--mip-nodes", "-1"],
                                 ["--mip-safety-s", "0"],
                                 ["--policies", "nope"], ["--scenarios", "nope"]])
def test_bad_arguments_exit_2(tmp_path, bad):
    with pytest.raises(SystemExit) as exc:
        leaderboard.main(["--out", str(tmp_path), *bad])
    assert exc.value.code == 2


def test_lp_cut_rounds_reach_the_lp(monkeypatch):
    """The leaderboard's cut rounds reach the certified LP of the solve (and are part of the
    record identity); more rounds never give a weaker bound."""
    from kvopt.hindsight import solve as solve_mod

    seen = []
    real = solve_mod.lp_bound

    def spy(*args, **kw):
        seen.append(kw["cut_rounds"])
        return real(*args, **kw)

    monkeypatch.setattr(solve_mod, "lp_bound", spy)
    inst = leaderboard.build(leaderboard.scenarios(30, 1, 1, None)[0][0], 0)[0]
    limits = leaderboard.effort(0, 600.0)
    assert limits["lp_cut_rounds"] == leaderboard.LP_CUT_ROUNDS
    bounds = [solve_mod.solve(inst, "highs", mip_max_nodes=0, lp_cut_rounds=k).bound
              for k in (0, 2)]
    assert seen == [0, 2]
    assert bounds[0] <= bounds[1]
    with pytest.raises(Exception, match="lp_cut_rounds"):
        solve_mod.solve(inst, "highs", lp_cut_rounds=-1)
