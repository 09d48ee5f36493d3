"""Heterogeneous-prompt instances (issue 30): ranges, trace prompts, seeds, the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from kvopt.cli import app
from kvopt.generate import TRACE_MEMORY, hetero, hetero_set
from kvopt.read import read_instance, read_trace_columns

TINY_TRACE = Path(__file__).parent / "data" / "trace_azure.csv"
runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("arrivals", ["zero", "poisson"])
def test_uniform_prompts_over_half_the_memory(arrivals):
    """Default: M ~ U{30..50}, s ~ U{1..M // 2}, o ~ U{1..M - s}; the paper's arrivals."""
    insts = hetero_set(arrivals, 4, 30)
    for inst in insts:
        assert 30 <= inst.memory <= 50
        assert inst.prompt.min() >= 1 and inst.prompt.max() <= inst.memory // 2
        assert inst.output.min() >= 1 and np.all(inst.prompt + inst.output <= inst.memory)
        if arrivals == "zero":
            assert 40 <= inst.num_requests <= 60 and not inst.arrival.any()
    prompts = np.concatenate([i.prompt for i in insts])
    assert prompts.max() >= 20      # the range is wide: far beyond the paper's 1..5


def test_prompt_max_and_memory():
    inst = hetero("zero", np.random.default_rng(0), num_requests=200, memory=100, prompt_max=90)
    assert inst.memory == 100 and inst.prompt.max() <= 90 and inst.prompt.max() > 50
    with pytest.raises(ValueError, match="prompt_max must be in"):
        hetero("zero", np.random.default_rng(0), memory=40, prompt_max=40)


def test_trace_prompts_are_resampled_from_the_pool():
    """Prompts come from the given lengths that fit (<= M - 1); M defaults to the trace
    memory."""
    pool = read_trace_columns(TINY_TRACE)["prompt"]
    inst = hetero("poisson", np.random.default_rng(1), num_requests=50, prompt_pool=pool)
    assert inst.memory == TRACE_MEMORY and set(inst.prompt.tolist()) <= set(pool.tolist())
    small = hetero("zero", np.random.default_rng(1), num_requests=50, memory=int(pool.min()) + 1,
                   prompt_pool=pool)
    assert set(small.prompt.tolist()) == {int(pool.min())}
    with pytest.raises(ValueError, match="no prompt length"):
        hetero("zero", np.random.default_rng(1), memory=int(pool.min()), prompt_pool=pool)


def test_same_seed_same_instances_independent_of_count():
    a = hetero_set("poisson", 5, 3, num_requests=9)
    b = hetero_set("poisson", 5, 5, num_requests=9)
    c = hetero_set("poisson", 6, 3, num_requests=9)
    assert [x.to_dict() for x in a] == [x.to_dict() for x in b[:3]]
    assert [x.to_dict() for x in a] != [x.to_dict() for x in c]


def test_cli_same_seed_same_bytes(tmp_path):
    """`kvopt generate hetero`: one file or a directory; the same seed writes the same bytes."""
    for k in (1, 2):
        res = invoke("generate", "hetero", "--arrivals", "poisson", "--seed", 7, "--count", 3,
                     "--out", tmp_path / f"d{k}")
        assert res.exit_code == 0, res.output
    names = sorted(p.name for p in (tmp_path / "d1").iterdir())
    assert names == [f"hetero-poisson-s7-000{j}.json" for j in range(3)]
    for name in names:
        assert (tmp_path / "d1" / name).read_bytes() == (tmp_path / "d2" / name).read_bytes()
    res = invoke("generate", "hetero", "--arrivals", "zero", "--seed", 7, "--out",
                 tmp_path / "one.json", "--prompts-from", TINY_TRACE, "--memory", 5000)
    assert res.exit_code == 0, res.output
    inst = read_instance(tmp_path / "one.json")
    assert inst.memory == 5000 and inst.name == "hetero-zero-trace_azure-s7-0000"
    assert inst.to_dict() == hetero_set("zero", 7, 1, memory=5000,
                                        prompt_pool=read_trace_columns(TINY_TRACE)["prompt"],
                                        prefix="hetero-zero-trace_azure")[0].to_dict()


@pytest.mark.parametrize(("extra", "word"), [
    (["--prompt-max", "60", "--memory", "40"], "--prompt-max"),
    (["--prompts-from", TINY_TRACE, "--prompt-max", "3"], "--prompt-max"),
    (["--prompts-from", TINY_TRACE, "--memory", "2"], "--prompts-from"),
    (["--prompts-from", "missing.csv"], "missing.csv"),
])
def test_cli_bad_options_one_line_exit_2(tmp_path, extra, word):
    out = tmp_path / "x.json"
    res = invoke("generate", "hetero", "--arrivals", "zero", "--seed", 1, "--out", out, *extra)
    assert res.exit_code == 2 and word in res.output and "Traceback" not in res.output
    assert not out.exists()
