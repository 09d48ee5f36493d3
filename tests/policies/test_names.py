"""Human policy names: one mapping for every table and figure."""

from __future__ import annotations

import pytest

from kvopt.policies import POLICIES, display_name


@pytest.mark.parametrize(("key", "name"), [
    ("mcsf", "MC-SF"), ("mc-benchmark", "MC-Benchmark"), ("mcsf-benchmark", "MC-Benchmark"),
    ("fcfs", "FCFS"), ("greedy-a0.3", "α-greedy α=0.3"),
    ("clear-a0.2-b0.1", "β-clearing α=0.2 β=0.1"), ("hsf", "H-SF"), ("amax", "A_max"),
    ("mcsf-eps0.5", "MC-SF ε=0.5"), ("mcsf-m0.1", "MC-SF +10% margin"),
    ("mcsf-eps0.2-m0.1", "MC-SF ε=0.2 +10% margin"), ("hindsight", "Hindsight (best known)"),
])
def test_display_name(key, name):
    """Registry keys and the experiments' variants get the names the papers use."""
    assert display_name(key) == name


def test_every_registered_policy_has_its_own_human_name():
    """No registry key is shown raw, and no two policies share a name."""
    names = [display_name(k) for k in POLICIES]
    assert not set(names) & set(POLICIES)
    assert len(set(names)) == len(names)


def test_reconstructed_and_approximate_rules_say_so():
    """A rule the registry calls reconstructed (or an approximation) is named so wherever a
    report prints it."""
    for key, spec in POLICIES.items():
        words = spec.description.split(":")[0].lower()
        if "reconstructed" in words:
            assert "reconstructed" in display_name(key), key
        if "approximation" in words:
            assert "approx" in display_name(key), key
    assert display_name("amin") == "A_min (reconstructed)"


def test_unknown_key_is_returned_as_is():
    """A policy added later is shown by its key rather than failing a report."""
    assert display_name("my-policy") == "my-policy"
    assert display_name("mcsf-x") == "mcsf-x"
