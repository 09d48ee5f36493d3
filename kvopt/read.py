"""Instances (JSON) and request traces (CSV) in and out.

Every error names the file, and the field, row or request that is wrong, as one line.
Writes are atomic (:mod:`kvopt.atomic`), so nothing is ever half-written.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import warnings
from datetime import UTC, datetime
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Literal, cast

import numpy as np

from kvopt.atomic import write_json_atomic
from kvopt.exceptions import InstanceError
from kvopt.instance import Instance

__all__ = [
    "INSTANCES_DIR",
    "TRACE_FORMATS",
    "TraceWarning",
    "read_instance",
    "read_shipped_instance",
    "read_trace",
    "read_trace_columns",
    "shipped_instances",
    "write_instance",
]


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


# ------------------------------------------------------------------------ shipped instances
#: The shipped instances: ``kvopt/data/instances/<set>/<name>.json`` inside the installed package.
INSTANCES_DIR: Traversable = resources.files("kvopt") / "data" / "instances"


def shipped_instances() -> list[str]:
    """Names of the shipped instances, ``"<set>/<name>"`` (``"demo/paper-zero-n10"``), sorted."""
    if not INSTANCES_DIR.is_dir():
        return []
    return sorted(f"{group.name}/{f.name.removesuffix('.json')}"
                  for group in INSTANCES_DIR.iterdir() if group.is_dir()
                  for f in group.iterdir() if f.name.endswith(".json"))


def read_shipped_instance(name: str) -> Instance:
    """Read a shipped instance by its name from :func:`shipped_instances`.

    Raises
    ------
    InstanceError
        For an unknown name, listing the shipped ones.
    """
    if name not in (names := shipped_instances()):
        raise InstanceError(f"unknown shipped instance {name!r}; shipped: {', '.join(names)}")
    group, stem = name.split("/")
    with resources.as_file(INSTANCES_DIR / group / f"{stem}.json") as path:
        return read_instance(path)


# --------------------------------------------------------------------------- traces
TRACE_FORMATS = {
    "vidur": ("arrived_at", "num_prefill_tokens", "num_decode_tokens"),
    "azure": ("TIMESTAMP", "ContextTokens", "GeneratedTokens"),
    "lengths": ("num_prefill_tokens", "num_decode_tokens"),
}
TraceFormat = Literal["vidur", "azure", "lengths"]

# Header words that mean "this column holds times": a lengths-only reading of such a file would
# silently put every request at time 0, so it is refused unless asked for (``fmt="lengths"``).
_TIME_WORDS = ("time", "arriv", "date", "clock")
_AZURE_TIME = re.compile(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(?:\.(\d+))?")


class TraceWarning(UserWarning):
    """A trace was read, but not as written (for example its rows were put in time order)."""


def _decode(path: Path, data: bytes) -> str:
    """``data`` as UTF-8 text (a byte-order mark is dropped); any other encoding is an error."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InstanceError(f"{path}: the file is UTF-16 text; kvopt reads UTF-8 (with or "
                            "without a byte-order mark): save it as UTF-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InstanceError(
            f"{path}: line {line}: byte 0x{data[exc.start]:02x} is not UTF-8; kvopt reads UTF-8 "
            "(with or without a byte-order mark): save the file as UTF-8") from None


def _detect_format(path: Path, header: list[str], fmt: str | None) -> TraceFormat:
    if fmt is not None:
        if fmt not in TRACE_FORMATS:
            raise InstanceError(f"unknown trace format {fmt!r}; expected one of "
                                + ", ".join(TRACE_FORMATS))
        if missing := [c for c in TRACE_FORMATS[fmt] if c not in header]:
            raise InstanceError(f"{path}: a {fmt} trace needs column {missing[0]!r}; "
                                f"the header is {','.join(header)!r}")
        return cast(TraceFormat, fmt)
    found = next((f for f, cols in TRACE_FORMATS.items() if all(c in header for c in cols)), None)
    if found is None:
        raise InstanceError(
            f"{path}: unknown trace header {','.join(header)!r}; expected columns "
            + " or ".join(repr(",".join(c)) for c in TRACE_FORMATS.values()))
    if found == "lengths":
        timed = [h for h in header if any(w in h.lower() for w in _TIME_WORDS)]
        if timed:
            raise InstanceError(
                f"{path}: column {timed[0]!r} looks like timestamps, but neither 'arrived_at' "
                "(Vidur) nor 'TIMESTAMP' (Azure) is in the header; rename it, or read the file "
                "as lengths only (format 'lengths': every request arrives at time 0)")
    return cast(TraceFormat, found)


def _field_error(path: Path, lineno: int, field: str, value: str, what: str) -> InstanceError:
    return InstanceError(f"{path}: line {lineno}, field {field!r}: {value.strip()!r} {what}"
                         if value.strip() else f"{path}: line {lineno}, field {field!r}: empty")


def _parse_time(path: Path, lineno: int, fmt: TraceFormat, field: str, value: str) -> float:
    """Seconds: Vidur's ``arrived_at`` as written; an Azure ``TIMESTAMP`` (no zone, 7 decimals,
    more than :mod:`datetime` parses) as UTC, whatever the machine's time zone."""
    text = value.strip()
    if fmt == "azure":
        if not (match := _AZURE_TIME.fullmatch(text)):
            raise _field_error(path, lineno, field, value,
                               "is not a time 'YYYY-MM-DD HH:MM:SS[.fraction]'")
        head, frac = match.groups()
        try:
            base = datetime.strptime(head, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()
        except ValueError:
            raise _field_error(path, lineno, field, value, "is not a valid date and time") from None
        return base + (float("0." + frac) if frac else 0.0)
    try:
        seconds = float(text)
    except ValueError:
        raise _field_error(path, lineno, field, value, "is not a number of seconds") from None
    if not math.isfinite(seconds):
        raise _field_error(path, lineno, field, value, "is not a finite number of seconds")
    if seconds < 0:
        raise _field_error(path, lineno, field, value, "is negative")
    return seconds


def _parse_tokens(path: Path, lineno: int, field: str, value: str) -> int:
    text = value.strip()
    if not (text.isascii() and text.isdigit()):   # no sign, decimal point or exponent
        what = "is negative" if text.startswith("-") else "is not a whole number of tokens"
        raise _field_error(path, lineno, field, value, what)
    tokens = int(text)
    if tokens < 1:
        raise _field_error(path, lineno, field, value, "must be at least 1")
    return tokens


def read_trace_columns(
    path: str | os.PathLike[str], *, fmt: str | None = None
) -> dict[str, np.ndarray]:
    """Read a trace CSV into ``arrival_s`` (float, seconds from the first request; absent for
    length-only files), ``prompt`` and ``output`` (int64), in arrival order.

    The file is UTF-8, with or without a byte-order mark. Its format (:data:`TRACE_FORMATS`)
    follows the header unless ``fmt`` names it; a header whose only timing column is unknown is
    refused rather than read as lengths only. Azure timestamps are UTC. Rows out of time order
    are sorted (stably) with a :class:`TraceWarning`.

    Raises
    ------
    InstanceError
        One line naming the file and, for a bad value, the line and field: another encoding,
        an unknown header, a missing, empty, negative or non-numeric value, no data rows.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InstanceError(f"{path}: cannot read: {exc.strerror or exc}") from None
    reader = csv.reader(io.StringIO(_decode(path, data), newline=""))
    try:
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise InstanceError(f"{path}: the file is empty")
        header = [h.strip() for h in header]
        found = _detect_format(path, header, fmt)
        names = TRACE_FORMATS[found]
        cols = [header.index(c) for c in names]
        timed = found != "lengths"
        times: list[float] = []
        prompt: list[int] = []
        output: list[int] = []
        lines: list[int] = []
        for row in reader:
            lineno = reader.line_num
            if not row:   # a blank line; a row of empty cells is refused below
                continue
            if len(row) <= max(cols):
                raise InstanceError(f"{path}: line {lineno}: too few columns ({len(row)} of "
                                    f"{len(header)})")
            vals = [row[c] for c in cols]
            if timed:
                times.append(_parse_time(path, lineno, found, names[0], vals[0]))
            prompt.append(_parse_tokens(path, lineno, names[-2], vals[-2]))
            output.append(_parse_tokens(path, lineno, names[-1], vals[-1]))
            lines.append(lineno)
    except csv.Error as exc:
        raise InstanceError(f"{path}: line {reader.line_num}: malformed CSV: {exc}") from None
    if not prompt:
        raise InstanceError(f"{path}: no data rows after the header")
    out = {"prompt": np.array(prompt, dtype=np.int64), "output": np.array(output, dtype=np.int64)}
    if timed:
        t = np.array(times, dtype=np.float64)
        if (back := np.flatnonzero(np.diff(t) < 0)).size:
            i = int(back[0]) + 1
            warnings.warn(TraceWarning(
                f"{path}: rows are not in time order (line {lines[i]} is earlier than line "
                f"{lines[i - 1]}); sorted {len(t)} rows by time"), stacklevel=2)
            order = np.argsort(t, kind="stable")
            t, out = t[order], {k: v[order] for k, v in out.items()}
        out["arrival_s"] = t - t.min()
    return out


def read_trace(
    path: str | os.PathLike[str],
    *,
    memory: int,
    round_s: float,
    limit: int | None = None,
    drop_oversized: bool = False,
    name: str | None = None,
    fmt: str | None = None,
) -> Instance:
    """Convert a trace CSV into an instance, mapping seconds to rounds.

    A request arriving ``t`` seconds after the first one arrives at round ``floor(t / round_s)``.
    Length-only files (no timestamps) put every request at round 0. The file is read by
    :func:`read_trace_columns` (encoding, format, time zone, order and errors are described
    there).

    Parameters
    ----------
    memory
        KV capacity ``M`` in tokens.
    round_s
        The length of one round in seconds (explicit: the unit-time model has no natural one).
    limit
        Keep only the first ``limit`` requests (in time order).
    drop_oversized
        Drop requests with ``prompt + output > memory`` instead of rejecting the trace.
    fmt
        The trace format (a key of :data:`TRACE_FORMATS`); by default it follows the header.
    """
    path = Path(path)
    if not (round_s > 0 and math.isfinite(round_s)):
        raise InstanceError(f"round length must be a positive number of seconds, got {round_s}")
    cols = read_trace_columns(path, fmt=fmt)
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
