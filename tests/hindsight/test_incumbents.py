"""Priority-list schedules and the local search that improves MC-SF's schedule."""

from __future__ import annotations

import numpy as np
from conftest import make_instance
from hypothesis import given, settings
from hypothesis import strategies as st

from kvopt.generate import synthetic, synthetic_set
from kvopt.hindsight.exact.bruteforce import brute_force_optimum
from kvopt.hindsight.incumbents import (
    BACKFILL_SCAN,
    VOLUME_WEIGHTS,
    _serial_starts,
    _window_max,
    backfill_schedule,
    best_priority_list,
    best_priority_order,
    improve_order,
    improved_priority_list,
    list_schedule,
    local_search,
    serial_schedule,
    serial_search,
)
from kvopt.hindsight.solve import solve
from kvopt.policies import McSf
from kvopt.result import SolveStatus
from kvopt.sim.engine import simulate
from kvopt.verify import verify

ROWS = st.lists(st.tuples(st.integers(0, 4), st.integers(1, 3), st.integers(1, 4)),
                min_size=1, max_size=6)   # (arrival, prompt, output)


def test_mcsf_order_gives_mcsf_schedule():
    """The list sorted by (output, arrival, position) reproduces MC-SF exactly."""
    inst = synthetic("poisson", np.random.default_rng(11), num_requests=25)
    order = np.lexsort((np.arange(25), inst.arrival, inst.output))
    schedule, cost = list_schedule(inst, order)
    mcsf = simulate(inst, McSf())
    assert schedule.final_starts().tolist() == mcsf.final_starts().tolist()
    assert cost == verify(inst, mcsf).total_latency


def test_local_search_is_seeded_and_never_worse():
    """Same seed, same schedule; never worse than MC-SF; better on a paper-size instance."""
    inst = synthetic("zero", np.random.default_rng(2), num_requests=40)
    mcsf_cost = verify(inst, simulate(inst, McSf())).total_latency
    first = local_search(inst, np.random.default_rng(7), time_limit_s=60, max_evaluations=300)
    second = local_search(inst, np.random.default_rng(7), time_limit_s=60, max_evaluations=300)
    assert first[1] == second[1]
    assert first[0].final_starts().tolist() == second[0].final_starts().tolist()
    assert verify(inst, first[0]).total_latency == first[1] < mcsf_cost


@given(rows=ROWS, memory=st.integers(5, 9), seed=st.integers(0, 1000))
@settings(max_examples=40, deadline=None)
def test_local_search_never_beats_the_optimum(rows, memory, seed):
    """A verified heuristic schedule is never below the brute-force optimum."""
    inst = make_instance([(a, s, min(o, memory - s)) for a, s, o in rows], memory=memory)
    opt, _ = brute_force_optimum(inst)
    _, cost = local_search(inst, np.random.default_rng(seed), time_limit_s=60,
                           max_evaluations=30)
    assert cost >= opt


@given(rows=ROWS, memory=st.integers(5, 9), seed=st.integers(0, 1000),
       span=st.sampled_from([None, 1, 3]), scan=st.sampled_from([1, 2, 32]))
@settings(max_examples=40, deadline=None)
def test_improve_order_is_verified_and_never_below_the_optimum(rows, memory, seed, span, scan):
    """Every move keeps a permutation; the returned cost is the schedule's verified cost, never
    above the start order's and never below the brute-force optimum."""
    inst = make_instance([(a, s, min(o, memory - s)) for a, s, o in rows], memory=memory)
    start = np.arange(inst.num_requests)[::-1].copy()
    start_cost = backfill_schedule(inst, start, scan)[1]
    order, schedule, cost = improve_order(inst, start, np.random.default_rng(seed), scan=scan,
                                          span=span, max_evaluations=25)
    assert sorted(order.tolist()) == list(range(inst.num_requests))
    assert verify(inst, schedule).total_latency == cost
    assert brute_force_optimum(inst)[0] <= cost <= start_cost


def test_improved_priority_list_is_seeded_and_local():
    """Zero moves is :func:`best_priority_list`; moves of at most ``span`` positions are seeded
    (same seed, same schedule), never worse, and better on a 200-request Poisson instance."""
    inst = synthetic("poisson", np.random.default_rng(5), num_requests=200)
    plain = best_priority_list(inst)
    zero = improved_priority_list(inst, np.random.default_rng(1), moves=0)
    assert zero[1:] == plain[1:]
    assert zero[0].final_starts().tolist() == plain[0].final_starts().tolist()
    runs = [improved_priority_list(inst, np.random.default_rng(1), moves=60, span=4)
            for _ in range(2)]
    assert runs[0][0].final_starts().tolist() == runs[1][0].final_starts().tolist()
    assert verify(inst, runs[0][0]).total_latency == runs[0][1] < plain[1]
    assert runs[0][2].endswith("60 local moves, span 4")
    # a span of d moves each request at most d places per move
    order, scan = best_priority_order(inst)[:2]
    moved, _, _ = improve_order(inst, order, np.random.default_rng(3), scan=scan, span=2,
                                max_evaluations=1)
    where = {int(r): x for x, r in enumerate(order)}
    assert max(abs(where[int(r)] - x) for x, r in enumerate(moved)) <= 2


def test_restarts_are_seeded_whatever_the_workers():
    """Independent restarts, the best kept: the same schedule on one process or two, never
    worse than no moves."""
    inst = synthetic("poisson", np.random.default_rng(5), num_requests=120)
    plain = best_priority_list(inst)[1]
    one = improved_priority_list(inst, np.random.default_rng(2), moves=15, span=3, restarts=3,
                                 workers=1)
    two = improved_priority_list(inst, np.random.default_rng(2), moves=15, span=3, restarts=3,
                                 workers=2)
    assert one[0].final_starts().tolist() == two[0].final_starts().tolist()
    assert verify(inst, one[0]).total_latency == one[1] == two[1] <= plain
    assert one[2].endswith("15 local moves, span 3, best of 3")


def test_solve_with_local_search_keeps_the_optimum():
    """The heuristic incumbent narrows the windows but the proven optimum is unchanged."""
    inst = make_instance([(0, 1, 5), (0, 3, 1), (0, 3, 1), (1, 2, 3)], memory=7)
    plain = solve(inst)
    helped = solve(inst, local_search_evaluations=50)
    assert plain.status is helped.status is SolveStatus.OPTIMAL
    assert plain.objective == helped.objective == brute_force_optimum(inst)[0]


@given(seed=st.integers(0, 2**32 - 1), arrivals=st.sampled_from(["zero", "poisson"]))
@settings(max_examples=25, deadline=None)
def test_best_priority_list_is_the_best_of_its_keys(seed, arrivals):
    """Never worse than MC-SF; its cost is the minimum over MC-SF's and the volume keys, each
    recomputed here from its own sort, and the winner's order with backfilling."""
    inst = synthetic(arrivals, np.random.default_rng(seed), num_requests=15)
    schedule, cost, name = best_priority_list(inst)
    assert verify(inst, schedule).total_latency == cost
    mcsf = verify(inst, simulate(inst, McSf())).total_latency
    s, o = inst.prompt.astype(float), inst.output.astype(float)
    costs = {"output": mcsf}
    for w in VOLUME_WEIGHTS:
        order = sorted(range(inst.num_requests),
                       key=lambda i: (o[i] * s[i] + w * o[i] ** 2, inst.arrival[i], i))
        costs[f"volume w={w}"] = list_schedule(inst, np.array(order))[1]
    winner = min(costs, key=costs.get)
    order = sorted(range(inst.num_requests), key=lambda i: (
        o[i] if winner == "output" else o[i] * s[i] + float(winner[9:]) * o[i] ** 2,
        inst.arrival[i], i))
    backfilled = backfill_schedule(inst, np.array(order), BACKFILL_SCAN)[1]
    assert cost == min(min(costs.values()), backfilled) <= mcsf
    assert name == (f"{winner}, backfilling {BACKFILL_SCAN}" if backfilled < costs[winner]
                    else winner)


@given(rows=st.lists(st.tuples(st.integers(0, 8), st.integers(1, 4), st.integers(1, 9)),
                     min_size=1, max_size=12),
       memory=st.integers(6, 16), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=80, deadline=None)
def test_backfilling_one_is_the_list_schedule(rows, memory, seed):
    """scan = 1 never passes anyone over: the same schedule as MC-SF's rule on that list; any
    scan gives a verified schedule (checked inside) that no optimum beats."""
    inst = make_instance([(a, s, min(o, memory - s)) for a, s, o in rows], memory=memory)
    order = np.random.default_rng(seed).permutation(inst.num_requests)
    plain, plain_cost = list_schedule(inst, order)
    one, one_cost = backfill_schedule(inst, order, 1)
    assert list(one.final_starts()) == list(plain.final_starts()) and one_cost == plain_cost
    for scan in (2, 5):
        assert backfill_schedule(inst, order, scan)[1] >= 0


@given(rows=st.lists(st.tuples(st.integers(0, 3), st.integers(1, 3), st.integers(1, 4)),
                     min_size=1, max_size=5),
       memory=st.integers(5, 9), scan=st.integers(1, 4))
@settings(max_examples=40, deadline=None)
def test_backfilling_never_beats_the_optimum(rows, memory, scan):
    inst = make_instance([(a, s, min(o, memory - s)) for a, s, o in rows], memory=memory)
    order = np.lexsort((np.arange(inst.num_requests), inst.arrival, inst.output))
    assert backfill_schedule(inst, order, scan)[1] >= brute_force_optimum(inst)[0]


def _serial_reference(inst, order, delay=None):
    """Serial placement, plainly: each request in list order at the first round from its
    arrival (plus its delay) where every round of its run stays within M next to those placed
    before it."""
    a, s, o = inst.arrival.tolist(), inst.prompt.tolist(), inst.output.tolist()
    held: dict[int, int] = {}
    starts = [0] * inst.num_requests
    for i in order:
        k = a[i] + (0 if delay is None else int(delay[i]))
        while any(held.get(k + j, 0) + s[i] + j > inst.memory for j in range(1, o[i] + 1)):
            k += 1
        for j in range(1, o[i] + 1):
            held[k + j] = held.get(k + j, 0) + s[i] + j
        starts[i] = k
    return starts


@given(values=st.lists(st.integers(-50, 50), min_size=1, max_size=40), data=st.data())
@settings(max_examples=100, deadline=None)
def test_window_max_is_the_sliding_maximum(values, data):
    width = data.draw(st.integers(1, len(values)))
    got = _window_max(np.array(values), width).tolist()
    assert got == [max(values[k:k + width]) for k in range(len(values) - width + 1)]


@given(rows=st.lists(st.tuples(st.integers(0, 12), st.integers(1, 4), st.integers(1, 9)),
                     min_size=1, max_size=12),
       memory=st.integers(6, 14), seed=st.integers(0, 1000))
@settings(max_examples=150, deadline=None)
def test_serial_schedule_is_the_plain_serial_placement(rows, memory, seed):
    """The vectorised placement equals the plain one on random instances and lists, and its
    schedule passes the verifier with the cost it states."""
    inst = make_instance([(a, s, min(o, memory - s)) for a, s, o in rows], memory=memory)
    rng = np.random.default_rng(seed)
    order = rng.permutation(inst.num_requests)
    starts, cost = _serial_starts(inst, order)
    assert starts.tolist() == _serial_reference(inst, order.tolist())
    schedule, verified = serial_schedule(inst, order)
    assert verified == cost == verify(inst, schedule).total_latency
    delay = rng.integers(0, 4, size=inst.num_requests)   # requests held back a few rounds
    starts, cost = _serial_starts(inst, order, delay)
    assert starts.tolist() == _serial_reference(inst, order.tolist(), delay)
    schedule, verified = serial_schedule(inst, order, delay)
    assert verified == cost == verify(inst, schedule).total_latency


def test_serial_schedule_holds_rounds_for_a_later_arrival():
    """M = 6. A (arrives 0, s = 1, o = 5) holds 2..6 tokens in rounds k+1..k+5; B (arrives 1,
    s = 3, o = 1) holds 4 in its one round. Started at 0, A holds 3 in round 2, too much
    beside B until A is done: B starts at 5, total 5 + 5 = 10, the only chronological list
    schedule (at round 0 only A waits, and it fits). Both started at 1 hold 2 + 4 in round 2:
    total 6 + 1 = 7, the optimum; the serial list [B, A] places B at 1, then A at 1 (at 0 it
    would hold 3 beside B's 4)."""
    inst = make_instance([(0, 1, 5), (1, 3, 1)], memory=6)
    assert {list_schedule(inst, np.array(o))[1] for o in ([0, 1], [1, 0])} == {10}
    schedule, cost = serial_schedule(inst, np.array([1, 0]))
    assert schedule.final_starts().tolist() == [1, 1]
    assert cost == 7 == brute_force_optimum(inst)[0]
    assert serial_search(inst, np.random.default_rng(0), moves=0)[1] == 7


@given(rows=ROWS, memory=st.integers(5, 9), seed=st.integers(0, 1000))
@settings(max_examples=40, deadline=None)
def test_serial_search_is_seeded_and_between_the_optimum_and_the_lists(rows, memory, seed):
    inst = make_instance([(a, s, min(o, memory - s)) for a, s, o in rows], memory=memory)
    first = serial_search(inst, np.random.default_rng(seed), moves=20)
    again = serial_search(inst, np.random.default_rng(seed), moves=20)
    assert first[0].final_starts().tolist() == again[0].final_starts().tolist()
    start = serial_search(inst, np.random.default_rng(seed), moves=0)[1]
    assert brute_force_optimum(inst)[0] <= first[1] == verify(inst, first[0]).total_latency <= start


def test_serial_search_beats_the_list_search_with_poisson_arrivals():
    """On a 10-request Poisson instance of ``benchmarks/ip_paper.py`` (MC-SF 656; CP-SAT proves
    566 optimal), 1,000 moves on chronological lists stop at 651; on serial lists they reach 566."""
    inst = synthetic_set("poisson", 20260111, 5, num_requests=10)[4]
    _, listed = local_search(inst, np.random.default_rng(0), time_limit_s=60,
                             max_evaluations=1000)
    schedule, serial = serial_search(inst, np.random.default_rng(0), moves=1000)
    assert verify(inst, schedule).total_latency == serial < listed
    assert serial <= 0.9 * listed


def test_serial_search_stops_at_its_time_limit():
    """With no time left it makes no move: the schedule of its best starting list."""
    inst = synthetic("poisson", np.random.default_rng(4), num_requests=30)
    start = serial_search(inst, np.random.default_rng(0), moves=0)
    stopped = serial_search(inst, np.random.default_rng(0), moves=10**9, time_limit_s=0.0)
    assert stopped[1] == start[1]
    assert stopped[0].final_starts().tolist() == start[0].final_starts().tolist()


def test_serial_search_holds_a_request_back(monkeypatch):
    """On a 10-request paper instance (all at round 0, M = 39; CP-SAT and HiGHS prove 322
    optimal) earliest placement of every list stops at 327; the delay moves find 322, which
    starts request 1 at round 1 although it fits at round 0."""
    from kvopt.hindsight import incumbents

    inst = synthetic_set("zero", 20260111, 5, num_requests=10)[1]
    schedule, cost = serial_search(inst, np.random.default_rng(0), moves=1000)
    assert cost == 322 == verify(inst, schedule).total_latency
    assert schedule.final_starts()[1] == 1 and inst.arrival[1] == 0
    monkeypatch.setattr(incumbents, "SERIAL_DELAY_EXTRA", 0.0)
    assert serial_search(inst, np.random.default_rng(0), moves=1000)[1] == 327
