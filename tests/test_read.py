"""Reading and writing instances (JSON) and traces (CSV)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from kvopt.exceptions import InstanceError
from kvopt.instance import Instance
from kvopt.read import (
    TraceWarning,
    read_instance,
    read_trace,
    read_trace_columns,
    write_instance,
)

DATA = Path(__file__).parent / "data"


def test_round_trip(tmp_path):
    """write_instance then read_instance gives the same JSON object."""
    inst = Instance(9, [0, 2], [1, 3], [4, 5], lower=[1, 2], upper=[5, 6], name="rt")
    write_instance(tmp_path / "i.json", inst)
    assert read_instance(tmp_path / "i.json").to_dict() == inst.to_dict()


def test_name_defaults_to_file_stem(tmp_path):
    """An instance without a name is named after its file."""
    path = tmp_path / "nameless.json"
    path.write_text(json.dumps({"memory": 5, "arrival": [0], "prompt": [1], "output": [2]}))
    assert read_instance(path).name == "nameless"


@pytest.mark.parametrize("content, match", [
    ("", "empty"),
    ("{", "invalid JSON"),
    ("3", "JSON object"),
    ('{"memory": 5, "arrival": [NaN], "prompt": [1], "output": [2]}', "'arrival', request 0"),
    ('{"memory": 5, "arrival": [0], "prompt": [1], "output": [-Infinity]}', "'output', request 0"),
])
def test_errors_name_the_file(tmp_path, content, match):
    """Every error starts with the path and names what is wrong."""
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(InstanceError, match=match) as info:
        read_instance(path)
    assert str(info.value).startswith(f"{path}: ")


def test_unreadable_file(tmp_path):
    """Missing files and non-UTF-8 bytes are InstanceErrors naming the path."""
    with pytest.raises(InstanceError, match="cannot read"):
        read_instance(tmp_path / "missing.json")
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InstanceError, match="bin.json"):
        read_instance(tmp_path / "bin.json")


def test_read_vidur_trace():
    """Vidur columns; 0.1 s rounds: 0, 0.04, 0.25, 1.1 s -> rounds 0, 0, 2, 11."""
    inst = read_trace(DATA / "trace_vidur.csv", memory=40, round_s=0.1)
    assert inst.arrival.tolist() == [0, 0, 2, 11]
    assert inst.prompt.tolist() == [3, 2, 5, 1] and inst.output.tolist() == [4, 2, 1, 30]
    assert inst.name == "trace_vidur"


def test_read_azure_trace():
    """Azure timestamps (7 decimals): 0, 0.3, 1.319 s after the first; 0.5 s rounds -> 0, 0, 2."""
    inst = read_trace(DATA / "trace_azure.csv", memory=20, round_s=0.5)
    assert inst.arrival.tolist() == [0, 0, 2] and inst.output.tolist() == [4, 3, 2]


def test_trace_limit_and_oversized():
    """limit keeps the first rows; drop_oversized removes s + o > M instead of failing."""
    assert read_trace(DATA / "trace_vidur.csv", memory=40, round_s=1, limit=2).num_requests == 2
    with pytest.raises(InstanceError, match="request 3 needs 31"):
        read_trace(DATA / "trace_vidur.csv", memory=10, round_s=1)
    inst = read_trace(DATA / "trace_vidur.csv", memory=10, round_s=1, drop_oversized=True)
    assert inst.output.tolist() == [4, 2, 1]


VIDUR_HEADER = "arrived_at,num_prefill_tokens,num_decode_tokens\n"
AZURE_HEADER = "TIMESTAMP,ContextTokens,GeneratedTokens\n"
BAD_TRACES = {
    "empty file": ("", "the file is empty"),
    "header only": (VIDUR_HEADER, "no data rows"),
    "unknown header": ("a,b,c\n1,2,3\n", "unknown trace header"),
    "too few columns": (VIDUR_HEADER + "0,1\n", "line 2: too few columns"),
    "non-numeric tokens": (VIDUR_HEADER + "0,1,x\n",
                           "line 2, field 'num_decode_tokens': 'x' is not a whole number"),
    "fractional tokens": (VIDUR_HEADER + "0,1,2.5\n",
                          "line 2, field 'num_decode_tokens': '2.5' is not a whole number"),
    "superscript tokens": (VIDUR_HEADER + "0,1,\u00b2\n",
                           "line 2, field 'num_decode_tokens': '\u00b2' is not a whole number"),
    "negative tokens": (VIDUR_HEADER + "0,1,2\n1,-3,2\n",
                        "line 3, field 'num_prefill_tokens': '-3' is negative"),
    "zero tokens": (VIDUR_HEADER + "0,0,2\n",
                    "line 2, field 'num_prefill_tokens': '0' must be at least 1"),
    "empty tokens": (VIDUR_HEADER + "0,1,2\n0.5,,2\n", "line 3, field 'num_prefill_tokens': empty"),
    "empty time": (VIDUR_HEADER + "0,1,2\n,1,2\n", "line 3, field 'arrived_at': empty"),
    "row of empty cells": (VIDUR_HEADER + "0,1,2\n\n,,\n", "line 4, field 'arrived_at': empty"),
    "non-numeric time": (VIDUR_HEADER + "soon,1,2\n",
                         "line 2, field 'arrived_at': 'soon' is not a number of seconds"),
    "nan time": (VIDUR_HEADER + "nan,1,2\n", "line 2, field 'arrived_at': 'nan' is not a finite"),
    "negative time": (VIDUR_HEADER + "0,1,2\n-0.5,1,2\n",
                      "line 3, field 'arrived_at': '-0.5' is negative"),
    "bad azure time": (AZURE_HEADER + "2023-11-16 18:15,1,2\n",
                       "line 2, field 'TIMESTAMP': '2023-11-16 18:15' is not a time"),
    "impossible azure date": (AZURE_HEADER + "2023-02-30 10:00:00.0,1,2\n",
                              "line 2, field 'TIMESTAMP': .* is not a valid date"),
    "renamed time column": ("arrival_time,num_prefill_tokens,num_decode_tokens\n1.5,1,2\n",
                            "column 'arrival_time' looks like timestamps"),
}


@pytest.mark.parametrize("case", list(BAD_TRACES))
def test_trace_errors(tmp_path, case):
    """Bad traces are refused with one line naming the file, and the line and field of a bad
    value: negative, non-numeric and empty values are never read as something else."""
    content, match = BAD_TRACES[case]
    path = tmp_path / "t.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InstanceError, match=match) as info:
        read_trace(path, memory=100, round_s=1)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_bom_prefixed_utf8_keeps_its_timestamps(tmp_path):
    """A UTF-8 byte-order mark (as spreadsheet programs write) is not part of the first column
    name: the timestamps are read, not silently dropped (issue 26: every arrival was 0)."""
    for name in ("trace_vidur.csv", "trace_azure.csv"):
        path = tmp_path / name
        path.write_bytes(b"\xef\xbb\xbf" + (DATA / name).read_bytes())
        with_bom = read_trace(path, memory=40, round_s=0.1)
        plain = read_trace(DATA / name, memory=40, round_s=0.1)
        assert with_bom.arrival.tolist() == plain.arrival.tolist() and plain.arrival.any()
    assert read_trace(tmp_path / "trace_vidur.csv", memory=40,
                      round_s=0.1).arrival.tolist() == [0, 0, 2, 11]


@pytest.mark.parametrize("encoding, match", [
    ("latin-1", r"line 2: byte 0xe9 is not UTF-8"),
    ("utf-16", "UTF-16"),
])
def test_other_encodings_are_one_line_errors(tmp_path, encoding, match):
    """A CSV in another encoding names the file (and where it stops being UTF-8)."""
    path = tmp_path / "t.csv"
    path.write_bytes((VIDUR_HEADER + "0.5,1,2 # café\n").encode(encoding))
    with pytest.raises(InstanceError, match=match) as info:
        read_trace(path, memory=100, round_s=1)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)


@pytest.fixture
def new_york(monkeypatch):
    """The process's local time zone set to America/New_York (US DST ended 2023-11-05 2:00)."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    if time.localtime(1_699_000_000).tm_gmtoff != -4 * 3600:
        pytest.skip("no America/New_York zone data on this machine")
    yield
    monkeypatch.undo()
    time.tzset()


DST_TRACE = (AZURE_HEADER + "2023-11-05 01:59:30.5000000,3,4\n"
             "2023-11-05 02:00:31.5000000,2,2\n2023-11-05 02:01:30.0,1,1\n")


def test_azure_timestamps_are_utc_whatever_the_time_zone(tmp_path, new_york):
    """Across New York's DST change the same file gives the arrivals it gives under UTC:
    61 s and 119.5 s after the first request (local time would add an hour)."""
    path = tmp_path / "dst.csv"
    path.write_text(DST_TRACE)
    assert read_trace_columns(path)["arrival_s"].tolist() == [0.0, 61.0, 119.5]
    assert read_trace(path, memory=20, round_s=1).arrival.tolist() == [0, 61, 119]


def test_unsorted_timestamps_are_sorted_with_a_warning(tmp_path):
    """Rows out of time order are put in order (lengths travel with their row), stably,
    with a TraceWarning naming the first line out of order."""
    path = tmp_path / "t.csv"
    path.write_text(VIDUR_HEADER + "0.0,3,4\n1.0,2,2\n0.5,5,1\n0.5,6,1\n")
    with pytest.warns(TraceWarning, match="line 4 is earlier than line 3"):
        cols = read_trace_columns(path)
    assert cols["arrival_s"].tolist() == [0.0, 0.5, 0.5, 1.0]
    assert cols["prompt"].tolist() == [3, 5, 6, 2] and cols["output"].tolist() == [4, 1, 1, 2]
    with pytest.warns(TraceWarning):
        inst = read_trace(path, memory=40, round_s=0.5, limit=2)
    assert inst.prompt.tolist() == [3, 5]  # the first two in time order


def test_sorted_trace_gives_no_warning(recwarn):
    """A trace in time order is read without a warning."""
    read_trace_columns(DATA / "trace_azure.csv")
    assert not [w for w in recwarn if issubclass(w.category, TraceWarning)]


def test_lengths_only_on_request(tmp_path):
    """A file whose time column has an unknown name is refused by default; fmt='lengths' reads
    it as lengths only, and an explicit format must find its columns."""
    path = tmp_path / "t.csv"
    path.write_text("arrival_time,num_prefill_tokens,num_decode_tokens\n1.5,1,2\n")
    inst = read_trace(path, memory=40, round_s=1, fmt="lengths")
    assert inst.arrival.tolist() == [0] and inst.output.tolist() == [2]
    with pytest.raises(InstanceError, match="a vidur trace needs column 'arrived_at'"):
        read_trace(path, memory=40, round_s=1, fmt="vidur")
    with pytest.raises(InstanceError, match="unknown trace format"):
        read_trace(path, memory=40, round_s=1, fmt="csv")
    plain = tmp_path / "lengths.csv"
    plain.write_text("num_prefill_tokens,num_decode_tokens,num_total_tokens,pd_ratio\n3,4,7,0.75\n")
    assert "arrival_s" not in read_trace_columns(plain)


@pytest.mark.parametrize("round_s", [0, -1, float("nan"), float("inf")])
def test_round_length_must_be_positive(round_s):
    """The round length is explicit and positive."""
    with pytest.raises(InstanceError, match="round length"):
        read_trace(DATA / "trace_vidur.csv", memory=40, round_s=round_s)
