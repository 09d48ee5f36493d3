"""The batch verifier: it accepts the engine's batches and rejects each broken rule by name."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from kvopt.bins.engine import FULL, TIMEOUT, Batches, EngineConfig, Workload, simulate_batches
from kvopt.bins.errors import BatchError
from kvopt.bins.verify import verify_batches

# two bins; B = 2; one server; all lengths known by hand
W = Workload([0.0, 0.0, 1.0, 2.0, 3.0, 3.0], [2.0, 1.0, 4.0, 3.0, 1.0, 5.0],
             [0, 1, 0, 1, 0, 1], 2, prompt=[1, 1, 1, 1, 1, 1])
CFG = EngineConfig(2, flush="at_end")


def _batches() -> Batches:
    return simulate_batches(W, CFG)


def _with(**changes) -> Batches:
    return dataclasses.replace(_batches(), **{k: np.asarray(v) for k, v in changes.items()})


def test_engine_batches_verify_and_metrics_are_hand_checked():
    """Bins {0, 2} (formed 1, runs 1-5), {1, 3} (formed 2, runs 5-8), then the flush of {4}
    (8-9) and {5} (9-14) at 3: makespan 14, busy 13, latencies 5, 4, 8, 6, 6, 11."""
    bt = _batches()
    assert bt.members.tolist() == [0, 2, 1, 3, 4, 5]
    assert bt.end.tolist() == [5.0, 8.0, 9.0, 14.0]
    ev = verify_batches(W, CFG, bt)
    assert ev.makespan == 14.0
    assert ev.throughput == pytest.approx(6 / 14)
    assert ev.busy_capacity == pytest.approx(6 / 13)
    assert ev.mean_latency == pytest.approx((5 + 4 + 8 + 6 + 6 + 11) / 6)
    assert ev.tokens_per_unit == pytest.approx(16 / 14)
    assert ev.bin_batches == (2, 2)
    assert ev.bin_slot_use[0] == pytest.approx((2 + 4 + 1) / (2 * 4 + 1 * 1))


@pytest.mark.parametrize(("changes", "match"), [
    ({"members": [0, 2, 1, 3, 4, 4]}, "request 4 is in 2 batches"),
    ({"members": [0, 1, 2, 3, 4, 5]}, "of bin"),
    ({"members": [2, 0, 1, 3, 4, 5]}, "first-in first-out"),
    ({"formed": [0.5, 2.0, 3.0, 3.0]}, "full: must form"),
    ({"kind": [FULL, FULL, FULL, 3]}, "marked full"),
    ({"kind": [FULL, FULL, TIMEOUT, 3]}, "timeout"),
    ({"start": [1.0, 5.0, 9.0, 8.0], "end": [5.0, 8.0, 10.0, 13.0]}, "starts before batch"),
    ({"start": [1.0, 5.0, 8.5, 9.5], "end": [5.0, 8.0, 9.5, 14.5]}, "idle"),
    ({"end": [5.0, 8.0, 9.0, 13.0]}, "longest member"),
    ({"unserved": [5], "ptr": [0, 2, 4, 5], "bin": [0, 1, 0], "kind": [FULL, FULL, 3],
      "formed": [1.0, 2.0, 3.0], "start": [1.0, 5.0, 8.0], "end": [5.0, 8.0, 9.0],
      "members": [0, 2, 1, 3, 4]}, "never served"),
])
def test_broken_rules_are_named(changes, match):
    with pytest.raises(BatchError, match=match):
        verify_batches(W, CFG, _with(**changes))


def test_two_servers_at_once_on_one_server():
    """Starting a batch while the only server is busy breaks the server count."""
    bt = _batches()
    start = bt.start.copy()
    end = bt.end.copy()
    start[1], end[1] = 2.0, 5.0
    with pytest.raises(BatchError, match="over 1 servers"):
        verify_batches(W, CFG, dataclasses.replace(bt, start=start, end=end))


def test_kv_limit_is_checked():
    """A batch over M is rejected even if the engine were to form it."""
    cfg = EngineConfig(2, flush="at_end", kv_limit_tokens=7)
    with pytest.raises(BatchError, match="KV"):
        verify_batches(W, cfg, _batches())


def test_leftovers_of_a_full_batch_are_rejected():
    """Without flush, a bin cannot leave B requests waiting."""
    cfg = EngineConfig(2)
    bt = _with(ptr=[0, 2], members=[0, 2], bin=[0], kind=[FULL], formed=[1.0], start=[1.0],
               end=[5.0], unserved=[1, 3, 4, 5])
    with pytest.raises(BatchError, match="full batch"):
        verify_batches(W, cfg, bt)
