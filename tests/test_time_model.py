import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvopt.time_model import (
    BatchComposition,
    LinearBatchTime,
    TimeModel,
    UnitTime,
    linear_features,
    round_durations_s,
    time_model_from_dict,
)

MODEL = LinearBatchTime(
    base_s=0.05, prefill_token_s=1e-4, decode_request_s=2e-4, compute_token_s=3e-4,
    prefill_attn_token2_s=1e-9, decode_context_token_s=1e-7, knee_tokens=100,
)


def test_models_satisfy_protocol():
    """UnitTime and LinearBatchTime are TimeModels."""
    assert isinstance(UnitTime(), TimeModel)
    assert isinstance(MODEL, TimeModel)


def test_unit_time_ignores_batch():
    """Every round lasts round_s, empty or not, scalar and vectorised."""
    unit = UnitTime(0.5)
    assert unit.round_time_s(0, 0, 0, 0) == 0.5
    assert unit.round_time_s(4096, 4096**2, 100, 10**6) == 0.5
    out = unit.round_times_s(np.array([0, 7, 9]), 0, np.array([3, 0, 1]), 0)
    np.testing.assert_array_equal(out, [0.5, 0.5, 0.5])


def test_unit_time_rejects_nonpositive_round():
    """A zero-length unit round is refused."""
    with pytest.raises(ValueError, match="round_s"):
        UnitTime(0.0)


def test_linear_hand_computed_round():
    """Prefill 200 + 10 decodes: every term as in the formula, knee at 100 tokens."""
    got = MODEL.round_time_s(200, 200**2, 10, 5000)
    want = 0.05 + 1e-4 * 200 + 2e-4 * 10 + 3e-4 * (210 - 100) + 1e-9 * 40000 + 1e-7 * 5000
    assert got == pytest.approx(want)


def test_linear_below_knee_has_no_compute_term():
    """Below the knee only the memory-bound per-token slope applies."""
    assert MODEL.round_time_s(0, 0, 50, 0) == pytest.approx(0.05 + 2e-4 * 50)


def test_linear_empty_round_lasts_zero():
    """No batch, no forward pass: zero seconds, scalar and vectorised."""
    assert MODEL.round_time_s(0, 0, 0, 0) == 0.0
    assert MODEL.round_times_s(np.array([0, 1]), np.array([0, 1]), 0, 0)[0] == 0.0


@given(rows=st.lists(st.tuples(st.integers(0, 5000), st.integers(0, 64), st.integers(0, 300),
                               st.integers(0, 10**6)), min_size=1, max_size=20))
@settings(max_examples=50, deadline=None)
def test_vectorised_equals_scalar(rows):
    """round_times_s over many rounds equals round_time_s called on each."""
    p = np.array([r[0] for r in rows])
    q = np.array([r[0] * r[1] for r in rows])  # any non-negative Q will do
    d = np.array([r[2] for r in rows])
    k = np.array([r[3] for r in rows])
    vec = MODEL.round_times_s(p, q, d, k)
    loop = [MODEL.round_time_s(int(a), int(b), int(c), int(e))
            for a, b, c, e in zip(p, q, d, k, strict=True)]
    np.testing.assert_allclose(vec, loop, rtol=1e-12)


def test_features_match_coefficient_order():
    """linear_features columns times the coefficients give the model's durations."""
    x = linear_features([300], [90000], [4], [1000], knee_tokens=MODEL.knee_tokens)
    assert x.shape == (1, len(LinearBatchTime.COEFFICIENTS))
    assert (x @ MODEL.coefficients)[0] == pytest.approx(MODEL.round_time_s(300, 90000, 4, 1000))


def test_from_coefficients_round_trip():
    """from_coefficients(coefficients) rebuilds the same model."""
    assert LinearBatchTime.from_coefficients(MODEL.coefficients, knee_tokens=100) == MODEL


def test_negative_coefficient_rejected():
    """A negative coefficient is named in the error."""
    with pytest.raises(ValueError, match="decode_request_s"):
        LinearBatchTime(0.05, 1e-4, -1e-4, 0, 0, 0, 100)


def test_to_dict_round_trip():
    """time_model_from_dict(model.to_dict()) rebuilds both kinds; unknown kinds fail."""
    assert time_model_from_dict(MODEL.to_dict()) == MODEL
    assert time_model_from_dict(UnitTime(2.0).to_dict()) == UnitTime(2.0)
    with pytest.raises(ValueError, match="kind"):
        time_model_from_dict({"kind": "cubic"})


def test_batch_composition_validates_and_freezes():
    """Columns must align and be non-negative; stored arrays are read-only copies."""
    with pytest.raises(ValueError, match="num_decoding"):
        BatchComposition([0, 1], [0, 5], [0, 25], [0], [0, 0])
    with pytest.raises(ValueError, match="negative"):
        BatchComposition([0], [0], [0], [-1], [0])
    src = np.array([0, 1])
    b = BatchComposition(src, [0, 5], [0, 25], [0, 0], [0, 0])
    src[1] = 9
    assert b.num_prefills[1] == 1 and not b.num_prefills.flags.writeable
    assert b.batch_tokens.tolist() == [0, 5] and b.output_tokens.tolist() == [0, 1]


def test_round_durations_of_composition():
    """round_durations_s reads every field of a BatchComposition."""
    b = BatchComposition([0, 1, 0], [0, 200, 0], [0, 40000, 0], [0, 10, 3], [0, 5000, 30])
    got = round_durations_s(MODEL, b)
    want = [0.0, MODEL.round_time_s(200, 40000, 10, 5000), MODEL.round_time_s(0, 0, 3, 30)]
    np.testing.assert_allclose(got, want)


def test_vectorised_accepts_scalars_and_broadcasts():
    """Scalars give a 0-d array; arrays of different shapes broadcast."""
    one = MODEL.round_times_s(200, 40000, 10, 5000)
    assert one.shape == () and float(one) == pytest.approx(MODEL.round_time_s(200, 40000, 10, 5000))
    grid = MODEL.round_times_s(np.array([0, 200]), 0, np.array([[0], [10]]), 0)
    assert grid.shape == (2, 2) and grid[0, 0] == 0.0
    assert grid[1, 1] == pytest.approx(MODEL.round_time_s(200, 0, 10, 0))
