"""Parameter-centric memory (KunServe, spec section 3): drop replicated layers under a burst.

Fixed groups of ``g`` neighbouring replicas (``0..g-1``, ``g..2g-1``, ...). Every 0.1 s:

* **drop** (a group in data-parallel mode): a member votes when its KV usage is >= 95% and its
  queue's prefills need at least its free blocks; the group drops with at least one vote and
  ``votes >= floor(g/2)``. Its members finish their current iterations (new ones wait), then a
  50 ms stop-the-world pause (remap and block tables); the group becomes one unit whose pool is
  ``(g tp KV_gpu + (g-1) P) / kv`` tokens, serving as a pipeline of ``g`` stages
  (:meth:`kvopt.cluster.steptime.StepTime.pipeline_s`). The members' running requests are
  *stale*: each moves ``(g-1)/g`` of its KV to the stages that own those layers, 8 requests at
  a time, and cannot decode until its batch has moved. Queues merge (preempted requests first).
* **restore** (a group in pipeline mode): nothing queued, usage <= 50% and falling (usage now
  below usage 30 samples ago). The group then admits only up to the members' own pools, waits
  until its used blocks fit in them (the extra blocks are empty), pulls the dropped layers
  (``(P/tp)(g-1)/g`` per GPU over the link) while serving, and at the end of the pull splits
  back: a 50 ms pause, each running request goes to the member with the most free blocks
  (largest first; one that does not fit is preempted and recomputed there) and regathers the
  ``(g-1)/g`` of its KV held by the other stages (an exchange, 8 at a time, stalled); the
  queue is routed to the members by most free blocks.

Memory pressure inside a group is handled by recompute, as in the KunServe engine.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kvopt.cluster.engine import RUNNING, STALLED, Handler, Sim, Unit
from kvopt.cluster.hardware import BLOCK_TOKENS

__all__ = ["Param"]


class _Group:
    def __init__(self, index: int, members: tuple[int, ...], unit: Unit) -> None:
        self.index, self.members, self.unit = index, members, unit
        self.mode = "dp"             # dp, switching, pipe, splitting
        self.restore_pending = False
        self.pulling = False
        self.history: list[float] = []
        self.since = 0.0
        self.exchange: list[list[int]] = []
        self.exchanging = False
        self.link = (members[0], members[-1])


class Param(Handler):
    """KunServe's parameter-centric handler (module docstring)."""

    name = "param"

    def attach(self, sim: Sim) -> None:
        super().attach(sim)
        g = sim.cfg.group
        scale = sim.cfg.pool_scale
        self.g = g
        self.group_blocks = int(sim.preset.group_tokens(g) * scale // BLOCK_TOKENS)
        self.groups: list[_Group] = []
        for k in range(sim.cfg.num_replicas // g):
            members = tuple(range(k * g, (k + 1) * g))
            unit = sim.new_unit(members, self.group_blocks)
            unit.active = False
            sim.units.append(unit)
            self.groups.append(_Group(k, members, unit))
        self.group_of_unit = {grp.unit.uid: grp for grp in self.groups}

    def start(self) -> None:
        self.sim.at(self.sim.cfg.poll_s, self._poll, None, 3)

    # ------------------------------------------------------------------ triggers
    def _poll(self, t: float, _: Any) -> None:
        sim = self.sim
        cfg = sim.cfg
        for grp in self.groups:
            if grp.mode == "dp":
                units = [sim.units[m] for m in grp.members]
                votes = sum(u.used >= cfg.drop_usage * u.cap and u.queued_blocks >= u.free
                            for u in units)
                if votes >= 1 and votes >= self.g // 2:
                    self._begin_drop(grp, t, votes)
            elif grp.mode == "pipe":
                self._restore_check(grp, t)
        if sim.completed < len(sim.arrival):
            sim.at(t + cfg.poll_s, self._poll, None, 3)

    def finish(self, t: float) -> None:
        for grp in self.groups:
            if grp.mode != "dp":
                self.sim.counters["seconds_grouped"] += t - grp.since
                grp.since = t

    def _restore_check(self, grp: _Group, t: float) -> None:
        sim, cfg, u = self.sim, self.sim.cfg, grp.unit
        usage = u.used / u.cap
        grp.history.append(usage)
        del grp.history[:-(cfg.restore_window + 1)]
        if not cfg.restore or grp.pulling:
            return
        dp_cap = self.g * sim.replica_blocks
        if grp.restore_pending:
            if u.queue:
                grp.restore_pending = False
                u.admit_cap = u.cap
            elif u.used <= dp_cap:
                self._begin_pull(grp, t, dp_cap)
            return
        falling = (len(grp.history) > cfg.restore_window
                   and grp.history[-1] - grp.history[0] < 0)
        if not u.queue and usage <= cfg.restore_usage and falling:
            grp.restore_pending = True
            u.admit_cap = dp_cap
            if u.used <= dp_cap:
                self._begin_pull(grp, t, dp_cap)

    # ------------------------------------------------------------------ drop
    def _begin_drop(self, grp: _Group, t: float, votes: int) -> None:
        sim = self.sim
        grp.mode = "switching"
        sim.counters["drops"] += 1
        sim.event_log.append(("drop", t, grp.unit.uid, votes))
        for m in grp.members:
            sim.units[m].frozen = True
        self._maybe_switch(grp, t)

    def on_idle(self, unit: Unit, t: float) -> None:
        sim = self.sim
        if unit.uid in self.group_of_unit:
            grp = self.group_of_unit[unit.uid]
            if grp.mode == "splitting":
                self._split(grp, t)
            return
        grp = self.groups[unit.members[0] // self.g]
        if grp.mode == "switching":
            self._maybe_switch(grp, t)
        elif not unit.frozen and unit.active:
            sim.start_iteration(unit, t)

    def _maybe_switch(self, grp: _Group, t: float) -> None:
        sim = self.sim
        units = [sim.units[m] for m in grp.members]
        if any(u.busy for u in units):
            return
        gu = grp.unit
        stale: list[int] = []
        front: list[int] = []
        rest: list[int] = []
        for u in units:
            stale += u.running
            for i in u.queue:
                (front if sim.prefill_len[i] > sim.prompt[i] else rest).append(i)
            gu.used += u.used
            u.running, u.used, u.active, u.frozen = [], 0, False, False
            u.queue.clear()
            u.queued_blocks = 0
        for m in grp.members:
            sim.replica_unit[m] = gu.uid
        gu.cap, gu.admit_cap = self.group_blocks, self.group_blocks
        gu.wm = int(sim.cfg.watermark * gu.cap)
        key = sim.arrival.__getitem__
        for i in sorted(front, key=key) + sorted(rest, key=key):
            sim.enqueue(gu, i)
        for i in stale:
            sim.unit_of[i] = gu.uid
            sim.state[i] = STALLED
            sim.stall_since[i] = t
            sim.stale[i] = True
            gu.stalled.add(i)
        sim.counters["stale_requests"] += len(stale)
        sim.event_log.append(("switch", t, gu.uid, gu.used, gu.cap))
        gu.active, gu.frozen = True, True
        grp.mode, grp.since, grp.history = "pipe", t, []
        grp.restore_pending = grp.pulling = False
        start = t + sim.cfg.switch_pause_s
        self._queue_exchange(grp, stale, gu.members[0], gu.members[-1], start)
        sim.at(start, self._resume, gu, 1)

    def _resume(self, t: float, unit: Unit) -> None:
        unit.frozen = False
        self.sim.kick(unit, t)

    # ------------------------------------------------------------------ exchange
    def _queue_exchange(self, grp: _Group, reqs: list[int], a: int, b: int, t: float) -> None:
        """Move ``(g-1)/g`` of each request's KV, ``exchange_batch`` requests at a time."""
        size = self.sim.cfg.exchange_batch
        grp.exchange += [reqs[k:k + size] for k in range(0, len(reqs), size)]
        grp.link = (a, b)
        if not grp.exchanging and grp.exchange:
            self.sim.at(t, self._next_batch, grp, 1)
            grp.exchanging = True

    def _next_batch(self, t: float, grp: _Group) -> None:
        sim = self.sim
        if not grp.exchange:
            grp.exchanging = False
            return
        batch = grp.exchange.pop(0)
        kv = sim.preset.kv_bytes_per_token
        per = [(sim.prompt[i] + sim.gen[i]) * kv * (self.g - 1) / self.g for i in batch]
        a, b = grp.link
        dt = sim.net.replica_transfer_s(a, b, sum(per))
        for i, nbytes in zip(batch, per, strict=True):
            sim.log_transfer("exchange", i, sim.unit_of[i], sim.unit_of[i], t, t + dt, nbytes)
        sim.counters["bytes_exchanged"] += sum(per)
        sim.at(t + dt, self._batch_done, (grp, batch), 1)

    def _batch_done(self, t: float, arg: tuple[_Group, list[int]]) -> None:
        grp, batch = arg
        sim = self.sim
        touched = set()
        for i in batch:
            u = sim.units[sim.unit_of[i]]
            u.stalled.discard(i)
            sim.state[i] = RUNNING
            sim.counters["stall_s"] += t - sim.stall_since.pop(i)
            u.running.append(i)
            touched.add(u.uid)
        for uid in sorted(touched):
            sim.kick(sim.units[uid], t)
        self._next_batch(t, grp)

    # ------------------------------------------------------------------ restore
    def _begin_pull(self, grp: _Group, t: float, dp_cap: int) -> None:
        sim = self.sim
        grp.pulling = True
        sim.counters["restores"] += 1
        sim.event_log.append(("restore_start", t, grp.unit.uid, grp.unit.used, dp_cap))
        p = sim.preset
        nbytes = p.restore_bytes_per_gpu(self.g) * p.tp
        dt = sim.net.replica_transfer_s(grp.members[0], grp.members[-1], nbytes)
        sim.at(t + dt, self._pulled, grp, 1)

    def _pulled(self, t: float, grp: _Group) -> None:
        grp.mode = "splitting"
        gu = grp.unit
        gu.frozen = True
        if not gu.busy:
            self._split(grp, t)

    def _retry_split(self, t: float, grp: _Group) -> None:
        self._split(grp, t)

    def _split(self, grp: _Group, t: float) -> None:
        sim = self.sim
        gu = grp.unit
        if gu.stalled or grp.exchanging:       # an exchange still runs: try again soon
            sim.at(t + sim.cfg.poll_s, self._retry_split, grp, 1)
            return
        units = [sim.units[m] for m in grp.members]
        for u in units:
            u.active, u.frozen, u.used = True, True, 0
            sim.replica_unit[u.uid] = u.uid
        moved: list[tuple[int, int]] = []
        for i in sorted(gu.running, key=lambda j: (-sim.blk[j], j)):
            u = max(units, key=lambda v: (v.free, -v.uid))
            need = sim.blk[i]
            if need <= u.free:
                u.used += need
                sim.unit_of[i] = u.uid
                sim.state[i] = STALLED
                sim.stall_since[i] = t
                u.stalled.add(i)
                moved.append((i, u.uid))
            else:       # no member has room: recompute it there
                sim.prefill_len[i] = sim.prompt[i] + int(sim.gen[i])
                sim.blk[i] = 0
                sim.num_preempted[i] += 1
                sim.counters["preemptions"] += 1
                sim.event_log.append(("preempt", t, u.uid, i))
                sim.enqueue(u, i, front=True)
        queue = list(gu.queue)
        gu.running, gu.used, gu.active, gu.frozen = [], 0, False, False
        gu.queue.clear()
        gu.queued_blocks = 0
        gu.admit_cap = gu.cap
        for i in queue:
            u = max(units, key=lambda v: (v.free - v.queued_blocks, -v.uid))
            sim.enqueue(u, i)
        sim.counters["seconds_grouped"] += t - grp.since
        sim.event_log.append(("split", t, gu.uid))
        grp.mode, grp.restore_pending, grp.pulling, grp.history = "dp", False, False, []
        start = t + sim.cfg.switch_pause_s
        self._queue_exchange(grp, [i for i, _ in moved], grp.members[0], grp.members[-1],
                             start)
        for u in units:
            sim.at(start, self._resume, u, 1)

    # ------------------------------------------------------------------ step time
    def iteration_s(self, unit: Unit, prefill: list[int], decode: np.ndarray,
                    prefill_tokens: int, sum_ctx: int) -> float:
        sim = self.sim
        if unit.g == 1:
            return sim.steptime.step_s(prefill_tokens + len(decode), sum_ctx)
        g = unit.g
        if sim.cfg.micro_batches == "balanced":
            return sim.steptime.balanced_s(g, prefill_tokens + len(decode), sum_ctx)
        micro = [[0.0, 0.0] for _ in range(g)]
        for k, i in enumerate(prefill):
            micro[k % g][0] += sim.prefill_len[i]
            micro[k % g][1] += sim.prefill_len[i]
        for k, i in enumerate(decode):
            micro[(k + len(prefill)) % g][0] += 1
            micro[(k + len(prefill)) % g][1] += sim.prompt[i] + sim.gen[i]
        dur, bubble = sim.steptime.pipeline_s(g, [(n, c) for n, c in micro])
        sim.counters["bubble_s"] += bubble
        return dur

