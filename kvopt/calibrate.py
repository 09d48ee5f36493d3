r"""Fit and check batch-time models against performance profiles.

Two kinds of CSV are read (``../shared/traces/README.md`` describes both):

- Vidur's predicted iteration times (``vidur_predicted/batch_time_tp*.csv``): one row per
  pure prefill or pure decode iteration, ``total_ms`` of GPU time. **The default coefficients
  follow these tables** (the spec, section 7: the paper took its round durations from Vidur).
- splitwise-sim's measured latencies (``splitwise_sim/perf_model.csv``): the median over
  repetitions of ``prompt_time`` (prefill of ``batch_size`` prompts of ``prompt_size`` tokens,
  one round) and ``token_time`` (mean decode iteration while each request's context grows from
  ``prompt_size`` to ``prompt_size + token_size``, i.e. a mean context of
  ``prompt_size + token_size / 2``). They include CPU and framework overheads.

:func:`fit_linear` fits :class:`~kvopt.time_model.LinearBatchTime` by least squares on
relative error (each row divided by its measured time, so that short decode rounds count as
much as long prefills), keeps every coefficient non-negative by dropping the most negative
column and refitting, and picks the knee ``n*`` on a grid by mean absolute percentage error.

:func:`scale_linear` carries a fitted model to another model or GPU by roofline scaling (per GPU,
tensor parallelism dividing the work): :math:`c_0 \propto` weight bytes / HBM bandwidth;
:math:`c_P, c_D, c_N \propto` 2 x params / peak FLOP/s; :math:`c_Q \propto` layers x query heads x
head dim / peak FLOP/s; :math:`c_K \propto` KV bytes per token / HBM bandwidth; the knee
:math:`n^* \propto` peak FLOP/s / HBM bandwidth (the ridge point).
"""

from __future__ import annotations

import csv
import dataclasses
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import tomli_w

from kvopt.exceptions import KvoptError
from kvopt.profiles import Hardware, ModelShape, Profile
from kvopt.time_model import BatchComposition, LinearBatchTime, TimeModel, linear_features

__all__ = [
    "CalibrationError",
    "CalibrationReport",
    "ErrorReport",
    "Measurements",
    "calibrate",
    "errors",
    "fit_linear",
    "read_splitwise",
    "read_vidur_table",
    "scale_linear",
    "time_model_toml",
]

DEFAULT_KNEE_GRID = tuple(range(0, 513, 16))
_VIDUR_COLUMNS = ("tp", "phase", "batch_size", "context_len", "new_tokens", "total_ms")
_SPLITWISE_COLUMNS = ("model", "hardware", "prompt_size", "batch_size", "token_size",
                      "prompt_time", "token_time", "tensor_parallel")
# splitwise llama2-70b, a100-80gb, TP 2, prompt 512 x batch 64: prompt_time 794 ms for 32,768
# tokens, a quarter of the 16,384-token point (6,633 ms); the traces README marks it an outlier.
SPLITWISE_OUTLIERS = frozenset({("llama2-70b", "a100-80gb", 2, "prefill", 512, 64, 128)})


class CalibrationError(KvoptError, ValueError):
    """A profile CSV is unreadable or malformed, or a fit is impossible."""


@dataclasses.dataclass(frozen=True, eq=False)
class Measurements:
    """Measured (or predicted) round durations with what each round's batch held.

    ``labels[r]`` describes row ``r`` (phase, batch, context) for reports.
    """

    source: str
    tensor_parallel: int
    batches: BatchComposition
    time_s: np.ndarray
    phase: np.ndarray
    labels: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.time_s)

    def select(self, mask: np.ndarray) -> Measurements:
        """The rows where ``mask`` is true."""
        b = self.batches
        return Measurements(
            self.source, self.tensor_parallel,
            BatchComposition(*(getattr(b, f.name)[mask] for f in dataclasses.fields(b))),
            self.time_s[mask], self.phase[mask],
            tuple(lab for lab, keep in zip(self.labels, mask, strict=False) if keep),
        )


def _measurements(source: str, tp: int, rows: list[tuple[str, int, int, int, float, str]]
                  ) -> Measurements:
    """From ``(phase, batch_size, prompt_or_context, mean_context, time_ms, label)`` rows."""
    phase = np.array([r[0] for r in rows])
    b = np.array([r[1] for r in rows], dtype=np.int64)
    s = np.array([r[2] for r in rows], dtype=np.int64)
    ctx = np.array([r[3] for r in rows], dtype=np.int64)
    pre = phase == "prefill"
    batches = BatchComposition(
        num_prefills=np.where(pre, b, 0),
        prefill_tokens=np.where(pre, b * s, 0),
        prefill_sq_tokens=np.where(pre, b * s * s, 0),
        num_decoding=np.where(pre, 0, b),
        decode_context_tokens=np.where(pre, 0, b * ctx),
    )
    time_s = np.array([r[4] for r in rows], dtype=np.float64) * 1e-3
    return Measurements(source, tp, batches, time_s, phase, tuple(r[5] for r in rows))


def _read_csv(path: Path, required: Sequence[str]) -> list[tuple[int, dict[str, str]]]:
    try:
        fh = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise CalibrationError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        if missing := [c for c in required if c not in header]:
            raise CalibrationError(f"{path}: missing column '{missing[0]}' (header {header!r})")
        return [(lineno, row) for lineno, row in enumerate(reader, start=2)]


def read_vidur_table(path: str | os.PathLike[str]) -> Measurements:
    """Read a Vidur predicted batch-time table (``tp, phase, batch_size, context_len, ...``).

    A prefill row is ``batch_size`` prompts of ``context_len`` tokens; a decode row is
    ``batch_size`` requests each holding ``context_len`` KV tokens.

    Raises
    ------
    CalibrationError
        Naming the file and line of a malformed row, or a file mixing tensor-parallel degrees.
    """
    path = Path(path)
    rows = []
    tps = set()
    for lineno, row in _read_csv(path, _VIDUR_COLUMNS):
        try:
            tp, b, c = int(row["tp"]), int(row["batch_size"]), int(row["context_len"])
            ms = float(row["total_ms"])
        except (TypeError, ValueError):
            raise CalibrationError(f"{path}: line {lineno}: cannot parse {row!r}") from None
        ph = row["phase"]
        if ph not in ("prefill", "decode"):
            raise CalibrationError(f"{path}: line {lineno}: phase must be prefill or decode, "
                                   f"got {ph!r}")
        if b < 1 or c < 1 or not ms > 0:
            raise CalibrationError(f"{path}: line {lineno}: batch_size, context_len and total_ms "
                                   "must be positive")
        tps.add(tp)
        rows.append((ph, b, c, c, ms, f"{ph} batch {b} x {c}"))
    if not rows:
        raise CalibrationError(f"{path}: no data rows")
    if len(tps) != 1:
        raise CalibrationError(f"{path}: rows for several tensor-parallel degrees {sorted(tps)}")
    return _measurements(str(path), tps.pop(), rows)


def read_splitwise(
    path: str | os.PathLike[str], *, model: str = "llama2-70b", hardware: str = "a100-80gb",
    tensor_parallel: int = 2, drop_outliers: bool = True,
) -> Measurements:
    """Read splitwise-sim's ``perf_model.csv``: median prefill and decode times per setting.

    Each (prompt_size, batch_size, token_size) setting gives a prefill round (``prompt_time``)
    and a decode round (``token_time``) at the mean context ``prompt_size + token_size / 2``.
    With ``drop_outliers``, the points in :data:`SPLITWISE_OUTLIERS` are left out.

    Raises
    ------
    CalibrationError
        Naming the file and line of a malformed row, or when no row matches.
    """
    path = Path(path)
    groups: dict[tuple[int, int, int], list[tuple[float, float]]] = defaultdict(list)
    for lineno, row in _read_csv(path, _SPLITWISE_COLUMNS):
        if row["model"] != model or row["hardware"] != hardware:
            continue
        try:
            if int(row["tensor_parallel"]) != tensor_parallel:
                continue
            key = (int(row["prompt_size"]), int(row["batch_size"]), int(row["token_size"]))
            groups[key].append((float(row["prompt_time"]), float(row["token_time"])))
        except (TypeError, ValueError):
            raise CalibrationError(f"{path}: line {lineno}: cannot parse {row!r}") from None
    if not groups:
        raise CalibrationError(
            f"{path}: no rows for model {model!r}, hardware {hardware!r}, TP {tensor_parallel}"
        )
    rows = []
    for (s, b, o), values in sorted(groups.items()):
        prompt_ms, token_ms = np.median(np.array(values), axis=0)
        if not (drop_outliers and (model, hardware, tensor_parallel, "prefill", s, b, o)
                in SPLITWISE_OUTLIERS):
            rows.append(("prefill", b, s, 0, float(prompt_ms), f"prefill batch {b} x {s}"))
        rows.append(("decode", b, s, s + o // 2, float(token_ms),
                     f"decode batch {b} x ctx {s}..{s + o}"))
    return _measurements(f"{path} [{model}, {hardware}, TP {tensor_parallel}]",
                         tensor_parallel, rows)


# --------------------------------------------------------------------------- errors
@dataclasses.dataclass(frozen=True)
class ErrorReport:
    """Absolute percentage errors (APE) of a model against measurements."""

    source: str
    num_points: int
    mape_pct: float
    max_ape_pct: float
    worst: str
    mape_by_phase_pct: dict[str, float]
    mean_signed_pct_by_phase: dict[str, float]   # > 0: the model predicts longer rounds

    def line(self) -> str:
        phases = ", ".join(
            f"{ph} {self.mape_by_phase_pct[ph]:.2f}% "
            f"(bias {self.mean_signed_pct_by_phase[ph]:+.1f}%)"
            for ph in sorted(self.mape_by_phase_pct)
        )
        return (f"MAPE {self.mape_pct:.2f}%, max APE {self.max_ape_pct:.1f}% ({self.worst}); "
                f"n = {self.num_points}; {phases}")


def errors(model: TimeModel, measurements: Measurements) -> ErrorReport:
    """Errors of ``model`` against ``measurements`` (percent of the measured time)."""
    b = measurements.batches
    pred = model.round_times_s(b.prefill_tokens, b.prefill_sq_tokens, b.num_decoding,
                               b.decode_context_tokens)
    signed = 100.0 * (pred - measurements.time_s) / measurements.time_s
    ape = np.abs(signed)
    worst = int(np.argmax(ape))
    by_phase = {str(ph): float(ape[measurements.phase == ph].mean())
                for ph in np.unique(measurements.phase)}
    bias = {str(ph): float(signed[measurements.phase == ph].mean())
            for ph in np.unique(measurements.phase)}
    return ErrorReport(
        measurements.source, len(measurements), float(ape.mean()), float(ape[worst]),
        f"{measurements.labels[worst]}: {1e3 * pred[worst]:.1f} vs "
        f"{1e3 * measurements.time_s[worst]:.1f} ms",
        by_phase, bias,
    )


# --------------------------------------------------------------------------- fitting
def _nonnegative_relative_lstsq(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Minimise sum(((x c - y) / y)^2) over c >= 0 by dropping negative columns and refitting."""
    xw, yw = x / y[:, None], np.ones_like(y)
    active = list(range(x.shape[1]))
    while True:
        sol, *_ = np.linalg.lstsq(xw[:, active], yw, rcond=None)
        if (sol >= 0).all():
            coef = np.zeros(x.shape[1])
            coef[active] = sol
            return coef
        active.pop(int(np.argmin(sol)))


@dataclasses.dataclass(frozen=True)
class FitResult:
    model: LinearBatchTime
    train: ErrorReport


def fit_linear(
    measurements: Measurements | Iterable[Measurements], *,
    knee_tokens: float | None = None, knee_grid: Sequence[float] = DEFAULT_KNEE_GRID,
) -> FitResult:
    """Fit :class:`LinearBatchTime` to measured rounds (see the module docstring).

    Parameters
    ----------
    measurements
        One set, or several sharing a tensor-parallel degree (fitted together).
    knee_tokens
        Fix the knee ``n*``; by default the value of ``knee_grid`` with the lowest MAPE.

    Raises
    ------
    CalibrationError
        With mixed tensor-parallel degrees or fewer rows than coefficients.
    """
    sets = [measurements] if isinstance(measurements, Measurements) else list(measurements)
    if not sets:
        raise CalibrationError("nothing to fit")
    if len({m.tensor_parallel for m in sets}) != 1:
        raise CalibrationError("cannot fit one model to several tensor-parallel degrees: "
                               + ", ".join(f"{m.source} (TP {m.tensor_parallel})" for m in sets))
    data = sets[0] if len(sets) == 1 else _concat(sets)
    if len(data) < len(LinearBatchTime.COEFFICIENTS):
        raise CalibrationError(f"{data.source}: {len(data)} rows cannot fit "
                               f"{len(LinearBatchTime.COEFFICIENTS)} coefficients")
    b = data.batches
    best: FitResult | None = None
    for knee in ([knee_tokens] if knee_tokens is not None else knee_grid):
        x = linear_features(b.prefill_tokens, b.prefill_sq_tokens, b.num_decoding,
                            b.decode_context_tokens, knee_tokens=float(knee))
        coef = _nonnegative_relative_lstsq(x, data.time_s)
        model = LinearBatchTime.from_coefficients(coef, knee_tokens=float(knee))
        result = FitResult(model, errors(model, data))
        if best is None or result.train.mape_pct < best.train.mape_pct - 1e-9:
            best = result
    assert best is not None  # the knee list is never empty
    return best


def _concat(sets: list[Measurements]) -> Measurements:
    fields = [f.name for f in dataclasses.fields(BatchComposition)]
    batches = BatchComposition(
        *(np.concatenate([getattr(m.batches, f) for m in sets]) for f in fields))
    return Measurements(
        " + ".join(m.source for m in sets), sets[0].tensor_parallel, batches,
        np.concatenate([m.time_s for m in sets]), np.concatenate([m.phase for m in sets]),
        tuple(lab for m in sets for lab in m.labels),
    )


# --------------------------------------------------------------------------- scaling
def scale_linear(
    model: LinearBatchTime, *, reference: tuple[ModelShape, Hardware],
    target: tuple[ModelShape, Hardware],
) -> LinearBatchTime:
    """Carry ``model`` fitted on ``reference`` to ``target`` by roofline scaling (module docstring).

    Every cost is per GPU: tensor parallelism divides weights, FLOPs and KV heads by
    ``num_gpus``. The reference's all-reduce and framework costs scale along with ``c_0`` and
    the per-token terms, so single-GPU targets come out slightly pessimistic.
    """

    def per_gpu(shape: ModelShape, hw: Hardware) -> dict[str, float]:
        n = hw.num_gpus
        bw, flops = hw.hbm_bandwidth_bytes_per_s, hw.peak_flops
        return {
            "base_s": shape.weight_bytes / n / bw,
            "token": 2.0 * shape.num_params / n / flops,
            "prefill_attn_token2_s": (
                shape.num_layers * shape.num_heads * shape.head_dim / n / flops),
            "decode_context_token_s": shape.kv_bytes_per_token / n / bw,
            "knee_tokens": hw.ridge_tokens,
        }

    ref, tgt = per_gpu(*reference), per_gpu(*target)
    ratio = {k: tgt[k] / ref[k] for k in ref}
    return LinearBatchTime(
        base_s=model.base_s * ratio["base_s"],
        prefill_token_s=model.prefill_token_s * ratio["token"],
        decode_request_s=model.decode_request_s * ratio["token"],
        compute_token_s=model.compute_token_s * ratio["token"],
        prefill_attn_token2_s=model.prefill_attn_token2_s * ratio["prefill_attn_token2_s"],
        decode_context_token_s=model.decode_context_token_s * ratio["decode_context_token_s"],
        knee_tokens=model.knee_tokens * ratio["knee_tokens"],
    )


def time_model_toml(model: LinearBatchTime, *, source: str) -> str:
    """The ``[time_model]`` table of a profile for ``model`` (coefficients in ms, 6 significant
    digits), written by a TOML writer: :mod:`tomllib` reads it back into the same values."""
    ms = {
        "base_ms": model.base_s, "prefill_token_ms": model.prefill_token_s,
        "decode_request_ms": model.decode_request_s, "compute_token_ms": model.compute_token_s,
        "prefill_attn_token2_ms": model.prefill_attn_token2_s,
        "decode_context_token_ms": model.decode_context_token_s,
    }
    table: dict[str, str | int | float] = {"kind": "linear", "source": source}
    table.update({key: _six_digits(1e3 * v) for key, v in ms.items()})
    table["knee_tokens"] = _six_digits(model.knee_tokens)
    return tomli_w.dumps({"time_model": table})


def _six_digits(x: float) -> int | float:
    """``x`` rounded to 6 significant digits; an integer when it reads as one (``80``)."""
    text = f"{x:.6g}"
    return int(text) if text.lstrip("-").isdigit() else float(text)


# --------------------------------------------------------------------------- the command
@dataclasses.dataclass(frozen=True)
class CalibrationReport:
    """What ``kvopt calibrate`` prints: the model, its errors per table and vs measurements."""

    model: TimeModel
    fitted: bool
    against_tables: tuple[ErrorReport, ...]
    against_measured: ErrorReport | None

    def format(self) -> str:
        lines = [("fitted" if self.fitted else "checked") + f" model: {self.model.to_dict()}"]
        lines += [f"vs {r.source}: {r.line()}" for r in self.against_tables]
        if self.against_measured is not None:
            lines.append(f"vs {self.against_measured.source}: {self.against_measured.line()}")
        if isinstance(self.model, LinearBatchTime):
            sources = ", ".join(Path(r.source).name for r in self.against_tables)
            lines += ["", time_model_toml(self.model, source=sources).rstrip()]
        return "\n".join(lines)


def calibrate(
    tables: Sequence[str | os.PathLike[str]], *, splitwise: str | os.PathLike[str] | None = None,
    knee_tokens: float | None = None, profile: Profile | None = None,
) -> CalibrationReport:
    """Refit a linear model from Vidur tables (or check ``profile``'s model) and report errors.

    Parameters
    ----------
    tables
        Vidur predicted batch-time CSVs sharing one tensor-parallel degree.
    splitwise
        splitwise-sim ``perf_model.csv``; its Llama-2-70B A100 rows at the tables' TP are compared.
    knee_tokens
        Fix the knee instead of searching the grid.
    profile
        Check this profile's time model against the tables instead of refitting.
    """
    sets = [read_vidur_table(p) for p in tables]
    if not sets:
        raise CalibrationError("give at least one Vidur batch-time table")
    model: TimeModel
    if profile is None:
        model = fit_linear(sets, knee_tokens=knee_tokens).model
    else:
        model = profile.time_model
    measured = None
    if splitwise is not None:
        measured = errors(model, read_splitwise(splitwise, tensor_parallel=sets[0].tensor_parallel))
    return CalibrationReport(model, profile is None, tuple(errors(model, m) for m in sets),
                             measured)

