"""Small seeded workloads for the cluster tests."""

from __future__ import annotations

import numpy as np

from kvopt.cluster import Workload


def poisson_workload(n: int, rate: float, seed: int, *, prompt=(100, 600), output=(20, 200),
                     start: float = 0.0) -> Workload:
    rng = np.random.default_rng(seed)
    arrival = start + np.cumsum(rng.exponential(1.0 / rate, n))
    return Workload(arrival, rng.integers(*prompt, n), rng.integers(*output, n))


def burst_workload(seed: int, *, base: int = 120, base_rate: float = 2.0, burst: int = 200,
                   burst_at: float = 20.0, burst_s: float = 5.0, aimed: int | None = None,
                   prompt=(100, 600), output=(20, 200)) -> Workload:
    """A Poisson base load and a burst of ``burst`` requests in ``burst_s`` seconds from
    ``burst_at``; ``aimed`` sends the burst to one replica."""
    rng = np.random.default_rng(seed)
    base_t = np.cumsum(rng.exponential(1.0 / base_rate, base))
    burst_t = burst_at + np.sort(rng.uniform(0, burst_s, burst))
    t = np.concatenate([base_t, burst_t])
    replica = np.concatenate([np.full(base, -1), np.full(burst, -1 if aimed is None else aimed)])
    order = np.argsort(t, kind="stable")
    n = base + burst
    return Workload(t[order], rng.integers(*prompt, n)[order], rng.integers(*output, n)[order],
                    replica[order])


def merge(*workloads: Workload) -> Workload:
    t = np.concatenate([w.arrival_s for w in workloads])
    order = np.argsort(t, kind="stable")
    cols = [np.concatenate([getattr(w, c) for w in workloads])[order]
            for c in ("prompt", "output", "replica")]
    return Workload(t[order], *cols)
