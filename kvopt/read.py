"""Instances (JSON) and request traces (CSV) in and out.

Every error names the file, and the field, row or request that is wrong, as one line.
Writes are atomic (:mod:`kvopt.atomic`), so nothing is ever half-written.
"""

from __future__ import annotations

import csv
import json
import math
import os
from datetime import datetime
from pathlib import Path

import numpy as np

from kvopt.atomic import write_json_atomic
from kvopt.exceptions import InstanceError
from kvopt.instance import Instance

__all__ = ["TRACE_FORMATS", "read_instance", "read_trace", "write_instance"]


def read_instance(path: str | os.PathLike[str]) -> Instance:
    """Read one instance in the JSON format of the spec (section 2).

    Raises
    ------
    InstanceError
        ``"<path>: <what is wrong>"`` for an unreadable file, invalid JSON or an invalid instance.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InstanceError(f"{path}: cannot read: {exc}") from None
    if not text.strip():
        raise InstanceError(f"{path}: the file is empty")
    try:
        # NaN and Infinity parse as floats: Instance rejects them naming the field and request
        data = json.loads(text)
    except ValueError as exc:
        raise InstanceError(f"{path}: invalid JSON: {exc}") from None
    try:
        inst = Instance.from_dict(data)
    except InstanceError as exc:
        raise InstanceError(f"{path}: {exc}") from None
    if not inst.name:
        inst = inst.replace(name=path.stem)
    return inst


def write_instance(path: str | os.PathLike[str], instance: Instance) -> None:
    """Write ``instance`` as JSON (one line per column), atomically."""
    write_json_atomic(path, instance.to_dict())


# --------------------------------------------------------------------------- traces
TRACE_FORMATS = {
    "vidur": ("arrived_at", "num_prefill_tokens", "num_decode_tokens"),
    "azure": ("TIMESTAMP", "ContextTokens", "GeneratedTokens"),
    "lengths": ("num_prefill_tokens", "num_decode_tokens"),
}


def _parse_time(fmt: str, value: str) -> float:
    if fmt == "azure":
        # "2023-11-16 18:15:46.6805900": 7 decimals, more than datetime parses
        head, _, frac = value.strip().partition(".")
        base = datetime.strptime(head, "%Y-%m-%d %H:%M:%S").timestamp()
        return base + (float("0." + frac) if frac else 0.0)
    return float(value)


def read_trace_columns(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read a trace CSV into ``arrival_s`` (float, seconds from the first request; absent for
    length-only files), ``prompt`` and ``output`` (int64). The format follows the header."""
    path = Path(path)
    try:
        fh = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise InstanceError(f"{path}: cannot read: {exc}") from None
    with fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise InstanceError(f"{path}: the file is empty")
        header = [h.strip() for h in header]
        fmt = next((f for f, cols in TRACE_FORMATS.items() if all(c in header for c in cols)), None)
        if fmt is None:
            raise InstanceError(
                f"{path}: unknown trace header {header!r}; expected columns "
                + " or ".join(repr(",".join(c)) for c in TRACE_FORMATS.values())
            )
        cols = [header.index(c) for c in TRACE_FORMATS[fmt]]
        times: list[float] = []
        prompt: list[int] = []
        output: list[int] = []
        for lineno, row in enumerate(reader, start=2):
            if not row:
                continue
            try:
                vals = [row[c] for c in cols]
            except IndexError:
                raise InstanceError(f"{path}: line {lineno}: too few columns") from None
            try:
                if fmt != "lengths":
                    t = _parse_time(fmt, vals[0])
                    if not math.isfinite(t):
                        raise ValueError("not finite")
                    times.append(t)
                s, o = int(vals[-2]), int(vals[-1])
            except ValueError:
                raise InstanceError(f"{path}: line {lineno}: cannot parse {','.join(vals)!r}") from None
            if s < 1 or o < 1:
                raise InstanceError(f"{path}: line {lineno}: prompt and output must be >= 1")
            prompt.append(s)
            output.append(o)
    out = {"prompt": np.array(prompt, dtype=np.int64), "output": np.array(output, dtype=np.int64)}
    if fmt != "lengths":
        t = np.array(times, dtype=np.float64)
        out["arrival_s"] = t - (t.min() if len(t) else 0.0)
    return out


def read_trace(
    path: str | os.PathLike[str],
    *,
    memory: int,
    round_s: float,
    limit: int | None = None,
    drop_oversized: bool = False,
    name: str | None = None,
) -> Instance:
    """Convert a trace CSV into an instance, mapping seconds to rounds.

    A request arriving ``t`` seconds after the first one arrives at round ``floor(t / round_s)``.
    Length-only files (no timestamps) put every request at round 0.

    Parameters
    ----------
    memory
        KV capacity ``M`` in tokens.
    round_s
        The length of one round in seconds (explicit: the unit-time model has no natural one).
    limit
        Keep only the first ``limit`` requests.
    drop_oversized
        Drop requests with ``prompt + output > memory`` instead of rejecting the trace.
    """
    path = Path(path)
    if not (round_s > 0 and math.isfinite(round_s)):
        raise InstanceError(f"round length must be a positive number of seconds, got {round_s}")
    cols = read_trace_columns(path)
    n = len(cols["prompt"]) if limit is None else min(limit, len(cols["prompt"]))
    prompt, output = cols["prompt"][:n], cols["output"][:n]
    if "arrival_s" in cols:
        arrival = np.floor(cols["arrival_s"][:n] / round_s).astype(np.int64)
    else:
        arrival = np.zeros(n, dtype=np.int64)
    keep = np.ones(n, dtype=bool)
    if drop_oversized:
        keep = prompt + output <= memory
    try:
        return Instance(memory, arrival[keep], prompt[keep], output[keep],
                        name=path.stem if name is None else name)
    except InstanceError as exc:
        raise InstanceError(f"{path}: {exc}") from None
