"""The fast path (decode-only iterations run at once) equals the plain loop, bit for bit."""

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
       replicas=st.integers(1, 4), scale=st.sampled_from([0.03, 0.05, 0.3]),
       router=st.sampled_from(["most-free", "round-robin", "least-loaded"]),
       preset=st.sampled_from(["13b-a100-tp1", "70b-a100-tp4"]))
@settings(max_examples=40, deadline=None)
def test_fast_path_equals_the_plain_loop(seed, n, rate, replicas, scale, router, preset):
    rng = np.random.default_rng(seed)
    w = Workload(np.cumsum(rng.exponential(1 / rate, n)), rng.integers(1, 900, n),
                 rng.integers(1, 300, n))
    runs = []
    for fast in (False, True):
        cfg = ClusterConfig(preset=preset, num_replicas=replicas, pool_scale=scale,
                            router=router, record=False, fast=fast)
        runs.append(simulate_cluster(w, cfg))
    plain, fast = runs
    np.testing.assert_array_equal(plain.first_token_s, fast.first_token_s)
    np.testing.assert_array_equal(plain.done_s, fast.done_s)
    np.testing.assert_array_equal(plain.num_preempted, fast.num_preempted)
    for a, b in zip(expanded_gaps(plain), expanded_gaps(fast), strict=True):
        np.testing.assert_array_equal(a, b)
    assert plain.counters == fast.counters
