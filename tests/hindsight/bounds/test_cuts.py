"""Cut rows (headroom cuts, core cliques, conflict cliques) never cut a schedule and raise the
LP."""

from __future__ import annotations

import numpy as np
from conftest import make_instance
from hindsight.cases import (
    lp_point,
    schedule_point,
    schedule_rows,
    small_instance,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from kvopt.exceptions import ScheduleError
from kvopt.generate import synthetic_set
from kvopt.hindsight.bounds.cuts import (
    column_conflicts,
    conflict_clique_cuts,
    core_clique_rows,
    headroom_cuts,
)
from kvopt.hindsight.bounds.priced_lp import lp_bound
from kvopt.hindsight.milp.formulation import build
from kvopt.schedule import Schedule
from kvopt.verify import verify


@given(rows=schedule_rows(min_size=1), memory=st.integers(6, 14),
       seed=st.integers(0, 2**32 - 1))
@settings(max_examples=80, deadline=None)
def test_headroom_cuts_never_cut_a_schedule(rows, memory, seed):
    """At the 0/1 point of any verified schedule no headroom cut is violated."""
    inst, model, x = schedule_point(rows, memory, seed)
    assert headroom_cuts(inst, model, x) == []


def test_headroom_cuts_raise_the_lp():
    """On a paper-style instance (n = 10, all at round 0) the cuts lift the certified LP bound
    and stay below the proven optimum, 320 (benchmarks/ip_paper.py)."""
    inst = synthetic_set("zero", 20260111, 1, num_requests=10)[0]
    plain = lp_bound(inst, upper_bound=332, cut_rounds=0, core_cliques=False,
                     conflict_cliques=False)
    cut = lp_bound(inst, upper_bound=332, core_cliques=False, conflict_cliques=False)
    assert plain.value < cut.value <= 320
    assert cut.source == "LP relaxation + headroom cuts (dual-certified)"


@given(rows=schedule_rows(min_size=2), memory=st.integers(6, 14),
       seed=st.integers(0, 2**32 - 1), everyone=st.booleans())
@settings(max_examples=80, deadline=None)
def test_core_cliques_never_cut_a_schedule(rows, memory, seed, everyone):
    """At the 0/1 point of any verified schedule every core-clique row holds, for the strongest
    core set and for all requests as members."""
    inst, model, x = schedule_point(rows, memory, seed)
    members = np.arange(inst.num_requests) if everyone else None
    for cols, vals, upper in core_clique_rows(inst, model, members):
        assert float(vals @ x[cols]) <= upper + 1e-9
        assert len(np.unique(model.col_req[cols])) >= 2


def test_core_cliques_raise_the_lp():
    """Paper size (n = 45, all at round 0; best known schedule 5,924), three separation rounds:
    with the violated core cliques the certified bound is over 3% higher (4,344 to 4,583
    measured; one round, with all separated rows joining, 4,336 to 4,546)."""
    inst = synthetic_set("zero", 20260101, 2)[1]
    plain = lp_bound(inst, upper_bound=5924, cut_rounds=3, core_cliques=False,
                     conflict_cliques=False)
    cliques = lp_bound(inst, upper_bound=5924, cut_rounds=3, conflict_cliques=False)
    assert cliques.value > 1.03 * plain.value
    assert cliques.value <= 5924
    assert cliques.source == "LP relaxation + core cliques + headroom cuts (dual-certified)"


@given(rows=schedule_rows(min_size=2), memory=st.integers(6, 14),
       seed=st.integers(0, 2**32 - 1))
@settings(max_examples=80, deadline=None)
def test_column_conflicts_are_exactly_the_pairs_that_overflow(rows, memory, seed):
    """Two columns of different requests conflict iff those two requests alone, started there,
    fail the verifier; two columns of one request always conflict, a column never with itself."""
    inst = small_instance(rows, memory)
    model = build(inst, upper_bound=None)
    rng = np.random.default_rng(seed)
    left = rng.integers(0, model.num_cols, 40)
    right = rng.integers(0, model.num_cols, 40)
    conflict = column_conflicts(inst, model, left, right)
    for a, b in zip(range(40), rng.permutation(40), strict=False):
        ca, cb = int(left[a]), int(right[b])
        i, j = int(model.col_req[ca]), int(model.col_req[cb])
        if i == j:
            assert conflict[a, b] == (ca != cb)
            continue
        pair = make_instance([(0, int(inst.prompt[r]), int(inst.output[r])) for r in (i, j)],
                             memory=memory)
        try:
            verify(pair, Schedule.from_starts([int(model.col_start[ca]), int(model.col_start[cb])],
                                              pair.output))
            overflow = False
        except ScheduleError:
            overflow = True
        assert conflict[a, b] == overflow


@given(rows=schedule_rows(min_size=2), memory=st.integers(6, 14),
       seed=st.integers(0, 2**32 - 1))
@settings(max_examples=80, deadline=None)
def test_conflict_cliques_are_cliques_and_never_cut_a_schedule(rows, memory, seed):
    """Cliques separated at a fractional point (the LP optimum) pairwise conflict, and hold at
    the 0/1 point of a verified random schedule."""
    inst, model, x = schedule_point(rows, memory, seed)
    fractional = lp_point(inst, model)
    for cols, vals, upper in conflict_clique_cuts(inst, model, fractional):
        assert upper == 1.0 and np.all(vals == 1.0)
        assert float(fractional[cols].sum()) > 1.0
        pairwise = column_conflicts(inst, model, cols, cols)
        assert pairwise[~np.eye(len(cols), dtype=bool)].all()
        assert float(x[cols].sum()) <= 1.0


def test_conflict_cliques_raise_the_lp():
    """Paper size (n = 45, all at round 0; best known schedule 5,924), two separation rounds:
    with conflict cliques the certified bound is over 5% higher."""
    inst = synthetic_set("zero", 20260101, 2)[1]
    without = lp_bound(inst, upper_bound=5924, cut_rounds=2, conflict_cliques=False)
    with_ = lp_bound(inst, upper_bound=5924, cut_rounds=2)
    assert with_.value > 1.05 * without.value
    assert with_.value <= 5924
    assert with_.source == ("LP relaxation + core cliques + conflict cliques + headroom cuts "
                            "(dual-certified)")


@given(seed=st.integers(0, 2**32 - 1), arrivals=st.sampled_from(["zero", "poisson"]),
       n=st.integers(2, 14), size=st.integers(1, 3))
@settings(max_examples=60, deadline=None)
def test_lifting_checks_only_columns_near_the_first_member(seed, arrivals, n, size):
    """Lifting a clique over the columns that share a round with its first member's run (or
    belong to its request) gives the same clique as lifting over every column of the model."""
    from kvopt.hindsight.bounds.cuts import _lift_clique

    inst = synthetic_set(arrivals, seed, 1, num_requests=n)[0]
    model = build(inst)
    rng = np.random.default_rng(seed)
    x = rng.random(model.num_cols)
    clique = _lift_clique(inst, model, rng.choice(model.num_cols, size=1), x)[:size]
    # the reference: every column of the model is a candidate
    everything = np.arange(model.num_cols)
    open_ = np.flatnonzero(column_conflicts(inst, model, clique, everything).all(axis=0))
    open_ = open_[np.argsort(-x[open_], kind="stable")]
    among = column_conflicts(inst, model, open_, open_)
    alive, chosen = np.ones(len(open_), dtype=bool), []
    for a in range(len(open_)):
        if alive[a]:
            chosen.append(a)
            alive &= among[a]
    expected = np.sort(np.concatenate([clique, open_[chosen]]))
    assert _lift_clique(inst, model, clique, x).tolist() == expected.tolist()
