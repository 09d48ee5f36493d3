"""The event-driven cluster engine: per-unit cores with their own KV pool and clock.

A *unit* is a replica serving on its own (data parallel) or a group of replicas serving as a
pipeline (:mod:`kvopt.cluster.param`). Each unit has a KV pool in blocks of 16 tokens, a queue,
the requests resident in its pool (running, or stalled while their KV moves) and a clock: the
end of its current iteration. One global event loop advances whatever happens first: an
arrival (routed at once, :mod:`kvopt.cluster.router`), the end of a unit's iteration, the end
of a transfer, or a handler's periodic check.

One iteration of a unit (spec section 4.1):

1. every running request is to decode one token; it needs the blocks of ``prompt + generated``
   tokens (the KV of every token it has, as in vLLM). When they do not fit, the handler
   frees room (:mod:`kvopt.cluster.handlers`: recompute, swap, migrate, param) by preempting
   the most recently arrived running request, repeatedly;
2. unless a request was preempted in this iteration (vLLM's rule), queued requests are admitted
   in queue order while their prefill's blocks fit under the pool minus the 1% watermark, up
   to 256 resident requests and 8192 prefill tokens (one longer prompt is admitted alone);
3. the iteration takes the roofline step time of its prefill tokens plus one token per decode
   (a group: the pipeline pass, :mod:`kvopt.cluster.steptime`); at its end every prefilled
   request emits its next token (the first, or the next after a recompute) and every decoding
   one its next; a request that reaches its output length completes and frees its blocks.

A request holds the blocks of ``prompt + generated`` tokens while it decodes its next token, so
at most ``prompt + output - 1`` tokens. Everything that moves KV or recomputes it is charged in
time by the handler; :mod:`kvopt.cluster.verify` checks the iteration log independently.

**Fast path** (``ClusterConfig.fast``; ``recompute``, or ``swap`` while a unit has nothing
swapped out or coming back; no log or samples: only the router reads a unit mid-run). After an
iteration that admitted nothing, the decode-only iterations that follow are computed lazily
(empty queue, no pressure possible; no event) or at once up to the first completion while
requests queue or the first block that would not fit (:mod:`kvopt.cluster.fastpath`). An
arrival at the unit cuts the run after the iteration in progress; ``tests/cluster/
test_fastpath.py`` checks with hypothesis that the results equal the plain loop's bit for bit.
"""

from __future__ import annotations

import bisect
import collections
import heapq
from array import array
from collections.abc import Callable
from typing import Any

import numpy as np

from kvopt.cluster.config import ClusterConfig, Workload
from kvopt.cluster.fastpath import DecodeRun, decode_table, last_blocks
from kvopt.cluster.hardware import BLOCK_TOKENS, Preset, load_preset
from kvopt.cluster.network import Interconnect
from kvopt.cluster.records import iteration_record, kind_gaps, kinds_of
from kvopt.cluster.steptime import StepTime
from kvopt.exceptions import KvoptError

__all__ = ["QUEUED", "RUNNING", "STALLED", "SWAPPED", "DONE", "Handler", "Sim", "Unit"]

QUEUED, RUNNING, STALLED, SWAPPED, DONE = range(5)
_EMPTY = np.zeros(0, dtype=np.int64)
_MACRO_MAX = 512
_MACRO_MIN = 8


def blocks(tokens: int) -> int:
    return -(-tokens // BLOCK_TOKENS)


class Unit:
    """A replica, or a group of replicas running as a pipeline."""

    def __init__(self, uid: int, members: tuple[int, ...], cap: int, watermark: float,
                 max_running: int, max_prefill: int) -> None:
        self.uid, self.members, self.g = uid, members, len(members)
        self.cap = cap                      # KV pool in blocks
        self.wm = int(watermark * cap)      # blocks kept free at admission
        self.admit_cap = cap                # lowered while a group restores
        self.max_running, self.max_prefill = max_running, max_prefill
        self.used = 0                       # allocated blocks: resident requests + reservations
        self.queue: collections.deque[int] = collections.deque()
        self.queued_blocks = 0              # blocks the queue's prefills need
        self.running: list[int] = []        # resident, decoding
        self.stalled: set[int] = set()      # resident, waiting for a transfer
        self.swapped: collections.deque[int] = collections.deque()
        self.reserved: dict[int, int] = {}  # request -> blocks held for a transfer into here
        self.busy = False
        self.active = True                  # routable and scheduled
        self.frozen = False                 # finish the current iteration, then stop
        self.batch: tuple[list[int], Any] = ([], _EMPTY)
        self.iter_start = self.iter_end = self.prev_end = 0.0
        self.iterations = 0
        self.macro: dict[str, Any] | None = None   # decode-only iterations run at once
        self.macro_cap = 32                 # iterations planned at once (adapts to arrivals)
        self.epoch = 0

    @property
    def free(self) -> int:
        return self.cap - self.used

    @property
    def resident(self) -> int:
        return len(self.running) + len(self.stalled) + len(self.batch[0])


class Handler:
    """A memory-pressure strategy; the default hooks are vLLM's drop and recompute."""

    name = "recompute"

    def attach(self, sim: Sim) -> None:
        self.sim = sim

    def start(self) -> None:
        """Schedule periodic checks (none by default)."""

    def on_pressure(self, unit: Unit, t: float) -> float:
        """Free room for the running requests' growth; returns seconds the iteration waits."""
        self.sim.recompute(unit, self.sim.victim(unit), t)
        return 0.0

    def before_admit(self, unit: Unit, t: float) -> bool:
        """Work before admission (swap-ins); whether new requests may be admitted."""
        return True

    def after_iteration(self, unit: Unit, t: float) -> None:
        """Work at the end of each iteration of ``unit``."""

    def on_idle(self, unit: Unit, t: float) -> None:
        """``unit`` was frozen and its iteration has ended."""

    def finish(self, t: float) -> None:
        """The run is over at ``t``."""

    def iteration_s(self, unit: Unit, prefill: list[int], decode: np.ndarray,
                    prefill_tokens: int, sum_ctx: int) -> float:
        return self.sim.steptime.step_s(prefill_tokens + len(decode), sum_ctx)


class Sim:
    """One run of ``workload`` on the cluster of ``config`` with ``handler``."""

    def __init__(self, workload: Workload, config: ClusterConfig, handler: Handler,
                 preset: Preset | None = None) -> None:
        self.w, self.cfg, self.handler = workload, config, handler
        self.preset = preset if preset is not None else load_preset(config.preset)
        p = self.preset
        self.net = Interconnect(p.gpu, config.num_replicas, p.tp,
                                intra_node_at_pcie=config.intra_node_at_pcie)
        link_bw = p.gpu.pcie_eff if config.intra_node_at_pcie else p.gpu.nvlink_eff
        self.steptime = StepTime(p, link_bytes_per_s=link_bw)
        self.replica_blocks = int(p.replica_tokens() * config.pool_scale // BLOCK_TOKENS)
        n = workload.num_requests
        self.arrival = workload.arrival_s.tolist()
        self.prompt = workload.prompt.tolist()
        self.output = workload.output.tolist()
        self.pinned = (workload.replica.tolist() if workload.replica is not None
                       else [-1] * n)
        self._validate()
        # the hot path updates these vectorised over a unit's batch (numpy, int64 / float64)
        self.prompt_a = np.array(self.prompt, dtype=np.int64)
        self.output_a = np.array(self.output, dtype=np.int64)
        self.gen = np.zeros(n, dtype=np.int64)
        self.blk = np.zeros(n, dtype=np.int64)
        self.unit_of = [-1] * n
        self.state = [QUEUED] * n
        self.prefill_len = list(self.prompt)
        self.first_s = [float("nan")] * n
        self.admit_s = [float("nan")] * n              # first admission (queueing time)
        self.stall_since: dict[int, float] = {}        # stalled request -> since (handlers)
        self.last_s = np.zeros(n, dtype=np.float64)
        self.done_s = [float("nan")] * n
        self.num_preempted = [0] * n
        self.units: list[Unit] = [self.new_unit((r,), self.replica_blocks) for r in range(
            config.num_replicas)]
        self.replica_unit = list(range(config.num_replicas))   # replica -> unit serving it
        self.events: list[tuple[float, int, int, Callable[..., None], Any]] = []
        self._seq = 0
        self.now = 0.0
        self.completed = 0
        self.counters: collections.defaultdict[str, float] = collections.defaultdict(float)
        self.gap_values = array("d")
        self.gap_counts = array("d")
        self.kinds = config.handler == "param"         # gaps by kind (kvopt.cluster.records)
        self.gap_kinds = array("b")
        self.stale = np.zeros(n, dtype=bool)
        self.iter_log: list[tuple[Any, ...]] = []       # see kvopt.cluster.verify
        self.transfer_log: list[tuple[Any, ...]] = []
        self.event_log: list[tuple[Any, ...]] = []
        self.samples: list[tuple[float, list[float], list[float]]] = []
        self._rr = 0
        # the fast path (module docstring) where nothing but arrivals reads a unit mid-run
        # (swap: only while the unit has nothing swapped out or coming back, see start_iteration)
        self.fast = (config.fast and config.handler in ("recompute", "swap")
                     and not config.record and not config.sample_s)
        handler.attach(self)

    # ------------------------------------------------------------------ setup
    def _validate(self) -> None:
        cap = self.replica_blocks - int(self.cfg.watermark * self.replica_blocks)
        for i, (s, o) in enumerate(zip(self.prompt, self.output, strict=True)):
            if blocks(s + o) > cap:
                raise KvoptError(
                    f"request {i}: prompt {s} + output {o} tokens need {blocks(s + o)} blocks "
                    f"of {BLOCK_TOKENS}, but a replica admits at most {cap}")
            if self.pinned[i] >= self.cfg.num_replicas:
                raise KvoptError(f"request {i}: aimed at replica {self.pinned[i]}, but there "
                                 f"are {self.cfg.num_replicas}")

    def new_unit(self, members: tuple[int, ...], cap: int) -> Unit:
        uid = len(self.units) if hasattr(self, "units") else members[0]
        factor = len(members)
        return Unit(uid, members, cap, self.cfg.watermark, self.cfg.max_running * factor,
                    self.cfg.max_prefill_tokens * factor)

    # ------------------------------------------------------------------ events
    def at(self, t: float, fn: Callable[..., None], arg: Any = None, prio: int = 2) -> None:
        """Run ``fn(t, arg)`` at ``t``; ties: lower ``prio`` first, then the order scheduled."""
        self._seq += 1
        heapq.heappush(self.events, (t, prio, self._seq, fn, arg))

    def run(self) -> Sim:
        n = len(self.arrival)
        nxt = 0
        self.handler.start()
        if self.cfg.sample_s:
            self.at(0.0, self._sample, None, 4)
        events = self.events
        while nxt < n or events:
            if nxt < n and (not events or self.arrival[nxt] <= events[0][0]):
                self.now = self.arrival[nxt]
                self._arrive(nxt)
                nxt += 1
                continue
            t, _, _, fn, arg = heapq.heappop(events)
            self.now = t
            fn(t, arg)
            if self.completed == n and nxt == n and not any(u.busy for u in self.units):
                break
        if self.fast:
            self._settle(float("inf"))
        self.handler.finish(self.now)
        if self.completed != n:
            raise KvoptError(f"cluster run stalled: {self.completed} of {n} requests completed")
        return self

    def _sample(self, t: float, _: Any) -> None:
        usage: list[float] = []
        queue: list[float] = []
        for r in range(self.cfg.num_replicas):
            u = self.units[self.replica_unit[r]]
            usage.append(u.used / u.cap)
            queue.append((len(u.queue) + len(u.swapped)) / u.g)   # a group's, per member
        self.samples.append((t, usage, queue))
        if self.completed < len(self.arrival):
            self.at(t + (self.cfg.sample_s or 1.0), self._sample, None, 4)

    # ------------------------------------------------------------------ routing
    def targets(self) -> list[Unit]:
        return [u for u in self.units if u.active]

    def route(self, i: int) -> Unit:
        pinned = self.pinned[i]
        if pinned >= 0:
            return self.units[self.replica_unit[pinned]]
        cands = self.targets()
        router = self.cfg.router
        if router == "round-robin":
            self._rr += 1
            return cands[(self._rr - 1) % len(cands)]
        if router == "least-loaded":
            return min(cands, key=lambda u: (self.resident(u) + len(u.queue) + len(u.swapped),
                                              u.uid))
        best, best_v = cands[0], self.free(cands[0]) - cands[0].queued_blocks
        for u in cands[1:]:     # the most free blocks net of the queue, then the lowest uid
            v = self.free(u) - u.queued_blocks
            if v > best_v or (v == best_v and u.uid < best.uid):
                best, best_v = u, v
        return best

    def _arrive(self, i: int) -> None:
        if self.fast:
            self._settle(self.now)
        u = self.route(i)
        self.enqueue(u, i)
        if u.macro is not None:
            self._cut(u, self.now)
        self.kick(u, self.now)

    def enqueue(self, u: Unit, i: int, front: bool = False) -> None:
        self.unit_of[i] = u.uid
        self.state[i] = QUEUED
        if front:
            u.queue.appendleft(i)
        else:
            u.queue.append(i)
        u.queued_blocks += blocks(self.prefill_len[i])

    def kick(self, u: Unit, t: float) -> None:
        """Start an iteration of ``u`` at ``t`` if it is idle."""
        if not u.busy and u.active and not u.frozen:
            self.start_iteration(u, t)

    # ------------------------------------------------------------------ memory
    def victim(self, u: Unit) -> int:
        """The most recently arrived running request (vLLM's preemption order)."""
        return max(u.running, key=lambda i: (self.arrival[i], i))

    def release(self, u: Unit, i: int) -> None:
        u.used -= int(self.blk[i])
        self.blk[i] = 0

    def recompute(self, u: Unit, i: int, t: float) -> None:
        """Drop ``i``'s KV: back to the front of the queue with ``prompt := prompt + generated``."""
        u.running.remove(i)
        self.release(u, i)
        self.prefill_len[i] = self.prompt[i] + int(self.gen[i])
        self.num_preempted[i] += 1
        self.counters["preemptions"] += 1
        self.event_log.append(("preempt", t, u.uid, i))
        self.enqueue(u, i, front=True)

    def _needs(self, u: Unit) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """``(batch, held tokens, blocks needed, growth in blocks)`` of ``u``'s running set."""
        idx = np.array(u.running, dtype=np.int64)
        held = self.prompt_a[idx] + self.gen[idx]
        need = (held + (BLOCK_TOKENS - 1)) // BLOCK_TOKENS
        # (small arrays: summing their lists is cheaper than numpy's reductions)
        return idx, held, need, sum(need.tolist()) - sum(self.blk[idx].tolist())

    # ------------------------------------------------------------------ iterations
    def start_iteration(self, u: Unit, t: float) -> None:
        handler = self.handler
        delay = 0.0
        preempted = False
        idx, held, need, grow = self._needs(u)
        while u.running and u.used + grow > u.cap:
            delay += handler.on_pressure(u, t + delay)
            preempted = True
            idx, held, need, grow = self._needs(u)
        prompt, blk = self.prompt, self.blk
        blk[idx] = need
        u.used += grow
        sum_ctx = sum(held.tolist())
        admitted: list[int] = []
        prefill_tokens = 0
        if not preempted and handler.before_admit(u, t):
            limit = u.admit_cap - u.wm
            queue = u.queue
            while queue and u.resident + len(admitted) < u.max_running:
                i = queue[0]
                n = self.prefill_len[i]
                need = -(-n // BLOCK_TOKENS)
                if u.used + need > limit or (admitted and prefill_tokens + n > u.max_prefill):
                    break
                queue.popleft()
                u.queued_blocks -= need
                u.used += need
                blk[i] = need
                self.state[i] = RUNNING
                if n == prompt[i]:                      # not a re-prefill: the first admission
                    self.admit_s[i] = t
                admitted.append(i)
                prefill_tokens += n
                if n > prompt[i]:
                    self.counters["recomputed_tokens"] += n
        if not admitted and not u.running:
            u.busy = False
            if delay:   # a swap-out still occupies the replica
                u.busy = True
                u.batch = ([], _EMPTY)
                u.iter_start, u.iter_end = t, t + delay
                self.at(t + delay, self.end_iteration, u)
            return
        self.counters["prefill_tokens"] += prefill_tokens
        decode = idx
        dur = handler.iteration_s(u, admitted, decode, prefill_tokens, sum_ctx + prefill_tokens)
        end = t + delay + dur
        u.busy = True
        u.batch = (admitted, decode)
        u.iter_start, u.iter_end = t, end
        u.iterations += 1
        if self.cfg.record:
            self.iter_log.append(iteration_record(self, u, t + delay, end, admitted, decode))
        if self.fast and not admitted and not preempted and not delay and len(idx) \
                and not u.swapped and not u.stalled and self._plan_macro(u, end, idx, held):
            return
        self.at(end, self.end_iteration, u)

    # ------------------------------------------------------------------ the fast path
    def _plan_macro(self, u: Unit, end0: float, idx: np.ndarray, held: np.ndarray) -> bool:
        """Run the next decode-only iterations of ``u`` lazily or at once when nothing but an
        arrival can change them (module docstring; :mod:`kvopt.cluster.fastpath`)."""
        rem = self.output_a[idx] - self.gen[idx]
        rem_l = rem.tolist()
        k_full = max(rem_l) if not u.queue else min(rem_l)
        if k_full < 2:
            return False
        other = u.used - sum(self.blk[idx].tolist())         # blocks not of the batch
        last = last_blocks(held, rem)
        if not u.queue and other + sum(last.tolist()) <= u.cap:
            run = DecodeRun(held, rem, last, u.used, end0, self.steptime)
            u.macro = {"run": run, "used_list": run.used, "active": run.active,
                       "base": u.used, "idx": idx, "held": held, "rem": rem}
            return True
        table = decode_table(held, rem, other, u.cap, min(k_full, u.macro_cap), end0,
                             self.steptime)
        if table is None:
            return False
        ends, used, active = table
        n = len(used)
        u.macro = {"ends": ends, "used": used, "active": active, "base": u.used,
                   "idx": idx, "held": held, "rem": rem, "starts": ends[:-1].tolist(),
                   "used_list": used.tolist(), "run": None}
        u.iterations += n
        u.iter_end = float(ends[-1])
        self.at(float(ends[-1]), self._macro_end, (u, u.epoch))
        return True

    def _started(self, u: Unit) -> int:
        """Iterations of ``u``'s macro after the first that have started by now."""
        assert u.macro is not None
        run = u.macro["run"]
        if run is None:
            return bisect.bisect_left(u.macro["starts"], self.now)
        run.advance(self.now)
        return bisect.bisect_left(run.ends, self.now, 0, len(run.ends) - 1)

    def free(self, u: Unit) -> int:
        """Free blocks of ``u`` now, also while it runs iterations at once."""
        if u.macro is None:
            return u.free
        j = self._started(u)
        return u.cap - (u.macro["used_list"][j - 1] if j else u.macro["base"])

    def resident(self, u: Unit) -> int:
        """Requests resident in ``u`` now, also while it runs iterations at once."""
        if u.macro is None:
            return u.resident
        j = self._started(u)
        running = int(u.macro["active"][j - 1]) if j else len(u.macro["idx"])
        return running + len(u.stalled) + len(u.batch[0])

    def _forward(self, u: Unit, m: int) -> None:
        """Finish the macro's iterations ``0 .. m-1``; iteration ``m`` is in progress."""
        mac = u.macro
        assert mac is not None
        idx, rem, run = mac["idx"], mac["rem"], mac["run"]
        u.macro = None
        u.epoch += 1
        if m == 0:
            u.batch = ([], idx)
            return
        if run is None:
            ends, used = mac["ends"], mac["used"]
            ends_l = ends[:m].tolist()
            counts = mac["active"][:m - 1].tolist()
        else:
            ends_l, used, counts = run.ends[:m], run.used, run.active[:m - 1]
            ends = np.array(ends_l)
            u.iterations += m
        self._emit(u, idx, ends_l[0])
        if m >= 2:
            steps = np.minimum(rem, m) - 1
            self.gen[idx] += steps
            self.gap_values.extend([b - a for a, b in zip(ends_l, ends_l[1:], strict=False)])
            self.gap_counts.extend(counts)
            self.last_s[idx] = ends[steps]
            u.prev_end = float(ends[m - 1])
        done = rem <= m
        for i, k in zip(idx[done].tolist(), rem[done].tolist(), strict=True):
            self.blk[i] = 0
            self.state[i] = DONE
            self.done_s[i] = ends_l[k - 1]
            self.completed += 1
        live = idx[~done]
        self.blk[live] = (mac["held"][~done] + m + (BLOCK_TOKENS - 1)) // BLOCK_TOKENS
        u.used = int(used[m - 1])
        u.running = live.tolist()
        u.batch = ([], live)

    def _settle(self, now: float) -> None:
        """Lazy runs over before ``now``: their units went idle at their last iteration's end
        (no arrival came in between: it would have cut the run)."""
        for u in self.units:
            mac = u.macro
            if mac is None or mac["run"] is None:
                continue
            run = mac["run"]
            run.advance(now)
            if run.finished and run.ends[-1] < now:
                t = run.ends[-1]
                self._forward(u, len(run.ends) - 1)
                self.end_iteration(t, u)
                self.now = max(self.now, t)

    def _macro_end(self, t: float, arg: tuple[Unit, int]) -> None:
        u, epoch = arg
        if epoch != u.epoch or u.macro is None:
            return
        u.macro_cap = min(_MACRO_MAX, 2 * u.macro_cap)
        self._forward(u, len(u.macro["ends"]) - 1)
        self.end_iteration(t, u)

    def _cut(self, u: Unit, now: float) -> None:
        """An arrival at ``u``: finish the iterations that ended before ``now``; the one in
        progress ends as scheduled, and the next starts normally (it may admit)."""
        assert u.macro is not None
        run = u.macro["run"]
        if run is not None:
            run.advance(now)
            m = bisect.bisect_left(run.ends, now)
            end = run.ends[m]
            self._forward(u, m)
            u.iter_end = end
            self.at(end, self.end_iteration, u)
            return
        ends = u.macro["ends"]
        m = int(np.searchsorted(ends, now, side="left"))
        u.macro_cap = max(_MACRO_MIN, 2 * m)
        if m >= len(ends) - 1:
            return      # the last iteration is in progress: its end is the macro's end
        self._forward(u, m)
        u.iter_end = float(ends[m])
        self.at(float(ends[m]), self.end_iteration, u)

    def _emit(self, u: Unit, idx: np.ndarray, t: float) -> bool:
        """The batch's decodes emit a token at ``t``; whether one of them completed."""
        gen, last, prev = self.gen, self.last_s, u.prev_end
        g = gen[idx] + 1
        gen[idx] = g
        before = last[idx]
        other = before != prev
        same = len(idx) - other.tolist().count(True)
        if self.kinds:
            kind_gaps(self, u, idx, t, prev, before, other)
        elif same:
            self.gap_values.append(t - prev)
            self.gap_counts.append(float(same))
        if same < len(idx) and not self.kinds:
            odd = t - before[other]
            self.gap_values.extend(odd.tolist())
            self.gap_counts.extend([1.0] * len(odd))
        last[idx] = t
        u.prev_end = t
        return True in (g == self.output_a[idx]).tolist()

    def end_iteration(self, t: float, u: Unit) -> None:
        admitted, idx = u.batch
        u.batch = ([], _EMPTY)
        gen, last = self.gen, self.last_s
        gaps = self.gap_values
        finished = self._emit(u, idx, t) if len(idx) else False
        for i in admitted:
            g1 = int(gen[i]) + 1
            gen[i] = g1
            if g1 == 1:
                self.first_s[i] = t
            else:
                gaps.append(t - float(last[i]))
                self.gap_counts.append(1.0)
                if self.kinds:
                    self.gap_kinds.append(int(kinds_of(self, u, np.array([i]))[0]))
            last[i] = t
            u.running.append(i)
            if g1 == self.output[i]:
                finished = True
        if finished:
            run = np.array(u.running, dtype=np.int64)
            done = gen[run] == self.output_a[run]
            for i in run[done].tolist():
                self.release(u, i)
                self.state[i] = DONE
                self.done_s[i] = t
                self.completed += 1
            u.running = run[~done].tolist()
        u.prev_end = t
        u.busy = False
        self.handler.after_iteration(u, t)
        if u.frozen or not u.active:
            self.handler.on_idle(u, t)
        else:
            self.start_iteration(u, t)

    # ------------------------------------------------------------------ transfers
    def log_transfer(self, kind: str, i: int, src: int, dst: int, start: float, end: float,
                     nbytes: float) -> None:
        """A request's KV moved: ``kind`` swap_out, swap_in, migrate or exchange; ``src`` and
        ``dst`` are units (``-1`` for the host)."""
        if self.cfg.record:
            self.transfer_log.append((kind, i, src, dst, start, end, float(nbytes),
                                      int(self.gen[i])))
