"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Every file kvopt writes as a result (instances, records, tables, reports) goes through
:func:`atomic_target`: the content is written to a temporary file in the target's directory and
renamed over the target only when it is complete, so a run killed mid-write (Ctrl-C, SIGKILL,
a full disk) leaves the previous file, or none, and no temporary file behind.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["atomic_target", "write_csv_atomic", "write_json_atomic", "write_text_atomic"]

# The process's umask, read once at import (os.umask can only be read by setting it).
_UMASK = os.umask(0o022)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_target(path: str | os.PathLike[str], suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary file next to ``path`` for the caller to write.

    It replaces ``path`` when the block ends without an error and is removed otherwise. It gets
    the permissions a plain ``open`` would give (``mkstemp`` makes files private). Missing
    parent directories are created.

    Parameters
    ----------
    path
        The file to write.
    suffix
        The temporary file's suffix (a writer that picks its format from the name needs the
        target's, e.g. ``".mps"``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_target(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)


def write_json_atomic(
    path: str | os.PathLike[str], data: Any, *, indent: int | None = None
) -> None:
    """Write ``data`` as JSON, then a newline, to ``path`` atomically."""
    with atomic_target(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=indent)
        fh.write("\n")


def _cell(value: Any) -> Any:
    """A CSV cell: ``None`` and NaN are empty; everything else as ``csv.writer`` writes it."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return value


def write_csv_atomic(
    path: str | os.PathLike[str],
    rows: Iterable[Mapping[str, Any]],
    *,
    columns: Sequence[str] | None = None,
) -> None:
    """Write ``rows`` as CSV (``csv.writer``, ``\\n`` line ends) to ``path`` atomically.

    Parameters
    ----------
    rows
        One mapping per row. A missing key, ``None`` or NaN gives an empty cell.
    columns
        The header, in order (default: the first row's keys). With no rows and no columns the
        file is empty.

    Raises
    ------
    ValueError
        When a row has a key that is not a column (it would be lost silently).
    """
    rows = list(rows)
    header = list(rows[0]) if columns is None and rows else list(columns or ())
    known = set(header)
    with atomic_target(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        if not header:
            return
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        for j, row in enumerate(rows):
            if extra := [k for k in row if k not in known]:
                raise ValueError(f"{path}: row {j} has a key {extra[0]!r} that is not a column")
            writer.writerow([_cell(row.get(c)) for c in header])
