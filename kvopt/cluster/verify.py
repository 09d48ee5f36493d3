"""An independent check of a cluster run, from its iteration and transfer logs alone.

The round-based verifier (:mod:`kvopt.verify`) counts one token per request per global round;
a cluster's units run iterations of different lengths in seconds, so this module restates the
rules for them. From the logs of :class:`kvopt.cluster.engine.Sim` (each iteration: unit,
start, end, pool in blocks, prefills ``(request, tokens, progress)``, decodes
``(request, progress)`` and every resident ``(request, tokens)``; each transfer: kind, request,
source and destination unit, start, end) it checks, with its own arithmetic:

* no pool is exceeded: in every iteration, the blocks of 16 tokens of its unit's residents fit
  in the unit's pool (GPU tier); host memory holds what was swapped out and not back in;
* no request computes before its arrival or in two iterations at once;
* progress is conserved: each computation produces exactly the next token; a prefill covers
  the prompt plus every token produced before it (a recompute), a decode continues the KV it
  has, which must have been moved to a new unit (migration, exchange) or back from the host
  (swap-in) before it is used there, and no request computes while its KV is on the host;
* every request completes once, with exactly its output tokens;
* prefill tokens processed = the prompts + the recomputed tokens.

It also turns the logs into run segments ``(request, unit, start_s, end_s, progress, tier)``.
"""

from __future__ import annotations

import collections
from typing import Any

from kvopt.exceptions import ScheduleError

__all__ = ["segments", "verify_run"]

_EPS = 1e-9
_BLOCK = 16


def _computations(iter_log: list[tuple[Any, ...]]) -> dict[int, list[tuple[Any, ...]]]:
    """Per request, ``(start, end, unit, tokens prefilled or 0, progress)`` in time order."""
    per: dict[int, list[tuple[Any, ...]]] = collections.defaultdict(list)
    for uid, start, end, _cap, prefills, decodes, _res in iter_log:
        for i, tokens, progress in prefills:
            per[i].append((start, end, uid, tokens, progress))
        for i, progress in decodes:
            per[i].append((start, end, uid, 0, progress))
    for comps in per.values():
        comps.sort(key=lambda c: (c[0], c[1]))
    return per


def verify_run(prompt: list[int], output: list[int], arrival: list[float],
               iter_log: list[tuple[Any, ...]], transfer_log: list[tuple[Any, ...]],
               recomputed_tokens: int, prefill_tokens: int) -> dict[str, Any]:
    """Check a run (module docstring); returns ``{"peak_usage": {unit: share}, ...}``.

    Raises
    ------
    ScheduleError
        The first broken rule, naming the request or unit and the time.
    """
    peak: dict[int, float] = {}
    for uid, start, _end, cap, prefills, decodes, residents in iter_log:
        used = sum(-(-tokens // _BLOCK) for _, tokens in residents)
        if used > cap:
            raise ScheduleError(f"unit {uid} at {start:.6f} s holds {used} blocks, over its "
                                f"pool of {cap}")
        peak[uid] = max(peak.get(uid, 0.0), used / cap)
        present = {i for i, _ in residents}
        for i, *_ in list(prefills) + list(decodes):
            if i not in present:
                raise ScheduleError(f"request {i} computes on unit {uid} at {start:.6f} s "
                                    "without KV blocks there")
        held_of = dict(residents)
        for i, progress in decodes:
            held = held_of[i]
            if held != prompt[i] + progress:
                raise ScheduleError(f"request {i} decodes holding {held} tokens, not prompt + "
                                    f"progress = {prompt[i] + progress}")
    moves: dict[int, list[tuple[Any, ...]]] = collections.defaultdict(list)
    host_bytes, peak_host = 0.0, 0.0
    for kind, i, src, dst, start, end, nbytes, _progress in sorted(transfer_log,
                                                                    key=lambda r: r[4]):
        moves[i].append((kind, src, dst, start, end))
        if kind == "swap_out":
            host_bytes += nbytes
        elif kind == "swap_in":
            host_bytes -= nbytes
        if host_bytes < -1e-6:
            raise ScheduleError(f"request {i}: swapped in at {start:.6f} s more than was out")
        peak_host = max(peak_host, host_bytes)
    per = _computations(iter_log)
    total_prefill = 0
    for i in range(len(prompt)):
        comps = per.get(i, [])
        if len(comps) != output[i]:
            raise ScheduleError(f"request {i} produced {len(comps)} tokens, not its output "
                                f"{output[i]}")
        prev_end, prev_unit = float("-inf"), -1
        host = [(m[3], nxt[4]) for m, nxt in zip(moves[i], moves[i][1:], strict=False)
                if m[0] == "swap_out" and nxt[0] == "swap_in"]
        if sum(m[0] == "swap_out" for m in moves[i]) != len(host):
            raise ScheduleError(f"request {i}: a swap-out without its swap-in")
        for k, (start, end, uid, tokens, progress) in enumerate(comps):
            if k == 0 and start < arrival[i] - _EPS:
                raise ScheduleError(f"request {i} runs at {start:.6f} s before its arrival "
                                    f"{arrival[i]:.6f} s")
            if start < prev_end - _EPS:
                raise ScheduleError(f"request {i} runs twice at once at {start:.6f} s")
            if progress != k:
                raise ScheduleError(f"request {i}: computation {k} at {start:.6f} s starts "
                                    f"from progress {progress}")
            if any(a < start + _EPS and start < b - _EPS for a, b in host):
                raise ScheduleError(f"request {i} computes at {start:.6f} s while on the host")
            if tokens:
                if tokens != prompt[i] + progress:
                    raise ScheduleError(f"request {i}: prefill of {tokens} tokens at "
                                        f"{start:.6f} s, not prompt + progress "
                                        f"{prompt[i] + progress}")
                total_prefill += tokens
            elif k == 0:
                raise ScheduleError(f"request {i} decodes before any prefill")
            elif uid != prev_unit and not any(
                    dst == uid and prev_end - _EPS <= e <= start + _EPS
                    for _kind, _src, dst, _s, e in moves[i]):
                raise ScheduleError(f"request {i} decodes on unit {uid} at {start:.6f} s, but "
                                    f"its KV was on unit {prev_unit} and never moved")
            prev_end, prev_unit = end, uid
    if total_prefill != sum(prompt) + recomputed_tokens:
        raise ScheduleError(f"prefill tokens {total_prefill} != prompts {sum(prompt)} + "
                            f"recomputed {recomputed_tokens}")
    if total_prefill != prefill_tokens:
        raise ScheduleError(f"prefill tokens {total_prefill} != the engine's count "
                            f"{prefill_tokens}")
    return {"peak_usage": peak, "peak_host_bytes": peak_host}


def segments(iter_log: list[tuple[Any, ...]], transfer_log: list[tuple[Any, ...]]
             ) -> list[tuple[int, int, float, float, int, str]]:
    """Run segments ``(request, unit, start_s, end_s, progress at start, tier)``: consecutive
    computations of a request on one unit, split at every restart (a prefill after progress);
    host segments from each swap-out to its swap-in (unit ``-1``... the swapping unit)."""
    out: list[tuple[int, int, float, float, int, str]] = []
    host: dict[int, list[tuple[int, float, float, int]]] = collections.defaultdict(list)
    pending: dict[int, tuple[Any, ...]] = {}
    for kind, i, src, _dst, start, end, _nbytes, progress in sorted(transfer_log,
                                                                    key=lambda r: r[4]):
        if kind == "swap_out":
            pending[i] = (src, start, progress)
        elif kind == "swap_in" and i in pending:
            src, s0, p = pending.pop(i)
            host[i].append((src, s0, end, p))
            out.append((i, src, s0, end, p, "host"))
    for i, comps in sorted(_computations(iter_log).items()):
        cur: list[Any] | None = None
        for start, end, uid, tokens, progress in comps:
            parked = cur is not None and any(cur[3] - 1e-9 <= s0 <= start + 1e-9
                                             for _, s0, _, _ in host[i])
            if cur is None or uid != cur[1] or (tokens and progress > 0) or parked:
                if cur is not None:
                    out.append((cur[0], cur[1], cur[2], cur[3], cur[4], "gpu"))
                cur = [i, uid, start, end, progress]
            else:
                cur[3] = end
        if cur is not None:
            out.append((cur[0], cur[1], cur[2], cur[3], cur[4], "gpu"))
    out.sort(key=lambda s: (s[0], s[2]))
    return out
