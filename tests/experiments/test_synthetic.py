"""The synthetic experiment: fixed seeds, the report, resume, and record checking."""

from __future__ import annotations

import json

import pytest
from conftest import make_instance

from kvopt.exceptions import KvoptError
from kvopt.experiments import synthetic
from kvopt.experiments.runner import ExperimentConfig, run
from kvopt.generate import synthetic_set


def test_instances_are_the_seeded_paper_sets():
    """--count N gives the first N of the full sets, generated from the documented seeds."""
    small = synthetic.instances(3)
    assert set(small) == {"zero", "poisson"}
    for model, seed in synthetic.SEEDS.items():
        assert [i.to_dict() for i in small[model]] == \
            [i.to_dict() for i in synthetic_set(model, seed, 5)[:3]]
    assert all(40 <= i.num_requests <= 60 and (i.arrival == 0).all() for i in small["zero"])
    with pytest.raises(ValueError, match="count must be at least 1"):
        synthetic.instances(0)


def _tiny(count: int = 2):
    """Two hand-sized instances per model: the IP proves them at once."""
    rows = {"zero": [(0, 2, 3), (0, 1, 1), (0, 2, 2)], "poisson": [(0, 2, 3), (1, 1, 2), (2, 2, 1)]}
    return {m: [make_instance(r, memory=6 + j, name=f"paper-{m}-tiny-{j}") for j in range(count)]
            for m, r in rows.items()}


@pytest.fixture
def tiny_sets(monkeypatch):
    monkeypatch.setattr(synthetic, "instances", _tiny)


def test_main_end_to_end_and_resume(tiny_sets, tmp_path, capsys):
    """Every output is written; the table sits beside the paper's; a rerun reuses everything."""
    args = ["--out", str(tmp_path), "--count", "2", "--time-limit", "5", "--workers", "1",
            "--policies", "mcsf,fcfs,greedy-a0.3", "--no-progress"]
    assert synthetic.main(args) == 0
    for name in ("table.md", "table.csv", "table.json", "ratios.csv", "cdf-mcsf.png",
                 "cdf-fcfs.png", "cdf-all-zero.png", "cdf-all-poisson.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert list(tmp_path.glob("gantt-*-mcsf.png")) and list(tmp_path.glob("gantt-*-hindsight.png"))
    assert len(list((tmp_path / "hindsight").glob("*.json"))) == 4
    assert len(list((tmp_path / "policies").glob("*/*.json"))) == 12
    table = (tmp_path / "table.md").read_text()
    assert "114 of 200" in table and "1.047" in table and "1.227" in table
    data = json.loads((tmp_path / "table.json").read_text())
    mcsf_zero = next(r for r in data["table"] if r["policy"] == "mcsf"
                     and r["arrival_model"] == "zero")
    assert mcsf_zero["num_instances"] == 2 and mcsf_zero["num_optimum_proven"] == 2
    assert mcsf_zero["mean_vs_best_known"] == mcsf_zero["mean_vs_bound"] >= 1.0
    assert data["config"]["num_reused"] == 0
    capsys.readouterr()
    assert synthetic.main(args) == 0
    assert json.loads((tmp_path / "table.json").read_text())["config"]["num_reused"] == 4


def test_unproven_optimum_is_reported_as_interval():
    """With a bound below the best known schedule, the table shows both ends."""
    rec = {"hindsight": {"status": "feasible", "gap": 0.2, "seconds": 1.0, "bound_source": "x"},
           "policies": {"mcsf": {"ratio": {"cost": 120, "objective": 100.0, "bound": 80.0,
                                           "proven": False}}}}
    rows, hindsight = synthetic.summarise({"zero": [rec]}, ["mcsf"])
    assert rows[0]["mean_vs_best_known"] == pytest.approx(1.2)
    assert rows[0]["mean_vs_bound"] == pytest.approx(1.5)
    assert rows[0]["num_exactly_optimal_proven"] == 0 and rows[0]["num_equal_best_known"] == 0
    text = synthetic.markdown_table(rows, hindsight, {"count": 1, "backend": "highs",
                                                      "time_limit_s": 1.0})
    assert "[1.200, 1.500]" in text and "20.0%" in text


def test_check_record_catches_a_tampered_latency():
    """A record whose latency disagrees with its verified schedule is refused."""
    inst = _tiny()["zero"][0]
    rec = run([inst], ExperimentConfig(("mcsf",), "highs", 5.0), workers=1,
              progress=False).records[0]
    assert set(synthetic.check_record(inst, rec)) == {"hindsight", "mcsf"}
    rec["policies"]["mcsf"]["total_latency"] -= 1
    with pytest.raises(KvoptError, match="mcsf's latency differs"):
        synthetic.check_record(inst, rec)
