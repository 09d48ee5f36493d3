r"""Output-length distributions for Multi-Bin Batching, and the trace reader.

A distribution samples i.i.d. true output lengths (``sample``) and answers the questions the
bin edges and the theory ask: the quantile function ``ppf(p)`` (``F^-1``), its complement
``isf(q) = F^-1(1 - q)`` (precise near ``p = 1``, where the heavy tails live) and
``prob_below(x) = P(X < x)``, the share of requests a half-open bin ``[l_(i-1), l_i)`` cuts off.

- :class:`Uniform` on ``[lo, hi]`` (the theory's Assumption 3.2; real-valued lengths);
- :class:`LogNormal` with the underlying normal's ``mu`` and ``sigma`` (the spec's default for the
  GSM8K-like lengths of Fig. 6: ``sigma = 0.46``, B6);
- :class:`Exponential` with a given mean (App. A.4);
- :class:`Empirical`: the output lengths of a trace file, sampled with replacement (an i.i.d.
  backlog, as the model assumes), each draw keeping its row's prompt length.

:func:`parse_lengths` reads the CLI's ``uniform:LO:HI``, ``lognormal:MU:SIGMA``,
``exponential:MEAN`` and ``trace:FILE``.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import statistics
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from kvopt.bins.errors import BinsError

__all__ = [
    "Empirical",
    "Exponential",
    "LengthModel",
    "LogNormal",
    "Uniform",
    "norm_ppf",
    "parse_lengths",
    "read_trace_lengths",
]

_NORMAL = statistics.NormalDist()
_PPF = np.frompyfunc(_NORMAL.inv_cdf, 1, 1)
_ERFC = np.frompyfunc(math.erfc, 1, 1)


def norm_ppf(p: Any) -> np.ndarray:
    """Standard normal quantile of every ``p`` in the open interval (0, 1), float64."""
    arr = np.asarray(p, dtype=np.float64)
    return np.asarray(_PPF(arr), dtype=np.float64).reshape(arr.shape)


def _norm_cdf(z: Any) -> np.ndarray:
    arr = np.asarray(z, dtype=np.float64)
    return np.asarray(0.5 * _ERFC(-arr / math.sqrt(2.0)), dtype=np.float64).reshape(arr.shape)


def _probabilities(name: str, p: Any) -> np.ndarray:
    arr = np.asarray(p, dtype=np.float64)
    if not np.all((arr >= 0) & (arr <= 1)):
        raise BinsError(f"{name}: probabilities must lie in [0, 1]")
    return arr


@runtime_checkable
class LengthModel(Protocol):
    """What the engine, the bin edges and the theory need from a length distribution."""

    @property
    def name(self) -> str: ...

    @property
    def support(self) -> tuple[float, float]: ...

    @property
    def mean(self) -> float: ...

    discrete: bool

    def sample(self, rng: np.random.Generator, num_requests: int) -> np.ndarray: ...

    def ppf(self, p: Any) -> np.ndarray: ...

    def isf(self, q: Any) -> np.ndarray: ...

    def prob_below(self, x: Any) -> np.ndarray: ...


@dataclasses.dataclass(frozen=True)
class Uniform:
    """Uniform real lengths on ``[lo, hi]``, ``0 <= lo < hi``."""

    lo: float
    hi: float
    discrete = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lo) and math.isfinite(self.hi) and 0 <= self.lo < self.hi):
            raise BinsError(f"uniform lengths need 0 <= LO < HI, got LO={self.lo}, HI={self.hi}")

    @property
    def name(self) -> str:
        return f"uniform:{self.lo:g}:{self.hi:g}"

    @property
    def support(self) -> tuple[float, float]:
        return (float(self.lo), float(self.hi))

    @property
    def mean(self) -> float:
        return (self.lo + self.hi) / 2

    def sample(self, rng: np.random.Generator, num_requests: int) -> np.ndarray:
        return rng.uniform(self.lo, self.hi, size=num_requests)

    def ppf(self, p: Any) -> np.ndarray:
        return self.lo + (self.hi - self.lo) * _probabilities(self.name, p)

    def isf(self, q: Any) -> np.ndarray:
        return self.hi - (self.hi - self.lo) * _probabilities(self.name, q)

    def prob_below(self, x: Any) -> np.ndarray:
        return np.clip((np.asarray(x, dtype=np.float64) - self.lo) / (self.hi - self.lo), 0, 1)


@dataclasses.dataclass(frozen=True)
class LogNormal:
    """``exp(N(mu, sigma^2))``: mean ``exp(mu + sigma^2 / 2)``, support ``(0, inf)``."""

    mu: float
    sigma: float
    discrete = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.mu) and math.isfinite(self.sigma) and self.sigma > 0):
            raise BinsError(f"lognormal lengths need a finite MU and SIGMA > 0, got "
                            f"MU={self.mu}, SIGMA={self.sigma}")

    @classmethod
    def with_mean(cls, mean: float, sigma: float) -> LogNormal:
        """The lognormal with this mean and shape ``sigma``."""
        if not (math.isfinite(mean) and mean > 0):
            raise BinsError(f"lognormal mean must be positive, got {mean}")
        return cls(math.log(mean) - sigma**2 / 2, sigma)

    @property
    def name(self) -> str:
        return f"lognormal:{self.mu:.6g}:{self.sigma:g}"

    @property
    def support(self) -> tuple[float, float]:
        return (0.0, math.inf)

    @property
    def mean(self) -> float:
        return math.exp(self.mu + self.sigma**2 / 2)

    def sample(self, rng: np.random.Generator, num_requests: int) -> np.ndarray:
        return rng.lognormal(self.mu, self.sigma, size=num_requests)

    def _exp_quantile(self, p: Any, sign: float) -> np.ndarray:
        """``exp(mu + sign * sigma * z(p))``; ``p = 0`` and ``p = 1`` give the limits."""
        arr = np.atleast_1d(_probabilities(self.name, p)).astype(np.float64)
        z = np.where(arr <= 0, -math.inf, math.inf)
        inner = (arr > 0) & (arr < 1)
        z[inner] = norm_ppf(arr[inner])
        return np.exp(self.mu + sign * self.sigma * z).reshape(np.shape(p))

    def ppf(self, p: Any) -> np.ndarray:
        return self._exp_quantile(p, 1.0)

    def isf(self, q: Any) -> np.ndarray:
        return self._exp_quantile(q, -1.0)

    def prob_below(self, x: Any) -> np.ndarray:
        arr = np.asarray(x, dtype=np.float64)
        with np.errstate(divide="ignore"):
            z = (np.log(np.maximum(arr, 0.0)) - self.mu) / self.sigma
        return _norm_cdf(z)


@dataclasses.dataclass(frozen=True)
class Exponential:
    """Exponential lengths with the given mean (App. A.4), support ``(0, inf)``."""

    mean_value: float
    discrete = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.mean_value) and self.mean_value > 0):
            raise BinsError(f"exponential lengths need MEAN > 0, got {self.mean_value}")

    @property
    def name(self) -> str:
        return f"exponential:{self.mean_value:g}"

    @property
    def support(self) -> tuple[float, float]:
        return (0.0, math.inf)

    @property
    def mean(self) -> float:
        return float(self.mean_value)

    def sample(self, rng: np.random.Generator, num_requests: int) -> np.ndarray:
        # an exact 0.0 has probability ~2**-53; lengths must be positive
        return np.maximum(rng.exponential(self.mean_value, size=num_requests), 1e-300)

    def ppf(self, p: Any) -> np.ndarray:
        arr = _probabilities(self.name, p)
        with np.errstate(divide="ignore"):
            return -self.mean_value * np.log1p(-arr)

    def isf(self, q: Any) -> np.ndarray:
        arr = _probabilities(self.name, q)
        with np.errstate(divide="ignore"):
            return -self.mean_value * np.log(arr)

    def prob_below(self, x: Any) -> np.ndarray:
        arr = np.maximum(np.asarray(x, dtype=np.float64), 0.0)
        return -np.expm1(-arr / self.mean_value)


@dataclasses.dataclass(frozen=True, eq=False)
class Empirical:
    """The output lengths of a trace (``values``), each row drawn with probability ``1/n``.

    ``prompts`` (optional, aligned with ``values``) go along with their rows when sampled.
    """

    values: np.ndarray
    label: str = "empirical"
    prompts: np.ndarray | None = None
    _sorted: np.ndarray = dataclasses.field(init=False, repr=False)
    discrete = True

    def __post_init__(self) -> None:
        values = np.array(self.values, dtype=np.float64)
        if values.ndim != 1 or len(values) == 0:
            raise BinsError(f"{self.label}: needs at least one length")
        if not np.all(np.isfinite(values) & (values > 0)):
            raise BinsError(f"{self.label}: every length must be finite and positive")
        values.flags.writeable = False
        object.__setattr__(self, "values", values)
        sorted_values = np.sort(values)
        sorted_values.flags.writeable = False
        object.__setattr__(self, "_sorted", sorted_values)
        if self.prompts is not None:
            prompts = np.array(self.prompts, dtype=np.int64)
            if prompts.shape != values.shape or np.any(prompts < 0):
                raise BinsError(f"{self.label}: prompts must be >= 0, one per length")
            prompts.flags.writeable = False
            object.__setattr__(self, "prompts", prompts)

    @property
    def name(self) -> str:
        return self.label

    @property
    def support(self) -> tuple[float, float]:
        s = self._sorted
        return (float(s[0]), float(s[-1]))

    @property
    def mean(self) -> float:
        return float(self.values.mean())

    def atoms(self) -> tuple[np.ndarray, np.ndarray]:
        """Distinct lengths (increasing) and their probabilities."""
        x, counts = np.unique(self._sorted, return_counts=True)
        return x, counts / len(self.values)

    def sample_rows(self, rng: np.random.Generator, num_requests: int) -> np.ndarray:
        """Row indices drawn with replacement."""
        return rng.integers(0, len(self.values), size=num_requests)

    def sample(self, rng: np.random.Generator, num_requests: int) -> np.ndarray:
        return self.values[self.sample_rows(rng, num_requests)]

    def ppf(self, p: Any) -> np.ndarray:
        """The generalised inverse ``inf{x: F(x) >= p}`` (``p = 0`` gives the minimum)."""
        s = self._sorted
        arr = _probabilities(self.name, p)
        idx = np.clip(np.ceil(arr * len(s)).astype(np.int64) - 1, 0, len(s) - 1)
        return s[idx]

    def isf(self, q: Any) -> np.ndarray:
        return self.ppf(1.0 - _probabilities(self.name, q))

    def prob_below(self, x: Any) -> np.ndarray:
        s = self._sorted
        return np.searchsorted(s, np.asarray(x, dtype=np.float64), side="left") / len(s)


# --------------------------------------------------------------------------- traces
_TRACE_COLUMNS = {  # (arrival or None, prompt, output)
    "azure": ("TIMESTAMP", "ContextTokens", "GeneratedTokens"),
    "vidur": ("arrived_at", "num_prefill_tokens", "num_decode_tokens"),
    "lengths": (None, "num_prefill_tokens", "num_decode_tokens"),
}


def _azure_seconds(value: str) -> float:
    import datetime

    head, _, frac = value.strip().partition(".")
    base = datetime.datetime.strptime(head, "%Y-%m-%d %H:%M:%S").timestamp()
    return base + (float("0." + frac) if frac else 0.0)


def read_trace_lengths(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read a trace CSV (Azure 2023, Vidur's processed traces, length statistics).

    Returns
    -------
    dict
        ``output`` and ``prompt`` (int64), and ``arrival_s`` (float64, seconds since the first
        request) when the file has timestamps.

    Raises
    ------
    BinsError
        One line naming the file (and line) when it cannot be read or parsed.
    """
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = [h.strip() for h in next(reader, [])]
            fmt = next((f for f, cols in _TRACE_COLUMNS.items()
                        if all(c is None or c in header for c in cols)), None)
            if fmt is None:
                raise BinsError(f"{path}: unknown trace header {header!r}; expected the columns "
                                "of the Azure 2023, Vidur or length-statistics traces")
            time_col, prompt_col, output_col = (
                None if c is None else header.index(c) for c in _TRACE_COLUMNS[fmt])
            times: list[float] = []
            prompt: list[int] = []
            output: list[int] = []
            for lineno, row in enumerate(reader, start=2):
                if not row:
                    continue
                try:
                    if time_col is not None:
                        text = row[time_col]
                        times.append(_azure_seconds(text) if fmt == "azure" else float(text))
                    prompt.append(int(row[prompt_col]))  # type: ignore[index]
                    output.append(int(row[output_col]))  # type: ignore[index]
                except (ValueError, IndexError):
                    raise BinsError(f"{path}: line {lineno}: cannot parse {','.join(row)!r}"
                                    ) from None
                if output[-1] < 1 or prompt[-1] < 0:
                    raise BinsError(f"{path}: line {lineno}: output must be >= 1 and "
                                    "prompt >= 0")
    except OSError as exc:
        raise BinsError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not output:
        raise BinsError(f"{path}: no requests")
    out = {"output": np.array(output, dtype=np.int64), "prompt": np.array(prompt, dtype=np.int64)}
    if times:
        t = np.array(times, dtype=np.float64)
        out["arrival_s"] = t - t.min()
    return out


def parse_lengths(text: str) -> LengthModel:
    """``uniform:LO:HI``, ``lognormal:MU:SIGMA``, ``exponential:MEAN`` or ``trace:FILE``.

    Raises
    ------
    BinsError
        Naming what is wrong with ``text``.
    """
    kind, _, rest = text.partition(":")
    if kind == "trace":
        if not rest:
            raise BinsError("trace lengths need a file: trace:FILE")
        cols = read_trace_lengths(rest)
        return Empirical(cols["output"], label=f"trace:{Path(rest).name}",
                         prompts=cols["prompt"])
    expected = {"uniform": 2, "lognormal": 2, "exponential": 1}
    if kind not in expected:
        raise BinsError(f"unknown length model {text!r}; expected uniform:LO:HI, "
                        "lognormal:MU:SIGMA, exponential:MEAN or trace:FILE")
    parts = rest.split(":") if rest else []
    if len(parts) != expected[kind]:
        raise BinsError(f"{kind} lengths take {expected[kind]} number(s) after '{kind}:', "
                        f"got {text!r}")
    try:
        nums = [float(p) for p in parts]
    except ValueError:
        raise BinsError(f"{text!r}: parameters must be numbers") from None
    if kind == "uniform":
        return Uniform(*nums)
    if kind == "lognormal":
        return LogNormal(*nums)
    return Exponential(nums[0])
