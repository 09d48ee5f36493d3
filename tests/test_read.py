"""Reading and writing instances (JSON) and traces (CSV)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kvopt.exceptions import InstanceError
from kvopt.instance import Instance
from kvopt.read import read_instance, read_trace, write_instance

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


@pytest.mark.parametrize("content, match", [
    ("", "empty"),
    ("a,b,c\n1,2,3\n", "unknown trace header"),
    ("arrived_at,num_prefill_tokens,num_decode_tokens\n0,1\n", "line 2: too few columns"),
    ("arrived_at,num_prefill_tokens,num_decode_tokens\n0,1,x\n", "line 2: cannot parse"),
    ("arrived_at,num_prefill_tokens,num_decode_tokens\nnan,1,2\n", "line 2: cannot parse"),
    ("arrived_at,num_prefill_tokens,num_decode_tokens\n0,0,2\n", "line 2: prompt and output"),
])
def test_trace_errors(tmp_path, content, match):
    """Bad traces name the file and line."""
    path = tmp_path / "t.csv"
    path.write_text(content)
    with pytest.raises(InstanceError, match=match):
        read_trace(path, memory=100, round_s=1)


@pytest.mark.parametrize("round_s", [0, -1, float("nan"), float("inf")])
def test_round_length_must_be_positive(round_s):
    """The round length is explicit and positive."""
    with pytest.raises(InstanceError, match="round length"):
        read_trace(DATA / "trace_vidur.csv", memory=40, round_s=round_s)
