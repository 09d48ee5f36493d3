"""The interval sweep on tiny settings: its cells (theory and OPT tracks), the report, the files it
writes, resume, and bad options."""

from __future__ import annotations

import csv
import json

import pytest

from kvopt.experiments import intervals as sweep
from kvopt.experiments.intervals_report import amax_bounds, summarize, write_report

TINY = ["--seeds", "1", "--scales", "50", "--num-requests", "30", "--alphas", "1,0.25",
        "--opt-sizes", "4", "--opt-seeds", "1", "--opt-time-limit", "20", "--workers", "1"]


NEEDS_TRACES = pytest.mark.skipif(not sweep.TRACES_DIR.exists(), reason="needs ../shared/traces")


def _strip(rows):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


@NEEDS_TRACES
def test_theory_cell_rows_and_alpha_one():
    """Every panel x alpha x policy, H-SF as reference; at alpha = 1 (G2, G3) A_max and A_min
    equal H-SF and A_min evicts nothing; a cell repeats itself."""
    rows = sweep.theory_cell("sharegpt", 50, 0, 30, (1.0, 0.25), str(sweep.TRACES_DIR))["rows"]
    hsf = [r for r in rows if r["policy"] == "hsf" and r["panel"] == "-"]
    assert len(hsf) == 1 and hsf[0]["reference"] == hsf[0]["total_latency"]
    for r in rows:
        if r["alpha"] == 1.0 and r["panel"] != "G1" and r["policy"] in ("amax", "amin"):
            assert r["total_latency"] == r["reference"] and r["evictions"] == 0
    panels = {(r["panel"], r["alpha"]) for r in rows if r["policy"] == "amin"}
    assert panels == {(p, a) for p in sweep.PANELS for a in (1.0, 0.25)}
    evict = {r["policy"] for r in rows if r["panel"] == sweep.EVICT_PANEL}
    assert set(sweep.EVICT_POLICIES) <= evict
    again = sweep.theory_cell("sharegpt", 50, 0, 30, (1.0, 0.25), str(sweep.TRACES_DIR))["rows"]
    assert _strip(rows) == _strip(again)


@NEEDS_TRACES
def test_theory_instance_fits_and_g1_windows():
    inst = sweep.theory_instance("azure-conv", 50, 1, 200, sweep.TRACES_DIR)
    assert (inst.prompt + inst.output <= inst.memory).all()
    assert len(set(inst.prompt.tolist())) == 1 and (inst.arrival == 0).all()
    window = sweep.theory_instance("azure-conv", 50, 1, 200, sweep.TRACES_DIR, window_alpha=0.8)
    assert window.output.min() >= 0.8 * window.output.max() - 1


@NEEDS_TRACES
def test_opt_cell_against_the_hindsight_optimum():
    """n = 4: proven; H-SF and every policy at least OPT; three requests fit at once."""
    rows = sweep.opt_cell("sharegpt", 4, 0, (1.0, 0.1), str(sweep.TRACES_DIR), 20.0,
                          "highs")["rows"]
    assert {r["opt_status"] for r in rows} == {"optimal"}
    assert all(r["total_latency"] >= r["opt_objective"] for r in rows)
    assert {r["panel"] for r in rows} == {"-", "G2", "G3-uniform", "G3-low", "G3-high"}
    inst = sweep.opt_instance("sharegpt", 4, 0, sweep.TRACES_DIR)
    assert inst.memory == 3 * (int(inst.prompt[0]) + sweep.OPT_MEDIAN_OUTPUT)


def test_amax_bounds_match_the_spec_table():
    want_lo = (1, 1.32, 2.41, 6.0, 20.8, 54.7)
    want_hi = (1, 1.41, 3.0, 10.0, 55, 210)
    for a, lo, hi in zip(sweep.ALPHAS, want_lo, want_hi, strict=True):
        got_lo, got_hi = amax_bounds(a)
        assert got_lo == pytest.approx(lo, abs=0.05) and got_hi == pytest.approx(hi, abs=0.05)


@NEEDS_TRACES
def test_main_writes_rows_report_figures_and_resumes(tmp_path, monkeypatch):
    out = tmp_path / "sweep"
    assert sweep.main(["--out", str(out), *TINY]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"rows.csv", "report.md", "config.json", "cells", "amax-bounds.png",
            "ratio-vs-alpha-sharegpt.png", "evictions-sharegpt.png", "opt-sharegpt.png"} <= names
    with open(out / "rows.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["track"] for r in rows} == {"theory", "opt"}
    report = (out / "report.md").read_text()
    assert "A-F1" in report and "A-F4" in report and "proven on 1 of 1" in report
    first = (out / "rows.csv").read_text()

    def boom(*args, **kwargs):
        raise AssertionError("a stored cell was recomputed")

    monkeypatch.setattr(sweep, "theory_cell", boom)
    monkeypatch.setattr(sweep, "opt_cell", boom)
    assert sweep.main(["--out", str(out), *TINY, "--no-plots"]) == 0
    assert _csv_without_seconds(first) == _csv_without_seconds((out / "rows.csv").read_text())
    config = json.loads((out / "config.json").read_text())["config"]
    assert config["seeds"] == 1 and config["opt_sizes"] == [4]


@NEEDS_TRACES
def test_figures_repeat_their_bytes(tmp_path):
    """The same rows give the same PNG bytes (no time stamp, no software tag)."""
    rows = sweep.theory_cell("azure-conv", 50, 0, 20, (1.0, 0.5), str(sweep.TRACES_DIR))["rows"]
    config = sweep.SweepConfig(traces=("azure-conv",), scales=(50,), seeds=1, num_requests=20,
                               alphas=(1.0, 0.5), opt_sizes=())
    for name in ("a", "b"):
        write_report(rows, config, tmp_path / name, wall_s=0.0)
    pngs = sorted(p.name for p in (tmp_path / "a").glob("*.png"))
    assert pngs and all((tmp_path / "a" / n).read_bytes() == (tmp_path / "b" / n).read_bytes()
                        for n in pngs)


def _csv_without_seconds(text: str) -> list[dict]:
    return _strip(list(csv.DictReader(text.splitlines())))


def test_summary_gives_mean_and_worst():
    rows = [{"track": "theory", "trace": "t", "panel": "G2", "alpha": 0.5, "policy": "amax",
             "total_latency": cost, "reference": 100, "num_requests": 10, "evictions": 0,
             "wasted_tokens": 0, "seconds": 0.1, "peak_memory_tokens": 5, "memory": 10}
            for cost in (110, 130)]
    stats = summarize(rows)[("theory", "t", "G2", 0.5, "amax")]
    assert stats["mean"] == pytest.approx(1.2) and stats["worst"] == pytest.approx(1.3)


@pytest.mark.parametrize(("extra", "match"), [
    (["--traces", "lmsys"], "unknown trace"),
    (["--alphas", "0,0.5"], "--alphas must be numbers in"),
    (["--alphas", "x"], "comma-separated numbers"),
    (["--seeds", "0"], "positive integers"),
])
def test_bad_options_exit_2(tmp_path, capsys, extra, match):
    with pytest.raises(SystemExit) as exc:
        sweep.main(["--out", str(tmp_path / "x"), *extra])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert match in err and err.startswith("error: ") and err.count("\n") == 1
    assert not (tmp_path / "x").exists()
