"""Jobs inline and on a process pool, failures, and the record store's resume rule."""

from __future__ import annotations

import json
import operator

import pytest

from kvopt.exceptions import KvoptError
from kvopt.experiments.jobs import Job, RecordStore, execute, safe_name


def _fail_on_odd(x: int) -> int:
    if x % 2:
        raise KvoptError(f"odd {x}")
    return x


def _boom(x: int) -> int:
    raise RuntimeError("not a kvopt error")


def test_inline_runs_in_order_and_collects_failures():
    """One worker runs the jobs in order here; a KvoptError is a failure, the rest go on."""
    seen: list[tuple[str, int]] = []
    jobs = [Job(str(x), _fail_on_odd, (x,)) for x in range(5)]
    failures = execute(jobs, lambda job, value: seen.append((job.label, value)), workers=1)
    assert seen == [("0", 0), ("2", 2), ("4", 4)]
    assert [(job.label, msg) for job, msg in failures] == [("1", "odd 1"), ("3", "odd 3")]


def test_process_pool_gives_the_same_results():
    """Two worker processes give the same values; the callback runs in this process."""
    seen: dict[str, int] = {}
    jobs = [Job(str(x), operator.mul, (x, 3)) for x in range(6)]
    assert execute(jobs, lambda job, value: seen.__setitem__(job.label, value), workers=2) == []
    assert seen == {str(x): 3 * x for x in range(6)}


def test_callback_kvopt_error_is_a_failure_other_errors_propagate():
    """An error of the callback counts like the job's; anything else stops the run."""
    def reject(job, value):
        raise KvoptError("cannot save")

    assert [m for _, m in execute([Job("a", abs, (-1,))], reject, workers=1)] == ["cannot save"]
    with pytest.raises(RuntimeError, match="not a kvopt error"):
        execute([Job("a", _boom, (1,))], lambda job, value: None, workers=1)
    assert execute([], lambda job, value: None, workers=4) == []


def test_store_reuses_only_a_matching_record(tmp_path):
    """A record is reused when each identity field matches, after a JSON round trip."""
    store = RecordStore(tmp_path)
    identity = {"digest": "abc", "config": {"policies": ("mcsf",), "limit": 1.0}}
    store.save("runs/x", {**identity, "value": 7})
    assert json.loads((tmp_path / "runs" / "x.json").read_text())["value"] == 7
    assert store.load("runs/x", identity)["value"] == 7  # tuple and list compare equal
    assert store.load("runs/x", {**identity, "digest": "abd"}) is None
    assert store.load("runs/x", {"new_field": 1}) is None
    assert store.load("runs/missing", identity) is None
    (tmp_path / "runs" / "x.json").write_text("[1, 2]")
    assert store.load("runs/x", {}) is None  # not a record


def test_store_without_root_and_unsafe_keys(tmp_path):
    """Without a root nothing is stored; a key cannot leave the root."""
    store = RecordStore(None)
    store.save("a", {"x": 1})
    assert store.load("a", {}) is None
    for key in ("../a", "a//b", "a/.b", "a b"):
        with pytest.raises(ValueError, match="safe_name"):
            RecordStore(tmp_path).path(key)
    assert safe_name("../x y") == "_x_y" and safe_name("...") == "instance"
