"""The engine and its memory-pressure handlers: the checks of spec section 7 and issue 29."""

from __future__ import annotations

import numpy as np
import pytest
from cluster_workloads import burst_workload, poisson_workload

from kvopt.cluster import ClusterConfig, Workload, load_preset, simulate_cluster
from kvopt.cluster.hardware import BLOCK_TOKENS
from kvopt.cluster.verify import segments, verify_run
from kvopt.exceptions import KvoptError, ScheduleError

SMALL = dict(num_replicas=4, pool_scale=0.05)     # 13B pools of ~3,000 tokens


def run(workload, **kw):
    cfg = ClusterConfig(**{**SMALL, **kw})
    return simulate_cluster(workload, cfg, keep_sim=True)


def same_requests(a, b):
    for col in ("first_token_s", "done_s", "num_preempted"):
        np.testing.assert_array_equal(getattr(a, col), getattr(b, col))
    np.testing.assert_array_equal(np.sort(a.gap_values), np.sort(b.gap_values))


@pytest.mark.parametrize("seed", [0, 1])
def test_without_a_burst_param_never_drops_and_equals_recompute(seed):
    """No burst: KunServe never drops, and every per-request metric equals vLLM's exactly."""
    w = poisson_workload(200, 3.0, seed)
    base, _ = run(w, handler="recompute")
    param, sim = run(w, handler="param")
    assert param.counters.get("drops", 0) == 0 and param.counters.get("restores", 0) == 0
    assert max(u.iterations for u in sim.units[:4]) > 0 and sim.units[4].iterations == 0
    same_requests(base, param)
    assert base.summary() == param.summary()


def test_after_a_drop_the_group_pool_is_the_spec_table():
    """13B on A100 at full size: after a drop, a group of 2 holds 75.9k tokens per replica."""
    rng = np.random.default_rng(3)
    n = 160
    w = Workload(np.sort(rng.uniform(0, 2, n)), rng.integers(1500, 2500, n),
                 rng.integers(100, 300, n))
    result, sim = simulate_cluster(w, ClusterConfig(num_replicas=2, handler="param"),
                                   keep_sim=True)
    switches = [e for e in result.events if e[0] == "switch"]
    assert result.counters["drops"] >= 1 and switches
    cap_blocks = switches[0][4]
    per_replica_tokens = cap_blocks * BLOCK_TOKENS / 2
    assert per_replica_tokens == pytest.approx(75.9e3, abs=60)
    assert cap_blocks == int(load_preset("13b-a100-tp1").group_tokens(2) // BLOCK_TOKENS)
    assert sim.units[0].cap * BLOCK_TOKENS == pytest.approx(60.0e3, abs=60)


def burst(seed=0, **kw):
    return burst_workload(seed, **kw)


@pytest.mark.parametrize("handler", ["recompute", "swap", "migrate", "param"])
def test_every_run_verifies_and_conserves_tokens(handler):
    """Under a burst: no pool exceeded, every request completes once with exactly its output,
    prefill tokens = prompts + recomputed, and the segments tile each request's tokens."""
    w = burst()
    result, sim = run(w, handler=handler)
    checked = verify_run(sim.prompt, sim.output, sim.arrival, sim.iter_log, sim.transfer_log,
                         int(result.counters.get("recomputed_tokens", 0)),
                         int(result.counters["prefill_tokens"]))
    assert max(checked["peak_usage"].values()) <= 1.0
    assert result.counters["preemptions"] > 0 or handler == "param"
    assert np.all(np.isfinite(result.done_s)) and result.summary()["completed"] == len(w.prompt)
    assert result.counters["prefill_tokens"] == w.prompt.sum() + result.counters.get(
        "recomputed_tokens", 0)
    segs = segments(sim.iter_log, sim.transfer_log)
    for i in range(len(w.prompt)):
        mine = [s for s in segs if s[0] == i]
        assert mine[0][4] == 0 and mine[0][5] == "gpu"
        assert all(b[2] >= a[3] - 1e-9 for a, b in zip(mine, mine[1:], strict=False))
    if handler == "swap":
        assert result.counters["bytes_swapped"] > 0
        assert any(s[5] == "host" for s in segs)
    if handler == "param":
        assert result.counters["drops"] >= 1 and result.counters["bytes_exchanged"] > 0


def test_the_verifier_catches_a_broken_run():
    """A log with an extra token, or a pool shrunk below what it held, is refused."""
    _, sim = run(burst(), handler="recompute")
    args = (sim.prompt, sim.output, sim.arrival)
    rec, pre = int(sim.counters["recomputed_tokens"]), int(sim.counters["prefill_tokens"])
    log = list(sim.iter_log)
    verify_run(*args, log, sim.transfer_log, rec, pre)
    busiest = max(range(len(log)), key=lambda k: len(log[k][6]))
    uid, s, e, cap, prefills, decodes, residents = log[busiest]
    shrunk = log[:busiest] + [(uid, s, e, len(residents) - 1, prefills, decodes, residents)]
    with pytest.raises(ScheduleError, match="over its pool"):
        verify_run(*args, shrunk + log[busiest + 1:], sim.transfer_log, rec, pre)
    short = [row for row in log if not any(i == 0 for i, _ in row[5])]
    with pytest.raises(ScheduleError, match="request 0 produced"):
        verify_run(*args, short, sim.transfer_log, rec, pre)
    with pytest.raises(ScheduleError, match="prefill tokens"):
        verify_run(*args, log, sim.transfer_log, rec + 1, pre)


def test_restore_starts_only_once_the_extra_blocks_are_empty():
    """Every restore starts with the group's used blocks within its members' own pools."""
    result, sim = run(burst(1, base=300, base_rate=4.0, burst=250), handler="param",
                      num_replicas=2)
    starts = [e for e in result.events if e[0] == "restore_start"]
    assert result.counters["drops"] >= 1 and starts
    for _, _, _, used, dp_cap in starts:
        assert used <= dp_cap == 2 * sim.replica_blocks
    assert result.counters["seconds_grouped"] > 0


def symmetric(w: Workload, copies: int) -> Workload:
    """Each request ``copies`` times at once: the most-free router gives every replica one."""
    rep = lambda a: np.repeat(a, copies)   # noqa: E731
    return Workload(rep(w.arrival_s), rep(w.prompt), rep(w.output))


def test_migration_equals_recompute_under_a_cluster_wide_burst():
    """Every replica overloaded alike: no destination has room, Llumnix acts like vLLM."""
    w = symmetric(burst(2, base=40, burst=60), 4)
    base, _ = run(w, handler="recompute")
    mig, _ = run(w, handler="migrate")
    assert base.counters["preemptions"] > 0 and mig.counters.get("migrations", 0) == 0
    same_requests(base, mig)


def test_migration_beats_recompute_under_a_burst_aimed_at_one_replica():
    w = burst(4, base=150, base_rate=2.0, burst=120, burst_s=3.0, aimed=0)
    base, _ = run(w, handler="recompute")
    mig, _ = run(w, handler="migrate")
    assert mig.counters["migrations"] > 0 and mig.counters["bytes_migrated"] > 0
    assert mig.ttft_percentile(99) < base.ttft_percentile(99)


def test_param_lowers_tail_ttft_under_a_burst():
    """The direction of the paper's claim at small scale (70B tp 2, where weights dominate)."""
    w = burst(5, base=100, base_rate=1.0, burst=250, burst_s=10.0, prompt=(200, 1500),
              output=(50, 400))
    cfg = dict(preset="70b-a100-tp2", pool_scale=0.5)
    base, _ = run(w, handler="recompute", **cfg)
    param, _ = run(w, handler="param", **cfg)
    assert param.counters["drops"] >= 1
    assert param.ttft_percentile(99) < base.ttft_percentile(99)


@pytest.mark.parametrize("router", ["most-free", "round-robin", "least-loaded"])
def test_routers_use_every_replica(router):
    w = poisson_workload(80, 4.0, 7)
    _, sim = run(w, handler="recompute", router=router)
    assert all(u.iterations > 0 for u in sim.units)
    if router == "round-robin":
        assert sim.unit_of[:8] == [0, 1, 2, 3, 0, 1, 2, 3]


def test_same_seed_same_run():
    w = burst()
    a, _ = run(w, handler="param")
    b, _ = run(w, handler="param")
    same_requests(a, b)
    assert a.summary() == b.summary()


def test_bad_settings_and_oversized_requests_are_refused():
    with pytest.raises(KvoptError, match="--handler"):
        ClusterConfig(handler="magic")
    with pytest.raises(KvoptError, match="does not divide"):
        ClusterConfig(handler="param", num_replicas=3)
    w = Workload([0.0], [3000], [500])
    with pytest.raises(KvoptError, match="request 0"):
        simulate_cluster(w, ClusterConfig(**SMALL))
    with pytest.raises(KvoptError, match="sorted"):
        Workload([1.0, 0.0], [1, 1], [1, 1])


def test_naive_micro_batches_idle_and_pcie_links_slow_the_exchange():
    """Options of param: naive micro-batches leave bubbles; pricing NVLink at PCIe speed makes
    the same exchange take longer, both in verified runs."""
    w = burst()
    balanced, _ = run(w, handler="param")
    naive, _ = run(w, handler="param", micro_batches="naive")
    assert balanced.counters.get("bubble_s", 0) == 0 and naive.counters["bubble_s"] > 0
    _, fast = run(w, handler="param")
    _, slow = run(w, handler="param", intra_node_at_pcie=True)

    def exchange_s(sim):
        rows = [r for r in sim.transfer_log if r[0] == "exchange"]
        return sum(r[5] - r[4] for r in rows) / sum(r[6] for r in rows)

    assert exchange_s(slow) > 5 * exchange_s(fast)
