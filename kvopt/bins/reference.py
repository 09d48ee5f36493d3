"""The plain reference of the static-batch engine: one event at a time, no vectorisation.

It restates the rules of :mod:`kvopt.bins.engine` (whose docstring states them) as a
discrete-event loop over the instants at which something happens: a batch ends, requests
arrive, a timeout expires, the last arrival flushes the bins. At one instant it handles, in
order: the servers that become free; the arrivals (id order); the timeouts (bin order); the
flush (bin order); then it starts queued batches on free servers. It is slow (a Python step per
request) and exists to be compared with the fast engine on many small random cases
(``tests/bins/test_engine.py``); the two must produce the same batches, members, kinds and
times.
"""

from __future__ import annotations

import collections
import heapq
import math

import numpy as np

from kvopt.bins.engine import FLUSH, FULL, KV, TIMEOUT, Batches, EngineConfig, Workload
from kvopt.bins.errors import BinsError

__all__ = ["simulate_reference"]


def _duration(w: Workload, cfg: EngineConfig, members: list[int]) -> float:
    longest = max(float(w.length[i]) for i in members)
    if cfg.time_model is None:
        return cfg.t0 + cfg.t_tok * longest
    prompts = [int(w.prompt[i]) if w.prompt is not None else 0 for i in members]
    total = cfg.time_model.round_time_s(sum(prompts), sum(s * s for s in prompts), 0, 0)
    for r in range(2, math.ceil(longest) + 1):
        context = sum(s + r - 1 for s in prompts)
        total += cfg.time_model.round_time_s(0, 0, len(members), context)
    return total


def simulate_reference(w: Workload, cfg: EngineConfig) -> Batches:
    """Run ``w`` event by event; same result as :func:`kvopt.bins.engine.simulate_batches`."""
    n, b, m = w.num_requests, cfg.batch_size, cfg.servers
    arrival = [float(a) for a in w.arrival]
    kv_need = [float(w.length[i]) + (float(w.prompt[i]) if w.prompt is not None else 0.0)
               for i in range(n)]
    limit = cfg.kv_limit_tokens
    if limit is not None:
        for i in range(n):
            if kv_need[i] > limit:
                raise BinsError(f"request {i} needs {kv_need[i]:g} KV tokens (prompt + output), "
                                f"over the KV limit {limit:g}")
    t_end = arrival[-1] if n else 0.0
    open_ids: list[list[int]] = [[] for _ in range(w.num_bins)]
    open_kv = [0.0] * w.num_bins
    generation = [0] * w.num_bins
    timers: list[tuple[float, int, int]] = []          # (deadline, bin, generation)
    queue: collections.deque[int] = collections.deque()  # batch numbers
    batches: list[dict] = []
    running: list[float] = []                           # end times, a heap
    free = m
    flushed = False
    nxt = 0

    def close(j: int, kind: int, when: float) -> None:
        batches.append({"members": open_ids[j], "bin": j, "kind": kind, "formed": when})
        queue.append(len(batches) - 1)
        open_ids[j] = []
        open_kv[j] = 0.0
        generation[j] += 1

    while True:
        candidates = []
        if running:
            candidates.append(running[0])
        if nxt < n:
            candidates.append(arrival[nxt])
        if timers:
            candidates.append(timers[0][0])
        if not flushed and cfg.flush == "at_end" and n:
            candidates.append(t_end)
        if not candidates:
            break
        now = min(candidates)
        while running and running[0] <= now:
            heapq.heappop(running)
            free += 1
        while nxt < n and arrival[nxt] == now:
            i, j = nxt, int(w.bin[nxt])
            nxt += 1
            if limit is not None and open_ids[j] and open_kv[j] + kv_need[i] > limit:
                close(j, KV, now)
            if not open_ids[j] and cfg.timeout_s is not None:
                heapq.heappush(timers, (arrival[i] + cfg.timeout_s, j, generation[j]))
            open_ids[j].append(i)
            open_kv[j] += kv_need[i]
            if len(open_ids[j]) == b:
                close(j, FULL, now)
        due = []
        while timers and timers[0][0] == now:
            due.append(heapq.heappop(timers))
        for _, j, gen in sorted(due, key=lambda t: t[1]):
            if gen == generation[j] and open_ids[j]:
                close(j, TIMEOUT, now)
        if not flushed and cfg.flush == "at_end" and nxt == n and now == t_end:
            flushed = True
            for j in range(w.num_bins):
                if open_ids[j]:
                    close(j, FLUSH, now)
        while free and queue:
            batch = batches[queue.popleft()]
            batch["start"] = now
            batch["end"] = now + _duration(w, cfg, batch["members"])
            heapq.heappush(running, batch["end"])
            free -= 1
    unserved = sorted(i for ids in open_ids for i in ids)
    ptr = np.zeros(len(batches) + 1, dtype=np.int64)
    np.cumsum([len(x["members"]) for x in batches], out=ptr[1:])
    members = [i for x in batches for i in x["members"]]

    def column(key: str, dtype: type) -> np.ndarray:
        return np.array([x[key] for x in batches], dtype=dtype)

    return Batches(ptr, np.array(members, dtype=np.int64), column("bin", np.int64),
                   column("kind", np.int8), column("formed", np.float64),
                   column("start", np.float64), column("end", np.float64),
                   np.array(unserved, dtype=np.int64))
