r"""Round durations: how long one round of the scheduling model takes, in seconds.

The theory (``specs/kv-scheduling.md`` section 1) gives every round one unit of time; a time
model maps a round to seconds from what its batch holds. A round ``t`` of a schedule holds

- the *prefills* of the runs started at round ``t-1``: ``num_prefills`` requests with
  ``prefill_tokens`` :math:`P = \sum s_i` prompt tokens in all and
  ``prefill_sq_tokens`` :math:`Q = \sum s_i^2`;
- the *decodes* of the other running requests: ``num_decoding`` requests :math:`D`, whose KV
  caches hold ``decode_context_tokens`` :math:`K` tokens in all before the round (a run started
  at ``k`` has :math:`s_i + t - k - 1` in round ``t >= k + 2``).

:class:`LinearBatchTime` is a roofline-shaped model, linear in its coefficients:

.. math::

    d = c_0 + c_P P + c_D D + c_N \max(0,\, P + D - n^*) + c_Q Q + c_K K

- :math:`c_0`: a forward pass reads every weight once (memory-bound), plus all-reduce
  latency and launch overhead;
- :math:`c_P, c_D`: each batch token (a prompt token or one decoding request's new token)
  adds a little GEMM work while the GEMMs stay memory-bound;
- :math:`c_N` above the knee :math:`n^*`: past about ``peak_flops / hbm_bandwidth`` batch
  tokens (the roofline ridge) the GEMMs are compute-bound and each token costs
  :math:`2 \times` params FLOPs;
- :math:`c_Q`: causal prefill attention does :math:`\propto s^2` FLOPs per request;
- :math:`c_K`: decode attention reads each request's whole KV cache.

A round with an empty batch runs no forward pass and lasts 0 s under :class:`LinearBatchTime`
(an engine in seconds jumps to the next arrival); under :class:`UnitTime` every round lasts
``round_s`` whatever it holds, as in the theory.

Both models answer a scalar question cheaply (:meth:`~TimeModel.round_time_s`: plain Python
arithmetic, for an engine deciding one round at a time) and a vectorised one
(:meth:`~TimeModel.round_times_s`: numpy arrays, for many rounds at once).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Protocol, runtime_checkable

import numpy as np

from kvopt.schedule import frozen_int64

__all__ = [
    "BatchComposition",
    "LinearBatchTime",
    "TimeModel",
    "UnitTime",
    "linear_features",
    "round_durations_s",
    "time_model_from_dict",
]


@dataclasses.dataclass(frozen=True, eq=False)
class BatchComposition:
    """What the batch of each round holds: aligned read-only int64 arrays, index = round.

    Attributes
    ----------
    num_prefills
        Requests whose prefill (and first output token) runs in the round.
    prefill_tokens
        Sum of their prompt lengths :math:`P = \\sum s_i`.
    prefill_sq_tokens
        Sum of their squared prompt lengths :math:`Q = \\sum s_i^2` (causal attention work).
    num_decoding
        Requests decoding one token in the round.
    decode_context_tokens
        KV tokens those requests hold before the round, summed.
    """

    num_prefills: np.ndarray
    prefill_tokens: np.ndarray
    prefill_sq_tokens: np.ndarray
    num_decoding: np.ndarray
    decode_context_tokens: np.ndarray

    def __post_init__(self) -> None:
        names = [f.name for f in dataclasses.fields(self)]
        arrays = [frozen_int64(getattr(self, name)) for name in names]
        num_rounds = len(arrays[0])
        for name, arr in zip(names, arrays, strict=False):
            if len(arr) != num_rounds:
                raise ValueError(
                    f"BatchComposition field '{name}' has {len(arr)} rounds, "
                    f"'num_prefills' has {num_rounds}"
                )
            if (neg := np.flatnonzero(arr < 0)).size:
                t = int(neg[0])
                raise ValueError(f"BatchComposition field '{name}' is negative ({arr[t]}) at {t}")
            object.__setattr__(self, name, arr)

    @property
    def num_rounds(self) -> int:
        return len(self.num_prefills)

    @property
    def batch_tokens(self) -> np.ndarray:
        """Tokens the forward pass of each round processes: ``prefill_tokens + num_decoding``."""
        return self.prefill_tokens + self.num_decoding

    @property
    def output_tokens(self) -> np.ndarray:
        """Output tokens each round produces: one per prefill and one per decoding request."""
        return self.num_prefills + self.num_decoding


@runtime_checkable
class TimeModel(Protocol):
    """The duration of a round, in seconds, from what its batch holds."""

    def round_time_s(
        self, prefill_tokens: int, prefill_sq_tokens: int, num_decoding: int,
        decode_context_tokens: int,
    ) -> float:
        """Duration of one round (scalar, cheap: for an engine deciding round by round)."""
        ...

    def round_times_s(
        self, prefill_tokens: Any, prefill_sq_tokens: Any, num_decoding: Any,
        decode_context_tokens: Any,
    ) -> np.ndarray:
        """Durations of many rounds at once (arrays broadcast together), float64."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """Kind and parameters, JSON-ready (saved with results)."""
        ...


def round_durations_s(time_model: TimeModel, batches: BatchComposition) -> np.ndarray:
    """Duration of every round of ``batches`` under ``time_model`` (float64, index = round)."""
    return time_model.round_times_s(
        batches.prefill_tokens, batches.prefill_sq_tokens, batches.num_decoding,
        batches.decode_context_tokens,
    )


@dataclasses.dataclass(frozen=True)
class UnitTime:
    """Every round lasts ``round_s`` (1.0: the theory's unit), whatever its batch holds."""

    round_s: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.round_s) and self.round_s > 0):
            raise ValueError(f"UnitTime round_s must be a positive number, got {self.round_s}")

    def round_time_s(
        self, prefill_tokens: int, prefill_sq_tokens: int, num_decoding: int,
        decode_context_tokens: int,
    ) -> float:
        return self.round_s

    def round_times_s(
        self, prefill_tokens: Any, prefill_sq_tokens: Any, num_decoding: Any,
        decode_context_tokens: Any,
    ) -> np.ndarray:
        shape = np.broadcast_shapes(*(np.shape(x) for x in (
            prefill_tokens, prefill_sq_tokens, num_decoding, decode_context_tokens)))
        return np.full(shape, self.round_s, dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "unit", "round_s": self.round_s}


def linear_features(
    prefill_tokens: Any, prefill_sq_tokens: Any, num_decoding: Any,
    decode_context_tokens: Any, *, knee_tokens: float,
) -> np.ndarray:
    """The design matrix of :class:`LinearBatchTime`: one row per round, float64.

    Columns, in :data:`LinearBatchTime.COEFFICIENTS` order: ``1``, ``P``, ``D``,
    ``max(0, P + D - knee_tokens)``, ``Q``, ``K``. Calibration fits on exactly these columns.
    """
    p, q, d, k = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in (
        prefill_tokens, prefill_sq_tokens, num_decoding, decode_context_tokens)))
    p, q, d, k = (x.reshape(-1) for x in (p, q, d, k))
    return np.column_stack(
        [np.ones_like(p), p, d, np.maximum(0.0, p + d - knee_tokens), q, k]
    )


@dataclasses.dataclass(frozen=True)
class LinearBatchTime:
    """Roofline-shaped linear batch-time model (module docstring); coefficients in seconds.

    Parameters
    ----------
    base_s
        :math:`c_0`, seconds per non-empty round.
    prefill_token_s
        :math:`c_P`, seconds per prompt token prefilled.
    decode_request_s
        :math:`c_D`, seconds per decoding request.
    compute_token_s
        :math:`c_N`, extra seconds per batch token above ``knee_tokens``.
    prefill_attn_token2_s
        :math:`c_Q`, seconds per squared prompt token (:math:`\\sum s_i^2`).
    decode_context_token_s
        :math:`c_K`, seconds per KV token read by decoding requests.
    knee_tokens
        :math:`n^*`, batch tokens at which the GEMMs turn compute-bound.

    Raises
    ------
    ValueError
        On a negative or non-finite coefficient, naming it.
    """

    base_s: float
    prefill_token_s: float
    decode_request_s: float
    compute_token_s: float
    prefill_attn_token2_s: float
    decode_context_token_s: float
    knee_tokens: float

    COEFFICIENTS = (
        "base_s", "prefill_token_s", "decode_request_s", "compute_token_s",
        "prefill_attn_token2_s", "decode_context_token_s",
    )

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
                raise TypeError(f"LinearBatchTime {f.name} must be a number, got {v!r}")
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"LinearBatchTime {f.name} must be finite and >= 0, got {v}")
            object.__setattr__(self, f.name, float(v))

    @classmethod
    def from_coefficients(cls, coefficients: Any, *, knee_tokens: float) -> LinearBatchTime:
        """From a vector in :data:`COEFFICIENTS` order (the columns of :func:`linear_features`)."""
        values = [float(c) for c in np.asarray(coefficients, dtype=np.float64).reshape(-1)]
        if len(values) != len(cls.COEFFICIENTS):
            raise ValueError(
                f"LinearBatchTime needs {len(cls.COEFFICIENTS)} coefficients, got {len(values)}"
            )
        return cls(**dict(zip(cls.COEFFICIENTS, values, strict=False)), knee_tokens=knee_tokens)

    @property
    def coefficients(self) -> np.ndarray:
        """The coefficients in :data:`COEFFICIENTS` order."""
        return np.array([getattr(self, name) for name in self.COEFFICIENTS], dtype=np.float64)

    def round_time_s(
        self, prefill_tokens: int, prefill_sq_tokens: int, num_decoding: int,
        decode_context_tokens: int,
    ) -> float:
        batch_tokens = prefill_tokens + num_decoding
        if batch_tokens <= 0:
            return 0.0
        return (
            self.base_s
            + self.prefill_token_s * prefill_tokens
            + self.decode_request_s * num_decoding
            + self.compute_token_s * max(0.0, batch_tokens - self.knee_tokens)
            + self.prefill_attn_token2_s * prefill_sq_tokens
            + self.decode_context_token_s * decode_context_tokens
        )

    def round_times_s(
        self, prefill_tokens: Any, prefill_sq_tokens: Any, num_decoding: Any,
        decode_context_tokens: Any,
    ) -> np.ndarray:
        p, q, d, k = (np.asarray(x, dtype=np.float64) for x in (
            prefill_tokens, prefill_sq_tokens, num_decoding, decode_context_tokens))
        batch_tokens = p + d
        out = np.empty(np.broadcast_shapes(p.shape, q.shape, d.shape, k.shape))
        np.subtract(batch_tokens, self.knee_tokens, out=out)
        np.maximum(out, 0.0, out=out)
        out *= self.compute_token_s
        out += self.base_s
        for coef, x in ((self.prefill_token_s, p), (self.decode_request_s, d),
                        (self.prefill_attn_token2_s, q), (self.decode_context_token_s, k)):
            out += coef * x
        out[np.broadcast_to(batch_tokens <= 0, out.shape)] = 0.0
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "linear", **dataclasses.asdict(self)}


def time_model_from_dict(data: dict[str, Any]) -> TimeModel:
    """Rebuild a time model from :meth:`TimeModel.to_dict` output."""
    data = dict(data)
    kind = data.pop("kind", None)
    if kind == "unit":
        return UnitTime(**data)
    if kind == "linear":
        return LinearBatchTime(**data)
    raise ValueError(f"unknown time model kind {kind!r}; expected 'unit' or 'linear'")
