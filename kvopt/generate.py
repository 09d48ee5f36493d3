"""Seeded synthetic instances: the paper's experiment (``specs/kv-scheduling.md`` section 6).

Per instance ``M ~ U{30..50}``, ``s_i ~ U{1..5}``, ``o_i ~ U{1..M - s_i}``. Arrival model
``zero``: ``n ~ U{40..60}`` requests all at round 0. Arrival model ``poisson``: a horizon
``H ~ U{40..60}`` rounds, ``Poisson(lambda)`` arrivals in each round, ``lambda ~ U[0.5, 1.5]``.
Predictions are exact (no ``predicted`` column). ``num_requests`` fixes ``n`` instead
(for ``poisson``: rounds are drawn until ``n`` requests have arrived).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from kvopt.instance import Instance

__all__ = ["ARRIVAL_MODELS", "poisson_arrivals", "synthetic", "synthetic_set"]

ARRIVAL_MODELS = ("zero", "poisson")
ArrivalModel = Literal["zero", "poisson"]


def poisson_arrivals(num_rounds: int, rate_per_round: float,
                     rng: np.random.Generator) -> np.ndarray:
    """Arrival rounds of a Poisson(rate) count in each of ``num_rounds`` rounds, sorted."""
    counts = rng.poisson(rate_per_round, size=num_rounds)
    return np.repeat(np.arange(num_rounds, dtype=np.int64), counts)


def synthetic(
    arrivals: ArrivalModel,
    rng: np.random.Generator,
    *,
    num_requests: int | None = None,
    memory: int | None = None,
    name: str = "",
) -> Instance:
    """One instance of the paper's synthetic experiment.

    Parameters
    ----------
    arrivals
        ``"zero"`` (all at round 0) or ``"poisson"``.
    rng
        The only source of randomness.
    num_requests
        Fix ``n`` (default: the paper's distribution).
    memory
        Fix ``M`` (default ``U{30..50}``).
    """
    if arrivals not in ARRIVAL_MODELS:
        raise ValueError(f"arrivals must be one of {ARRIVAL_MODELS}, got {arrivals!r}")
    mem = int(rng.integers(30, 51)) if memory is None else int(memory)
    if arrivals == "zero":
        n = int(rng.integers(40, 61)) if num_requests is None else int(num_requests)
        arrival = np.zeros(n, dtype=np.int64)
    else:
        horizon = int(rng.integers(40, 61))
        rate = float(rng.uniform(0.5, 1.5))
        if num_requests is None:
            arrival = poisson_arrivals(horizon, rate, rng)
        else:
            parts, total = [], 0
            start = 0
            while total < num_requests:
                chunk = poisson_arrivals(horizon, rate, rng) + start
                parts.append(chunk)
                total += len(chunk)
                start += horizon
            arrival = np.concatenate(parts)[:num_requests]
        n = len(arrival)
    prompt = rng.integers(1, 6, size=n)
    output = rng.integers(1, mem - prompt + 1)  # U{1..M - s_i}, high exclusive
    return Instance(mem, arrival, prompt, output, name=name)


def synthetic_set(
    arrivals: ArrivalModel, seed: int, count: int, *, num_requests: int | None = None,
    memory: int | None = None, prefix: str | None = None,
) -> list[Instance]:
    """``count`` independent instances; instance ``j`` uses the j-th spawned stream of ``seed``."""
    prefix = f"paper-{arrivals}" if prefix is None else prefix
    streams = np.random.SeedSequence(seed).spawn(count)
    return [
        synthetic(arrivals, np.random.default_rng(ss), num_requests=num_requests, memory=memory,
                  name=f"{prefix}-s{seed}-{j:04d}")
        for j, ss in enumerate(streams)
    ]
