r"""The batch-atomic static-batch engine of Multi-Bin Batching (spec Part B, B2 and B7).

**Model.** Requests arrive at times ``a_0 <= a_1 <= ...`` (position = id), each with a true
output length and an assigned bin. Every bin is a FIFO queue; a bin *forms* a batch and sends it
to one central FIFO queue when

- it holds ``B`` requests (``full``, at the arrival of the ``B``-th);
- with a KV limit ``M``, the next request of the bin would push the batch's KV need
  ``sum(prompt + true output)`` over ``M`` (``kv``, at that request's arrival; it starts the next
  batch);
- with ``timeout_s``, ``timeout_s`` after its first member arrived (``timeout``; a request
  arriving exactly then still joins);
- with ``flush="at_end"``, at the last arrival, for every bin still holding requests (``flush``).

With ``flush="none"`` and no timeout a bin's last ``< B`` requests are never served (the tail of
an unbounded backlog); they are reported as unserved. At one instant, arrivals are handled in id
order, then timeouts in bin order, then the flush in bin order; that is the order in which the
batches formed at that instant enter the central queue.

Arrivals: :func:`make_workload` draws a saturated backlog or all at 0 (both at time 0), a Poisson
process, or takes given times; :func:`trace_workload` replays a trace's own timestamps.

``m`` servers take batches from the central queue in order; a batch starts at
``max(formed, earliest free server)`` and lasts ``t0 + t_tok * max(true lengths)`` (the theory:
``t0 = 0``, ``t_tok = 1``), or, with a profile's time model, the seconds of its rounds: round 1
prefills every member (``P = sum s_i``, ``Q = sum s_i^2``) and produces its first token, rounds
``r = 2 .. L`` (``L = ceil(max true length)``) decode *every* member, finished ones padded as a
static batch does, with ``s_i + r - 1`` KV tokens each.

**Speed.** Forming batches is vectorised (a stable sort by bin, then a reshape) when there is no
KV limit and no timeout, and one ``searchsorted`` step per batch otherwise; the servers are one
plain loop over batches (``n / B`` steps), a heap for ``m > 1``. The plain event-by-event engine
:mod:`kvopt.bins.reference` must produce the same batches (``tests/bins/test_engine.py``), and
every run goes through :func:`kvopt.bins.verify.verify_batches` before any number is reported.
"""

from __future__ import annotations

import dataclasses
import heapq
import math
import os
from typing import Any

import numpy as np

from kvopt.bins.edges import Oracle, Predictor, assign_bins, bin_edges
from kvopt.bins.errors import BinsError
from kvopt.bins.lengths import Empirical, LengthModel, read_trace_lengths
from kvopt.bins.verify import BinsEvaluation, verify_batches
from kvopt.time_model import TimeModel

__all__ = [
    "ARRIVALS",
    "FLUSH",
    "FLUSH_KINDS",
    "FULL",
    "KIND_NAMES",
    "KV",
    "TIMEOUT",
    "Batches",
    "BinsRun",
    "EngineConfig",
    "Workload",
    "batch_durations",
    "form_batches",
    "make_workload",
    "poisson_arrivals",
    "run",
    "serve",
    "simulate_batches",
    "trace_workload",
]

FULL, KV, TIMEOUT, FLUSH = 0, 1, 2, 3
KIND_NAMES = ("full", "kv", "timeout", "flush")
FLUSH_KINDS = ("none", "at_end")
ARRIVALS = ("saturated", "zero", "poisson")


def _frozen(arr: np.ndarray) -> np.ndarray:
    arr.flags.writeable = False
    return arr


# --------------------------------------------------------------------------- inputs
@dataclasses.dataclass(frozen=True, eq=False)
class Workload:
    """Requests of one run: read-only columns, index = request id = arrival order.

    Parameters
    ----------
    arrival
        Arrival times (non-decreasing, >= 0), in the run's time unit.
    length
        True output lengths in tokens (> 0; real values allowed, as in the theory).
    bin
        Assigned bin of every request, in ``0 .. num_bins - 1``.
    num_bins
        ``k``.
    prompt
        Prompt tokens (>= 0), needed by a KV limit and by a profile's time model.
    true_bin
        The bin the true length falls in (reports only).
    edges
        The bin edges used (reports only).

    Raises
    ------
    BinsError
        Naming the field and the first bad request.
    """

    arrival: np.ndarray
    length: np.ndarray
    bin: np.ndarray
    num_bins: int
    prompt: np.ndarray | None = None
    true_bin: np.ndarray | None = None
    edges: np.ndarray | None = None

    def __post_init__(self) -> None:
        if isinstance(self.num_bins, bool) or not isinstance(self.num_bins, (int, np.integer)) \
                or self.num_bins < 1:
            raise BinsError(f"num_bins must be a positive integer, got {self.num_bins!r}")
        arrival = np.array(self.arrival, dtype=np.float64)
        length = np.array(self.length, dtype=np.float64)
        n = len(arrival)
        if arrival.ndim != 1 or length.shape != (n,):
            raise BinsError(f"length has {length.size} values but arrival has {n}")
        if (bad := np.flatnonzero(~np.isfinite(arrival) | (arrival < 0))).size:
            raise BinsError(f"arrival of request {bad[0]} is {arrival[bad[0]]}; must be >= 0")
        if (bad := np.flatnonzero(np.diff(arrival) < 0)).size:
            raise BinsError(f"arrivals must be non-decreasing: request {bad[0] + 1} arrives at "
                            f"{arrival[bad[0] + 1]}, before request {bad[0]}")
        if (bad := np.flatnonzero(~np.isfinite(length) | (length <= 0))).size:
            raise BinsError(f"length of request {bad[0]} is {length[bad[0]]}; must be > 0")
        columns = {"arrival": arrival, "length": length,
                   "bin": self._ints("bin", self.bin, n, 0, self.num_bins - 1)}
        if self.prompt is not None:
            columns["prompt"] = self._ints("prompt", self.prompt, n, 0, None)
        if self.true_bin is not None:
            columns["true_bin"] = self._ints("true_bin", self.true_bin, n, 0, self.num_bins - 1)
        if self.edges is not None:
            columns["edges"] = np.array(self.edges, dtype=np.float64)
        for name, arr in columns.items():
            object.__setattr__(self, name, _frozen(arr))
        object.__setattr__(self, "num_bins", int(self.num_bins))

    @staticmethod
    def _ints(name: str, values: Any, n: int, lo: int, hi: int | None) -> np.ndarray:
        raw = np.asarray(values)
        arr = raw.astype(np.int64)
        if arr.shape != (n,) or not np.array_equal(arr, raw):
            raise BinsError(f"{name} must hold {n} integers")
        if (bad := np.flatnonzero((arr < lo) | ((arr > hi) if hi is not None else False))).size:
            raise BinsError(f"{name} of request {bad[0]} is {arr[bad[0]]}; must lie in "
                            f"[{lo}, {'inf' if hi is None else hi}]")
        return arr.copy()

    @property
    def num_requests(self) -> int:
        return len(self.arrival)


@dataclasses.dataclass(frozen=True)
class EngineConfig:
    """Options of a run (module docstring); errors name the option."""

    batch_size: int
    servers: int = 1
    t0: float = 0.0
    t_tok: float = 1.0
    kv_limit_tokens: float | None = None
    flush: str = "none"
    timeout_s: float | None = None
    time_model: TimeModel | None = None
    saturated: bool = False

    def __post_init__(self) -> None:
        for name in ("batch_size", "servers"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise BinsError(f"{name} must be a positive integer, got {v!r}")
        if not (math.isfinite(self.t0) and self.t0 >= 0):
            raise BinsError(f"t0 must be finite and >= 0, got {self.t0}")
        if not (math.isfinite(self.t_tok) and self.t_tok > 0):
            raise BinsError(f"t_tok must be finite and > 0, got {self.t_tok}")
        if self.kv_limit_tokens is not None and not self.kv_limit_tokens > 0:
            raise BinsError(f"kv_limit_tokens must be > 0, got {self.kv_limit_tokens}")
        if self.flush not in FLUSH_KINDS:
            raise BinsError(f"flush must be one of {', '.join(FLUSH_KINDS)}, got {self.flush!r}")
        if self.timeout_s is not None and not (math.isfinite(self.timeout_s)
                                               and self.timeout_s > 0):
            raise BinsError(f"timeout_s must be finite and > 0, got {self.timeout_s}")
        if self.time_model is not None and (self.t0 != 0 or self.t_tok != 1):
            raise BinsError("t0 and t_tok cannot be set together with a time model")


@dataclasses.dataclass(frozen=True, eq=False)
class Batches:
    """Batches in central-queue order, as CSR: batch ``b`` holds
    ``members[ptr[b]:ptr[b + 1]]`` (in their bin's FIFO order).

    ``kind`` is one of :data:`FULL`, :data:`KV`, :data:`TIMEOUT`, :data:`FLUSH`; ``formed``,
    ``start`` and ``end`` are times; ``unserved`` lists the requests never batched.
    """

    ptr: np.ndarray
    members: np.ndarray
    bin: np.ndarray
    kind: np.ndarray
    formed: np.ndarray
    start: np.ndarray
    end: np.ndarray
    unserved: np.ndarray

    @property
    def num_batches(self) -> int:
        return len(self.bin)

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.ptr)


# --------------------------------------------------------------------------- workloads
def poisson_arrivals(num_requests: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Arrival times of a Poisson process of ``rate`` per unit time (first gap included)."""
    if not (math.isfinite(rate) and rate > 0):
        raise BinsError(f"rate must be a positive number, got {rate}")
    return np.cumsum(rng.exponential(1.0 / rate, size=num_requests))


def make_workload(
    lengths: LengthModel, num_requests: int, *, num_bins: int, seed: int,
    arrivals: str | np.ndarray = "saturated", rate: float | None = None,
    edges: str | np.ndarray = "equal_mass", predictor: Predictor | None = None,
    prompt_tokens: int | None = None,
) -> Workload:
    """Draw a workload: lengths, arrivals and assigned bins from three independent streams.

    ``SeedSequence(seed).spawn(3)`` gives the streams of the lengths (trace rows), the arrivals
    and the predictor, so runs that differ only in ``num_bins`` or the predictor see the same
    lengths and arrivals (common random numbers).

    Parameters
    ----------
    arrivals
        ``"saturated"`` or ``"zero"`` (all at 0), ``"poisson"`` (needs ``rate``) or an array of
        non-decreasing times (a trace's own timestamps).
    edges
        An edge kind of :func:`kvopt.bins.edges.bin_edges` or the edges themselves.
    predictor
        Default :class:`~kvopt.bins.edges.Oracle`.
    prompt_tokens
        Prompt length of every request; default: the trace's own prompts, else none.
    """
    if isinstance(num_requests, bool) or not isinstance(num_requests, (int, np.integer)) \
            or num_requests < 1:
        raise BinsError(f"requests must be a positive integer, got {num_requests!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise BinsError(f"seed must be an integer >= 0, got {seed!r}")
    len_ss, arr_ss, pred_ss = np.random.SeedSequence(int(seed)).spawn(3)
    len_rng = np.random.default_rng(len_ss)
    prompt = None
    if isinstance(lengths, Empirical):
        rows = lengths.sample_rows(len_rng, num_requests)
        length = lengths.values[rows]
        if lengths.prompts is not None:
            prompt = lengths.prompts[rows]
    else:
        length = lengths.sample(len_rng, num_requests)
    if prompt_tokens is not None:
        prompt = np.full(num_requests, int(prompt_tokens), dtype=np.int64)
    if isinstance(arrivals, str):
        if arrivals in ("saturated", "zero"):
            arrival = np.zeros(num_requests)
        elif arrivals == "poisson":
            if rate is None:
                raise BinsError("Poisson arrivals need a rate")
            arrival = poisson_arrivals(num_requests, rate, np.random.default_rng(arr_ss))
        else:
            raise BinsError(f"arrivals must be one of {', '.join(ARRIVALS)} or times, "
                            f"got {arrivals!r}")
    else:
        arrival = np.asarray(arrivals, dtype=np.float64)
        if arrival.shape != (num_requests,):
            raise BinsError(f"{arrival.size} arrival times for {num_requests} requests")
    return _binned(arrival, length, prompt, lengths, num_bins, edges, predictor, pred_ss)


def _binned(arrival: np.ndarray, length: np.ndarray, prompt: np.ndarray | None,
            lengths: LengthModel, num_bins: int, edges: str | np.ndarray,
            predictor: Predictor | None, pred_ss: np.random.SeedSequence) -> Workload:
    """Cut ``lengths`` into bins, assign every request, build the workload."""
    cut = bin_edges(lengths, num_bins, edges) if isinstance(edges, str) else np.asarray(edges)
    if len(cut) != num_bins + 1:
        raise BinsError(f"{len(cut)} edges for {num_bins} bins; expected {num_bins + 1}")
    true_bin = assign_bins(length, cut)
    pred = Oracle() if predictor is None else predictor
    assigned = pred.assign(true_bin, num_bins, np.random.default_rng(pred_ss))
    return Workload(arrival, length, assigned, num_bins, prompt=prompt, true_bin=true_bin,
                    edges=cut)


def trace_workload(
    path: str | os.PathLike[str], *, num_bins: int, seed: int,
    num_requests: int | None = None, edges: str | np.ndarray = "equal_mass",
    predictor: Predictor | None = None,
) -> Workload:
    """The first ``num_requests`` rows of a trace with timestamps, replayed as they came: own
    arrival times (seconds from the first request), output lengths and prompts. Edges are cut
    from these rows' lengths; ``seed`` drives the predictor (the third stream of
    :func:`make_workload`).

    Raises
    ------
    BinsError
        When the file has no timestamps, or on a bad argument.
    """
    cols = read_trace_lengths(path)
    if "arrival_s" not in cols:
        raise BinsError(f"{path}: the trace has no timestamps; draw arrivals instead")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise BinsError(f"seed must be an integer >= 0, got {seed!r}")
    n = len(cols["output"]) if num_requests is None else min(num_requests, len(cols["output"]))
    if n < 1:
        raise BinsError(f"requests must be a positive integer, got {num_requests!r}")
    order = np.argsort(cols["arrival_s"][:n], kind="stable")
    arrival = cols["arrival_s"][:n][order]
    length = cols["output"][:n][order].astype(np.float64)
    prompt = cols["prompt"][:n][order]
    pred_ss = np.random.SeedSequence(int(seed)).spawn(3)[2]
    dist = Empirical(length, label=f"trace:{os.path.basename(path)}")
    return _binned(arrival - arrival[0], length, prompt, dist, num_bins, edges, predictor,
                   pred_ss)


# --------------------------------------------------------------------------- forming batches
def _reorder(ptr: np.ndarray, members: np.ndarray, perm: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """CSR ``(ptr, members)`` with its rows taken in the order ``perm``."""
    sizes = np.diff(ptr)[perm]
    new_ptr = np.zeros(len(perm) + 1, dtype=np.int64)
    np.cumsum(sizes, out=new_ptr[1:])
    gather = np.repeat(ptr[:-1][perm] - new_ptr[:-1], sizes) + np.arange(new_ptr[-1])
    return new_ptr, members[gather]


def _form_plain(w: Workload, cfg: EngineConfig, order: np.ndarray, first: np.ndarray,
                counts: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Vectorised forming: no KV limit, no timeout. Returns parts and unserved ids."""
    b, k, n = cfg.batch_size, w.num_bins, w.num_requests
    num_full = counts // b
    batch_bin = np.repeat(np.arange(k, dtype=np.int64), num_full)
    nth = np.arange(len(batch_bin)) - np.repeat(np.cumsum(num_full) - num_full, num_full)
    start_pos = first[batch_bin] + nth * b
    members = order[(start_pos[:, None] + np.arange(b)).ravel()]
    completing = order[start_pos + b - 1]
    parts = [np.arange(len(batch_bin) + 1, dtype=np.int64) * b, members, batch_bin,
             np.full(len(batch_bin), FULL, dtype=np.int8), w.arrival[completing], completing]
    rest = np.flatnonzero(counts - num_full * b)
    tails = [order[first[j] + num_full[j] * b:first[j] + counts[j]] for j in rest]
    if cfg.flush == "at_end" and len(rest):
        t_end = float(w.arrival[-1])
        sizes = np.array([len(t) for t in tails], dtype=np.int64)
        parts = [np.concatenate([parts[0], parts[0][-1] + np.cumsum(sizes)]),
                 np.concatenate([members, *tails]),
                 np.concatenate([batch_bin, rest]),
                 np.concatenate([parts[3], np.full(len(rest), FLUSH, dtype=np.int8)]),
                 np.concatenate([parts[4], np.full(len(rest), t_end)]),
                 np.concatenate([completing, n + w.num_bins + rest])]
        tails = []
    unserved = np.concatenate(tails) if tails else np.empty(0, dtype=np.int64)
    return parts, unserved


def _form_scan(w: Workload, cfg: EngineConfig, order: np.ndarray, first: np.ndarray,
               counts: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Forming with a KV limit or a timeout: one ``searchsorted`` step per batch."""
    b, n = cfg.batch_size, w.num_requests
    limit, timeout = cfg.kv_limit_tokens, cfg.timeout_s
    t_end = float(w.arrival[-1])
    kv = w.length + (w.prompt if w.prompt is not None else 0.0)
    if limit is not None and (bad := np.flatnonzero(kv > limit)).size:
        i = int(bad[0])
        raise BinsError(f"request {i} needs {kv[i]:g} KV tokens (prompt + output), over the "
                        f"KV limit {limit:g}")
    sizes: list[int] = []
    bins: list[int] = []
    kinds: list[int] = []
    formed: list[float] = []
    keys: list[int] = []
    chunks: list[np.ndarray] = []
    unserved: list[np.ndarray] = []
    for j in np.flatnonzero(counts):
        ids = order[first[j]:first[j] + counts[j]]
        arr = w.arrival[ids]
        cum = np.cumsum(kv[ids]) if limit is not None else None
        total = len(ids)
        pos = 0
        while pos < total:
            e_kv = e_to = total + 1
            deadline = math.inf
            if cum is not None and limit is not None:
                base = float(cum[pos - 1]) if pos else 0.0
                e_kv = int(np.searchsorted(cum, base + limit, side="right"))
            if timeout is not None:
                deadline = float(arr[pos]) + timeout
                e_to = int(np.searchsorted(arr, deadline, side="right"))
            end = min(pos + b, e_kv, e_to, total)
            if end - pos == b:
                kind, when, key = FULL, float(arr[end - 1]), int(ids[end - 1])
            elif end == e_kv and e_kv < min(e_to, total):
                kind, when, key = KV, float(arr[end]), int(ids[end])
            elif (end == e_to < total) or (  # the next arrives late, or the bin ran dry
                    timeout is not None and (cfg.flush == "none" or deadline <= t_end)):
                kind, when, key = TIMEOUT, deadline, n + int(j)
            elif cfg.flush == "at_end":
                kind, when, key = FLUSH, t_end, n + w.num_bins + int(j)
            else:
                unserved.append(ids[pos:])
                break
            sizes.append(end - pos)
            bins.append(int(j))
            kinds.append(kind)
            formed.append(when)
            keys.append(key)
            chunks.append(ids[pos:end])
            pos = end
    ptr = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(np.array(sizes, dtype=np.int64), out=ptr[1:])
    members = np.concatenate(chunks) if chunks else np.empty(0, dtype=np.int64)
    parts = [ptr, members, np.array(bins, dtype=np.int64), np.array(kinds, dtype=np.int8),
             np.array(formed, dtype=np.float64), np.array(keys, dtype=np.int64)]
    return parts, (np.concatenate(unserved) if unserved else np.empty(0, dtype=np.int64))


def form_batches(w: Workload, cfg: EngineConfig
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                            np.ndarray]:
    """``(ptr, members, bin, kind, formed, unserved)``, batches in central-queue order."""
    order = np.argsort(w.bin, kind="stable")
    counts = np.bincount(w.bin, minlength=w.num_bins)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    if w.num_requests == 0:
        empty = np.empty(0, dtype=np.int64)
        return (np.zeros(1, dtype=np.int64), empty, empty, np.empty(0, dtype=np.int8),
                np.empty(0), empty)
    scan = cfg.kv_limit_tokens is not None or cfg.timeout_s is not None
    parts, unserved = (_form_scan if scan else _form_plain)(w, cfg, order, first, counts)
    ptr, members, bins, kinds, formed, keys = parts
    # one instant's batches: arrivals by id (keys < n), then timeouts by bin (n + bin), then
    # the flush by bin (n + num_bins + bin), as the reference's event loop forms them
    perm = np.lexsort((keys, formed))
    ptr, members = _reorder(ptr, members, perm)
    return ptr, members, bins[perm], kinds[perm], formed[perm], np.sort(unserved)


# --------------------------------------------------------------------------- serving
def _profile_durations(w: Workload, tm: TimeModel, ptr: np.ndarray, members: np.ndarray,
                       longest: np.ndarray) -> np.ndarray:
    """Seconds of every batch under the time model ``tm``, all rounds evaluated at once."""
    sizes = np.diff(ptr).astype(np.float64)
    prompt = (w.prompt if w.prompt is not None else np.zeros(w.num_requests, dtype=np.int64)
              ).astype(np.float64)[members]
    p = np.add.reduceat(prompt, ptr[:-1])
    q = np.add.reduceat(prompt**2, ptr[:-1])
    out = np.array(tm.round_times_s(p, q, np.zeros_like(p), np.zeros_like(p)), dtype=np.float64)
    rounds = np.ceil(longest).astype(np.int64) - 1      # decode rounds r = 2 .. L
    per_chunk = max(1, (1 << 22) // max(1, int(rounds.max())))
    for lo in range(0, len(rounds), per_chunk):
        r = rounds[lo:lo + per_chunk]
        batch = np.repeat(np.arange(lo, lo + len(r)), r)
        offsets = np.arange(int(r.sum())) - np.repeat(np.cumsum(r) - r, r)
        context = p[batch] + sizes[batch] * (offsets + 1)
        times = tm.round_times_s(np.zeros_like(context), np.zeros_like(context), sizes[batch],
                                 context)
        out[lo:lo + len(r)] += np.bincount(batch - lo, weights=times, minlength=len(r))
    return out


def batch_durations(w: Workload, cfg: EngineConfig, ptr: np.ndarray, members: np.ndarray
                    ) -> np.ndarray:
    """``t0 + t_tok * max(true lengths)`` of every batch, or the time model's seconds."""
    if len(members) == 0:
        return np.empty(0)
    longest = np.maximum.reduceat(w.length[members], ptr[:-1])
    if cfg.time_model is not None:
        out = _profile_durations(w, cfg.time_model, ptr, members, longest)
        if (bad := np.flatnonzero(~(out > 0))).size:
            raise BinsError(f"the time model gives batch {bad[0]} a duration of {out[bad[0]]} s; "
                            "batches must take time (give the requests prompts)")
        return out
    return cfg.t0 + cfg.t_tok * longest


def serve(formed: np.ndarray, durations: np.ndarray, servers: int
          ) -> tuple[np.ndarray, np.ndarray]:
    """Start and end of every batch: FIFO over ``servers``, start ``max(formed, free)``."""
    num_batches = len(formed)
    if servers >= num_batches:
        start = formed.astype(np.float64).copy()
    else:
        out: list[float] = []
        if servers == 1:
            free = -math.inf
            for f, d in zip(formed.tolist(), durations.tolist(), strict=True):
                s = f if f > free else free
                out.append(s)
                free = s + d
        else:
            heap = [-math.inf] * servers
            for f, d in zip(formed.tolist(), durations.tolist(), strict=True):
                s = f if f > heap[0] else heap[0]
                out.append(s)
                heapq.heapreplace(heap, s + d)
        start = np.array(out, dtype=np.float64)
    return start, start + durations


def simulate_batches(w: Workload, cfg: EngineConfig) -> Batches:
    """Form and serve the batches of ``w`` (verify them before reporting anything)."""
    ptr, members, bins, kinds, formed, unserved = form_batches(w, cfg)
    durations = batch_durations(w, cfg, ptr, members)
    start, end = serve(formed, durations, cfg.servers)
    return Batches(*(_frozen(np.asarray(a)) for a in (ptr, members, bins, kinds, formed, start,
                                                      end, unserved)))


@dataclasses.dataclass(frozen=True, eq=False)
class BinsRun:
    """A run's inputs, its batches and their verified metrics."""

    workload: Workload
    config: EngineConfig
    batches: Batches
    evaluation: BinsEvaluation


def run(w: Workload, cfg: EngineConfig) -> BinsRun:
    """Simulate, then verify (:func:`kvopt.bins.verify.verify_batches`); the metrics come from
    the verifier only."""
    batches = simulate_batches(w, cfg)
    return BinsRun(w, cfg, batches, verify_batches(w, cfg, batches))
