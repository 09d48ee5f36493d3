"""Length models, the CLI's length syntax and the trace reader."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kvopt.bins.errors import BinsError
from kvopt.bins.lengths import (
    Empirical,
    Exponential,
    LogNormal,
    Uniform,
    parse_lengths,
    read_trace_lengths,
)


def test_parse_lengths_forms():
    assert parse_lengths("uniform:1:20") == Uniform(1.0, 20.0)
    assert parse_lengths("lognormal:3.5:0.46") == LogNormal(3.5, 0.46)
    assert parse_lengths("exponential:4") == Exponential(4.0)


@pytest.mark.parametrize(("text", "match"), [
    ("normal:1:2", "unknown length model"),
    ("uniform:1", "take 2 number"),
    ("uniform:a:b", "must be numbers"),
    ("uniform:5:1", "LO < HI"),
    ("lognormal:1:0", "SIGMA > 0"),
    ("trace:", "need a file"),
    ("trace:/no/such/file.csv", "cannot read"),
])
def test_parse_lengths_errors(text, match):
    with pytest.raises(BinsError, match=match):
        parse_lengths(text)


def test_quantiles_and_their_complements_agree():
    """ppf(p) = isf(1 - p); prob_below inverts ppf; isf stays precise in the far tail."""
    for d in (Uniform(1, 20), LogNormal(3.0, 0.46), Exponential(3.0)):
        p = np.array([0.1, 0.5, 0.9])
        np.testing.assert_allclose(d.isf(1 - p), d.ppf(p), rtol=1e-12)
        np.testing.assert_allclose(d.prob_below(d.ppf(p)), p, rtol=1e-12)
    ln = LogNormal(0.0, 1.0)
    assert ln.isf(1e-15)[()] == pytest.approx(math.exp(7.941345326170997), rel=1e-9)
    assert LogNormal.with_mean(43, 0.46).mean == pytest.approx(43)


def test_trace_reader_and_empirical(tmp_path):
    """Azure and length-statistics headers; the empirical quantile is the generalised inverse."""
    azure = tmp_path / "azure.csv"
    azure.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n"
                     "2023-11-16 18:15:46.5000000,10,3\n2023-11-16 18:15:47.2500000,20,7\n")
    cols = read_trace_lengths(azure)
    assert cols["output"].tolist() == [3, 7] and cols["prompt"].tolist() == [10, 20]
    np.testing.assert_allclose(cols["arrival_s"], [0.0, 0.75])
    stats = tmp_path / "stats.csv"
    stats.write_text("num_prefill_tokens,num_decode_tokens,num_total_tokens,pd_ratio\n"
                     "5,1,6,5\n5,4,9,1.25\n")
    e = parse_lengths(f"trace:{stats}")
    assert isinstance(e, Empirical) and e.prompts is not None
    assert e.ppf([0.0, 0.5, 0.51, 1.0]).tolist() == [1.0, 1.0, 4.0, 4.0]
    assert e.prob_below([1.0, 2.0]).tolist() == [0.0, 0.5]
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(BinsError, match="unknown trace header"):
        read_trace_lengths(bad)
