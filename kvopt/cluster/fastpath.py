"""Lazy runs of decode-only iterations: the cluster engine's second fast path.

After an iteration of a unit that admitted nothing, with an empty queue, the unit's next
iterations are decode-only until the next arrival at it: every running request decodes one
token per iteration until it completes. When even the blocks every request holds at its last
token fit in the pool (``other + sum_i ceil((held_i + r_i - 1) / 16) <= cap``), no iteration of
the run can meet memory pressure, so nothing but an arrival can change the run, and the engine
need not schedule any event for it. :class:`DecodeRun` then computes the run's iterations
only as far as someone looks (the router at an arrival, the arrival that cuts the run, the end
of the simulation), one iteration at a time in O(1) from running sums:

* request ``i`` with ``r_i`` tokens left decodes in iterations ``0 .. r_i - 1`` and frees its
  ``ceil((held_i + r_i - 1) / 16)`` blocks at the end of iteration ``r_i - 1``;
* iteration ``k`` runs ``B_k = #{r_i > k}`` requests reading
  ``C_k = C_{k-1} - sum_{r_i = k} (held_i + k - 1) + B_k`` tokens of KV;
* a request needs a new block in iteration ``k`` iff ``(held_i + k) % 16 == 1``, that is iff
  ``k % 16 == (1 - held_i) % 16``: sixteen counters of the running requests by that residue
  give the growth of iteration ``k`` at once;
* iteration ``k`` ends at ``end_{k-1} + T(B_k, C_k)``: :meth:`StepTime.step_s` written out
  inline, the same floating point operations in the same order as the plain loop (so equal
  bit for bit).
"""

from __future__ import annotations

import numpy as np

from kvopt.cluster.hardware import BLOCK_TOKENS
from kvopt.cluster.steptime import StepTime

__all__ = ["DecodeRun", "decode_table", "last_blocks"]


def last_blocks(held: np.ndarray, rem: np.ndarray) -> np.ndarray:
    """The blocks each request holds in its last iteration, ``ceil((held + rem - 1) / 16)``;
    the run never meets pressure when their sum fits beside the pool's other blocks."""
    return (held + rem + (BLOCK_TOKENS - 2)) // BLOCK_TOKENS


class DecodeRun:
    """The decode-only iterations of a batch from iteration 0 (ending at ``end0``), computed on
    demand. ``ends[k]`` is the end of iteration ``k``; ``used[k - 1]`` and ``active[k - 1]``
    are the pool's allocated blocks and the running requests in iteration ``k >= 1``;
    ``finished`` once the last request's last iteration is known (``ends[-1]``)."""

    def __init__(self, held: np.ndarray, rem: np.ndarray, last: np.ndarray, used0: int,
                 end0: float, steptime: StepTime) -> None:
        order = np.argsort(rem, kind="stable")
        self._rem = rem[order].tolist()
        self._held = held[order].tolist()
        res = (1 - held) % BLOCK_TOKENS
        self._res = res[order].tolist()
        self._last = last[order].tolist()
        self._count = np.bincount(res, minlength=BLOCK_TOKENS).tolist()
        self._p = 0
        self._b = len(self._rem)
        self._ctx = sum(self._held)
        self._used = used0
        self._st = steptime
        self.ends: list[float] = [end0]
        self.used: list[int] = []
        self.active: list[int] = []
        self.finished = False

    def advance(self, t: float) -> None:
        """Compute iterations until one ends at or after ``t`` (or the run is over)."""
        ends = self.ends
        if self.finished or ends[-1] >= t:
            return
        rem, held, res, last, count = self._rem, self._held, self._res, self._last, self._count
        p, b, ctx, used = self._p, self._b, self._ctx, self._used
        st = self._st
        t0, mem0, mem1, flop = st.t0_s, st.mem_fixed_s, st.mem_per_ctx_s, st.flop_per_tok_s
        ar0, ar1 = st.ar_fixed_s, st.ar_per_tok_s
        n = len(rem)
        end = ends[-1]
        k = len(ends)
        while end < t:
            while p < n and rem[p] == k:      # completed at the end of iteration k - 1
                b -= 1
                ctx -= held[p] + k - 1
                used -= last[p]
                count[res[p]] -= 1
                p += 1
            if not b:
                self.finished = True
                break
            ctx += b
            used += count[k % BLOCK_TOKENS]
            mem = mem0 + ctx * mem1               # StepTime.step_s(b, ctx), b > 0
            compute = b * flop
            end = end + (t0 + max(mem, compute) + (ar0 + b * ar1))
            ends.append(end)
            self.used.append(used)
            self.active.append(b)
            k += 1
        self._p, self._b, self._ctx, self._used = p, b, ctx, used


def decode_table(held: np.ndarray, rem: np.ndarray, other: int, cap: int, k_max: int,
                 end0: float, steptime: StepTime
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The first fast path: iterations ``1 .. k_max - 1`` after iteration 0 (ending at
    ``end0``) at once, from a request x iteration table: ``(ends, used, active)`` as in
    :class:`DecodeRun`, cut before the first iteration whose blocks do not fit in ``cap``;
    ``None`` when not even iteration 1 is left or fits. The ends are a cumulative sum in
    order, as the plain loop adds them."""
    if k_max < 2:
        return None
    ks = np.arange(1, k_max, dtype=np.int64)
    live = rem[:, None] > ks                          # decodes in iteration k
    tok = held[:, None] + ks                          # tokens held in iteration k
    active = np.count_nonzero(live, axis=0)
    ctx = (tok * live).sum(axis=0)
    used = other + ((tok + (BLOCK_TOKENS - 1)) // BLOCK_TOKENS * live).sum(axis=0)
    fits = used <= cap
    if not fits.all():
        k_max = int(np.argmin(fits)) + 1
        if k_max < 2:
            return None
    n = k_max - 1
    ends = np.empty(n + 1)
    ends[0] = end0
    ends[1:] = steptime.step_s_array(active[:n], ctx[:n])
    np.cumsum(ends, out=ends)
    return ends, used[:n], active[:n]
