"""Seeded synthetic instances: the paper's experiment (``specs/kv-scheduling.md`` section 6).

Per instance ``M ~ U{30..50}``, ``s_i ~ U{1..5}``, ``o_i ~ U{1..M - s_i}``. Arrival model
``zero``: ``n ~ U{40..60}`` requests all at round 0. Arrival model ``poisson``: a horizon
``H ~ U{40..60}`` rounds, ``Poisson(lambda)`` arrivals in each round, ``lambda ~ U[0.5, 1.5]``.
Predictions are exact (no ``predicted`` column). ``num_requests`` fixes ``n`` instead
(for ``poisson``: rounds are drawn until ``n`` requests have arrived).

Heterogeneous prompts (issue 30; :func:`hetero`): the same arrivals and the paper's outputs
``o_i ~ U{1..M - s_i}``, with prompts from a wide range: ``s_i ~ U{1..prompt_max}`` (default
``prompt_max = M // 2``, ``M ~ U{30..50}``), or resampled with replacement from given prompt
lengths (a real trace's, :func:`kvopt.read.read_trace_columns`), keeping those ``<= M - 1``;
then ``M`` is given (default :data:`TRACE_MEMORY`, the paper's 16,492 tokens).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from kvopt.instance import Instance

__all__ = ["ARRIVAL_MODELS", "TRACE_MEMORY", "hetero", "hetero_set", "poisson_arrivals",
           "synthetic", "synthetic_set"]

ARRIVAL_MODELS = ("zero", "poisson")
ArrivalModel = Literal["zero", "poisson"]
#: ``M`` of heterogeneous instances with trace prompts unless given: the paper's trace memory
TRACE_MEMORY = 16_492


def poisson_arrivals(num_rounds: int, rate_per_round: float,
                     rng: np.random.Generator) -> np.ndarray:
    """Arrival rounds of a Poisson(rate) count in each of ``num_rounds`` rounds, sorted."""
    counts = rng.poisson(rate_per_round, size=num_rounds)
    return np.repeat(np.arange(num_rounds, dtype=np.int64), counts)


def _arrivals(arrivals: ArrivalModel, rng: np.random.Generator,
              num_requests: int | None) -> np.ndarray:
    """The paper's arrival rounds (drawn in the order the paper's generator always drew them)."""
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
    return arrival


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
    arrival = _arrivals(arrivals, rng, num_requests)
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


def hetero(
    arrivals: ArrivalModel,
    rng: np.random.Generator,
    *,
    num_requests: int | None = None,
    memory: int | None = None,
    prompt_max: int | None = None,
    prompt_pool: np.ndarray | None = None,
    name: str = "",
) -> Instance:
    """One instance with heterogeneous prompts: the paper's arrivals and outputs, wide prompts.

    Parameters
    ----------
    arrivals, rng, num_requests
        As :func:`synthetic`.
    memory
        ``M``; default ``U{30..50}``, or :data:`TRACE_MEMORY` with ``prompt_pool``.
    prompt_max
        Uniform prompts ``U{1..prompt_max}``; default ``M // 2``. Not with ``prompt_pool``.
    prompt_pool
        Prompt lengths to resample with replacement (only those ``<= M - 1`` are used).
    """
    if arrivals not in ARRIVAL_MODELS:
        raise ValueError(f"arrivals must be one of {ARRIVAL_MODELS}, got {arrivals!r}")
    if prompt_pool is not None and prompt_max is not None:
        raise ValueError("give prompt_max or prompt_pool, not both")
    if memory is not None:
        mem = int(memory)
    else:
        mem = TRACE_MEMORY if prompt_pool is not None else int(rng.integers(30, 51))
    if mem < 2:
        raise ValueError(f"memory must be at least 2, got {mem}")
    arrival = _arrivals(arrivals, rng, num_requests)
    n = len(arrival)
    if prompt_pool is None:
        top = mem // 2 if prompt_max is None else int(prompt_max)
        if not 1 <= top <= mem - 1:
            raise ValueError(f"prompt_max must be in [1, {mem - 1}] (memory {mem}), got {top}")
        prompt = rng.integers(1, top + 1, size=n)
    else:
        pool = np.asarray(prompt_pool, dtype=np.int64)
        pool = pool[(pool >= 1) & (pool <= mem - 1)]
        if not pool.size:
            raise ValueError(f"no prompt length in [1, {mem - 1}] to draw from (memory {mem})")
        prompt = pool[rng.integers(0, pool.size, size=n)]
    output = rng.integers(1, mem - prompt + 1)  # U{1..M - s_i}, high exclusive
    return Instance(mem, arrival, prompt, output, name=name)


def hetero_set(
    arrivals: ArrivalModel, seed: int, count: int, *, num_requests: int | None = None,
    memory: int | None = None, prompt_max: int | None = None,
    prompt_pool: np.ndarray | None = None, prefix: str | None = None,
) -> list[Instance]:
    """``count`` independent :func:`hetero` instances; instance ``j`` uses the j-th spawned
    stream of ``seed`` (so the first ``c`` of a larger set are the set of ``c``)."""
    prefix = f"hetero-{arrivals}" if prefix is None else prefix
    streams = np.random.SeedSequence(seed).spawn(count)
    return [
        hetero(arrivals, np.random.default_rng(ss), num_requests=num_requests, memory=memory,
               prompt_max=prompt_max, prompt_pool=prompt_pool, name=f"{prefix}-s{seed}-{j:04d}")
        for j, ss in enumerate(streams)
    ]
