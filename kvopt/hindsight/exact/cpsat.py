r"""The hindsight optimum with OR-Tools CP-SAT: one start variable per request, its KV-cache
profile as intervals on a cumulative resource of capacity :math:`M`.

Model (exactly the integer program of ``specs/kv-scheduling.md`` section 3):

* :math:`k_i \in [a_i, a_i + W_i]`, the start windows of
  :func:`kvopt.hindsight.windows.start_windows` (they keep every optimal schedule);
* request :math:`i` started at :math:`k_i` holds :math:`s_i + j` tokens in round
  :math:`k_i + j` (:math:`j = 1..o_i`), written as a *staircase*: one interval over rounds
  :math:`k_i+1 .. k_i+o_i` with demand :math:`s_i` (the prompt) and, for each output token
  :math:`m = 1..o_i`, one over rounds :math:`k_i+m .. k_i+o_i` with demand 1 (the token's KV
  entry, kept to the end). In round :math:`k_i + j` they sum to :math:`s_i + j`, so one
  cumulative constraint of capacity :math:`M` over all of them is exactly the memory row of
  every round. (Measured: proves the n = 12 benchmark instances 1.5-2x faster than one unit
  interval of demand :math:`s_i + j` per round, whose energetic reasoning sees less.)
* minimise :math:`\sum_i (k_i + o_i - a_i)`.

Extra constraints, each keeping some optimal schedule, so the optimum is unchanged. The first
two cut schedules off but keep an optimal one:

* identical requests (same :math:`a, s, o`) start in position order (exchanging two of them
  changes neither memory nor cost);
* the total latency is at most the incumbent's (only schedules at least as good are searched).

The last two hold in every feasible schedule:

* the *cores* of :func:`kvopt.hindsight.cores.disjoint_cores` never overlap (a no-overlap
  constraint); they give the solver the near-serial structure of requests too large to run
  side by side;
* pairwise completion order: for requests :math:`i, j`, either :math:`c_i \le c_j` and then
  :math:`k_j \ge c_i - D_{ij}`, or :math:`c_j \le c_i` and :math:`k_i \ge c_j - D_{ji}`, with
  :math:`D` of :func:`kvopt.hindsight.cores.disjoint_cores` (its proof shows
  :math:`c_i - k_j \le D_{ij}` whenever :math:`c_i \le c_j` and :math:`k_j < c_i`). One of the
  two orders always holds, so a Boolean choosing it exists in every schedule. Pairs with
  :math:`D_{ij} = o_j` and :math:`D_{ji} = o_i` are left out (no restriction). Measured on the
  n = 10 benchmark instances, these took the hardest (near-serial) one from over 90 s to 5 s.
"""

from __future__ import annotations

import threading

import numpy as np

from kvopt.exceptions import KvoptError
from kvopt.hindsight.cores import disjoint_cores, strongest_core_set
from kvopt.hindsight.exact.search import ExactResult
from kvopt.hindsight.windows import identical_groups, start_windows
from kvopt.instance import Instance

__all__ = ["INTERLEAVE_MIN_REQUESTS", "MAX_INTERVALS", "MAX_PAIRS_REQUESTS", "check_size",
           "cpsat_available", "cpsat_solve", "kth_completion_lower_bound", "most_meeting_deadlines"]

#: larger models are refused (one interval per output token)
MAX_INTERVALS = 200_000
#: from this many requests on, one CP-SAT worker interleaves its subsolvers (large-neighbourhood
#: search among them) instead of running the default search alone. Measured with one worker beside
#: the LP: at n = 12 the default search proves 7 of 10 in 10 s, interleaved 5; at n = 20 (10 s)
#: the gaps are mixed (better on 5 of 5 round-0 instances, worse on 4 of 5 Poisson ones); at the
#: paper's sizes (60 s) the schedules improve (see the README's benchmarks)
INTERLEAVE_MIN_REQUESTS = 30
#: the pairwise completion-order constraints (about n^2 / 2 Booleans) only up to this many requests
MAX_PAIRS_REQUESTS = 300


def cpsat_available() -> bool:
    """Whether OR-Tools (the optional ``[cpsat]`` extra) can be imported."""
    try:
        import ortools.sat.python.cp_model  # noqa: F401
    except ImportError:
        return False
    return True


def check_size(instance: Instance) -> None:
    """Refuse, with one line, a model of more than :data:`MAX_INTERVALS` intervals."""
    size = int(instance.output.sum()) + instance.num_requests
    if size > MAX_INTERVALS:
        raise KvoptError(f"{instance.name or 'instance'}: {instance.num_requests} requests with "
                         f"{int(instance.output.sum())} output tokens are too many for the cpsat "
                         f"backend (one interval per token, at most {MAX_INTERVALS:,})")


def cpsat_solve(instance: Instance, *, incumbent: list[int], upper_bound: int,
                time_limit_s: float | None = None, threads: int = 1,
                seed: int = 0, stop: threading.Event | None = None) -> ExactResult:
    """Minimise total latency; ``incumbent`` (start rounds, cost ``upper_bound``) is the hint.

    ``proven`` when CP-SAT proves its best schedule optimal; ``objective``/``starts`` are its
    best schedule (``None`` if it found none), ``bound`` its proven lower bound. Setting
    ``stop`` (from another thread) ends the search early, as a time limit does.
    """
    from ortools.sat.python import cp_model

    check_size(instance)
    n = instance.num_requests
    a = instance.arrival.tolist()
    o = instance.output.tolist()
    last = start_windows(instance, upper_bound).tolist()
    model = cp_model.CpModel()
    start = [model.new_int_var(a[i], last[i], f"k{i}") for i in range(n)]
    _add_kv_profile(model, instance, start)
    for group in identical_groups(instance):
        for i, j in zip(group[:-1].tolist(), group[1:].tolist(), strict=False):
            model.add(start[i] <= start[j])
    _add_pair_structure(model, instance, start)
    offset = sum(o) - sum(a)
    latency = sum(start) + offset
    model.add(latency <= int(upper_bound))
    model.minimize(latency)
    for i in range(n):
        model.add_hint(start[i], int(incumbent[i]))

    solver = cp_model.CpSolver()
    if time_limit_s is not None:
        solver.parameters.max_time_in_seconds = max(0.01, float(time_limit_s))
    solver.parameters.num_workers = max(1, int(threads))
    if threads <= 1 and n >= INTERLEAVE_MIN_REQUESTS:
        solver.parameters.interleave_search = True
    solver.parameters.random_seed = int(seed)
    status = _solve_stoppable(solver, model, stop)
    found = status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    if status == cp_model.INFEASIBLE:
        raise KvoptError("CP-SAT calls the model infeasible, but the incumbent is feasible")
    starts = [int(solver.value(v)) for v in start] if found else None
    objective = round(solver.objective_value) if found else None
    raw_bound = float(solver.best_objective_bound)
    bound = int(np.ceil(raw_bound - 1e-6)) if np.isfinite(raw_bound) else 0
    if status == cp_model.OPTIMAL and objective is not None:
        return ExactResult(True, objective, starts, objective, int(solver.num_branches))
    return ExactResult(False, objective, starts, bound, int(solver.num_branches))


def _solve_stoppable(solver, model, stop: threading.Event | None):
    """``solver.solve(model)``; a watcher thread stops the search once ``stop`` is set. It asks
    again every 50 ms until the solve returns: CP-SAT ignores a request made before its search
    has started."""
    if stop is None:
        return solver.solve(model)
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.05):
            if stop.is_set():
                solver.stop_search()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        return solver.solve(model)
    finally:
        done.set()
        watcher.join()


def _add_kv_profile(model, instance: Instance, start: list, present: list | None = None) -> None:
    """The KV rows of every round as one cumulative constraint over each request's staircase
    (``present[i]``: the request's intervals exist only if that literal is true)."""
    s = instance.prompt.tolist()
    o = instance.output.tolist()
    intervals, demands = [], []
    for i in range(instance.num_requests):
        def interval(begin, size, name, i=i):
            if present is None:
                return model.new_fixed_size_interval_var(begin, size, name)
            return model.new_optional_fixed_size_interval_var(begin, size, present[i], name)
        # the staircase: s_i over rounds k+1..k+o_i, plus 1 over rounds k+m..k+o_i per m
        intervals.append(interval(start[i] + 1, o[i], f"prompt{i}"))
        demands.append(s[i])
        for m in range(1, o[i] + 1):
            intervals.append(interval(start[i] + m, o[i] - m + 1, f"token{i}_{m}"))
            demands.append(1)
    model.add_cumulative(intervals, demands, instance.memory)


def _add_pair_structure(model, instance: Instance, start: list,
                        present: list | None = None) -> None:
    """The cores' no-overlap and the pairwise completion order (module docstring), among the
    requests present (``present[i]`` a literal; ``None``: all)."""
    n = instance.num_requests
    s = instance.prompt.tolist()
    o = instance.output.tolist()
    members = strongest_core_set(instance)
    if len(members) >= 2:
        cores = disjoint_cores(instance, members)
        model.add_no_overlap([
            model.new_fixed_size_interval_var(start[i] + o[i] - int(p), int(p), f"core{i}")
            if present is None else
            model.new_optional_fixed_size_interval_var(start[i] + o[i] - int(p), int(p),
                                                       present[i], f"core{i}")
            for i, p in zip(members.tolist(), cores.tolist(), strict=False) if p > 0])
    peak = [s[i] + o[i] for i in range(n)]
    for i in range(n if n <= MAX_PAIRS_REQUESTS else 0):
        for j in range(i + 1, n):
            # D_ij of kvopt.hindsight.cores.disjoint_cores: j's largest age at c_i if i
            # completes first
            d_ij = min(o[j], max(0, instance.memory - peak[i] - s[j]))
            d_ji = min(o[i], max(0, instance.memory - peak[j] - s[i]))
            if d_ij >= o[j] and d_ji >= o[i]:
                continue  # no restriction
            i_first = model.new_bool_var(f"first{i}_{j}")
            both = [] if present is None else [present[i], present[j]]
            model.add(start[j] + d_ij >= start[i] + o[i]).only_enforce_if([i_first, *both])
            model.add(start[i] + d_ji >= start[j] + o[j]).only_enforce_if([~i_first, *both])


def kth_completion_lower_bound(instance: Instance, k: int, *, lower: int = 0,
                               time_limit_s: float | None = None,
                               seed: int = 0) -> tuple[int, bool]:
    r"""A proven lower bound on :math:`c_{(k)}`, the :math:`k`-th smallest completion round, over
    every feasible schedule, and whether it is exact: the least *makespan* of any :math:`k` of
    the requests scheduled alone.

    Valid: in a feasible schedule, the :math:`k` requests completing first, kept at their
    starts with the others removed, still fit (memory only falls) and all complete by
    :math:`c_{(k)}`; so :math:`c_{(k)}` is at least that least makespan, and CP-SAT's proven
    bound on it is at most it. ``lower`` (a known lower bound) only narrows the domain. In the
    model (one Boolean per request: chosen or not) the chosen requests keep every constraint
    that holds in every schedule: the KV rows (staircase cumulative), the disjoint cores and
    the pairwise completion order. One more keeps some optimal choice: if request :math:`j` is
    no larger than :math:`i` in arrival, prompt and output, choosing :math:`i` implies choosing
    :math:`j`: putting :math:`j` in :math:`i`'s place at :math:`i`'s start holds no more memory
    in any round (:math:`s_j + m \le s_i + m`) and completes no later, so the makespan does not
    grow (identical requests: the one at the lower position is chosen first).
    """
    from ortools.sat.python import cp_model

    n = instance.num_requests
    if not 1 <= k <= n:
        raise ValueError(f"k must be in 1..{n}, got {k}")
    check_size(instance)
    o = instance.output.tolist()
    horizon = int(instance.arrival.max()) + int(sum(o))   # serial order: all done by then
    model, chosen, start = _choice_model(instance, np.full(n, horizon))
    makespan = model.new_int_var(max(0, int(lower)), horizon, "T")
    for i in range(n):
        model.add(start[i] + o[i] <= makespan).only_enforce_if(chosen[i])
    model.add(sum(chosen) == k)
    model.minimize(makespan)
    solver = _solver(time_limit_s, seed)
    status = solver.solve(model)
    if status == cp_model.INFEASIBLE:
        raise KvoptError("CP-SAT calls a k-subset makespan model infeasible, but the serial "
                         "schedule is feasible")
    raw = float(solver.best_objective_bound)
    value = int(np.ceil(raw - 1e-6)) if np.isfinite(raw) else 0
    return max(value, int(lower)), status == cp_model.OPTIMAL


def most_meeting_deadlines(instance: Instance, deadline: np.ndarray, *,
                           time_limit_s: float | None = None,
                           seed: int = 0) -> tuple[int, np.ndarray | None]:
    r"""A proven upper bound :math:`
u` on how many requests can complete by their
    deadlines in one schedule, and the completion rounds of the best choice found (``-1``
    for a request not chosen; ``None`` if none was found).

    ``deadline[i]`` is request :math:`i`'s last completion round; a negative one leaves the
    request out (it is not counted). Valid: in any schedule, the requests meeting their
    deadlines, kept at their starts with the others removed, still fit (memory only falls),
    so they are a feasible choice of this model, which keeps every constraint that holds in
    every schedule (:func:`kth_completion_lower_bound`'s: the staircase cumulative, the
    disjoint cores, the pairwise completion order). One more keeps some best choice: if
    :math:`j` is no larger than :math:`i` in arrival, prompt and output and its deadline is
    no earlier, choosing :math:`i` implies choosing :math:`j` (put :math:`j` in :math:`i`'s
    place at :math:`i`'s start: no more memory in any round, and it completes by
    :math:`i`'s deadline). So CP-SAT's proven bound on the maximum is at least every
    schedule's count.
    """
    from ortools.sat.python import cp_model

    check_size(instance)
    deadline = np.asarray(deadline, dtype=np.int64)
    counted = deadline >= instance.arrival + instance.output   # can meet it at all
    if not counted.any():
        return 0, np.full(instance.num_requests, -1, dtype=np.int64)
    members = np.flatnonzero(counted)
    sub = instance.subset(members)
    o = sub.output.tolist()
    last = deadline[members]
    model, chosen, start = _choice_model(sub, last - sub.output, last)
    for i in range(sub.num_requests):
        model.add(start[i] + o[i] <= int(last[i])).only_enforce_if(chosen[i])
    model.maximize(sum(chosen))
    solver = _solver(time_limit_s, seed)
    status = solver.solve(model)
    found = status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    if status == cp_model.INFEASIBLE:
        raise KvoptError("CP-SAT calls a deadline model infeasible, but choosing none is "
                         "feasible")
    raw = float(solver.best_objective_bound)
    value = int(np.floor(raw + 1e-6)) if np.isfinite(raw) else len(members)
    if not found:
        return min(value, len(members)), None
    completion = np.full(instance.num_requests, -1, dtype=np.int64)
    for i, member in enumerate(members.tolist()):
        if solver.boolean_value(chosen[i]):
            completion[member] = solver.value(start[i]) + o[i]
    return min(value, len(members)), completion


def _choice_model(instance: Instance, last_start: np.ndarray,
                  deadline: np.ndarray | None = None):
    """A CP-SAT model choosing which requests run (one Boolean each, the starts up to
    ``last_start``): the staircase cumulative and the pair structure among the chosen, and
    the dominance of :func:`kth_completion_lower_bound` (with ``deadline``: only towards a
    request whose deadline is no earlier). Returns ``(model, chosen, start)``."""
    from ortools.sat.python import cp_model

    n = instance.num_requests
    a = instance.arrival.tolist()
    s = instance.prompt.tolist()
    o = instance.output.tolist()
    d = [0] * n if deadline is None else [int(v) for v in deadline]
    model = cp_model.CpModel()
    chosen = [model.new_bool_var(f"b{i}") for i in range(n)]
    start = [model.new_int_var(a[i], max(a[i], int(last_start[i])), f"k{i}") for i in range(n)]
    _add_kv_profile(model, instance, start, chosen)
    _add_pair_structure(model, instance, start, chosen)
    for i in range(n):
        for j in range(n):
            if i != j and a[j] <= a[i] and s[j] <= s[i] and o[j] <= o[i] and d[j] >= d[i] and (
                    (a[j], s[j], o[j], d[j]) != (a[i], s[i], o[i], d[i]) or j < i):
                model.add_implication(chosen[i], chosen[j])
    return model, chosen, start


def _solver(time_limit_s: float | None, seed: int):
    from ortools.sat.python import cp_model

    solver = cp_model.CpSolver()
    if time_limit_s is not None:
        solver.parameters.max_time_in_seconds = max(0.01, float(time_limit_s))
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = int(seed)
    return solver
