"""The integer program written for other solvers, as ``solve`` builds it."""

from __future__ import annotations

import pytest
from conftest import make_instance

from kvopt.exceptions import KvoptError
from kvopt.hindsight.incumbents import warm_start_schedule
from kvopt.hindsight.milp.export import export_model
from kvopt.hindsight.milp.formulation import build
from kvopt.verify import verify

ROWS = [(0, 2, 3), (0, 2, 3), (1, 1, 4), (2, 3, 2)]


def test_lp_file_names_every_column_and_row(tmp_path):
    """Columns ``x_<request>_<start round>`` on MC-SF's windows, and the formulation's rows."""
    inst = make_instance(ROWS, memory=6)
    out = tmp_path / "model.lp"
    export_model(inst, out, "lp")
    text = out.read_text()
    model = build(inst, upper_bound=verify(inst, warm_start_schedule(inst)).total_latency)
    assert all(name in text for name in model.col_names())
    assert all(name in text for name in model.row_names)
    assert list(tmp_path.iterdir()) == [out]   # written atomically: no temporary file left


def test_unknown_format_is_refused(tmp_path):
    with pytest.raises(KvoptError, match="unknown model format"):
        export_model(make_instance(ROWS, memory=6), tmp_path / "model.txt", "txt")
    assert not list(tmp_path.iterdir())
