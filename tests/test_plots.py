"""The figures: each writes a non-empty PNG, is deterministic, and rejects bad input."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_instance

from kvopt.adversarial import RatioPoint
from kvopt.exceptions import ScheduleError
from kvopt.plots import (
    MAX_CURVES,
    line_panels_figure,
    plot_ratio_cdf,
    plot_ratio_cdf_panels,
    plot_ratio_vs_n,
    plot_schedule,
    ratio_cdf_figure,
    split_series,
)
from kvopt.schedule import Schedule

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _point(n: int, low: float, high: float, status: str = "feasible") -> RatioPoint:
    return RatioPoint(num_requests=n, num_short=n - 1, long_output=4, memory=8, policy_cost=10,
                      opt_upper=8, opt_lower=6.0, opt_status=status, ratio_low=low,
                      ratio_high=high, analytic_ratio=low, solve_seconds=0.0)


def test_ratio_cdf_writes_png(tmp_path):
    """Exact and interval series together give a PNG."""
    path = plot_ratio_cdf({"mcsf": [1.0, 1.05, 1.2], "fcfs": [(1.1, 1.4), (1.3, 1.3)]},
                          tmp_path / "sub" / "cdf.png", title="t")
    assert path.read_bytes().startswith(PNG_MAGIC) and path.stat().st_size > 1000


def test_ratio_cdf_is_deterministic(tmp_path):
    """The same data gives the same bytes (no timestamp or version in the file)."""
    data = {"mcsf": [(1.0, 1.3), (1.1, 1.2)]}
    a = plot_ratio_cdf(data, tmp_path / "a.png").read_bytes()
    b = plot_ratio_cdf(data, tmp_path / "b.png").read_bytes()
    assert a == b


@pytest.mark.parametrize(("series", "match"), [
    ({}, "empty"),
    ({"p": []}, "no ratios"),
    ({"p": [(1.2, 1.1)]}, "low 1.2 > high 1.1"),
    ({"p": [(1.0, float("inf"))]}, "finite and positive"),
    ({"p": [0.0]}, "finite and positive"),
    ({"p": [(1.0, 1.1, 1.2)]}, "number or a \\(low, high\\) pair"),
    ({f"p{j}": [1.0] for j in range(7)}, "at most 6 curves per panel"),
    ({"p": [(1.0, 1.1)], "q": [(1.0, 1.1)], "r": [(1.0, 1.2)], "s": [1.0]},
     "at most 6 curves per panel, got 7"),
])
def test_ratio_cdf_rejects_bad_input(tmp_path, series, match):
    """Each malformed input names what is wrong."""
    with pytest.raises(ValueError, match=match):
        plot_ratio_cdf(series, tmp_path / "x.png")


def test_ratio_cdf_rejects_non_png_path(tmp_path):
    """Only .png is written."""
    with pytest.raises(ValueError, match=".png"):
        plot_ratio_cdf({"p": [1.0]}, tmp_path / "x.pdf")


def test_schedule_plot_with_clearing(tmp_path):
    """A schedule with a clearing and a wait is drawn."""
    # M = 6; request 0 (s=2, o=3) runs (0, 1], is cleared, restarts at 1 and ends at 4;
    # request 1 arrives at 0 and waits until 4
    inst = make_instance([(0, 2, 3), (0, 2, 2)], memory=6)
    sched = Schedule.from_runs(2, [(0, 0, 1), (0, 1, 4), (1, 4, 6)])
    path = plot_schedule(inst, sched, tmp_path / "g.png", title="clearing")
    assert path.read_bytes().startswith(PNG_MAGIC) and path.stat().st_size > 1000


def test_schedule_plot_rejects_unverified_schedule(tmp_path):
    """An over-memory schedule raises the verifier's error and writes nothing."""
    inst = make_instance([(0, 2, 3), (0, 2, 3)], memory=6)  # both at once hold 10 > 6 at t = 3
    with pytest.raises(ScheduleError, match="over the memory limit"):
        plot_schedule(inst, Schedule.from_starts([0, 0], inst.output), tmp_path / "g.png")
    assert not (tmp_path / "g.png").exists()


def test_ratio_vs_n_writes_png(tmp_path):
    """Proven points and unproven intervals together."""
    points = [_point(2, 1.0, 1.0, "optimal"), _point(4, 2.0, 2.0, "optimal"),
              _point(6, 3.5, 5.3), _point(9, 5.5, 8.4, "not solved")]
    path = plot_ratio_vs_n(points, tmp_path / "r.png")
    assert path.read_bytes().startswith(PNG_MAGIC) and path.stat().st_size > 1000


@pytest.mark.parametrize(("points", "match"), [
    ([], "empty"),
    ([_point(0, 1.0, 1.0)], "positive"),
    ([_point(3, 2.0, 1.0)], "low 2.0 > high 1.0"),
    ([_point(3, 1.0, np.inf)], "finite and positive"),
])
def test_ratio_vs_n_rejects_bad_input(tmp_path, points, match):
    """Empty, non-positive n, inverted or infinite intervals."""
    with pytest.raises(ValueError, match=match):
        plot_ratio_vs_n(points, tmp_path / "r.png")


# ------------------------------------------------------------------ panels of few curves
def _lines_per_axes(fig) -> list[int]:
    return [len(ax.get_lines()) for ax in fig.axes]


def test_many_series_are_cut_into_panels_of_at_most_six_curves():
    """18 interval series (two curves each) make 6 panels of 3 series; 7 exact ones, 2."""
    series = {f"p{j}": [(1.0, 1.2), (1.1, 1.1)] for j in range(18)}
    groups = split_series(series)
    assert [len(g) for g in groups] == [3] * 6
    fig = ratio_cdf_figure({f"panel {k}": g for k, g in enumerate(groups)})
    assert len(fig.axes) == 6 and max(_lines_per_axes(fig)) <= MAX_CURVES
    assert [len(g) for g in split_series({f"e{j}": [1.0, 1.1] for j in range(7)})] == [6, 1]


def test_one_panel_figure_has_one_axes(tmp_path):
    """A single series set is one panel, with no empty cells left in the figure."""
    assert len(ratio_cdf_figure({"": {"MC-SF": [1.0, 1.2]}}).axes) == 1
    fig = line_panels_figure([("only", {"MC-SF": ([0, 1], [2, 3]), "FCFS": ([0, 1], [3, 4])})],
                             xlabel="time (min)", ylabel="latency (s)")
    assert len(fig.axes) == 1
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["MC-SF", "FCFS"]
    assert plot_ratio_cdf_panels({"a": [1.0]}, tmp_path / "one.png").stat().st_size > 1000


def test_line_panels_refuse_a_crowded_panel():
    """Seven curves in one panel is an error naming the panel."""
    curves = {f"c{j}": ([0, 1], [0, j]) for j in range(7)}
    with pytest.raises(ValueError, match="at most 6 curves per panel, got 7 in panel 'busy'"):
        line_panels_figure([("busy", curves)], xlabel="x", ylabel="y")
