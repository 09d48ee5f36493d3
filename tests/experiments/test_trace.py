"""The real-trace experiment on tiny trace files: outputs, reruns, policy names."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kvopt.experiments import trace

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture
def traces_dir(tmp_path: Path) -> Path:
    """A traces folder with a 40-request Azure-format trace and a ShareGPT-format lengths file."""
    root = tmp_path / "traces"
    (root / "azure_llm_2023").mkdir(parents=True)
    (root / "etalon").mkdir()
    rng = np.random.default_rng(0)
    lines = ["TIMESTAMP,ContextTokens,GeneratedTokens"]
    for k in range(40):
        sec = 10 + k // 2
        lines.append(f"2023-11-16 18:15:{sec:02d}.{k % 2}000000,{rng.integers(50, 900)},"
                     f"{rng.integers(1, 200)}")
    lines.append("2023-11-16 18:15:40.0000000,16000,900")        # oversized at M = 16,492
    (root / trace.AZURE_CONV).write_text("\n".join(lines) + "\n")
    rows = ["num_prefill_tokens,num_decode_tokens,num_total_tokens,pd_ratio"]
    for _ in range(60):
        s, o = int(rng.integers(50, 2000)), int(rng.integers(1, 300))
        rows.append(f"{s},{o},{s + o},{s / o}")
    (root / trace.SHAREGPT).write_text("\n".join(rows) + "\n")
    trace._columns.cache_clear()
    return root


def test_policy_names_and_parsing():
    """Nine paper policies plus seven MC-SF variants: each variant is MC-SF fed the
    environment's noisy predictions with a margin, parsed from its name."""
    names = trace.policy_names()
    assert len(names) == 16 and names[:2] == ["mcsf", "mc-benchmark"] and "fcfs" in names
    assert type(trace.make_policy("mcsf-eps0.5-m0.1")).__name__ == "McSf"
    model = trace.prediction_model("mcsf-eps0.5-m0.1")
    assert model is not None and (model.eps, model.margin) == (0.5, 0.1)
    assert trace.prediction_model("fcfs") is None
    with pytest.raises(ValueError, match="unknown policy"):
        trace.make_policy("mcsf-x")


def test_requests_drop_oversized_and_poisson_is_seeded(traces_dir):
    """Oversized requests are dropped and counted; Poisson arrivals repeat for one seed."""
    sc = next(s for s in trace.SCENARIOS if s.name == "azure-own-M16492")
    a, _s, _o, dropped = trace.requests(sc, 100, 1, traces_dir)
    assert (len(a), dropped) == (40, 1) and a[0] == 0.0
    p50 = next(s for s in trace.SCENARIOS if s.name == "sharegpt-p50-M16492")
    x, y = trace.requests(p50, 20, 7, traces_dir), trace.requests(p50, 20, 7, traces_dir)
    assert all(np.array_equal(u, v) for u, v in zip(x[:3], y[:3], strict=False))
    assert len(x[0]) == 20 and np.all(np.diff(x[0]) > 0)


def test_main_writes_outputs_and_rerun_skips(traces_dir, tmp_path, capsys):
    """A small run writes table, plots, summary and meta; a rerun reuses every record."""
    out = tmp_path / "out"
    args = ["--out", str(out), "--num-requests", "30", "--workers", "1", "--traces-dir",
            str(traces_dir), "--scenarios", "azure-own-M16492", "sharegpt-p10-Mderived",
            "--policies", "mcsf", "mc-benchmark", "greedy-a0.3", "fcfs", "mcsf-eps0.5-m0.1"]
    assert trace.main(args) == 0
    for f in ("table.md", "table.csv", "table.json", "latency_over_time.png",
              "throughput_over_time.png", "summary.md", "meta.json"):
        assert (out / f).stat().st_size > 0, f
    rows = json.loads((out / "table.json").read_text())
    assert len(rows) == 10
    assert all(r["mean_latency_s"] > 0 and r["throughput_tokens_per_s"] > 0 for r in rows)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["computed"] == 10 and "numpy" in meta["versions"]
    assert "32.11" in (out / "summary.md").read_text()
    assert trace.main(args) == 0
    assert json.loads((out / "meta.json").read_text())["computed"] == 0


def test_unknown_scenario_is_one_line_and_exit_2(traces_dir, tmp_path, capsys):
    """Issue 26: a scenario that matches nothing (the documented `azure-own` once did) is one
    line naming it, exit 2, nothing written; a workload name picks both of its memories."""
    out = tmp_path / "out"
    assert trace.main(["--out", str(out), "--traces-dir", str(traces_dir),
                       "--scenarios", "azure-nope"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("error: --scenarios: unknown scenario 'azure-nope'")
    assert not out.exists()
    assert trace.main(["--out", str(out), "--policies", "mcsf-x"]) == 2
    assert "--policies" in capsys.readouterr().err
    assert [s.name for s in trace.select_scenarios(["azure-own"])] == [
        "azure-own-M16492", "azure-own-Mderived"]


def test_one_scenario_plot_has_one_panel_and_human_names(traces_dir, tmp_path):
    """A one-scenario run draws one panel (no empty cells), its curves named MC-SF, FCFS, ...,
    at most six of them."""
    sc = next(s for s in trace.SCENARIOS if s.name == "azure-own-M16492")
    records = [trace.run_one(sc, p, 30, 1, traces_dir)
               for p in ("mcsf", "mc-benchmark", "greedy-a0.3", "greedy-a0.25",
                         "clear-a0.1-b0.1", "fcfs")]
    fig = trace.over_time_figure(records, [sc], "latency_over_time")
    assert len(fig.axes) == 1
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[:3] == ["MC-SF", "MC-Benchmark", "FCFS"] and len(labels) == 5
    assert len(fig.axes[0].get_lines()) <= 6
    assert not any(name in labels for name in ("mcsf", "fcfs"))
