r"""A_min (Chen, Ye and Zhou, arXiv 2508.14544): start from the lower bound, refine, evict.

What the paper states: A_min takes the predicted lower bound as the output length, refines that
estimate during inference and never uses the upper bound; on overflow it evicts in an order based
on accumulated length, and it forms batches greedily. The exact rule below is **reconstructed**
(``specs/prediction-intervals-and-bins.md`` A4: the precise rules are not specified by the paper;
this is the project's default). Per request ``est_i`` starts at ``lower_i`` (raised to 1 and
capped at ``M - s_i``, since ``1 <= o_i <= M - s_i``); ``p_i`` is the progress of its current run.
At every round ``t``, after the engine retires the runs that complete at ``t``:

1. **refine** (``refine="progress"``): every running request has ``o_i >= p_i + 1``, so
   ``est_i = max(est_i, p_i + 1)``;
2. **evict**: while the running requests would hold more than ``M`` in round ``t + 1``, evict the
   first running request in ``evict_order`` (default ``least_progress``: smallest ``p_i``, ties
   drawn from the policy's random stream); it loses its KV cache and progress, keeps its estimate
   and waits again;
3. **admit**: scan the waiting requests in increasing ``est`` (ties: arrival round, then
   position); admit ``j`` if the future-peak check passes with every running or admitted request
   projected to end at its estimate (a running one at ``max(est_i, p_i + 1)``); stop at the
   first failure;
4. every running request produces one token (the engine).

The future-peak check is MC-SF's (:class:`~kvopt.policies.mcsf.Checkpoints`): with a running
request started at ``k`` projected to end at ``max(k + est_i, t + 1)``, every round from ``t + 1``
to the candidate's projected end stays within ``M``. Rounds after the candidate's end are not
checked: it cannot make them worse (with refinement, later rounds can already be over ``M`` in
projection; the spec's "every future round" would then block every admission).

**Livelock guard** (not from the paper or the spec; as alpha-protection greedy's,
:mod:`kvopt.policies.alpha`): with any ``evict_order`` but ``least_progress``, when no request
has completed since the previous eviction round, the earliest started running request is not
evicted. Without it ``most_progress`` (and ``random`` or ``lowest_estimate`` with ``on_evict``)
can evict two requests in turn forever. ``least_progress`` needs none: the most advanced
requests are evicted only when tied with each other, one of them always survives (any request
fits alone), so some request of that group runs to completion.

Options (constructor arguments; default first), as the spec lists them:

=========================  ===================================================================
``refine``                 ``progress``; ``on_evict``: the estimate changes only when the
                           request is evicted (its projection while running is still
                           ``max(est_i, p_i + 1)``, so only ``lowest_estimate`` sees the
                           difference); ``double``: ``est_i <- 2 est_i`` (capped at ``M - s_i``)
                           each time ``p_i + 1`` passes it, an ablation not from the paper
``evict_order``            ``least_progress``; ``lowest_estimate`` (current estimate);
                           ``most_progress``; ``random``. Ties always from the random stream
``admit_check``            ``future_peak``; ``next_round``: only round ``t + 1`` must fit
``admit_scan``             ``prefix`` (stop at the first failure); ``skip`` (keep scanning)
``keep_estimate``          ``True``; ``False``: an evicted request's estimate returns to its
                           lower bound
``restart_penalty_steps``  0; ``r >= 1``: a restarted request holds ``s_i`` and produces nothing
                           for ``r`` rounds (a recompute cost)
=========================  ===================================================================

**The restart penalty is modelled in the policy** (the engines have no stalled run): a
restarted request that passes the admission check at ``t`` is held back and reported as started
at ``t + r``, so its latency pays the ``r`` rounds; at ``t + r`` it starts if round ``t + r + 1``
fits in the real memory, else at the first later decision round at which it does. Until it
starts, the policy's own checks reserve for it the run it passed the check as: ``s_j + r' - t``
in round ``r'`` up to ``t + est_j``, at least the ``s_j`` its recompute holds (the reservation
ends ``r`` rounds before the real run can: overflows that follow are A_min's ordinary evictions).
The verifier sees the run from ``t + r``; the memory held during the recompute is the policy's
reservation, not the engine's.

**Event rounds** (:attr:`~kvopt.sim.state.Decision.wake`). The engine calls a policy only at an
arrival, a completion, an overflow of the next round, or the round the policy asked for. Between
such events the running set is fixed, and A_min's decision can still change: a waiting request
may fit later (as for MC-SF), a ``double`` estimate jumps when progress reaches it, a penalty
ends. The projection ``max(k + est_i, t + 1)`` of refinement needs no call (it is a closed form
of the round). :meth:`Amin.decide` returns the first round at which any of these changes what it
would do: the first round the head of the queue fits (:func:`first_fit_round`, the exact rounds
at which the check can switch), the next doubling round, the next penalty's end. Two shortcuts
give the same answers with less work: a head that does not fit round ``t + 1`` beside the running
requests cannot fit before an event (that round only fills up), and when only an arrival changed
the head, the checkpoints of the last check still describe the started set (:func:`fits_at`).
Everything the policy keeps is a function of the events and its own decisions, never of when it
was called, and its random draws happen only at evictions (overflow rounds, which every engine
visits), so the event-skipping engine and the per-round loop give the same schedule, for every
option (``tests/policies/test_amin.py``, ``tests/sim/test_engine.py``).
"""

from __future__ import annotations

import heapq
from typing import Literal

import numpy as np

from kvopt.policies.mcsf import Checkpoints
from kvopt.sim.state import IDLE, Decision, PolicyContext, SimState

__all__ = ["EVICT_ORDERS", "Amin", "evict_victims", "first_fit_round", "fits_at"]

Refine = Literal["progress", "on_evict", "double"]
EvictOrder = Literal["least_progress", "lowest_estimate", "most_progress", "random"]
EVICT_ORDERS: tuple[str, ...] = ("least_progress", "lowest_estimate", "most_progress", "random")
_REFINES = ("progress", "on_evict", "double")


def evict_victims(state: SimState, prompt: list[int], order: str, rng: np.random.Generator,
                  estimate: dict[int, int] | None = None, *, protect: bool = False) -> list[int]:
    """Running requests to evict, first in ``order``, until round ``t + 1`` fits in ``M``.

    ``order``: ``least_progress`` (smallest ``p_i = t - k_i`` first), ``most_progress``,
    ``lowest_estimate`` (``estimate[i]`` ascending) or ``random``. Ties are broken uniformly at
    random: the requests of the tied group at which the memory first fits are evicted in the
    order of one ``rng.permutation`` of the group (in start order); a group evicted whole draws
    nothing. ``protect``: the earliest started running request (the first in start order) is
    never a victim (it always fits alone, ``s + o <= M``).
    """
    t, memory = state.round, state.memory
    mem = state.memory_next_tokens
    if mem <= memory:
        return []
    start = state.run_start.item
    running = list(state.running)
    if protect:
        running = running[1:]
    if order == "least_progress":
        key = [-start(i) for i in running]
    elif order == "most_progress":
        key = [start(i) for i in running]
    elif order == "lowest_estimate":
        if estimate is None:
            raise ValueError("evict order 'lowest_estimate' needs the estimates")
        key = [estimate[i] for i in running]
    elif order == "random":
        key = [0] * len(running)
    else:
        raise ValueError(f"unknown evict order {order!r}; choose from {', '.join(EVICT_ORDERS)}")
    groups: dict[int, list[int]] = {}
    for i, kv in zip(running, key, strict=True):
        groups.setdefault(kv, []).append(i)
    victims: list[int] = []
    for kv in sorted(groups):
        group = groups[kv]
        sizes = [prompt[i] + t + 1 - start(i) for i in group]
        total = sum(sizes)
        if mem - total > memory:                       # the whole group goes, in any order
            victims += group
            mem -= total
            continue
        for x in rng.permutation(len(group)).tolist():
            victims.append(group[x])
            mem -= sizes[x]
            if mem <= memory:
                break
        break
    return victims


def _fits(points: Checkpoints, loads: list[int], tp: int, s: int, p: int) -> bool:
    """Whether a request ``(s, p)`` started at ``tp`` passes the check, the started set fixed,
    given that round ``tp + 1`` fits (the rounds up to its projected end, not after)."""
    ends, consts, counts, memory = points.ends, points.consts, points.counts, points.memory
    e, c, t1 = tp + p, s - tp, tp + 1
    own = -1
    for x in range(len(ends)):
        r = ends[x]
        if r <= t1:
            continue
        if r > e:
            own = x
            break
        if loads[x] + c + r > memory:
            return False
    if e > t1 and not (own > 0 and ends[own - 1] == e) and not (own < 0 and ends[-1] == e):
        below = consts[own] + e * counts[own] if own >= 0 else 0
        if below + s + p > memory:
            return False
    return True


def _last_round(points: Checkpoints, s: int) -> int:
    """The last ``t'`` at which round ``t' + 1`` fits a request with prompt ``s`` beside every
    member (all of them hold memory there)."""
    q, const_all = points.counts[0], points.consts[0]
    return (points.memory - const_all - s - 1) // q - 1


def fits_at(points: Checkpoints, tp: int, s: int, p: int) -> bool:
    """:meth:`Checkpoints.try_add`'s answer for a request ``(s, p)`` started at ``tp``, on
    checkpoints built at any round up to ``tp`` (the started set fixed), without adding it."""
    if not points.ends:
        return True
    if tp > _last_round(points, s):
        return False
    loads = [points.consts[x] + points.ends[x] * points.counts[x] for x in range(len(points.ends))]
    return _fits(points, loads, tp, s, p)


def first_fit_round(points: Checkpoints, t: int, s: int, p: int) -> int | None:
    """The first round ``t' > t`` at which a request ``(s, p)`` passes
    :meth:`Checkpoints.try_add` (started at ``t'``, projected to end at ``t' + p``), the started
    set fixed; ``None`` if none. ``points`` may have been built at any round up to ``t``.

    Unlike :meth:`Checkpoints.first_fit_round` it does not ask the checkpoints after the
    candidate's end to fit (A_min's projections can leave them over ``M``, see the module
    docstring). The answer is exact: the fit can only begin at ``t + 1`` or where one of its
    conditions switches, at ``E - p``, ``E - 1``, ``W + E + s - M`` or ``E + 1 - p`` for a
    checkpoint ``E`` with projected memory ``W`` (:mod:`kvopt.policies.mcsf`).
    """
    ends, memory = points.ends, points.memory
    m = len(ends)
    if m == 0:
        return t + 1
    last = _last_round(points, s)
    if last <= t:
        return None
    loads = [points.consts[x] + ends[x] * points.counts[x] for x in range(m)]
    cands = {t + 1}
    for x in range(m):
        r = ends[x]
        cands.update((r - p, r - 1, loads[x] + r + s - memory, r + 1 - p))
    for tp in sorted(c for c in cands if t < c <= last):
        if _fits(points, loads, tp, s, p):
            return tp
    return None


class Amin:
    """A_min, reconstructed (module docstring): lower bound first, refined, evicting on overflow.

    Parameters
    ----------
    refine
        ``"progress"`` (default), ``"on_evict"`` or ``"double"``.
    evict_order
        ``"least_progress"`` (default), ``"lowest_estimate"``, ``"most_progress"``, ``"random"``.
    admit_check
        ``"future_peak"`` (default) or ``"next_round"``.
    admit_scan
        ``"prefix"`` (default) or ``"skip"``.
    keep_estimate
        Whether an evicted request keeps its estimate (default) or returns to its lower bound.
    restart_penalty_steps
        Rounds a restarted request holds its prompt before producing (default 0).

    Raises
    ------
    ValueError
        On an unknown option value or a negative penalty.
    """

    name = "amin"

    def __init__(self, refine: Refine = "progress", evict_order: EvictOrder = "least_progress",
                 admit_check: Literal["future_peak", "next_round"] = "future_peak",
                 admit_scan: Literal["prefix", "skip"] = "prefix", keep_estimate: bool = True,
                 restart_penalty_steps: int = 0) -> None:
        for option, value, allowed in (
                ("refine", refine, _REFINES), ("evict_order", evict_order, EVICT_ORDERS),
                ("admit_check", admit_check, ("future_peak", "next_round")),
                ("admit_scan", admit_scan, ("prefix", "skip"))):
            if value not in allowed:
                raise ValueError(f"{option} must be one of {', '.join(allowed)}, got {value!r}")
        if not (isinstance(restart_penalty_steps, int) and restart_penalty_steps >= 0):
            raise ValueError(f"restart_penalty_steps must be a non-negative integer, got "
                             f"{restart_penalty_steps!r}")
        self.refine, self.evict_order = refine, evict_order
        self.admit_check, self.admit_scan = admit_check, admit_scan
        self.keep_estimate = bool(keep_estimate)
        self.restart_penalty_steps = restart_penalty_steps
        parts = [evict_order.replace("_", "-")] if evict_order != "least_progress" else []
        parts += [f"refine-{refine.replace('_', '-')}"] if refine != "progress" else []
        parts += ["next-round"] if admit_check != "future_peak" else []
        parts += ["skip"] if admit_scan != "prefix" else []
        parts += ["reset-estimate"] if not keep_estimate else []
        parts += [f"penalty{restart_penalty_steps}"] if restart_penalty_steps else []
        self.name = "-".join(["amin", *parts])

    # ------------------------------------------------------------------------------ state
    def reset(self, context: PolicyContext, rng: np.random.Generator) -> None:
        n = context.num_requests
        self._memory = context.memory
        self._rng = rng
        # per request, filled when it arrives: prompt, arrival, lower bound (clamped) and the
        # estimate at the start of the current run (or while waiting)
        self._s: list[int] = [0] * n
        self._a: list[int] = [0] * n
        self._low: list[int] = [0] * n
        self._est: list[int] = [0] * n
        self._restarted: list[bool] = [False] * n
        self._heap: list[tuple[int, int, int]] = []       # waiting: (estimate, arrival, request)
        self._run: dict[int, int] = {}                    # running: request -> start round
        self._pending: dict[int, int] = {}                # held back (penalty): -> admitted at
        self._dirty = True
        self._cached_head: int | None = None
        self._cached_wake: int | None = None
        self._points: Checkpoints | None = None       # after the last admissions, if reusable
        self._evicted_before = False
        self._completed_since_eviction = False

    def _arrive(self, state: SimState) -> None:
        s, a, low, est, memory = self._s, self._a, self._low, self._est, self._memory
        prompt, arrival, lower = state.prompt.item, state.arrival.item, state.lower.item
        for i in state.arrived.tolist():
            si = s[i] = prompt(i)
            a[i] = arrival(i)
            cap = memory - si
            li = lower(i)
            low[i] = est[i] = cap if li > cap else (li if li > 1 else 1)
            heapq.heappush(self._heap, (est[i], a[i], i))

    def _estimate(self, i: int, t: int) -> int:
        """Request ``i``'s estimate at round ``t`` while it runs (a closed form of its start)."""
        e, progress = self._est[i], t - self._run[i]
        if self.refine == "double":
            cap = self._memory - self._s[i]
            while e < progress + 1 and e < cap:
                e = min(2 * e, cap)
            return e
        if self.refine == "progress" and e < progress + 1:
            return progress + 1
        return e

    def _next_change(self, t: int) -> int | None:
        """The first round after ``t`` at which a projection changes without an event (a
        ``double`` estimate reached, or a penalty over); ``None`` if none."""
        nxt: int | None = None
        if self.refine == "double":
            for i, k in self._run.items():
                e = self._estimate(i, t)
                if e < self._memory - self._s[i] and (nxt is None or k + e < nxt):
                    nxt = k + e                            # p + 1 > e from round k + e on
        r = self.restart_penalty_steps
        for k in self._pending.values():
            if t < k + r and (nxt is None or k + r < nxt):
                nxt = k + r
        return nxt

    # --------------------------------------------------------------------------- decide
    def decide(self, state: SimState) -> Decision:
        t = state.round
        if len(state.arrived):
            self._arrive(state)
            if self.admit_scan == "skip":
                self._dirty = True
        for i in state.completed:
            del self._run[i]
            self._dirty = True
            self._completed_since_eviction = True
        victims: list[int] = []
        if state.memory_next_tokens > state.memory:
            victims = self._evict(state)
        mem_next = state.memory_next_tokens - sum(
            self._s[v] + t + 1 - state.run_start.item(v) for v in victims)
        admit: list[int] = []
        if self._pending:
            mem_next = self._release(t, mem_next, admit)
        heap = self._heap
        if not heap:
            return Decision(clear=victims, admit=admit, wake=self._next_change(t))
        head = heap[0][2]
        if not self._dirty and head == self._cached_head:
            if self._cached_wake is None:
                return IDLE
            if t < self._cached_wake:
                return Decision(wake=self._cached_wake)
        if (self.admit_check == "future_peak" and self.admit_scan == "prefix"
                and not self._pending and mem_next + self._s[head] + 1 > self._memory):
            # the head does not fit beside the running requests in round t + 1, which only
            # fill up until an event: nothing is admitted before one (no checkpoints needed)
            self._dirty, self._points = False, None
            self._cached_head, self._cached_wake = head, None
            return Decision(clear=victims, admit=admit, wake=None)
        points = self._points
        if not self._dirty and points is not None:
            # the started set is as the last check left it, only the head is new (an
            # arrival): if it does not fit now, no rebuild is needed to say when it will
            sh, ph = self._s[head], self._est[head]
            if not fits_at(points, t, sh, ph):
                self._cached_head = head
                self._cached_wake = first_fit_round(points, t, sh, ph)
                return Decision(wake=self._cached_wake)
        self._dirty = False
        if self.admit_check == "future_peak":
            wake = self._admit_future_peak(t, admit)
        else:
            wake = self._admit_next_round(t, mem_next, admit)
        nxt = self._next_change(t)
        if nxt is not None and (wake is None or wake > nxt):
            wake = nxt
        self._cached_head = heap[0][2] if heap else None
        self._cached_wake = wake
        return Decision(clear=victims, admit=admit, wake=wake)

    def _evict(self, state: SimState) -> list[int]:
        t = state.round
        estimate = ({i: self._estimate(i, t) for i in self._run}
                    if self.evict_order == "lowest_estimate" else None)
        protect = (self.evict_order != "least_progress" and self._evicted_before
                   and not self._completed_since_eviction)
        victims = evict_victims(state, self._s, self.evict_order, self._rng, estimate,
                                protect=protect)
        self._evicted_before, self._completed_since_eviction = True, False
        for v in victims:
            # refined at eviction in every mode: still running at t, so o_v >= p_v + 1
            kept = max(self._estimate(v, t), t - self._run[v] + 1)
            kept = min(kept, self._memory - self._s[v])
            del self._run[v]
            self._est[v] = kept if self.keep_estimate else self._low[v]
            self._restarted[v] = True
            heapq.heappush(self._heap, (self._est[v], self._a[v], v))
        self._dirty = True
        return victims

    def _release(self, t: int, mem_next: int, admit: list[int]) -> int:
        """Start the held-back restarts whose penalty is over, if round ``t + 1`` fits."""
        r, memory, s = self.restart_penalty_steps, self._memory, self._s
        for i, k in sorted(self._pending.items(), key=lambda kv: (kv[1], kv[0])):
            if k + r <= t and mem_next + s[i] + 1 <= memory:
                del self._pending[i]
                self._run[i] = t
                admit.append(i)
                mem_next += s[i] + 1
                self._dirty = True
        return mem_next

    def _members(self, t: int) -> list[tuple[int, int]]:
        """``(projected end, s - k)`` of every running and held-back request."""
        s, est = self._s, self._est
        if self.refine == "double":
            out = [(k + self._estimate(i, t), s[i] - k) for i, k in self._run.items()]
        else:   # max(k + est, t + 1): Checkpoints puts every end before t + 1 at t + 1
            out = [(k + est[i], s[i] - k) for i, k in self._run.items()]
        out += [(k + self._est[i], s[i] - k) for i, k in self._pending.items()]
        return out

    def _start(self, j: int, t: int, admit: list[int]) -> None:
        if self._restarted[j] and self.restart_penalty_steps:
            self._pending[j] = t
        else:
            self._run[j] = t
            admit.append(j)

    def _admit_future_peak(self, t: int, admit: list[int]) -> int | None:
        points = Checkpoints(self._memory, self._members(t), t)
        heap, s = self._heap, self._s
        skipped: list[tuple[int, int, int]] = []
        while heap:
            j = heap[0][2]
            p = self._est[j]
            if points.try_add(t + p, s[j] - t, s[j] + p):
                heapq.heappop(heap)
                self._start(j, t, admit)
            elif self.admit_scan == "skip":
                skipped.append(heapq.heappop(heap))
            else:
                break
        for item in skipped:
            heapq.heappush(heap, item)
        # reusable while nothing but arrivals happens (no estimate jumps, no held-back restart)
        reusable = (self.admit_scan == "prefix" and self.refine != "double"
                    and not self.restart_penalty_steps)
        self._points = points if reusable else None
        if not heap:
            return None
        if self.admit_scan == "prefix":
            j = heap[0][2]
            return first_fit_round(points, t, s[j], self._est[j])
        best: int | None = None
        for sp in {(s[j], self._est[j]) for _, _, j in heap}:
            ff = first_fit_round(points, t, *sp)
            if ff is not None and (best is None or ff < best):
                best = ff
        return best

    def _admit_next_round(self, t: int, mem_next: int, admit: list[int]) -> int | None:
        """Admit while round ``t + 1`` fits (reservations of held-back restarts counted); that
        memory only grows until an event, so no later fit without one."""
        memory, s, heap = self._memory, self._s, self._heap
        mem = mem_next + sum(s[i] + t + 1 - k for i, k in self._pending.items())
        skipped: list[tuple[int, int, int]] = []
        while heap:
            j = heap[0][2]
            if mem + s[j] + 1 <= memory:
                heapq.heappop(heap)
                self._start(j, t, admit)
                mem += s[j] + 1
            elif self.admit_scan == "skip":
                skipped.append(heapq.heappop(heap))
            else:
                break
        for item in skipped:
            heapq.heappush(heap, item)
        return None
