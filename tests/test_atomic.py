"""Atomic writes: whole files or none, no temporary left, the usual permissions, CSV cells."""

from __future__ import annotations

import csv
import json
import math
import os

import pytest

from kvopt.atomic import atomic_target, write_csv_atomic, write_json_atomic, write_text_atomic


def test_write_json_atomic_leaves_no_temporary(tmp_path):
    """The target appears whole and no temporary file is left; a failed write keeps the old."""
    target = tmp_path / "sub" / "x.json"
    write_json_atomic(target, {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1}
    with pytest.raises(TypeError):
        write_json_atomic(target, {"a": object()})
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in target.parent.iterdir()] == ["x.json"]


def test_atomic_writes_get_the_usual_permissions(tmp_path):
    """A file written atomically has the mode a plain ``open`` gives (not mkstemp's 0600),
    and a failed write leaves neither the target nor a temporary file."""
    umask = os.umask(0o022)
    os.umask(umask)
    write_json_atomic(tmp_path / "a.json", {"x": 1})
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o666 & ~umask
    with pytest.raises(TypeError):
        write_json_atomic(tmp_path / "b.json", {"x": object()})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_atomic_target_keeps_the_suffix_and_the_old_file_on_error(tmp_path):
    """A writer that picks its format from the name sees the suffix; an error keeps the old."""
    target = tmp_path / "m.mps"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_target(target, suffix=".mps") as tmp:
        assert tmp.suffix == ".mps" and tmp.parent == tmp_path
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old" and sorted(tmp_path.iterdir()) == [target]


def test_write_text_atomic(tmp_path):
    """Text is written as UTF-8, replacing the old content."""
    write_text_atomic(tmp_path / "t.md", "old")
    write_text_atomic(tmp_path / "t.md", "| µ |\n")
    assert (tmp_path / "t.md").read_bytes() == "| µ |\n".encode()


def test_write_csv_atomic_quotes_and_empties(tmp_path):
    """csv.writer quotes commas and quotes; None and NaN are empty cells; floats keep repr."""
    path = tmp_path / "t.csv"
    rows = [{"name": 'a,"b"', "x": 0.1, "y": None}, {"name": "c", "x": math.nan, "y": math.inf}]
    write_csv_atomic(path, rows)
    assert path.read_text() == 'name,x,y\n"a,""b""",0.1,\nc,,inf\n'
    assert list(csv.DictReader(path.open()))[0]["name"] == 'a,"b"'


def test_write_csv_atomic_columns(tmp_path):
    """Given columns fix the header (empty rows give a header only); a stray key is an error."""
    path = tmp_path / "t.csv"
    write_csv_atomic(path, [], columns=["a", "b"])
    assert path.read_text() == "a,b\n"
    write_csv_atomic(path, [{"b": 2}], columns=["a", "b"])
    assert path.read_text() == "a,b\n,2\n"
    with pytest.raises(ValueError, match="row 0 has a key 'c'"):
        write_csv_atomic(path, [{"a": 1, "c": 3}], columns=["a", "b"])
    assert path.read_text() == "a,b\n,2\n"
    write_csv_atomic(path, [])
    assert path.read_text() == ""
