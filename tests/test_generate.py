"""The paper's synthetic generator (spec section 6)."""

from __future__ import annotations

import numpy as np
import pytest

from kvopt.generate import poisson_arrivals, synthetic, synthetic_set


@pytest.mark.parametrize("arrivals", ["zero", "poisson"])
def test_paper_distributions(arrivals):
    """M in 30..50, s in 1..5, o in 1..M - s; zero: n in 40..60, all at 0."""
    for inst in synthetic_set(arrivals, 11, 20):
        assert 30 <= inst.memory <= 50
        assert inst.prompt.min() >= 1 and inst.prompt.max() <= 5
        assert inst.output.min() >= 1 and np.all(inst.prompt + inst.output <= inst.memory)
        if arrivals == "zero":
            assert 40 <= inst.num_requests <= 60 and np.all(inst.arrival == 0)
        else:
            assert np.all(np.diff(inst.arrival) >= 0) and inst.arrival.max() < 60


def test_same_seed_same_set_independent_of_count():
    """Instance j depends on (seed, j) only, not on how many are drawn."""
    a = synthetic_set("poisson", 5, 3, num_requests=6)
    b = synthetic_set("poisson", 5, 5, num_requests=6)
    assert [x.to_dict() for x in a] == [x.to_dict() for x in b[:3]]
    c = synthetic_set("poisson", 6, 3, num_requests=6)
    assert [x.to_dict() for x in a] != [x.to_dict() for x in c]


@pytest.mark.parametrize("arrivals", ["zero", "poisson"])
def test_fixed_num_requests(arrivals):
    """num_requests fixes n under both arrival models."""
    assert synthetic(arrivals, np.random.default_rng(0), num_requests=7).num_requests == 7


def test_names_carry_seed_and_position():
    """paper-<arrivals>-s<seed>-<j>."""
    assert synthetic_set("zero", 3, 2, num_requests=2)[1].name == "paper-zero-s3-0001"


def test_poisson_arrivals_sorted_counts():
    """Arrival rounds are sorted and within the horizon."""
    arr = poisson_arrivals(50, 1.0, np.random.default_rng(1))
    assert np.all(np.diff(arr) >= 0) and arr.max() < 50 and len(arr) > 20


def test_unknown_arrival_model():
    """Only zero and poisson exist."""
    with pytest.raises(ValueError, match="arrivals"):
        synthetic("uniform", np.random.default_rng(0))  # type: ignore[arg-type]


def test_shipped_instances_match_their_generator():
    """The shipped instances (package data) hold exactly what their README says the generator
    produced."""
    from kvopt.read import read_shipped_instance, shipped_instances

    demo = read_shipped_instance("demo/paper-zero-n10")
    expected = synthetic_set("zero", 7, 1, num_requests=10)[0].replace(name="paper-zero-n10")
    assert demo.to_dict() == expected.to_dict()
    small = [n for n in shipped_instances() if n.startswith("paper-small/")]
    assert len(small) == 10 and len(shipped_instances()) == 11
    for arrivals in ("zero", "poisson"):
        stream = synthetic_set(arrivals, 2025, 40, num_requests=6)
        for name in small:
            if name.startswith(f"paper-small/paper-{arrivals}-"):
                j = int(name.rsplit("-", 1)[1])
                assert read_shipped_instance(name).to_dict() == stream[j].to_dict()
