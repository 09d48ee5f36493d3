"""The command line for interval predictions (issue 27), through ``typer.testing.CliRunner``:
``generate synthetic --intervals``, ``simulate --json`` with evictions and wasted tokens, H-SF
given exact predictions."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from kvopt.cli import app
from kvopt.instance import Instance
from kvopt.read import read_instance, write_instance

runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def test_generate_writes_intervals_holding_the_outputs(tmp_path):
    """G3 at alpha 0.25: lower <= o <= upper; the instances are those written without
    intervals; the same seed writes the same bytes."""
    plain, first, again = tmp_path / "plain", tmp_path / "a", tmp_path / "b"
    base = ["generate", "synthetic", "--arrivals", "zero", "--seed", 5, "--count", 3]
    assert invoke(*base, "--out", plain).exit_code == 0
    for out in (first, again):
        res = invoke(*base, "--out", out, "--intervals", "g3", "--alpha", 0.25)
        assert res.exit_code == 0, res.stderr
    for path in sorted(first.glob("*.json")):
        inst = read_instance(path)
        assert (inst.lower <= inst.output).all() and (inst.output <= inst.upper).all()
        assert path.read_bytes() == (again / path.name).read_bytes()
        assert inst.replace(lower=None, upper=None).to_dict() == \
            read_instance(plain / path.name).to_dict()


def test_generate_g2_misses_and_g1(tmp_path):
    """G2 with misses writes intervals some outputs fall outside; G1 one global interval."""
    res = invoke("generate", "synthetic", "--arrivals", "poisson", "--seed", 1,
                 "--out", tmp_path / "g2.json", "--intervals", "g2", "--alpha", 0.5,
                 "--miss-prob", 1)
    assert res.exit_code == 0, res.stderr
    inst = read_instance(tmp_path / "g2.json")
    assert ((inst.output < inst.lower) | (inst.output > inst.upper)).all()
    res = invoke("generate", "synthetic", "--arrivals", "zero", "--seed", 1,
                 "--out", tmp_path / "g1.json", "--intervals", "g1")
    inst = read_instance(tmp_path / "g1.json")
    assert set(inst.lower.tolist()) == {int(inst.output.min())}
    assert set(inst.upper.tolist()) == {int(inst.output.max())}


@pytest.mark.parametrize(("extra", "match"), [
    (["--alpha", "0.5"], "--alpha needs --intervals"),
    (["--intervals", "g4", "--alpha", "0.5"], "--intervals must be one of"),
    (["--intervals", "g3"], "needs --alpha"),
    (["--intervals", "g3", "--alpha", "0"], "alpha must be in"),
    (["--intervals", "g3", "--alpha", "0.5", "--miss-prob", "0.1"], "does not apply to"),
    (["--intervals", "g3", "--alpha", "0.5", "--placement", "middle"], "placement must be"),
    (["--intervals", "g1", "--alpha", "0.5"], "--alpha does not apply to --intervals g1"),
])
def test_bad_interval_options_are_one_line_exit_2(tmp_path, extra, match):
    out = tmp_path / "x.json"
    res = invoke("generate", "synthetic", "--arrivals", "zero", "--seed", 1, "--out", out,
                 *extra)
    assert res.exit_code == 2
    assert match in res.stderr and res.stderr.count("\n") == 1
    assert not out.exists()


def _tied_pair(tmp_path) -> str:
    path = tmp_path / "pair.json"
    write_instance(path, Instance(12, [0, 0], [2, 2], [6, 6], lower=[2, 2], upper=[12, 12],
                                  name="pair"))
    return str(path)


def test_simulate_json_counts_evictions_and_wasted_tokens(tmp_path):
    """A_min on the tied pair: one eviction, 4 wasted tokens, from the verified schedule."""
    res = invoke("simulate", _tied_pair(tmp_path), "--policy", "amin", "--json")
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["evictions"] == data["num_clearings"] == len(data["clearings"]) == 1
    assert data["wasted_tokens"] == sum(e - k for _, k, e in data["clearings"]) == 4
    res = invoke("simulate", _tied_pair(tmp_path), "--policy", "amax", "--json")
    assert json.loads(res.stdout)["evictions"] == json.loads(res.stdout)["wasted_tokens"] == 0


def test_simulate_gives_hsf_exact_predictions(tmp_path):
    """H-SF plans with the true outputs even when the instance's predictions lie; MC-SF with
    them does not; --eps is refused for H-SF."""
    path = tmp_path / "lying.json"
    write_instance(path, Instance(12, [0, 0], [2, 2], [3, 3], predicted=[9, 9], lower=[3, 3],
                                  upper=[9, 9], name="lying"))
    hsf = json.loads(invoke("simulate", path, "--policy", "hsf", "--json").stdout)
    mcsf = json.loads(invoke("simulate", path, "--policy", "mcsf", "--json").stdout)
    assert hsf["starts"] == [0, 0] and mcsf["starts"] == [0, 3]
    res = invoke("simulate", path, "--policy", "hsf", "--eps", "0.5")
    assert res.exit_code == 2 and "always given exact predictions" in res.stderr


def test_simulate_reads_the_instance_intervals(tmp_path):
    """mcsf-upper plans with the instance's upper column."""
    path = tmp_path / "iv.json"
    write_instance(path, Instance(12, [0, 0], [2, 2], [3, 3], lower=[3, 3], upper=[9, 9]))
    data = json.loads(invoke("simulate", path, "--policy", "mcsf-upper", "--json").stdout)
    assert data["starts"] == [0, 3]
    assert np.array_equal(data["starts"], json.loads(
        invoke("simulate", path, "--policy", "amax", "--json").stdout)["starts"])
