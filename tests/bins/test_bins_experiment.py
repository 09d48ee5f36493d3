"""The Multi-Bin Batching experiment at small sizes: every output, strict JSON, same bytes."""

from __future__ import annotations

import json

import pytest

from kvopt.bins.edges import bin_edges
from kvopt.bins.experiment import FIG6_LENGTHS, T_TOK_S, TRACES_DIR, main, sustainable_rate
from kvopt.bins.report import _plot_f4
from kvopt.bins.theory import theory_capacity


@pytest.mark.skipif(not TRACES_DIR.exists(), reason="shared traces not present")
def test_quick_run_writes_every_output(tmp_path):
    """Tables, five PNGs, results and meta; a PNG repeats byte for byte from the results."""
    out = tmp_path / "bins"
    assert main(["--out", str(out), "--quick", "--seed", "3"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["capacity_vs_assign_error.png", "capacity_vs_bins.png", "fig6_series.png",
                     "latency_vs_rate.png", "meta.json", "results.json", "table1_gain.png",
                     "tables.md"]
    results = json.loads((out / "results.json").read_text(),
                         parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
    tables = (out / "tables.md").read_text()
    for heading in ("B-F1", "B-F2", "B-F3", "B-F4", "B-F5", "22.71", "MC-SF"):
        assert heading in tables
    again = tmp_path / "again.png"
    _plot_f4(results["B-F4"], again)
    assert again.read_bytes() == (out / "capacity_vs_assign_error.png").read_bytes()



def test_bisection_lands_near_the_capacity():
    """The largest Poisson rate whose end backlog is under 1% lies within 3% of the saturated
    capacity (the 1% backlog criterion tolerates about 1% overload)."""
    cap = theory_capacity(FIG6_LENGTHS, bin_edges(FIG6_LENGTHS, 4), 8, servers=8, t_tok=T_TOK_S)
    rate = sustainable_rate(FIG6_LENGTHS, 4, 8, 8, T_TOK_S, 20_000, 0, cap, 8)
    assert rate == pytest.approx(cap, rel=0.03)
