r"""MC-SF: Memory-Constrained Shortest First (``specs/kv-scheduling.md`` section 4).

Every round ``t`` the waiting requests are walked in order (MC-SF: predicted length, then
arrival, then position; MC-Benchmark: arrival, then position) and candidate ``j`` starts at
``t`` if the memory *predicted* for every future round stays at most ``M``, with every running
request and every request admitted so far this round; the walk stops at the first candidate that
fails. A request started at ``k`` with prediction ``p`` is predicted to hold ``s + (r - k)`` in
rounds ``r = k+1 .. k+p``; one still running past ``k + p`` (a wrong prediction) is predicted to
end at ``t + 1``. Predicted memory grows between predicted completions and drops after them, so
only the *checkpoints* (predicted completion rounds) need checking.

The future-peak check is incremental. The running set is kept as sorted unique checkpoints
:math:`E_1 < \dots < E_m` with, per checkpoint, :math:`SC_x = \sum_{i: e_i \ge E_x} (s_i - k_i)`
and :math:`SN_x = |\{i: e_i \ge E_x\}|`, so the predicted memory there is
:math:`W_x = SC_x + E_x SN_x`. Candidate ``j`` (end :math:`e = t + p_j`, constant
:math:`c = s_j - t`) fits iff :math:`W_x + c + E_x \le M` for every :math:`E_x \le e` and, at
its own checkpoint, :math:`SC + e\,SN` (over :math:`e_i \ge e`) :math:`+ s_j + p_j \le M`:
O(m) per candidate; admitting it adds ``c`` and 1 to the prefix :math:`E_x \le e` and inserts
``e``. (The rebuild per decision is O(m log m); m is the number of running requests.)
Checkpoints after ``e`` need no check: the running set always fits all its own checkpoints
(each member passed this check when admitted, a checkpoint only loses members as requests
complete or overrun, and the engine keeps round ``t + 1``, where overrunning requests count, at
most ``M``), which is what the spec's "every future round" asks.

**When can a decision change without an event?** The walk admits nothing unless the head ``h``
of the queue fits, and between events (arrival, completion, clearing) the running set is fixed.
Started at :math:`t' > t` instead, ``h`` holds *less* at a fixed round, so it may fit later with
no event at all. :meth:`McSf.decide` returns the exact first such round as
:attr:`~kvopt.sim.state.Decision.wake`. For fixed running set, ``h`` fits at :math:`t'` iff

1. :math:`SC_1 + q (t' + 1) + s_h + 1 \le M` (round :math:`t'+1`, where all ``q`` running
   requests are alive): fails for every later :math:`t'` once it fails;
2. for each checkpoint :math:`E_x` with :math:`t' + 1 < E_x \le t' + p_h`:
   :math:`t' \ge W_x + E_x + s_h - M`;
3. for each checkpoint :math:`E_x > t' + p_h`: :math:`W_x \le M`;
4. own checkpoint :math:`e = t' + p_h > t' + 1`: :math:`SC + e\,SN` over :math:`E_x \ge e`,
   plus :math:`s_h + p_h`, at most ``M``; between two consecutive checkpoints this grows with
   :math:`t'`.

So the set of :math:`t'` where ``h`` fits can only begin at ``t + 1`` or at a round where one of
these conditions switches: :math:`E_x - p_h`, :math:`E_x - 1`, :math:`W_x + E_x + s_h - M`,
:math:`E_x + 1 - p_h`. The first candidate round (ascending, up to the last round allowed by
condition 1) at which ``h`` fits is the answer; none fitting means "not before an event".

**Predictions.** MC-SF plans with ``SimState.predicted``, the environment's point predictions
(:mod:`kvopt.sim.predictions`: exact by default; noise and a protection margin are applied there,
before the run), read when each request arrives. It never sees the true outputs.

**Wrong predictions.** A prediction above ``M - s_j`` is lowered to ``M - s_j`` (every request
fits alone, ``s + o <= M``, so no request can need more; without this MC-SF could never start
it); one below 1 would be raised to 1. When the real memory of round ``t + 1`` would exceed
``M``, MC-SF clears running requests most recently started first until it fits, admits nothing
in that round, and puts the cleared requests at the front of the queue (earliest started
first), ahead of the sorted order (``requeue="sorted"`` puts them back in the sorted order
instead).
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import Literal

import numpy as np

from kvopt.policies.base import most_recent_victims
from kvopt.sim.state import IDLE, Decision, PolicyContext, SimState

__all__ = ["Checkpoints", "McBenchmark", "McSf"]


class Checkpoints:
    """The predicted memory of a set of started requests at their predicted completions."""

    __slots__ = ("consts", "counts", "ends", "memory")

    def __init__(self, memory: int, members, t: int) -> None:
        """``members``: ``(predicted end k + p, s - k)`` pairs; ends before ``t + 1`` count as
        ``t + 1``."""
        groups: dict[int, list[int]] = {}
        t1 = t + 1
        for e, c in members:
            if e < t1:                 # not max(): a builtin call per member is measurable
                e = t1
            g = groups.get(e)
            if g is None:
                groups[e] = [c, 1]
            else:
                g[0] += c
                g[1] += 1
        ends = sorted(groups)
        consts = [0] * len(ends)
        counts = [0] * len(ends)
        sc = sn = 0
        for x in range(len(ends) - 1, -1, -1):
            g = groups[ends[x]]
            sc += g[0]
            sn += g[1]
            consts[x] = sc
            counts[x] = sn
        self.ends, self.consts, self.counts, self.memory = ends, consts, counts, memory

    def try_add(self, e: int, c: int, peak: int) -> bool:
        """Add a request with predicted end ``e`` and constant ``c = s - k`` (``peak = s + p``,
        its memory at ``e``) if every checkpoint stays at most ``M``; return whether it did."""
        ends, consts, counts, memory = self.ends, self.consts, self.counts, self.memory
        m = len(ends)
        x = 0
        while x < m:
            r = ends[x]
            if r > e:
                break
            if consts[x] + r * counts[x] + c + r > memory:
                return False
            x += 1
        new = x == 0 or ends[x - 1] != e
        if new:
            below = consts[x] + e * counts[x] if x < m else 0
            if below + peak > memory:
                return False
        for y in range(x):
            consts[y] += c
            counts[y] += 1
        if new:
            ends.insert(x, e)
            consts.insert(x, (consts[x] if x < m else 0) + c)
            counts.insert(x, (counts[x] if x < m else 0) + 1)
        return True

    def first_fit_round(self, t: int, s: int, p: int) -> int | None:
        """The first round ``t' > t`` at which a request ``(s, p)`` would fit, the set fixed;
        ``None`` if none (see the module docstring for why the candidates suffice)."""
        ends, consts, counts, memory = self.ends, self.consts, self.counts, self.memory
        m = len(ends)
        if m == 0:
            return t + 1
        q, const_all = counts[0], consts[0]
        last = (memory - const_all - s - 1) // q - 1     # condition 1 holds up to here
        if last <= t:
            return None
        loads = [consts[x] + ends[x] * counts[x] for x in range(m)]
        cands = {t + 1}
        for x in range(m):
            r = ends[x]
            cands.update((r - p, r - 1, loads[x] + r + s - memory, r + 1 - p))
        for tp in sorted(c for c in cands if t < c <= last):
            e, c, t1 = tp + p, s - tp, tp + 1
            ok = True
            own = -1
            for x in range(m):
                r = ends[x]
                if r <= t1:
                    continue
                if r <= e:
                    if loads[x] + c + r > memory:
                        ok = False
                        break
                else:
                    if own < 0:
                        own = x
                    if loads[x] > memory:
                        ok = False
                        break
            if not ok:
                continue
            if e > t1 and not (own > 0 and ends[own - 1] == e):   # else checked above
                below = consts[own] + e * counts[own] if own >= 0 else 0
                if below + s + p > memory:
                    continue
            return tp
        return None


class McSf:
    """MC-SF: shortest predicted output first, admitted while the predicted future peak fits.

    Parameters
    ----------
    requeue
        Where cleared requests wait: ``"front"`` (default) or ``"sorted"`` (back in the order).
    """

    name = "mcsf"

    def __init__(self, requeue: Literal["front", "sorted"] = "front") -> None:
        if requeue not in ("front", "sorted"):
            raise ValueError(f"requeue must be 'front' or 'sorted', got {requeue!r}")
        self.requeue = requeue

    def _key(self, i: int) -> tuple[int, ...]:
        return (self._p[i], self._a[i], i)

    def reset(self, context: PolicyContext, rng: np.random.Generator) -> None:
        n = context.num_requests
        self._memory = context.memory
        # per request, filled when it arrives: prompt, arrival round, planned output length
        self._s: list[int] = [0] * n
        self._a: list[int] = [0] * n
        self._p: list[int] = [0] * n
        self._heap: list[tuple[int, ...]] = []
        self._front: deque[int] = deque()
        self._run: dict[int, tuple[int, int]] = {}   # request -> (predicted end, s - k)
        self._dirty = True
        self._cached_head: int | None = None
        self._cached_wake: int | None = None

    def _arrive(self, state: SimState) -> None:
        """Read the revealed columns of the arrivals and queue them."""
        s, a, p, memory, heap, key = self._s, self._a, self._p, self._memory, self._heap, self._key
        prompt, arrival, predicted = state.prompt.item, state.arrival.item, state.predicted.item
        for i in state.arrived.tolist():
            si = s[i] = prompt(i)
            a[i] = arrival(i)
            pi = predicted(i)
            cap = memory - si
            p[i] = cap if pi > cap else (pi if pi > 1 else 1)
            heapq.heappush(heap, key(i))

    def _head(self) -> int | None:
        if self._front:
            return self._front[0]
        return self._heap[0][-1] if self._heap else None

    def _pop(self) -> None:
        if self._front:
            self._front.popleft()
        else:
            heapq.heappop(self._heap)

    def _victims(self, state: SimState) -> list[int]:
        """Running requests to clear when round ``t + 1`` overflows: most recently started first
        (a hook: A_max evicts by least progress with random ties)."""
        return most_recent_victims(state, self._s)

    def decide(self, state: SimState) -> Decision:
        t = state.round
        if len(state.arrived):
            self._arrive(state)
        if state.completed:
            for i in state.completed:
                del self._run[i]
            self._dirty = True
        if state.memory_next_tokens > state.memory:
            victims = self._victims(state)
            for i in victims:
                del self._run[i]
                if self.requeue == "front":
                    self._front.appendleft(i)
                else:
                    heapq.heappush(self._heap, self._key(i))
            self._dirty = True
            return Decision(clear=victims, wake=t + 1)
        head = self._head()
        if head is None:
            return IDLE
        if not self._dirty and head == self._cached_head:
            wake = self._cached_wake
            if wake is None:
                return IDLE
            if t < wake:
                return Decision(wake=wake)
        s, p = self._s, self._p
        points = Checkpoints(state.memory, self._run.values(), t)
        admit: list[int] = []
        while head is not None:
            if not points.try_add(t + p[head], s[head] - t, s[head] + p[head]):
                break
            self._run[head] = (t + p[head], s[head] - t)
            admit.append(head)
            self._pop()
            head = self._head()
        wake = None if head is None else points.first_fit_round(t, s[head], p[head])
        self._dirty = False
        self._cached_head, self._cached_wake = head, wake
        return Decision(admit=admit, wake=wake)


class McBenchmark(McSf):
    """MC-SF's feasibility check with candidates in arrival order (ties by position)."""

    name = "mc-benchmark"

    def _key(self, i: int) -> tuple[int, ...]:
        return (self._a[i], i)
