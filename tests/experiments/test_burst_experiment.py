"""The burst experiment: workloads, the base-rate bisection, records reused, the report."""

from __future__ import annotations

import numpy as np
import pytest

from kvopt.experiments import burst

pytestmark = pytest.mark.skipif(not (burst.TRACES_DIR / burst.CONV).exists(),
                                reason="needs ../shared/traces")


def test_burst_workload_multiplies_the_rate_inside_the_burst():
    lengths = burst.load_lengths(burst.TRACES_DIR)
    assert (lengths.prompt + lengths.output).max() <= 4096
    w = burst.burst_workload(lengths, 10.0, 4.0, 30.0, seed=0)
    t = w.arrival_s
    inside = ((t >= 60) & (t < 90)).sum() / 30.0
    outside = ((t < 60) | (t >= 90)).sum() / 270.0
    assert 3.0 < inside / outside < 5.0
    base = burst.burst_workload(lengths, 10.0, 1.0, 0.0, seed=0)
    faster = burst.burst_workload(lengths, 20.0, 1.0, 0.0, seed=0)
    assert len(faster.arrival_s) > 1.8 * len(base.arrival_s)
    again = burst.burst_workload(lengths, 10.0, 4.0, 30.0, seed=0)
    np.testing.assert_array_equal(again.arrival_s, w.arrival_s)


def test_main_writes_the_report_and_reuses_records(tmp_path, capsys):
    args = ["--out", str(tmp_path), "--presets", "13b-a100-tp1", "--handlers",
            "recompute,param", "--factors", "4", "--durations", "3", "--burst-seconds", "3",
            "--horizon", "15", "--rate", "6", "--no-replays"]
    assert burst.main(args) == 0
    report = (tmp_path / "report.md").read_text()
    assert "Drop parameters (KunServe)" in report and "recompute / KunServe" in report
    assert (tmp_path / "burst_timeline.png").stat().st_size > 0
    runs = sorted((tmp_path / "runs").glob("*.json"))
    assert len(runs) == 2 * 2              # 2 scenarios x 2 handlers
    stamps = [p.stat().st_mtime_ns for p in runs]
    capsys.readouterr()
    assert burst.main([*args, "--no-plots"]) == 0
    assert [p.stat().st_mtime_ns for p in runs] == stamps
    assert "P99 TTFT" not in capsys.readouterr().err      # nothing was run again


def test_bad_options_exit_2(tmp_path):
    with pytest.raises(SystemExit) as exc:
        burst.main(["--out", str(tmp_path), "--presets", "gpt-5"])
    assert exc.value.code == 2
