"""Instance: validated on construction, frozen, JSON round trip."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvopt.exceptions import InstanceError
from kvopt.instance import Instance


def test_columns_are_read_only_copies():
    """The caller keeps its list; the instance's arrays cannot be written."""
    arrival = [0, 1]
    inst = Instance(10, arrival, [1, 2], [3, 4])
    arrival[0] = 5
    assert inst.arrival.tolist() == [0, 1] and inst.arrival.dtype == np.int64
    with pytest.raises(ValueError):
        inst.arrival[0] = 3


def test_prediction_defaults_to_output():
    """Without `predicted`, policies see the true output (exact prediction)."""
    inst = Instance(10, [0], [1], [4])
    assert inst.prediction().tolist() == [4]
    assert inst.replace(predicted=[2]).prediction().tolist() == [2]


@pytest.mark.parametrize("kwargs, match", [
    ({"memory": 0}, "'memory'"),
    ({"memory": 7.5}, "'memory'"),
    ({"memory": math.nan}, "'memory'"),
    ({"memory": True}, "'memory'"),
    ({"memory": 2**41}, "'memory'.*maximum"),
    ({"arrival": [0, -1]}, "'arrival', request 1"),
    ({"prompt": [1, 0]}, "'prompt', request 1"),
    ({"output": [0, 1]}, "'output', request 0"),
    ({"arrival": [0, 0.5]}, "'arrival', request 1"),
    ({"arrival": [0, math.inf]}, "'arrival', request 1"),
    ({"arrival": [0, "1"]}, "'arrival', request 1"),
    ({"arrival": 0}, "'arrival' must be a list"),
    ({"prompt": [1]}, "'prompt' has 1 values"),
    ({"predicted": [1, 2, 3]}, "'predicted' has 3 values"),
    ({"lower": [3, 1], "upper": [2, 4]}, "request 0: lower 3 is greater than upper 2"),
    ({"output": [3, 9]}, "request 1 needs 10 KV tokens"),
    ({"name": 5}, "'name'"),
    ({"arrival": [0, 2**41]}, "'arrival', request 1.*maximum"),
])
def test_invalid_fields_name_field_and_request(kwargs, match):
    """Every invalid field raises InstanceError naming the field and the first culprit."""
    base = {"memory": 9, "arrival": [0, 1], "prompt": [1, 1], "output": [3, 4]}
    with pytest.raises(InstanceError, match=match):
        Instance(**{**base, **kwargs})


def test_integral_floats_are_accepted():
    """4.0 is the integer 4 (JSON writers may emit it)."""
    assert Instance(9.0, [0.0], [1.0], [4.0]).output.tolist() == [4]


def test_replace_validates_again():
    """replace() rebuilds, so a change breaking s + o <= M is caught."""
    inst = Instance(9, [0], [1], [4])
    with pytest.raises(InstanceError, match="request 0 needs"):
        inst.replace(memory=4)


def test_from_dict_errors():
    """Top level not an object, missing and unknown fields."""
    with pytest.raises(InstanceError, match="JSON object"):
        Instance.from_dict([1])
    with pytest.raises(InstanceError, match="missing required field 'output'"):
        Instance.from_dict({"memory": 5, "arrival": [0], "prompt": [1]})
    with pytest.raises(InstanceError, match="unknown field 'extra'"):
        Instance.from_dict({"memory": 5, "arrival": [0], "prompt": [1], "output": [1],
                            "extra": 1})


def test_subset_keeps_optional_columns():
    """subset() picks rows of every column, in the order given."""
    inst = Instance(9, [0, 1, 2], [1, 2, 3], [4, 5, 6], predicted=[4, 4, 4], ids=("a", "b", "c"))
    sub = inst.subset([2, 0])
    assert sub.output.tolist() == [6, 4] and sub.ids == ("c", "a")
    assert sub.predicted.tolist() == [4, 4]


def test_empty_instance():
    """Zero requests is a valid (trivial) instance."""
    assert Instance(5, [], [], []).num_requests == 0


rows = st.lists(st.tuples(st.integers(0, 20), st.integers(1, 5), st.integers(1, 5)),
                min_size=0, max_size=8)


@given(rows=rows, memory=st.integers(10, 50), with_pred=st.booleans())
@settings(max_examples=50, deadline=None)
def test_dict_round_trip(rows, memory, with_pred):
    """from_dict(to_dict(x)) reproduces every column."""
    a, s, o = (list(c) for c in zip(*rows, strict=False)) if rows else ([], [], [])
    inst = Instance(memory, a, s, o, predicted=o if with_pred else None, name="x")
    back = Instance.from_dict(inst.to_dict())
    assert back.to_dict() == inst.to_dict()
