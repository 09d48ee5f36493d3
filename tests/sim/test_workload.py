"""Traces as timed workloads and one verified timed run (:mod:`kvopt.sim.workload`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kvopt.policies import POLICIES
from kvopt.profiles import load_profile
from kvopt.read import read_trace_columns
from kvopt.sim.workload import (
    Workload,
    poisson_arrivals_s,
    run_verified,
    summary,
    trace_workload,
)

VIDUR = Path(__file__).resolve().parents[1] / "data" / "trace_vidur.csv"
PROFILE = "llama2-70b-a100x2"


def test_progress_is_called_up_to_the_end_and_changes_nothing():
    """The engine's progress callback counts completed requests up to n; the run is the same
    with it as without it."""
    cols = read_trace_columns(VIDUR)
    wl = trace_workload(cols)
    tm = load_profile(PROFILE).time_model
    seen: list[int] = []
    a = run_verified(wl, 100, POLICIES["mcsf"](), tm, rng=np.random.default_rng(0),
                     progress=seen.append)
    b = run_verified(wl, 100, POLICIES["mcsf"](), tm, rng=np.random.default_rng(0))
    assert seen[-1] == 4 and seen == sorted(seen)
    assert summary(a) == summary(b)


def test_workload_helpers():
    """Poisson arrivals repeat for one seed and increase; a length-only trace needs a rate;
    fitting drops and counts."""
    x = poisson_arrivals_s(5, 10.0, np.random.default_rng(1))
    assert np.array_equal(x, poisson_arrivals_s(5, 10.0, np.random.default_rng(1)))
    assert np.all(np.diff(x) > 0) and x[0] > 0
    lengths = {"prompt": np.array([1, 9]), "output": np.array([1, 1])}
    with pytest.raises(ValueError, match="no timestamps"):
        trace_workload(lengths)
    wl = trace_workload(lengths, rate_per_s=1.0, rng=np.random.default_rng(0))
    fit = wl.fitting(5, drop=True)
    assert (fit.num_requests, fit.dropped) == (1, 1)
    with pytest.raises(ValueError, match="request 1 needs 10 KV tokens"):
        Workload(wl.arrival_s, wl.prompt, wl.output).fitting(5, drop=False)
