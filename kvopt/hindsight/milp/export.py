"""The integer program, built as :func:`kvopt.hindsight.solve.solve` builds it, written as an MPS
or LP file for other solvers (through HiGHS's writer)."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from kvopt.atomic import atomic_target
from kvopt.exceptions import KvoptError
from kvopt.hindsight.incumbents import warm_start_schedule
from kvopt.hindsight.milp.backends.highs import to_highs
from kvopt.hindsight.milp.formulation import build
from kvopt.instance import Instance
from kvopt.verify import verify

__all__ = ["FORMATS", "export_model"]

#: the file formats HiGHS writes, by suffix
FORMATS = ("mps", "lp")


def export_model(instance: Instance, out: Path, fmt: str) -> None:
    """Write the integer program of ``instance`` to ``out`` in format ``fmt`` (``"mps"`` or
    ``"lp"``), atomically: the start windows of MC-SF's schedule
    (:func:`~kvopt.hindsight.incumbents.warm_start_schedule`), as in ``solve``; named columns
    ``x_<request>_<start round>`` and the formulation's row names.

    Raises
    ------
    KvoptError
        An unknown format, or HiGHS failing to write the file.
    """
    if fmt not in FORMATS:
        raise KvoptError(f"unknown model format '{fmt}'; choose one of {', '.join(FORMATS)}")
    upper = (verify(instance, warm_start_schedule(instance)).total_latency
             if instance.num_requests else None)
    model = build(instance, upper_bound=upper)
    highs = to_highs(model)
    for j, name in enumerate(model.col_names()):
        highs.passColName(j, name)
    for r, name in enumerate(model.row_names):
        highs.passRowName(r, name)
    with atomic_target(out, suffix=f".{fmt}") as tmp:
        with contextlib.redirect_stdout(sys.stderr):   # HiGHS prints while it writes
            status = highs.writeModel(str(tmp))
        if str(status).rsplit(".", 1)[-1] != "kOk":
            raise KvoptError(f"{out}: HiGHS could not write the model ({status})")
