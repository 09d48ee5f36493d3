"""Certified lower bounds never exceed the optimum."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_instance
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kvopt.exceptions import ScheduleError
from kvopt.generate import synthetic_set
from kvopt.hindsight.bounds import best_bound
from kvopt.hindsight.bounds.combinatorial import (
    core_bound,
    headroom_bound,
    sum_of_outputs_bound,
    volume_bound,
)
from kvopt.hindsight.bounds.cuts import (
    column_conflicts,
    conflict_clique_cuts,
    core_clique_rows,
    headroom_cuts,
)
from kvopt.hindsight.bounds.lp_certificate import (
    LpCertificate,
    certified_dual_bound,
    lagrangian_bound,
    reduced_cost_fixing,
)
from kvopt.hindsight.bounds.priced_lp import lp_bound
from kvopt.hindsight.cores import disjoint_cores
from kvopt.hindsight.exact.bruteforce import brute_force_optimum
from kvopt.hindsight.incumbents import list_schedule
from kvopt.hindsight.milp.decode import encode
from kvopt.hindsight.milp.formulation import build
from kvopt.schedule import Schedule
from kvopt.verify import verify

ROWS = st.lists(st.tuples(st.integers(0, 4), st.integers(1, 3), st.integers(1, 4)),
                min_size=1, max_size=5)   # (arrival, prompt, output)


def schedule_rows(min_size: int):
    """Rows for random priority-list schedules: (arrival, prompt, output)."""
    return st.lists(st.tuples(st.integers(0, 6), st.integers(1, 4), st.integers(1, 9)),
                    min_size=min_size, max_size=8)


def _instance(rows, memory):
    return make_instance([(a, s, min(o, memory - s)) for a, s, o in rows], memory=memory)


def _schedule_point(rows, memory, seed):
    """The instance, its integer program and the 0/1 point of a verified random list
    schedule."""
    inst = _instance(rows, memory)
    order = np.random.default_rng(seed).permutation(inst.num_requests)
    schedule, cost = list_schedule(inst, order)          # verified inside
    model = build(inst, upper_bound=cost)
    return inst, model, encode(model, schedule.final_starts())


@given(rows=ROWS, memory=st.integers(5, 9))
@settings(max_examples=60, deadline=None)
def test_bounds_never_exceed_brute_force_optimum(rows, memory):
    """Sum of outputs <= volume, LP and core bounds <= optimum, on random tiny instances."""
    inst = _instance(rows, memory)
    opt, _ = brute_force_optimum(inst)
    trivial = sum_of_outputs_bound(inst).value
    volume = volume_bound(inst).value
    core = core_bound(inst).value
    headroom = headroom_bound(inst).value
    lp = lp_bound(inst, upper_bound=opt)
    assert lp is not None
    assert trivial <= volume <= headroom <= opt and lp.value <= opt and core <= opt
    assert best_bound(inst, upper_bound=opt).value == max(headroom, lp.value, core)


@given(rows=schedule_rows(min_size=2), memory=st.integers(6, 14),
       seed=st.integers(0, 2**32 - 1))
@settings(max_examples=80, deadline=None)
def test_cores_never_overlap_in_feasible_schedules(rows, memory, seed):
    """The lemma of disjoint_cores, on verified schedules of random priority lists."""
    inst = _instance(rows, memory)
    order = np.random.default_rng(seed).permutation(inst.num_requests)
    schedule, _ = list_schedule(inst, order)          # verified inside
    ends = np.asarray(schedule.final_starts()) + inst.output
    members = np.arange(inst.num_requests)
    core = disjoint_cores(inst, members)
    taken: set[int] = set()
    for end, length in zip(ends.tolist(), core.tolist(), strict=False):
        rounds = set(range(end - length + 1, end + 1))
        assert not rounds & taken
        taken |= rounds


def test_core_bound_sees_requests_that_cannot_overlap():
    """M = 5, both (0, s=2, o=2): holding 4 in its last round, neither can run beside the other
    (4 + 2 + 1 > 5), so the cores are whole runs: completions 2 and 4, total 6 = optimum; the
    memory volume (14 token-rounds at 5 per round) only gives 2 + 3 = 5."""
    inst = make_instance([(0, 2, 2), (0, 2, 2)], memory=5)
    assert disjoint_cores(inst, np.array([0, 1])).tolist() == [2, 2]
    assert volume_bound(inst).value == 5
    assert core_bound(inst).value == 6 == brute_force_optimum(inst)[0]


@given(rows=ROWS, memory=st.integers(5, 9), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=60, deadline=None)
def test_any_dual_vector_gives_valid_bounds(rows, memory, seed):
    """For arbitrary (even wrong-signed) dual vectors: weak duality holds, and box certificate
    <= Lagrangian bound <= LP optimum <= optimum."""
    inst = _instance(rows, memory)
    opt, _ = brute_force_optimum(inst)
    model = build(inst, upper_bound=opt)
    y = np.random.default_rng(seed).normal(0, 3, size=model.num_rows)
    assert certified_dual_bound(model, y) <= opt + 1e-9
    lag = lagrangian_bound(model, y)
    assert certified_dual_bound(model, y) <= lag + 1e-9
    assert lag <= lp_bound(inst, model, cut_rounds=0, pricing=False).value + 1e-6 <= opt + 1e-6


def test_lagrangian_bound_keeps_each_request_on_one_start():
    """One request (0, s=1, o=2), M = 3, alone: the model's costs are the waits 0, 1, 2 of
    starts 0..2 plus the offset o = 2. With the assignment dual wrongly at 10 the box
    certificate charges every column's reduced cost: 10 + (0 - 10) + (1 - 10) + (2 - 10) + 2
    = -15; the Lagrangian bound takes the cheapest start: 0 + 2 = 2, the optimum."""
    inst = make_instance([(0, 1, 2)], memory=3)
    model = build(inst, upper_bound=4)
    assert model.row_names[0] == "assign_0" and model.offset == 2
    assert model.cost.tolist() == [0.0, 1.0, 2.0]
    y = np.zeros(model.num_rows)
    y[0] = 10.0
    assert certified_dual_bound(model, y) == -15.0
    assert lagrangian_bound(model, y) == 2.0


def test_purged_cut_rows_leave_the_lp_and_the_bound_valid(monkeypatch):
    """With every slack cut row dropped after one solve, the LP still returns a bound at most
    the optimum, and cut rows do leave it (the n = 10 benchmark instance, optimum 320)."""
    from kvopt.hindsight.bounds import priced_lp

    dropped = []
    purge = priced_lp._PricedLp.purge

    def counting(self, min_rounds):
        dropped.append(purge(self, min_rounds))
        return dropped[-1]

    monkeypatch.setattr(priced_lp, "CUT_PURGE_SOLVES", 1)
    monkeypatch.setattr(priced_lp._PricedLp, "purge", counting)
    inst = synthetic_set("zero", 20260111, 1, num_requests=10)[0]
    value = lp_bound(inst, upper_bound=330, cut_rounds=30).value
    assert sum(dropped) > 0
    assert 250 < value <= 320


def test_most_effective_rows_rank_violation_over_norm():
    """Efficacy is violation over the row's norm: a long row violated by more can rank below a
    short one violated by less; the kept indices come back in order, all of them when few."""
    from kvopt.hindsight.bounds.priced_lp import _most_effective

    x = np.array([1.0, 1.0, 1.0, 1.0, 0.5])
    rows = [(np.array([0, 1, 2, 3]), np.ones(4), 2.0),   # violation 2, norm 2: efficacy 1
            (np.array([4]), np.ones(1), 0.0),             # violation 0.5, norm 1: 0.5
            (np.array([0, 1]), np.ones(2), 0.0),          # violation 2, norm 1.41: 1.41
            (np.array([0]), np.ones(1), 1.0)]             # not violated: 0
    assert _most_effective(rows, x, 2).tolist() == [0, 2]
    assert _most_effective(rows, x, 1).tolist() == [2]
    assert _most_effective(rows, x, 4).tolist() == [0, 1, 2, 3]


def test_one_cut_row_a_round_still_converges_to_a_valid_bound(monkeypatch):
    """With one separated row joining per round, the rows left out are separated again: the LP
    keeps rising over the plain LP, and stays at most the optimum (the n = 10 benchmark
    instance, optimum 320)."""
    from kvopt.hindsight.bounds import priced_lp

    inst = synthetic_set("zero", 20260111, 1, num_requests=10)[0]
    plain = lp_bound(inst, upper_bound=330, cut_rounds=0).value
    added = []
    add_rows = priced_lp._PricedLp.add_rows

    def counting(self, rows):
        added.append(len(rows))
        add_rows(self, rows)

    monkeypatch.setattr(priced_lp, "CUT_MAX_ROWS", 1)
    monkeypatch.setattr(priced_lp._PricedLp, "add_rows", counting)
    value = lp_bound(inst, upper_bound=330, cut_rounds=30).value
    assert max(added) == 1 and len(added) > 10
    assert plain < value <= 320


def test_lp_bound_stops_when_asked(monkeypatch):
    """``stop`` is asked after each LP solve: returning True ends the run after the first
    solve, whose (valid) certificate is returned."""
    from kvopt.hindsight.bounds import priced_lp

    solves = []
    solve = priced_lp._PricedLp.solve

    def counting(self, time_left_s):
        solves.append(1)
        return solve(self, time_left_s)

    monkeypatch.setattr(priced_lp._PricedLp, "solve", counting)
    inst = synthetic_set("zero", 20260111, 1, num_requests=10)[0]
    asked = []
    stopped = lp_bound(inst, upper_bound=330, cut_rounds=30,
                       stop=lambda: asked.append(1) or True).value
    assert len(solves) == len(asked) == 1
    solves.clear()
    full = lp_bound(inst, upper_bound=330, cut_rounds=30).value
    assert len(solves) > 1 and stopped <= full <= 320


def test_lp_bound_beats_sum_of_outputs_when_memory_binds():
    """Two requests that cannot overlap at all: the LP sees part of the forced wait."""
    # M = 6, both (0, s=2, o=2): optimum 6 (one waits 2 rounds); sum of outputs 4.
    inst = make_instance([(0, 2, 2), (0, 2, 2)], memory=6)
    assert sum_of_outputs_bound(inst).value == 4
    assert 4 < lp_bound(inst, upper_bound=6).value <= 6


def test_volume_bound_when_memory_is_the_bottleneck():
    """Three identical requests that can only run one at a time: volume sees the queue."""
    # M = 5, (0, s=2, o=3): volume 2*3 + 6 = 12 token-rounds = 2.4 rounds of full memory each.
    # SRPT completions 2.4, 4.8, 7.2 -> ceil 3, 5, 8; a + o = 3 each: bound 3 + 5 + 8 = 16.
    # The optimum runs them back to back (any overlap exceeds 5): 3 + 6 + 9 = 18.
    inst = make_instance([(0, 2, 3)] * 3, memory=5)
    assert volume_bound(inst).value == 16
    assert brute_force_optimum(inst)[0] == 18


def test_headroom_bound_sees_growth():
    """M = 4; (0, s=1, o=2) has volume 2 + 3 = 5, (0, s=2, o=2) has 4 + 3 = 7. A gap of g rounds
    before a completion holds at most F(g) = sum_{d<g} (4 - d): F(1) = 4, F(2) = 7. The first
    completion needs F(c1) >= 5, so c1 >= 2; both need F(g1) + F(g2) >= 12 with g1 + g2 = c2:
    3 rounds give at most 4 + 7 = 11, so c2 >= 4 and the bound is 2 + 4 = 6, the optimum (they
    cannot overlap: 3 + 4 > 4 in the first one's last round). The plain volume bound gives
    ceil(5/4) = 2 and ceil(12/4) = 3: 5."""
    inst = make_instance([(0, 1, 2), (0, 2, 2)], memory=4)
    assert volume_bound(inst).value == 5
    assert headroom_bound(inst).value == 6 == brute_force_optimum(inst)[0]


@given(rows=schedule_rows(min_size=1), memory=st.integers(6, 14),
       seed=st.integers(0, 2**32 - 1))
@settings(max_examples=80, deadline=None)
def test_headroom_cuts_never_cut_a_schedule(rows, memory, seed):
    """At the 0/1 point of any verified schedule no headroom cut is violated."""
    inst, model, x = _schedule_point(rows, memory, seed)
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
    inst, model, x = _schedule_point(rows, memory, seed)
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
    inst = _instance(rows, memory)
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
    inst, model, x = _schedule_point(rows, memory, seed)
    lp_point = _lp_point(inst, model)
    for cols, vals, upper in conflict_clique_cuts(inst, model, lp_point):
        assert upper == 1.0 and np.all(vals == 1.0)
        assert float(lp_point[cols].sum()) > 1.0
        pairwise = column_conflicts(inst, model, cols, cols)
        assert pairwise[~np.eye(len(cols), dtype=bool)].all()
        assert float(x[cols].sum()) <= 1.0


def _lp_point(inst, model):
    """The plain LP relaxation's optimal point (no cuts, every column)."""
    return lp_bound(inst, model, cut_rounds=0, pricing=False, with_point=True)[1]


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


@given(rows=ROWS, memory=st.integers(5, 9))
@settings(max_examples=60, deadline=None)
def test_priced_lp_reaches_the_whole_lp(rows, memory):
    """The LP grown by pricing from a subset of columns ends at the LP optimum over all columns
    (same certified bound, cuts off), also with windows as narrow as the optimum allows."""
    inst = _instance(rows, memory)
    opt, _ = brute_force_optimum(inst)
    for upper in (opt, None):
        priced = lp_bound(inst, upper_bound=upper, cut_rounds=0)
        whole = lp_bound(inst, upper_bound=upper, cut_rounds=0, pricing=False)
        assert priced.value == whole.value <= opt


@given(rows=ROWS, memory=st.integers(5, 9))
# after the first cuts the priced LP has no feasible point, yet HiGHS returns duals
@example(rows=[(0, 1, 3), (0, 1, 3), (0, 1, 1), (0, 1, 3)], memory=6)
@settings(max_examples=30, deadline=None)
def test_lp_point_is_the_lp_solution(rows, memory):
    """``with_point`` gives the same bound and the LP's last point: one start in all per
    request, every KV row of the model within ``M``, and its cost at most the bound."""
    inst = _instance(rows, memory)
    opt, _ = brute_force_optimum(inst)
    model = build(inst, upper_bound=opt)
    bound, x = lp_bound(inst, model, with_point=True)
    assert bound.value == lp_bound(inst, model).value <= opt
    assert np.allclose(np.bincount(model.col_req, weights=x, minlength=inst.num_requests), 1)
    lhs = _row_activity(model, x)
    assert np.all(lhs <= model.row_upper + 1e-6) and np.all(lhs >= model.row_lower - 1e-6)
    assert model.cost @ x + model.offset >= bound.value - 1 - 1e-6


def _better_schedules(inst, upper, seed):
    """Start rounds of schedules cheaper than ``upper`` (the brute-force optimum and random list
    schedules), identical requests in position order as the program's rows ask."""
    from kvopt.hindsight.windows import identical_groups

    opt, starts = brute_force_optimum(inst)
    found = [np.asarray(starts)] if opt < upper else []
    rng = np.random.default_rng(seed)
    for _ in range(20):
        schedule, cost = list_schedule(inst, rng.permutation(inst.num_requests))
        if cost < upper:
            found.append(schedule.final_starts())
    for starts in found:
        for group in identical_groups(inst):
            starts[group] = np.sort(starts[group])
    return found


@given(rows=ROWS, memory=st.integers(5, 9), seed=st.integers(0, 2**32 - 1),
       perturbed=st.booleans())
@settings(max_examples=100, deadline=None)
def test_reduced_cost_fixing_keeps_every_better_schedule(rows, memory, seed, perturbed):
    """Whatever the multipliers (the LP's with its cuts, or those perturbed): no column
    of a schedule cheaper than the incumbent is fixed, the incumbent's columns stay, and every
    such schedule satisfies the appended cut rows."""
    inst, model, point = _schedule_point(rows, memory, seed)
    upper = round(model.cost @ point + model.offset)   # the list schedule's total latency
    certificate = lp_bound(inst, model, cut_rounds=5).certificate
    if perturbed:   # any multipliers are valid: the LP's with noise of either sign
        noise = np.random.default_rng(seed).normal(0, 1, size=len(certificate.row_dual))
        certificate = LpCertificate(certificate.rows, certificate.row_dual + noise)
    mip = reduced_cost_fixing(model, certificate, upper, keep=point)
    assert (mip.col_upper[point > 0.5] == 1).all()
    for starts in _better_schedules(inst, upper, seed):
        x = encode(mip, starts)
        assert x is not None and (mip.col_upper[x > 0.5] == 1).all()
        assert (_row_activity(mip, x) <= mip.row_upper + 1e-9).all()


def _row_activity(model, x):
    """``A x`` of the model's rows."""
    row_of = np.repeat(np.arange(model.num_rows), np.diff(model.row_ptr))
    return np.bincount(row_of, weights=model.values * x[model.col_idx], minlength=model.num_rows)


@pytest.mark.parametrize("mip_backend", ["highs", "cbc"])
def test_reduced_cost_fixing_fixes_most_columns_and_keeps_the_optimum(mip_backend):
    """On a 10-request paper instance (optimum 154, MC-SF 165), the LP's multipliers fix
    most columns, and the restricted program proves the same optimum on every backend."""
    from kvopt.hindsight.incumbents import warm_start_schedule
    from kvopt.hindsight.milp.backends import get_backend

    inst = synthetic_set("zero", 20260111, 4, num_requests=10)[3]
    schedule = warm_start_schedule(inst)
    upper = verify(inst, schedule).total_latency
    assert upper == 165
    model = build(inst, upper_bound=upper)
    warm = encode(model, schedule.final_starts())
    mip = reduced_cost_fixing(model, lp_bound(inst, model).certificate, upper, keep=warm)
    assert (mip.col_upper == 0).sum() > model.num_cols / 2
    assert mip.num_rows > model.num_rows          # the LP's cuts joined
    raw = get_backend(mip_backend).solve(mip, time_limit_s=60, mip_rel_gap=0, warm_start=warm,
                                         threads=1, seed=0)
    assert raw.proven and round(raw.objective) == 154


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


@given(rows=ROWS, memory=st.integers(5, 9), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=100, deadline=None)
def test_probing_keeps_every_better_schedule(rows, memory, seed):
    """After reduced-cost fixing, probing fixes no column of a schedule cheaper than the
    incumbent, keeps the incumbent's columns, claims a proof only when no cheaper schedule
    exists, and its bound never exceeds the brute-force optimum."""
    from kvopt.hindsight.probing import probe_fixing

    inst, model, point = _schedule_point(rows, memory, seed)
    upper = round(model.cost @ point + model.offset)
    mip = reduced_cost_fixing(model, lp_bound(inst, model, cut_rounds=5).certificate, upper,
                              keep=point)
    probed = probe_fixing(mip, upper, keep=point)
    assert probed.complete and (probed.model.col_upper[point > 0.5] == 1).all()
    assert probed.fixed == int(((mip.col_upper > 0.5) & (probed.model.col_upper < 0.5)).sum())
    opt, _ = brute_force_optimum(inst)
    assert probed.bound <= opt + 1e-6
    if probed.proven:
        assert opt == upper and probed.bound == upper
    for starts in _better_schedules(inst, upper, seed):
        x = encode(probed.model, starts)
        assert x is not None and (probed.model.col_upper[x > 0.5] == 1).all()


@given(rows=ROWS, memory=st.integers(5, 9), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=100, deadline=None)
def test_probing_certificate_holds_for_any_multipliers(rows, memory, seed):
    """The Lagrangian certificate probing uses, at random multipliers of either sign and over
    random allowed columns that contain a schedule: the schedule costs at least the bound
    the certificate gives each of its columns (the lemma behind every fixing)."""
    from kvopt.hindsight.bounds.lp_certificate import lagrangian_parts
    from kvopt.hindsight.windows import identical_groups

    inst = _instance(rows, memory)
    schedule, _ = list_schedule(inst, np.random.default_rng(seed).permutation(inst.num_requests))
    starts = schedule.final_starts()
    for group in identical_groups(inst):   # twins in position order, as the program's rows ask
        starts[group] = np.sort(starts[group])
    model = build(inst, upper_bound=verify(inst, Schedule.from_starts(starts, inst.output))
                  .total_latency)
    point = encode(model, starts)
    rng = np.random.default_rng(seed)
    allowed = (rng.random(model.num_cols) < 0.5) | (point > 0.5)
    value, excess = lagrangian_parts(model, rng.normal(0, 2, size=model.num_rows), allowed)
    cost = model.cost @ point + model.offset
    assert (value + excess[point > 0.5] <= cost + 1e-6).all()


def test_probing_proves_a_paper_instance_without_the_solver():
    """On a 10-request paper instance with Poisson arrivals the LP with its cuts is 2% below
    the optimum (267), but probing leaves some request no column of a cheaper schedule: the
    solve is proven before HiGHS or CBC runs, and without probing HiGHS proves the same
    optimum."""
    from kvopt.hindsight.solve import solve

    inst = synthetic_set("poisson", 20260111, 1, num_requests=10)[0]
    probed = solve(inst, "highs")
    assert probed.status.value == "optimal" and probed.objective == 267
    assert probed.bound_source == "LP probing"
    plain = solve(inst, "highs", probing=False)
    assert plain.status.value == "optimal" and plain.objective == 267
    assert plain.bound_source == "highs"


def test_probing_stops_at_its_time_limit_with_a_valid_model():
    """With no time, probing stops before its first probe: the model keeps its columns."""
    from kvopt.hindsight.probing import probe_fixing

    inst = synthetic_set("zero", 20260111, 1, num_requests=10)[0]
    schedule = list_schedule(inst, np.arange(inst.num_requests))[0]
    upper = verify(inst, schedule).total_latency
    model = build(inst, upper_bound=upper)
    warm = encode(model, schedule.final_starts())
    probed = probe_fixing(model, upper, keep=warm, time_limit_s=0.0)
    assert not probed.complete and probed.probes == 0
    assert (probed.model.col_upper[warm > 0.5] == 1).all()
