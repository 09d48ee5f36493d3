"""KV-centric memory-pressure handlers (spec section 2): recompute, swap, migrate.

* ``recompute`` (vLLM): the most recently arrived running request is preempted, its blocks
  freed, and it goes back to the front of its queue with ``prompt := prompt + generated``; its
  re-prefill is charged like any prefill (:class:`~kvopt.cluster.engine.Handler`).
* ``swap`` (to host): the victim's KV (``c * kv`` bytes) goes to host memory over PCIe. The
  swap-out blocks the replica for its transfer time (vLLM's swap before the forward pass); when
  room returns (above the watermark, before any new admission) the victim is swapped back in
  asynchronously: its blocks are taken at once, it stalls for the transfer, the replica runs on.
* ``migrate`` (Llumnix): pressure is handled by recompute; every 0.5 s, each replica with a
  queue sends its running request with the largest KV to the replica with the most free blocks
  that has an empty queue, while that leaves the destination with more free blocks than the
  source's free-minus-queued. The copy (``c * kv`` over the link) overlaps decoding at the
  source; at the source's first iteration end after it, the request stops, the tokens it added
  meanwhile and the link latency are charged as downtime, then it decodes at the destination.
  Each source migrates one request at a time, the next right after.
"""

from __future__ import annotations

from typing import Any

from kvopt.cluster.engine import RUNNING, STALLED, SWAPPED, Handler, Sim, Unit, blocks

__all__ = ["Migrate", "Recompute", "Swap", "make_handler"]


class Recompute(Handler):
    """vLLM's drop and recompute: the hooks of :class:`Handler` as they are."""

    name = "recompute"


class Swap(Handler):
    """Swap the victim's KV to host memory and back (module docstring)."""

    name = "swap"

    def attach(self, sim: Sim) -> None:
        super().attach(sim)
        self.host_bytes = 0.0

    def _bytes(self, i: int) -> float:
        sim = self.sim
        return (sim.prompt[i] + sim.gen[i]) * sim.preset.kv_bytes_per_token

    def on_pressure(self, unit: Unit, t: float) -> float:
        sim = self.sim
        i = sim.victim(unit)
        unit.running.remove(i)
        sim.release(unit, i)
        nbytes = self._bytes(i)
        dt = sim.net.host_transfer_s(unit.members[0], nbytes)
        sim.state[i] = SWAPPED
        unit.swapped.append(i)
        sim.num_preempted[i] += 1
        sim.counters["preemptions"] += 1
        sim.counters["swap_outs"] += 1
        sim.counters["bytes_swapped"] += nbytes
        self.host_bytes += nbytes
        sim.counters["peak_host_bytes"] = max(sim.counters["peak_host_bytes"], self.host_bytes)
        sim.log_transfer("swap_out", i, unit.uid, -1, t, t + dt, nbytes)
        return dt

    def before_admit(self, unit: Unit, t: float) -> bool:
        sim = self.sim
        while unit.swapped:
            i = unit.swapped[0]
            need = blocks(sim.prompt[i] + sim.gen[i])
            if unit.used + need > unit.cap - unit.wm or unit.resident >= unit.max_running:
                break
            unit.swapped.popleft()
            unit.used += need
            sim.blk[i] = need
            sim.state[i] = STALLED
            sim.stall_since[i] = t
            unit.stalled.add(i)
            nbytes = self._bytes(i)
            dt = sim.net.host_transfer_s(unit.members[0], nbytes)
            sim.counters["bytes_swapped"] += nbytes
            self.host_bytes -= nbytes
            sim.log_transfer("swap_in", i, -1, unit.uid, t, t + dt, nbytes)
            sim.at(t + dt, self._swapped_in, (unit, i), 1)
        return not unit.swapped

    def _swapped_in(self, t: float, arg: tuple[Unit, int]) -> None:
        unit, i = arg
        unit.stalled.discard(i)
        self.sim.state[i] = RUNNING
        self.sim.counters["stall_s"] += t - self.sim.stall_since.pop(i)
        unit.running.append(i)
        self.sim.kick(unit, t)


class Migrate(Handler):
    """Llumnix-style live migration (module docstring); pressure itself by recompute."""

    name = "migrate"

    def attach(self, sim: Sim) -> None:
        super().attach(sim)
        self.moving: dict[int, dict[str, Any]] = {}    # request -> its migration
        self.busy_src: set[int] = set()

    def start(self) -> None:
        self.sim.at(self.sim.cfg.migrate_interval_s, self._check, None, 3)

    def _check(self, t: float, _: Any) -> None:
        sim = self.sim
        for u in sim.units:
            if u.queue and u.uid not in self.busy_src:
                self._try(u, t)
        if sim.completed < len(sim.arrival):
            sim.at(t + sim.cfg.migrate_interval_s, self._check, None, 3)

    def _try(self, src: Unit, t: float) -> None:
        sim = self.sim
        if not src.queue or not src.running:
            return
        dests = [u for u in sim.units if u is not src and u.active and not u.queue
                 and not u.swapped]
        if not dests:
            return
        dest = max(dests, key=lambda u: (u.free, -u.uid))
        i = max((j for j in src.running if j not in self.moving),
                key=lambda j: (sim.prompt[j] + sim.gen[j], -j), default=None)
        if i is None:
            return
        held = sim.prompt[i] + sim.gen[i]
        need = blocks(held) + 1           # one block of room for the tokens added meanwhile
        if dest.free - need < dest.wm or dest.free - need < src.free - src.queued_blocks + \
                sim.blk[i]:
            return
        dest.used += need
        dest.reserved[i] = need
        nbytes = held * sim.preset.kv_bytes_per_token
        dt = sim.net.replica_transfer_s(src.members[0], dest.members[0], nbytes)
        self.moving[i] = {"src": src, "dest": dest, "start": t, "held": held,
                          "bytes": nbytes, "ready": False}
        self.busy_src.add(src.uid)
        sim.at(t + dt, self._copied, i, 1)

    def _cancel(self, i: int, t: float) -> None:
        m = self.moving.pop(i)
        dest = m["dest"]
        dest.used -= dest.reserved.pop(i)
        self.busy_src.discard(m["src"].uid)
        self.sim.counters["migration_aborts"] += 1
        self.sim.counters["bytes_migrated"] += m["bytes"]   # the copy was made anyway
        self._try(m["src"], t)

    def _copied(self, t: float, i: int) -> None:
        m = self.moving[i]
        if i not in m["src"].running:
            self._cancel(i, t)
        else:
            m["ready"] = True

    def after_iteration(self, unit: Unit, t: float) -> None:
        ready = [i for i, m in self.moving.items() if m["src"] is unit and m["ready"]]
        for i in ready:
            self._commit(i, t)

    def _commit(self, i: int, t: float) -> None:
        sim = self.sim
        m = self.moving[i]
        src, dest = m["src"], m["dest"]
        if i not in src.running:
            self._cancel(i, t)
            return
        held = sim.prompt[i] + sim.gen[i]
        need = blocks(held)
        reserved = dest.reserved[i]
        if dest.free + reserved < need:
            self._cancel(i, t)
            return
        self.moving.pop(i)
        self.busy_src.discard(src.uid)
        delta = (held - m["held"]) * sim.preset.kv_bytes_per_token
        downtime = sim.net.replica_latency_s(src.members[0], dest.members[0]) + \
            sim.net.replica_transfer_s(src.members[0], dest.members[0], delta)
        src.running.remove(i)
        sim.release(src, i)
        dest.reserved.pop(i)
        dest.used += need - reserved
        sim.blk[i] = need
        sim.state[i] = STALLED
        sim.stall_since[i] = t
        sim.unit_of[i] = dest.uid
        dest.stalled.add(i)
        nbytes = m["bytes"] + delta
        sim.counters["migrations"] += 1
        sim.counters["bytes_migrated"] += nbytes
        sim.log_transfer("migrate", i, src.uid, dest.uid, m["start"], t + downtime, nbytes)
        sim.at(t + downtime, self._arrived, (dest, i), 1)
        self._try(src, t)

    def _arrived(self, t: float, arg: tuple[Unit, int]) -> None:
        dest, i = arg
        dest.stalled.discard(i)
        self.sim.state[i] = RUNNING
        self.sim.counters["stall_s"] += t - self.sim.stall_since.pop(i)
        dest.running.append(i)
        self.sim.kick(dest, t)


def make_handler(name: str) -> Handler:
    """A fresh handler by its CLI name."""
    if name == "param":
        from kvopt.cluster.param import Param

        return Param()
    return {"recompute": Recompute, "swap": Swap, "migrate": Migrate}[name]()
