"""The figures: each writes a non-empty PNG, is deterministic, and rejects bad input."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_instance

from kvopt.adversarial import RatioPoint
from kvopt.exceptions import ScheduleError
from kvopt.plots import plot_ratio_cdf, plot_ratio_vs_n, plot_schedule
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
    ({f"p{j}": [1.0] for j in range(11)}, "at most 10"),
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
