"""The adversarial experiment: outputs, one stored point per size, and what a rerun reuses."""

from __future__ import annotations

import csv
import json

import pytest

from kvopt.experiments import adversarial

_MEASURE = adversarial.measure


@pytest.fixture
def calls(monkeypatch):
    """The sizes measured (not reused) by each main() call."""
    seen: list[int] = []

    def counting(num_short, *args):
        seen.append(num_short)
        return _MEASURE(num_short, *args)

    monkeypatch.setattr(adversarial, "measure", counting)
    return seen


def test_main_writes_outputs_and_rerun_reuses(tmp_path, calls, capsys):
    """Table, CSV, JSON and plot are written; a rerun measures only sizes whose solve changed."""
    args = ["--out", str(tmp_path), "--shorts", "1,2,4", "--solve-up-to", "2",
            "--time-limit", "10"]
    assert adversarial.main(args) == 0
    assert calls == [1, 2, 4]
    for name in ("table.md", "table.csv", "table.json", "ratio-vs-n.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert sorted(p.name for p in (tmp_path / "points").iterdir()) == \
        ["m1.json", "m2.json", "m4.json"]
    rows = list(csv.DictReader((tmp_path / "table.csv").open()))
    assert [r["num_short"] for r in rows] == ["1", "2", "4"]
    assert [r["opt_status"] for r in rows[:2]] == ["optimal", "optimal"]
    # m = 4 is not solved: the bound is the sum of outputs, so the ratio is an interval
    assert float(rows[2]["opt_lower"]) == 16 + 4
    assert float(rows[2]["ratio_high"]) > float(rows[2]["ratio_low"])
    first = json.loads((tmp_path / "table.json").read_text())["points"]
    calls.clear()
    assert adversarial.main(args) == 0 and calls == []
    again = json.loads((tmp_path / "table.json").read_text())["points"]
    assert again == first
    # solving one more size re-measures that size only
    assert adversarial.main([*args[:5], "4", *args[6:]]) == 0 and calls == [4]
    assert "| 5 | 4 | 16 | 32 |" in capsys.readouterr().out


def test_bad_arguments_exit_2(tmp_path):
    """Bad --shorts or --workers end with argparse's usage error."""
    for bad in (["--shorts", "a"], ["--shorts", "0"], ["--workers", "0"]):
        with pytest.raises(SystemExit) as exc:
            adversarial.main(["--out", str(tmp_path), *bad])
        assert exc.value.code == 2
