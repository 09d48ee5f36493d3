"""The fast path (decode-only iterations run at once or lazily) equals the plain loop, bit for
bit, with the recompute handler and with swap (which uses it while nothing is swapped out)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kvopt.cluster import ClusterConfig, Workload, simulate_cluster


def expanded_gaps(result):
    order = np.lexsort((result.gap_counts, result.gap_values))
    v, c = result.gap_values[order], result.gap_counts[order]
    # merge equal values: the fast path groups gaps per iteration differently
    keys, inv = np.unique(v, return_inverse=True)
    return keys, np.bincount(inv, weights=c)


@given(seed=st.integers(0, 10_000), n=st.integers(1, 120), rate=st.floats(0.5, 40.0),
       replicas=st.integers(1, 4), scale=st.sampled_from([0.03, 0.05, 0.3, 1.0]),
       router=st.sampled_from(["most-free", "round-robin", "least-loaded"]),
       preset=st.sampled_from(["13b-a100-tp1", "70b-a100-tp4"]),
       handler=st.sampled_from(["recompute", "swap"]))
@settings(max_examples=60, deadline=None)
def test_fast_path_equals_the_plain_loop(seed, n, rate, replicas, scale, router, preset,
                                         handler):
    rng = np.random.default_rng(seed)
    w = Workload(np.cumsum(rng.exponential(1 / rate, n)), rng.integers(1, 900, n),
                 rng.integers(1, 300, n))
    runs = []
    for fast in (False, True):
        cfg = ClusterConfig(preset=preset, num_replicas=replicas, pool_scale=scale,
                            router=router, handler=handler, record=False, fast=fast)
        runs.append(simulate_cluster(w, cfg))
    plain, fast = runs
    np.testing.assert_array_equal(plain.first_token_s, fast.first_token_s)
    np.testing.assert_array_equal(plain.done_s, fast.done_s)
    np.testing.assert_array_equal(plain.num_preempted, fast.num_preempted)
    for a, b in zip(expanded_gaps(plain), expanded_gaps(fast), strict=True):
        np.testing.assert_array_equal(a, b)
    assert plain.counters == fast.counters


def test_swap_under_pressure_equals_the_plain_loop():
    """A burst that swaps requests out: the fast path runs only between swaps, results equal."""
    from cluster_workloads import burst_workload

    w = burst_workload(3, base=60, burst=120, burst_s=2.0)
    runs = [simulate_cluster(w, ClusterConfig(num_replicas=2, pool_scale=0.05, handler="swap",
                                              record=False, fast=fast)) for fast in (False, True)]
    plain, fast = runs
    assert plain.counters["swap_outs"] > 0
    np.testing.assert_array_equal(plain.first_token_s, fast.first_token_s)
    np.testing.assert_array_equal(plain.done_s, fast.done_s)
    assert plain.counters == fast.counters


@given(seed=st.integers(0, 10_000), b=st.integers(1, 40), probe=st.floats(0.0, 5.0),
       preset=st.sampled_from(["13b-a100-tp1", "70b-a100-tp4"]))
@settings(max_examples=60, deadline=None)
def test_decode_run_equals_iteration_by_iteration(seed, b, probe, preset):
    """DecodeRun's running sums against the definition: iteration k runs the requests with
    r_i > k, holding held_i + k tokens in ceil((held_i + k) / 16) blocks."""
    from kvopt.cluster.fastpath import DecodeRun, last_blocks
    from kvopt.cluster.hardware import load_preset
    from kvopt.cluster.steptime import StepTime

    rng = np.random.default_rng(seed)
    held = rng.integers(1, 2000, b)
    rem = rng.integers(1, 60, b)
    other = int(rng.integers(0, 50))
    used0 = other + int(((held + 15) // 16).sum())

    steptime = StepTime(load_preset(preset))
    step = steptime.step_s
    run = DecodeRun(held, rem, last_blocks(held, rem), used0, 1.0, steptime)
    run.advance(1.0 + probe)
    end = 1.0
    for k in range(1, len(run.ends)):
        live = rem > k
        ctx = int((held[live] + k).sum())
        assert run.active[k - 1] == int(live.sum())
        assert run.used[k - 1] == other + int(((held[live] + k + 15) // 16).sum())
        end = end + step(int(live.sum()), ctx)
        assert run.ends[k] == end
    assert run.ends[-1] >= 1.0 + probe or (run.finished and len(run.ends) == rem.max())
