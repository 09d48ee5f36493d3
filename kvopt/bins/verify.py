r"""The batch verifier: every number the bins system reports comes from here.

:func:`verify_batches` shares no code with the engines (:mod:`kvopt.bins.engine`,
:mod:`kvopt.bins.reference`): it restates the rules of the static-batch model with its own
arithmetic and checks a set of batches against them, then computes the metrics. Checks:

1. **membership**: every request is in exactly one batch or in the unserved list; a batch holds
   1 to ``B`` requests, all of its bin;
2. **bins are FIFO and batches close for a reason**: within a bin, the batches (in queue order)
   followed by the unserved requests list the bin's requests in id order; a ``full`` batch holds
   ``B`` and forms at its last member's arrival; a ``kv`` batch forms when the bin's next request
   arrives and would not fit; a ``timeout`` batch forms ``timeout_s`` after its first member's
   arrival and the bin's next request (if any) arrives later; a ``flush`` batch forms at the last
   arrival and is its bin's last; unserved requests exist only without flush and timeout, fewer
   than ``B`` per bin (and they fit the KV limit together);
3. **KV limit**: ``sum(prompt + true output) <= M`` for every batch;
4. **central queue**: formation times and start times are non-decreasing in queue order; no
   batch starts before it forms;
5. **batch time**: ``end - start`` is ``t0 + t_tok * max(true lengths)`` of the batch (or the
   time model's seconds, recomputed round by round per batch);
6. **servers**: at most ``m`` batches run at once, and a batch that waits in the queue starts
   only when all ``m`` servers were busy up to that instant.

**Metrics** (:class:`BinsEvaluation`): ``throughput`` = served requests / makespan (the last
batch's end; time starts at 0); ``busy_capacity`` = ``m`` x served / total batch time;
``capacity`` is ``throughput`` for a saturated run (spec B6: count completions per unit time)
and ``busy_capacity`` otherwise (what the servers sustain when never idle; an open run's
throughput is just its arrival rate); latency = batch end - arrival; formation wait = formed -
arrival; queue wait = start - formed. Per bin: served requests, batches, the share of server
time (``busy_share``) and ``slot_use`` = sum of members' lengths / (size x longest), the share
of the static batch's token slots doing useful work.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from kvopt.bins.errors import BatchError

__all__ = ["BinsEvaluation", "verify_batches"]

_FULL, _KV, _TIMEOUT, _FLUSH = 0, 1, 2, 3
_RTOL = 1e-9


@dataclasses.dataclass(frozen=True)
class BinsEvaluation:
    """Metrics of verified batches (module docstring); times in the run's unit."""

    num_requests: int
    num_served: int
    num_unserved: int
    num_batches: int
    makespan: float
    throughput: float
    busy_capacity: float
    capacity: float
    tokens_per_unit: float
    mean_latency: float
    p50_latency: float
    p99_latency: float
    mean_formation_wait: float
    mean_queue_wait: float
    mean_batch_time: float
    mean_batch_size: float
    peak_batch_kv_tokens: float | None
    bin_served: tuple[int, ...]
    bin_batches: tuple[int, ...]
    bin_unserved: tuple[int, ...]
    bin_busy_share: tuple[float, ...]
    bin_slot_use: tuple[float, ...]
    latency: np.ndarray = dataclasses.field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready metrics (without the per-request latencies)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
               if f.name != "latency"}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def _fail(message: str) -> None:
    raise BatchError(message)


def _batch_seconds(cfg: Any, prompts: np.ndarray, longest: float) -> float:
    """Seconds of one static batch under ``cfg.time_model``: prefill round, then decodes."""
    tm = cfg.time_model
    size = len(prompts)
    total = float(tm.round_time_s(int(prompts.sum()), int((prompts**2).sum()), 0, 0))
    decodes = math.ceil(longest) - 1
    if decodes > 0:
        context = int(prompts.sum()) + size * np.arange(1, decodes + 1)
        total += float(np.sum(tm.round_times_s(0, 0, size, context)))
    return total


def _close(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a - b) <= _RTOL * np.maximum(1.0, np.maximum(np.abs(a), np.abs(b)))


def verify_batches(w: Any, cfg: Any, batches: Any) -> BinsEvaluation:
    """Check ``batches`` of the workload ``w`` under the options ``cfg``; return the metrics.

    Raises
    ------
    BatchError
        Naming the batch or request that breaks a rule.
    """
    n, b, m = w.num_requests, cfg.batch_size, cfg.servers
    ptr, members = np.asarray(batches.ptr), np.asarray(batches.members)
    nb = len(batches.bin)
    sizes = np.diff(ptr)
    if len(ptr) != nb + 1 or ptr[0] != 0 or ptr[-1] != len(members):
        _fail("batch pointers do not match the member list")
    if (bad := np.flatnonzero((sizes < 1) | (sizes > b))).size:
        _fail(f"batch {bad[0]} holds {sizes[bad[0]]} requests; must be 1 to B = {b}")
    unserved = np.asarray(batches.unserved, dtype=np.int64)
    everyone = np.concatenate([members, unserved])
    if everyone.size and (everyone.min() < 0 or everyone.max() >= n):
        _fail("a batch names a request that does not exist")
    seen = np.bincount(everyone, minlength=n)
    if (bad := np.flatnonzero(seen != 1)).size:
        i = int(bad[0])
        _fail(f"request {i} is in {seen[i]} batches (unserved list included); must be in one")
    batch_of = np.repeat(np.arange(nb), sizes)
    bin_b = np.asarray(batches.bin)
    if (bad := np.flatnonzero(w.bin[members] != bin_b[batch_of])).size:
        r = int(bad[0])
        _fail(f"request {members[r]} of bin {w.bin[members[r]]} is in batch {batch_of[r]} "
              f"of bin {bin_b[batch_of[r]]}")
    kind = np.asarray(batches.kind)
    formed = np.asarray(batches.formed, dtype=np.float64)
    start = np.asarray(batches.start, dtype=np.float64)
    end = np.asarray(batches.end, dtype=np.float64)
    arrival, length = w.arrival, w.length

    # 2. FIFO bins and closing reasons --------------------------------------------------------
    by_bin = np.lexsort((np.arange(len(members)), bin_b[batch_of]))
    seq_ids, seq_bins = members[by_bin], bin_b[batch_of][by_bin]
    un_bins = w.bin[unserved]
    all_ids = np.concatenate([seq_ids, unserved])
    all_bins = np.concatenate([seq_bins, un_bins])
    order = np.lexsort((np.concatenate([np.arange(len(seq_ids)), len(seq_ids) + np.arange(
        len(unserved))]), all_bins))
    ids_sorted, bins_sorted = all_ids[order], all_bins[order]
    same = bins_sorted[1:] == bins_sorted[:-1]
    if (bad := np.flatnonzero(same & (ids_sorted[1:] <= ids_sorted[:-1]))).size:
        _fail(f"bin {bins_sorted[bad[0]]} is not served first-in first-out: request "
              f"{ids_sorted[bad[0] + 1]} follows request {ids_sorted[bad[0]]}")
    first = members[ptr[:-1]] if nb else np.empty(0, dtype=np.int64)
    last = members[ptr[1:] - 1] if nb else np.empty(0, dtype=np.int64)
    # the bin's next request after each batch: the request after its last member in bin order
    pos_in_seq = np.empty(n, dtype=np.int64)
    pos_in_seq[ids_sorted] = np.arange(n)
    nxt_pos = pos_in_seq[last] + 1 if nb else np.empty(0, dtype=np.int64)
    has_next = nxt_pos < n
    has_next[has_next] = bins_sorted[nxt_pos[has_next]] == bin_b[has_next]
    nxt = np.where(has_next, ids_sorted[np.minimum(nxt_pos, n - 1)], -1)
    kv_need = length + (w.prompt if w.prompt is not None else 0.0)
    batch_kv = np.add.reduceat(kv_need[members], ptr[:-1]) if nb else np.empty(0)
    t_end = float(arrival[-1]) if n else 0.0
    if (bad := np.flatnonzero((kind == _FULL) != (sizes == b))).size:
        _fail(f"batch {bad[0]} holds {sizes[bad[0]]} requests but is marked "
              f"{'full' if kind[bad[0]] == _FULL else 'partial'} (B = {b})")
    checks = [
        (kind == _FULL, formed == arrival[last], "full: must form at its last member's arrival"),
        (kind == _KV, has_next & (formed == arrival[np.maximum(nxt, 0)])
         & (batch_kv + kv_need[np.maximum(nxt, 0)] > (cfg.kv_limit_tokens or math.inf)),
         "kv: must form when the bin's next request arrives and does not fit"),
        (kind == _TIMEOUT, (cfg.timeout_s is not None) & (formed == arrival[first] + (
            cfg.timeout_s or 0.0)) & (~has_next | (arrival[np.maximum(nxt, 0)] > formed)),
         "timeout: must form timeout_s after its first member, before the bin's next arrival"),
        (kind == _FLUSH, (cfg.flush == "at_end") & ~has_next & (formed == t_end),
         "flush: must be its bin's last batch, formed at the last arrival"),
    ]
    for rows, ok, what in checks:
        if (bad := np.flatnonzero(rows & ~ok)).size:
            _fail(f"batch {bad[0]} ({what})")
    if (bad := np.flatnonzero((kind < 0) | (kind > _FLUSH))).size:
        _fail(f"batch {bad[0]} has unknown kind {kind[bad[0]]}")
    if (bad := np.flatnonzero(formed < np.maximum.reduceat(arrival[members], ptr[:-1])
                              if nb else np.empty(0, dtype=np.int64))).size:
        _fail(f"batch {bad[0]} forms at {formed[bad[0]]} before a member arrives")
    if cfg.timeout_s is not None and nb and (bad := np.flatnonzero(
            np.maximum.reduceat(arrival[members], ptr[:-1]) > arrival[first] + cfg.timeout_s)
            ).size:
        _fail(f"batch {bad[0]} takes a request arriving after its timeout")
    if unserved.size:
        if cfg.flush != "none" or cfg.timeout_s is not None:
            _fail(f"request {unserved[0]} is never served, but flush or timeout is set")
        per_bin = np.bincount(un_bins, minlength=w.num_bins)
        if (bad := np.flatnonzero(per_bin >= b)).size:
            _fail(f"bin {bad[0]} leaves {per_bin[bad[0]]} requests unserved; a full batch of "
                  f"B = {b} should have formed")
        if cfg.kv_limit_tokens is not None:
            left_kv = np.bincount(un_bins, weights=kv_need[unserved], minlength=w.num_bins)
            if (bad := np.flatnonzero(left_kv > cfg.kv_limit_tokens)).size:
                _fail(f"bin {bad[0]} leaves requests unserved that overflow the KV limit; a "
                      "kv batch should have formed")

    # 3. KV limit -------------------------------------------------------------------------------
    if cfg.kv_limit_tokens is not None and (
            bad := np.flatnonzero(batch_kv > cfg.kv_limit_tokens)).size:
        _fail(f"batch {bad[0]} needs {batch_kv[bad[0]]:g} KV tokens, over the limit "
              f"{cfg.kv_limit_tokens:g}")

    # 4. central queue --------------------------------------------------------------------------
    if (bad := np.flatnonzero(np.diff(formed) < 0)).size:
        _fail(f"batch {bad[0] + 1} forms before batch {bad[0]} but is queued after it")
    if (bad := np.flatnonzero(np.diff(start) < 0)).size:
        _fail(f"batch {bad[0] + 1} starts before batch {bad[0]}, ahead of it in the queue")
    if (bad := np.flatnonzero(start < formed)).size:
        _fail(f"batch {bad[0]} starts at {start[bad[0]]} before it forms at {formed[bad[0]]}")

    # 5. batch time -----------------------------------------------------------------------------
    longest = np.maximum.reduceat(length[members], ptr[:-1]) if nb else np.empty(0)
    if cfg.time_model is None:
        expected = cfg.t0 + cfg.t_tok * longest
    else:
        prompt = w.prompt if w.prompt is not None else np.zeros(n, dtype=np.int64)
        expected = np.array([_batch_seconds(cfg, prompt[members[ptr[j]:ptr[j + 1]]],
                                            float(longest[j])) for j in range(nb)])
    if (bad := np.flatnonzero(~_close(end - start, expected))).size:
        j = int(bad[0])
        _fail(f"batch {j} runs {end[j] - start[j]} but its longest member needs {expected[j]}")

    # 6. servers --------------------------------------------------------------------------------
    starts_sorted, ends_sorted = np.sort(start), np.sort(end)
    running_after = (np.searchsorted(starts_sorted, start, side="right")
                     - np.searchsorted(ends_sorted, start, side="right"))
    if (bad := np.flatnonzero(running_after > m)).size:
        _fail(f"{running_after[bad[0]]} batches run at time {start[bad[0]]}, over {m} servers")
    running_before = (np.searchsorted(starts_sorted, start, side="left")
                      - np.searchsorted(ends_sorted, start, side="left"))
    if (bad := np.flatnonzero((start > formed) & (running_before < m))).size:
        j = int(bad[0])
        _fail(f"batch {j} waits from {formed[j]} to {start[j]} while a server is idle")

    # metrics -----------------------------------------------------------------------------------
    served = len(members)
    busy = float(np.sum(end - start))
    makespan = float(end.max()) if nb else 0.0
    completion = end[batch_of]
    latency = completion - arrival[members]
    throughput = served / makespan if makespan > 0 else 0.0
    busy_capacity = m * served / busy if busy > 0 else 0.0
    k = w.num_bins
    bin_busy = np.bincount(bin_b, weights=end - start, minlength=k)
    useful = np.bincount(bin_b, weights=np.add.reduceat(length[members], ptr[:-1])
                         if nb else np.empty(0), minlength=k)
    slots = np.bincount(bin_b, weights=sizes * longest, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        slot_use = np.where(slots > 0, useful / slots, math.nan)
    latency.flags.writeable = False
    return BinsEvaluation(
        num_requests=n, num_served=served, num_unserved=len(unserved), num_batches=nb,
        makespan=makespan, throughput=throughput, busy_capacity=busy_capacity,
        capacity=throughput if cfg.saturated else busy_capacity,
        tokens_per_unit=float(length[members].sum()) / makespan if makespan > 0 else 0.0,
        mean_latency=float(latency.mean()) if served else math.nan,
        p50_latency=float(np.percentile(latency, 50)) if served else math.nan,
        p99_latency=float(np.percentile(latency, 99)) if served else math.nan,
        mean_formation_wait=float(np.mean(formed[batch_of] - arrival[members]))
        if served else math.nan,
        mean_queue_wait=float(np.mean((start - formed)[batch_of])) if served else math.nan,
        mean_batch_time=busy / nb if nb else math.nan,
        mean_batch_size=served / nb if nb else math.nan,
        peak_batch_kv_tokens=float(batch_kv.max()) if nb and w.prompt is not None else None,
        bin_served=tuple(int(x) for x in np.bincount(bin_b, weights=sizes, minlength=k)),
        bin_batches=tuple(int(x) for x in np.bincount(bin_b, minlength=k)),
        bin_unserved=tuple(int(x) for x in np.bincount(w.bin[unserved], minlength=k)),
        bin_busy_share=tuple(float(x) for x in (bin_busy / busy if busy > 0 else bin_busy)),
        bin_slot_use=tuple(float(x) for x in slot_use),
        latency=latency,
    )
