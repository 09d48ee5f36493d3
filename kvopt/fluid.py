r"""The fluid benchmark of WAIT and Nested WAIT (``specs/fluid-wait.md`` sections 2-4, 6).

Ao, Luo, Simchi-Levi and Wang (arXiv 2504.11320) bound the throughput of any non-predictive
scheduler by a fluid model: prompt type ``j`` has ``l_j`` prefill and ``l'_j`` decode tokens and
arrives at rate ``lambda_j``; an iteration over a batch lasts
``d0 + d1 * (prefill tokens + current lengths of the decoding prompts)``. With

* ``W_j = (l'_j + 1)(l_j + l'_j / 2)``, the KV token-iterations of one type-``j`` prompt (stages
  ``k = 0 .. l'_j`` holding ``l_j + k`` tokens), and ``S = sum_j lambda_j W_j``,

the equilibrium exists iff ``d1 * S < 1`` (:attr:`FluidModel.stable`), and then

* ``DT* = d0 / (1 - d1 S)`` (iteration time), ``M* = d0 S / (1 - d1 S)`` (memory),
* ``n*_j = DT* lambda_j (l'_j + 1)`` active type-``j`` prompts, ``DT* lambda_j`` per stage,
* ``Throughput* = sum_j lambda_j (l'_j + 1)``.

**Two slopes.** kvopt's time models charge prefill tokens at their own rate (compute-bound).
``d1_prefill`` (default ``d1``, the paper's one-slope model) replaces ``d1`` for the stage-0
term ``l_j``: the load is ``rho = sum_j lambda_j (d1_prefill l_j + d1 (W_j - l_j))``, and
``DT* = d0 / (1 - rho)``, ``M* = DT* S``. With one slope ``rho = d1 S`` (the paper's formulas).

**Unstable inputs** (``rho >= 1``) are flagged, never silently reported: :attr:`stable` is
``False``, ``DT*``, ``M*`` and ``n*`` are ``inf``, :meth:`FluidModel.require_stable` raises a
one-line :class:`ValueError`, and :meth:`FluidModel.summary` says "unstable".

**Heavy traffic** ``zeta``: ``lambda -> zeta lambda``, ``(d0, d1) -> (d0, d1) / zeta``
(:meth:`FluidModel.scaled`): ``rho`` and ``M*`` are unchanged, ``DT*`` shrinks by ``zeta``.

Thresholds (``n_j`` prompts per stage and iteration):

* :func:`fluid_wait_thresholds`: the smallest integers with ``DT(n) <= n_j / lambda_j`` (``<``
  with ``strict``), ``DT(n) = d0 + d1 sum_j n_j W_j`` (two slopes as above); their memory
  :func:`wait_memory` ``M^pi = sum_j n_j W_j`` is then at least ``M*``;
* :func:`practical_wait_thresholds`: the papers' cap rules (``B rho_j / (l'_j + 1)``, or the
  authors' simulator's ``B lambda_j / sum_r lambda_r (l'_r + 1)``), rounded, at least 1;
* :func:`nested_thresholds`: the revision's Nested WAIT rule (``p_k``, ``q_k = min(p_k + eta,
  0.99)``, ``n_k = n_1 prod_{r<k} q_r``, ``sum_k DL_k n_k = tl``) and :func:`nested_memory`.

:func:`m_star_from_fit` is the one-parameter form ``M*(lambda) = a lambda / (1 - b lambda)``
(``a = d0 K``, ``b = d1 K`` with ``K`` the mean ``W`` of a sample), used to reproduce the
revision's ``M*(lambda)`` table.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from kvopt.time_model import LinearBatchTime

__all__ = [
    "FluidModel",
    "fluid_wait_thresholds",
    "m_star_from_fit",
    "nested_memory",
    "nested_thresholds",
    "practical_wait_thresholds",
    "wait_memory",
]


def _floats(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    arr = np.array(values, dtype=np.float64).reshape(-1)
    if (bad := np.flatnonzero(~np.isfinite(arr) | (arr < 0))).size:
        raise ValueError(f"{name}[{int(bad[0])}] = {arr[bad[0]]} must be finite and >= 0")
    arr.flags.writeable = False
    return arr


@dataclasses.dataclass(frozen=True, eq=False)
class FluidModel:
    """Prompt types, their rates and the batch-time coefficients (module docstring).

    Parameters
    ----------
    prefill, decode
        ``l_j`` and ``l'_j`` per type (tokens).
    rates
        ``lambda_j`` per type (prompts per second).
    d0, d1
        Seconds per iteration and per KV token touched.
    d1_prefill
        Seconds per prefill token; ``None``: ``d1`` (one slope).
    """

    prefill: np.ndarray
    decode: np.ndarray
    rates: np.ndarray
    d0: float
    d1: float
    d1_prefill: float | None = None

    def __post_init__(self) -> None:
        for f in ("prefill", "decode", "rates"):
            object.__setattr__(self, f, _floats(getattr(self, f), f))
        if not (len(self.prefill) == len(self.decode) == len(self.rates)) or not len(self.rates):
            raise ValueError(f"prefill, decode and rates must be non-empty and equally long "
                             f"({len(self.prefill)}, {len(self.decode)}, {len(self.rates)})")
        for f in ("d0", "d1", "d1_prefill"):
            v = getattr(self, f)
            if v is not None and not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{f} must be finite and >= 0, got {v}")

    @classmethod
    def from_time_model(cls, prefill, decode, rates, time_model: LinearBatchTime) -> FluidModel:
        """Read ``d0``, ``d1`` and ``d1_prefill`` off a :class:`~kvopt.time_model.LinearBatchTime`
        (``base_s``, ``decode_context_token_s``, ``prefill_token_s``); its other terms
        (per-request, knee, quadratic) have no place in the fluid model and must be 0."""
        extra = {"decode_request_s": time_model.decode_request_s,
                 "compute_token_s": time_model.compute_token_s,
                 "prefill_attn_token2_s": time_model.prefill_attn_token2_s}
        if bad := [k for k, v in extra.items() if v]:
            raise ValueError(f"the fluid model has no {bad[0]} term (it is {extra[bad[0]]})")
        return cls(prefill, decode, rates, time_model.base_s, time_model.decode_context_token_s,
                   time_model.prefill_token_s)

    # ------------------------------------------------------------------ per type, totals
    @property
    def work(self) -> np.ndarray:
        """``W_j = (l'_j + 1)(l_j + l'_j / 2)``: KV token-iterations per type-``j`` prompt."""
        return (self.decode + 1) * (self.prefill + self.decode / 2)

    @property
    def load_tokens(self) -> float:
        """``S = sum_j lambda_j W_j``: KV tokens per second the arrivals bring."""
        return float(self.rates @ self.work)

    @property
    def load(self) -> float:
        """``rho``: seconds of slope work per second (``d1 S`` with one slope); stable iff < 1."""
        d1p = self.d1 if self.d1_prefill is None else self.d1_prefill
        per_prompt = d1p * self.prefill + self.d1 * (self.work - self.prefill)
        return float(self.rates @ per_prompt)

    @property
    def stable(self) -> bool:
        return self.load < 1.0

    def require_stable(self) -> FluidModel:
        """Return ``self``; raise a one-line :class:`ValueError` if unstable."""
        if not self.stable:
            raise ValueError(f"unstable fluid model: d1*S = {self.load:.4g} >= 1 (every policy's "
                             f"latency grows linearly with the horizon)")
        return self

    @property
    def dt_star(self) -> float:
        """``DT* = d0 / (1 - rho)`` seconds; ``inf`` if unstable."""
        return self.d0 / (1.0 - self.load) if self.stable else math.inf

    @property
    def m_star(self) -> float:
        """``M* = DT* S`` KV tokens (``d0 S / (1 - d1 S)`` with one slope); ``inf`` if unstable."""
        return self.dt_star * self.load_tokens if self.stable else math.inf

    @property
    def n_star(self) -> np.ndarray:
        """``n*_j = DT* lambda_j (l'_j + 1)`` active type-``j`` prompts."""
        return self.dt_star * self.rates * (self.decode + 1)

    @property
    def throughput_star(self) -> float:
        """``Throughput* = sum_j lambda_j (l'_j + 1)`` tokens per second."""
        return float(self.rates @ (self.decode + 1))

    def scaled(self, zeta: float) -> FluidModel:
        """Heavy-traffic scaling: rates times ``zeta``, ``d0``, ``d1`` (and ``d1_prefill``)
        divided by it."""
        if not zeta > 0:
            raise ValueError(f"zeta must be > 0, got {zeta}")
        d1p = None if self.d1_prefill is None else self.d1_prefill / zeta
        return FluidModel(self.prefill, self.decode, self.rates * zeta, self.d0 / zeta,
                          self.d1 / zeta, d1p)

    def summary(self) -> str:
        """One line: load, and DT*, M*, Throughput* or "unstable"."""
        if not self.stable:
            return f"unstable: d1*S = {self.load:.4g} >= 1"
        return (f"stable: d1*S = {self.load:.4g}, DT* = {self.dt_star * 1e3:.4g} ms, "
                f"M* = {self.m_star:.6g} tokens, Throughput* = {self.throughput_star:.6g} tok/s")

    def iteration_time(self, thresholds: Sequence[float] | np.ndarray) -> float:
        """``DT(n) = d0 + d1 sum_j n_j W_j`` (the prefill stage at ``d1_prefill``)."""
        n = np.asarray(thresholds, dtype=np.float64)
        d1p = self.d1 if self.d1_prefill is None else self.d1_prefill
        return float(self.d0 + n @ (d1p * self.prefill + self.d1 * (self.work - self.prefill)))


def m_star_from_fit(a: float, b: float, rate: float) -> float:
    """``M* = a lambda / (1 - b lambda)``; ``inf`` (unstable) when ``b lambda >= 1``."""
    return a * rate / (1.0 - b * rate) if b * rate < 1.0 else math.inf


def wait_memory(model: FluidModel, thresholds: Sequence[float] | np.ndarray) -> float:
    """``M^pi = sum_j n_j W_j``: the memory of ``n_j`` prompts at every stage of every type."""
    return float(np.asarray(thresholds, dtype=np.float64) @ model.work)


def fluid_wait_thresholds(model: FluidModel, *, strict: bool = True,
                          margin: float = 0.0) -> np.ndarray:
    """The smallest integer thresholds with ``DT(n) <= n_j / lambda_j`` for every type (``<``
    with ``strict``), starting from ``ceil((1 + margin) DT* lambda_j)``; int64[m].

    Raises
    ------
    ValueError
        If the model is unstable (no thresholds exist).
    """
    model.require_stable()
    rates = model.rates
    n = np.maximum(1, np.ceil((1.0 + margin) * model.dt_star * rates - 1e-9)).astype(np.int64)
    for _ in range(10_000):
        dt = model.iteration_time(n)
        cap = n / np.where(rates > 0, rates, 1.0)
        ok = (dt < cap) if strict else (dt <= cap * (1 + 1e-12))
        ok |= rates == 0
        if ok.all():
            return n
        n = np.where(ok, n, n + 1)
    raise ValueError("no thresholds found within 10,000 increments")   # pragma: no cover


def practical_wait_thresholds(decode: Sequence[float], proportions: Sequence[float], cap: float,
                              *, rule: str = "proportional") -> np.ndarray:
    """The papers' cap rules, rounded to the nearest integer, at least 1 (int64[m]).

    ``rule="proportional"`` (early version): ``n_j = B rho_j / (l'_j + 1)`` with
    ``rho_j`` the arrival proportions. ``rule="stages"`` (the authors' simulator,
    ``booking_limit``): ``n_j = B lambda_j / sum_r lambda_r (l'_r + 1)``. Both give
    ``B / (l' + 1)`` for one type.
    """
    d = np.asarray(decode, dtype=np.float64)
    p = np.asarray(proportions, dtype=np.float64)
    p = p / p.sum()
    if rule == "proportional":
        raw = cap * p / (d + 1)
    elif rule == "stages":
        raw = cap * p / float(p @ (d + 1))
    else:
        raise ValueError(f"rule must be 'proportional' or 'stages', got {rule!r}")
    return np.maximum(1, np.floor(raw + 0.5)).astype(np.int64)


def nested_thresholds(widths: Sequence[int], rates: Sequence[float], cap: float, *,
                      eta: float = 0.05) -> np.ndarray:
    """The revision's Nested WAIT thresholds per stage of each segment (float64[L]).

    ``widths[k]``: stages of segment ``k`` (``DL'_k``); ``rates[k]``: the rate (or proportion)
    of prompts whose decode ends in segment ``k``. ``p_k = sum_{r>k} / sum_{r>=k}``,
    ``q_k = min(p_k + eta, 0.99)``, ``n_k = n_1 prod_{r<k} q_r`` and ``sum_k DL'_k n_k = cap``.
    Unrounded: the caller rounds (``n_1`` to the nearest integer, at least 1).
    """
    w = np.asarray(widths, dtype=np.float64)
    lam = np.asarray(rates, dtype=np.float64)
    if len(w) != len(lam) or not len(w):
        raise ValueError("widths and rates must be non-empty and equally long")
    tail = np.cumsum(lam[::-1])[::-1]                   # sum_{r>=k}
    after = tail - lam                                  # sum_{r>k}
    p = np.divide(after, tail, out=np.zeros_like(tail), where=tail > 0)
    q = np.minimum(p + eta, 0.99)
    factors = np.concatenate([[1.0], np.cumprod(q[:-1])])
    n1 = cap / float(w @ factors)
    return n1 * factors


def nested_memory(prefill: float, bounds: Sequence[int],
                  thresholds: Sequence[float] | np.ndarray) -> float:
    """Nested WAIT's ``M^pi`` with the segment midpoint (the spec's default, section 4):
    ``n_1 l + sum_i n_i (l'_i - l'_(i-1)) (l + (l'_(i-1) + l'_i + 1) / 2)``."""
    n = np.asarray(thresholds, dtype=np.float64)
    hi = np.asarray(bounds, dtype=np.float64)
    lo = np.concatenate([[0.0], hi[:-1]])
    return float(n[0] * prefill + np.sum(n * (hi - lo) * (prefill + (lo + hi + 1) / 2)))
