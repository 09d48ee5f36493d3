"""POLICIES: typed factories under the nine names, in order, then the interval policies; what
each reads; only the clairvoyant reference has its own predictions."""

from __future__ import annotations

import functools

from kvopt.policies import POLICIES, PolicySpec, Replay

NINE = ["mcsf", "mc-benchmark", "greedy-a0.3", "greedy-a0.25", "clear-a0.2-b0.2",
        "clear-a0.2-b0.1", "clear-a0.1-b0.2", "clear-a0.1-b0.1", "fcfs"]
INTERVALS = ["amax", "amin", "amin-lowest-estimate", "amin-most-progress", "amin-random", "hsf",
             "mcsf-upper", "mcsf-lower", "mcsf-mid"]
#: issue 30 (specs/fluid-wait.md); other issues may register more names after these
WAIT = ["wait", "nested-wait", "vllm", "sarathi"]
PEERS = ["svf", "sorted-f"]    # issue 30


def test_the_nine_names_in_order():
    """The registry's keys are the nine policies, in the CLI's order, then the interval
    policies (issue 27), then the peer policies of issue 30 (others may follow); Replay is not
    registered."""
    names = list(POLICIES)
    assert names[:len(NINE + INTERVALS)] == NINE + INTERVALS
    assert [n for n in names if n in PEERS] == PEERS
    assert [n for n in names if n in WAIT] == WAIT
    assert all(spec.factory is not Replay for spec in POLICIES.values())


def test_each_spec_makes_a_fresh_policy_of_its_name():
    """Calling a spec (or its factory) makes a new policy whose name is the key; parameterised
    variants are partials, not parsed names."""
    for name, spec in POLICIES.items():
        assert isinstance(spec, PolicySpec) and spec.description
        first, second = spec(), spec.factory()
        assert first.name == second.name == name and first is not second
    assert isinstance(POLICIES["clear-a0.2-b0.1"].factory, functools.partial)
    assert POLICIES["clear-a0.2-b0.1"].factory.keywords == {"alpha": 0.2, "beta": 0.1}


def test_only_mcsf_variants_read_predictions():
    """MC-SF, MC-Benchmark and the interval policies plan with predictions; the alpha baselines
    and FCFS do not."""
    reading = [n for n, spec in POLICIES.items() if spec.reads_predictions]
    assert reading[:2 + len(INTERVALS)] == ["mcsf", "mc-benchmark", *INTERVALS]
    assert set(PEERS) <= set(reading)
    assert not {"greedy-a0.3", "clear-a0.2-b0.1", "fcfs"} & set(reading)
    # WAIT's types and Nested WAIT's length distribution come from the predictions
    assert [n for n in reading if n in WAIT] == ["wait", "nested-wait"]


def test_only_hsf_brings_its_own_predictions():
    """The clairvoyant reference alone tells the environment to give it the true outputs."""
    from kvopt.sim.intervals import ExactPredictions

    assert {n for n, spec in POLICIES.items() if spec.predictions is not None} == {"hsf"}
    assert isinstance(POLICIES["hsf"].predictions, ExactPredictions)
