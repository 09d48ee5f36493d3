"""What the engine records besides its state: iteration log rows and token gaps by kind.

Gap kinds (spec section 7, TBT split): a gap belongs to a *stale* request (one that was
running when its replica dropped parameters, :mod:`kvopt.cluster.param`) for the rest of its
life; otherwise to a *pipelined* one when the token came from a group (a unit of more than one
replica); otherwise to a *normal* one. Kinds are kept only with the ``param`` handler (the
others have no groups: every gap is normal).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kvopt.cluster.hardware import BLOCK_TOKENS

__all__ = ["KINDS", "iteration_record", "kind_gaps"]

KINDS = ("normal", "stale", "pipelined")


def iteration_record(sim: Any, u: Any, start: float, end: float, admitted: list[int],
                     decode: Any) -> tuple[Any, ...]:
    """``(unit, start, end, pool blocks, prefills [(i, tokens, progress)], decodes
    [(i, progress)], residents [(i, tokens)])``; residents include reservations."""
    gen, prompt = sim.gen, sim.prompt
    dec = [int(i) for i in decode]
    residents = [(i, prompt[i] + int(gen[i])) for i in dec]
    residents += [(i, sim.prefill_len[i]) for i in admitted]
    residents += [(i, int(sim.blk[i]) * BLOCK_TOKENS) for i in u.stalled]
    residents += [(i, b * BLOCK_TOKENS) for i, b in u.reserved.items()]
    return (u.uid, start, end, u.cap,
            [(i, sim.prefill_len[i], int(gen[i])) for i in admitted],
            [(i, int(gen[i])) for i in dec], residents)


def kinds_of(sim: Any, u: Any, idx: np.ndarray) -> np.ndarray:
    """The gap kind (index into :data:`KINDS`) of each request of ``idx`` decoding in ``u``."""
    return np.where(sim.stale[idx], 1, 2 if u.g > 1 else 0)


def kind_gaps(sim: Any, u: Any, idx: np.ndarray, t: float, prev: float,
              before: np.ndarray, other: np.ndarray) -> None:
    """:meth:`Sim._emit`'s gaps with their kinds: ``t - prev`` for the requests whose last
    token came at ``prev``, ``t - before`` for the ``other`` ones."""
    kinds = kinds_of(sim, u, idx)
    same = np.bincount(kinds[~other], minlength=len(KINDS)).tolist()
    for k, c in enumerate(same):
        if c:
            sim.gap_values.append(t - prev)
            sim.gap_counts.append(float(c))
            sim.gap_kinds.append(k)
    odd = (t - before[other]).tolist()
    sim.gap_values.extend(odd)
    sim.gap_counts.extend([1.0] * len(odd))
    sim.gap_kinds.extend(kinds[other].tolist())
