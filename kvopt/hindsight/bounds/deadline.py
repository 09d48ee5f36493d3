r"""Bounds from what one schedule can complete by given rounds, proven by CP-SAT (needs
OR-Tools, the ``[cpsat]`` extra): the k-th completion bounds, their completion caps, and the
deadline cuts of the certified LP.
"""

from __future__ import annotations

import time

import numpy as np

from kvopt.hindsight.bounds.combinatorial import Bound, headroom_order_statistics
from kvopt.hindsight.bounds.lp_certificate import Row
from kvopt.hindsight.exact.cpsat import kth_completion_lower_bound, most_meeting_deadlines
from kvopt.hindsight.milp.model import MilpModel
from kvopt.instance import Instance

__all__ = ["DEADLINE_CHECK_SECONDS", "DEADLINE_CUT_ROUNDS", "DEADLINE_MAX_CHECKS",
           "DEADLINE_MAX_CUTS", "DEADLINE_QUANTILES", "DEADLINE_TRIGGER", "KTH_SOURCE",
           "DeadlineCuts", "completion_cap_rows", "kth_completion_bound", "kth_completion_bounds",
           "sorted_completion_bound"]


#: the source named by bounds from :func:`kth_completion_bounds`
KTH_SOURCE = "k-subset makespans (CP-SAT)"


def kth_completion_bounds(instance: Instance, *, time_limit_s: float) -> np.ndarray:
    r"""Lower bounds :math:`L_k` on :math:`c_{(k)}`, the :math:`k`-th smallest completion round
    of any feasible schedule, non-decreasing in :math:`k` (:math:`k = 1..n`).

    Each :math:`L_k` is the largest of the per-:math:`k` statistics of :func:`volume_bound` and
    :func:`headroom_bound` and CP-SAT's proven bound on the least makespan of any :math:`k`
    requests (:func:`kvopt.hindsight.exact.cpsat.kth_completion_lower_bound`), then the running
    maximum: :math:`c_{(k)} \ge c_{(j)}` for :math:`j < k`. Each :math:`k` gets an equal share
    of the time left of ``time_limit_s``, so what an easy :math:`k` leaves goes to the later
    ones (the values then depend on the machine's speed, never their validity). Needs OR-Tools
    (``[cpsat]``). Measured: exact (every :math:`k`) at n = 10 in 0.1-8 s; at n = 20, 10-16
    of the 20 in 2-3 s each; at the paper's sizes only the first 15-19.
    """
    n = instance.num_requests
    cheap = headroom_order_statistics(instance) if n else np.zeros(0, dtype=np.int64)
    out = np.zeros(n, dtype=np.int64)
    lower = 0
    deadline = time.perf_counter() + time_limit_s
    for k in range(1, n + 1):
        lower = max(lower, int(cheap[k - 1]))
        # what earlier k left unused goes to the later ones
        share = max(0.0, deadline - time.perf_counter()) / (n - k + 1)
        lower, _ = kth_completion_lower_bound(instance, k, lower=lower, time_limit_s=share)
        out[k - 1] = lower
    return out


def kth_completion_bound(instance: Instance, *, time_limit_s: float) -> Bound:
    r""":math:`\sum_k L_k - \sum_i a_i` with :math:`L_k` of :func:`kth_completion_bounds`: the
    completion rounds sorted are at least the :math:`L_k` one by one. Strong where every
    :math:`L_k` is proven (within 0.2-5% of the optimum at n = 10 with all arrivals at round 0,
    where the LP is 8-22% below); :func:`lp_bound` also takes them as *completion caps*."""
    t0 = time.perf_counter()
    return sorted_completion_bound(instance, kth_completion_bounds(instance,
                                                                   time_limit_s=time_limit_s),
                                   time.perf_counter() - t0)


def sorted_completion_bound(instance: Instance, kth: np.ndarray, runtime_s: float = 0.0) -> Bound:
    r""":math:`\sum_k L_k - \sum_i a_i` for lower bounds ``kth`` on the sorted completion rounds
    (:func:`kth_completion_bounds`)."""
    return Bound(int(np.asarray(kth).sum() - instance.arrival.sum()), KTH_SOURCE, runtime_s)


def completion_cap_rows(instance: Instance, model: MilpModel,
                        kth: np.ndarray) -> list[Row]:
    r"""*Completion caps*: with :math:`L_k` non-decreasing lower bounds on :math:`c_{(k)}`
    (:func:`kth_completion_bounds`), at most :math:`K` requests complete by round
    :math:`L_{K+1} - 1` (if :math:`K + 1` did, :math:`c_{(K+1)}` would be below
    :math:`L_{K+1}`). As rows of the integer program: the columns completing by
    :math:`L_{K+1} - 1` sum to at most :math:`K`, for each :math:`K < n` with
    :math:`L_{K+1} > L_K` (the other rounds' caps follow from these, :math:`x \ge 0`).
    Valid for every schedule, so they keep the optimum."""
    completion = model.col_start + instance.output[model.col_req]
    kth = np.asarray(kth, dtype=np.int64)
    rows = []
    for cap in range(len(kth)):
        if cap == 0 or kth[cap] > kth[cap - 1]:     # kth[cap] is L_{cap+1}
            cols = np.flatnonzero(completion <= kth[cap] - 1)
            if len(cols) and len(np.unique(model.col_req[cols])) > cap:
                rows.append((cols, np.ones(len(cols)), float(cap)))
    return rows


#: CP-SAT seconds for one deadline check of :class:`DeadlineCuts` (measured with 30 s of LP
#: on an n = 20 and an n = 16 instance: 0.15 s gives bounds of 980 and 725, 0.5 s 983 and
#: 735, 1 s 977 and 729, 2 s 978 and 729)
DEADLINE_CHECK_SECONDS = 0.5


#: at most this many deadline cuts join the LP per separation round
DEADLINE_MAX_CUTS = 40


#: at most this many CP-SAT checks per separation round
DEADLINE_MAX_CHECKS = 200


#: :func:`lp_bound` separates deadline cuts in rounds with fewer other violated cuts than this
DEADLINE_TRIGGER = 5


#: cut rounds of :func:`kvopt.hindsight.bounds.best_bound`'s LP with deadline cuts
DEADLINE_CUT_ROUNDS = 100


#: the deadline sets tried besides the prefixes: each request's LP completion quantiles
DEADLINE_QUANTILES = (0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 0.99)


class DeadlineCuts:
    r"""*Deadline cuts*: for deadlines :math:`d_i` (a request without one is left out), with
    :math:`\nu(d)` a proven upper bound on how many requests can meet their deadlines in one
    schedule (:func:`kvopt.hindsight.exact.cpsat.most_meeting_deadlines`, CP-SAT),

    .. math:: \sum_i \sum_{k:\, k + o_i \le d_i} x_{i,k} \le \nu(d).

    Valid for every schedule: the left side counts the requests that complete by their
    deadlines, at most :math:`\nu(d)`. With one deadline :math:`\tau` for a set :math:`S` they
    say how many of :math:`S` can be done by :math:`\tau`; with every request and
    :math:`\tau = L_{K+1} - 1` they are the completion caps of :func:`completion_cap_rows`.
    They bound the requests' progress over many rounds together, which the cliques and
    headroom cuts (a few requests, one round) do not see.

    Separation (a heuristic; every row returned is valid): with :math:`F_i(\tau)` the LP mass
    of request :math:`i` completing by :math:`\tau`, for each completion round :math:`\tau` of
    the LP support, the sets of the :math:`m` requests of largest :math:`F_i(\tau)`; and, for
    each quantile :math:`q` of :data:`DEADLINE_QUANTILES`, every request with the round by
    which its LP mass reaches :math:`q`. A candidate is violated only if
    :math:`\nu(d) < \lceil\sum F\rceil`. Schedules already known (the ``witnesses``: a
    schedule's completion rounds, and every choice CP-SAT returns) show :math:`\nu(d) \ge`
    their count and skip most candidates without CP-SAT, as do bounds already proven for
    deadlines at least as late; the rest, most promising first, get
    :data:`DEADLINE_CHECK_SECONDS` each (a prefix set larger than one CP-SAT left open at the
    same round is skipped), at most :data:`DEADLINE_MAX_CHECKS` checks and
    :data:`DEADLINE_MAX_CUTS` cuts a round.

    Measured (:func:`lp_bound`, 100 rounds, no time limit), the converged LP with cliques and
    headroom cuts, then with deadline cuts: n = 10, 602 -> 615 (optimum 616, 5 s); the first
    two n = 12 benchmark instances of each arrival model, 471 -> 482 (optimum 498, 11 s),
    439 -> 464 (optimum 483, 18 s), 411 -> 428 (optimum 449, 5 s), 484 -> 495 (best 518,
    33 s); n = 20, 977 -> 988 (best schedule 1,062, 97 s). At n = 50 the other cuts are
    still being separated after 550 s, so none are tried there.
    """

    def __init__(self, instance: Instance, model: MilpModel,
                 witnesses: list[np.ndarray] | None = None) -> None:
        self.instance = instance
        self.model = model
        self.completion = model.col_start + instance.output[model.col_req]
        n = instance.num_requests
        self.witness = np.zeros((0, n), dtype=np.int64)   # completion rounds; never: int max
        for known in witnesses or []:
            self._add_witness(known)
        self.checked: set[bytes] = set()
        self.proven = np.zeros((0, n), dtype=np.int64)    # deadlines checked by CP-SAT ...
        self.proven_nu = np.zeros(0, dtype=np.int64)      # ... and their bounds nu

    def _add_witness(self, completion: np.ndarray) -> None:
        """A choice's completion rounds (negative: not chosen)."""
        completion = np.asarray(completion, dtype=np.int64)
        row = np.where(completion < 0, np.iinfo(np.int64).max, completion)
        self.witness = np.vstack([self.witness, row[None, :]])

    def _known_bound(self, deadline: np.ndarray) -> int:
        """The least bound nu proven for deadlines at least as late for every request (fewer
        can meet earlier deadlines; a request left out counts as the earliest)."""
        if len(self.proven) == 0:
            return self.instance.num_requests
        covered = (deadline[None, :] <= self.proven).all(axis=1)
        return int(self.proven_nu[covered].min()) if covered.any() else self.instance.num_requests

    def _witnessed(self, deadline: np.ndarray) -> int:
        """The most requests meeting ``deadline`` in one known choice (a lower bound on nu)."""
        if len(self.witness) == 0:
            return 0
        return int(((self.witness <= deadline[None, :]) & (deadline >= 0)[None, :])
                   .sum(axis=1).max())

    def _candidates(self, x: np.ndarray,
                    tolerance: float) -> list[tuple[float, np.ndarray, tuple[int, int] | None]]:
        """``(promise, deadline, (tau, m) or None)``, the most promising first."""
        n = self.instance.num_requests
        req, comp = self.model.col_req, self.completion
        support = np.flatnonzero(x > tolerance)
        out: list[tuple[float, np.ndarray, tuple[int, int] | None]] = []
        for tau in np.unique(comp[support]).tolist():
            mass = np.bincount(req[support], weights=x[support] * (comp[support] <= tau),
                               minlength=n)
            order = np.argsort(-mass, kind="stable")
            total = np.cumsum(mass[order])
            if len(self.witness):
                met = np.cumsum((self.witness[:, order] <= tau), axis=1).max(axis=0)
            else:
                met = np.zeros(n, dtype=np.int64)
            need = np.ceil(total - 1e-6)
            for m in np.flatnonzero((need > met) & (total > 1 + tolerance)).tolist():
                deadline = np.full(n, -1, dtype=np.int64)
                deadline[order[:m + 1]] = tau
                out.append((float(total[m] - met[m]), deadline, (tau, m)))
        if len(support):
            order = support[np.lexsort((comp[support], req[support]))]
            cum = np.cumsum(x[order])
            first = np.searchsorted(req[order], np.arange(n))
            base = np.concatenate([[0.0], cum])[first]
            for q in DEADLINE_QUANTILES:
                deadline = np.full(n, -1, dtype=np.int64)
                for i in range(n):
                    lo, hi = first[i], (first[i + 1] if i + 1 < n else len(order))
                    if hi > lo:
                        at = lo + int(np.searchsorted(cum[lo:hi] - base[i], q - 1e-9))
                        deadline[i] = comp[order[min(at, hi - 1)]]
                mass_met = float(x[support][comp[support] <= deadline[req[support]]].sum())
                witnessed = self._witnessed(deadline)
                if np.ceil(mass_met - 1e-6) > witnessed and mass_met > 1 + tolerance:
                    out.append((mass_met - witnessed, deadline, None))
        out.sort(key=lambda c: -c[0])
        return out

    def cuts(self, x: np.ndarray, *, until: float | None = None, tolerance: float = 1e-6,
             max_cuts: int = DEADLINE_MAX_CUTS) -> list[Row]:
        """Violated deadline cuts at the LP point ``x`` (rows ``(columns, coefficients, upper
        side)``), checking candidates until ``until`` (a ``time.perf_counter()`` value)."""
        rows: list[Row] = []
        req = self.model.col_req
        n_all = self.instance.num_requests
        checks = 0
        hard: dict[int, int] = {}     # tau -> the least prefix size CP-SAT left open
        for _, deadline, prefix in self._candidates(x, tolerance):
            if prefix is not None and prefix[1] > hard.get(prefix[0], n_all):
                continue    # a larger set at a deadline already too hard this round
            left = None if until is None else until - time.perf_counter()
            if (len(rows) >= max_cuts or checks >= DEADLINE_MAX_CHECKS
                    or (left is not None and left <= 0.01)):
                break
            key = deadline.tobytes()
            if key in self.checked:
                continue
            counted = self.completion <= deadline[req]
            total = float(x[counted].sum())
            if self._witnessed(deadline) >= np.ceil(total - 1e-6):
                continue    # a choice found since shows it is not violated
            self.checked.add(key)
            nu = self._known_bound(deadline)
            if total <= nu + tolerance:     # not implied by a check already made: CP-SAT
                checks += 1
                seconds = (DEADLINE_CHECK_SECONDS if left is None
                           else min(DEADLINE_CHECK_SECONDS, left))
                nu, found = most_meeting_deadlines(self.instance, deadline, time_limit_s=seconds)
                if found is not None:
                    self._add_witness(found)
                if nu < int((deadline >= 0).sum()):
                    self.proven = np.vstack([self.proven, deadline[None, :]])
                    self.proven_nu = np.append(self.proven_nu, nu)
                if (prefix is not None and nu >= np.ceil(total - 1e-6)
                        and (found is None or (found >= 0).sum() < np.ceil(total - 1e-6))):
                    hard[prefix[0]] = min(prefix[1], hard.get(prefix[0], n_all))
            if total > nu + tolerance:
                cols = np.flatnonzero(counted)
                rows.append((cols, np.ones(len(cols)), float(nu)))
        return rows
