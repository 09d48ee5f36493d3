"""kvopt experiment fluid: a tiny run writes its tables and figure; bad options exit 2."""

from __future__ import annotations

import json

import pytest

from kvopt.experiments import fluid
from kvopt.experiments.fluid import TRACES_DIR, WORKLOADS, main, run_one


def test_tiny_run_writes_tables_and_figure(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(fluid, "CAPS", (20, 80))
    assert main(["--out", str(tmp_path), "--workloads", "p512d20", "--num-requests", "40",
                 "--horizon-sizes", "30",
                 "--workers", "1"]) == 0
    for name in ("table.csv", "table.json", "table.md", "all_runs.csv", "fluid.png",
                 "meta.json", "horizon.md", "horizon.csv"):
        assert (tmp_path / name).exists()
    rows = json.loads((tmp_path / "table.json").read_text())
    assert {r["policy"] for r in rows} == {"wait", "vllm", "sarathi"}
    assert len(rows) == 3 * len(WORKLOADS["p512d20"].rates)      # the best WAIT cap per rate
    assert all(0 < r["load"] < 1 and r["restarts"] == 0 for r in rows)
    assert "| WAIT |" in (tmp_path / "table.md").read_text()
    assert "WAIT (fluid thresholds d20: " in (tmp_path / "horizon.md").read_text()


def test_bad_workload_exits_2(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--workloads", "nope"]) == 2
    assert "--workloads: unknown 'nope'" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_mix_run_is_seeded():
    """The same seed repeats a run exactly; the nested setting reads the mix's segments."""
    w = WORKLOADS["mix"]
    setting = fluid.settings(w, "nested-wait")[1]
    assert setting["bounds"] == [20, 50]
    a = run_one(w, "nested-wait", setting, 18.0, 200, 5)
    b = run_one(w, "nested-wait", setting, 18.0, 200, 5)
    a.pop("wall_s"), b.pop("wall_s")
    assert a == b


@pytest.mark.skipif(not TRACES_DIR.exists(), reason="needs ../shared/traces")
def test_trace_sample_is_filtered():
    prompt, output = fluid.trace_sample("sharegpt", TRACES_DIR)
    assert len(prompt) > 1000 and prompt.max() < 500 and output.max() < 500
    assert 0 < fluid.capacity(prompt, output) < 100
