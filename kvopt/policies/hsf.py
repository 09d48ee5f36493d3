"""H-SF, hindsight shortest-first: the paper's reference for A_max and A_min.

H-SF knows every output length, prefers the shortest jobs and packs them greedily under the
memory limit (arXiv 2508.14544, as the spec reports it). Its exact admission rule is not
specified by the paper; default: MC-SF (``specs/kv-scheduling.md`` section 4) with
``p_i = o_i``, which never overflows (``specs/prediction-intervals-and-bins.md`` A2).

**A clairvoyant reference, not an online policy.** :class:`Hsf` is MC-SF reading the point
predictions of its context like any policy; it never reads the instance. Its registry entry
(``POLICIES["hsf"]``) says which predictions the environment must give it:
:class:`~kvopt.sim.intervals.ExactPredictions`, the true outputs, whatever predictions the run
gives the other policies. ``kvopt simulate``, ``kvopt ratio`` and the experiments apply it; a
caller of :func:`kvopt.sim.engine.simulate` passes ``predicted=POLICIES["hsf"].predictions``.
"""

from __future__ import annotations

from kvopt.policies.mcsf import McSf

__all__ = ["Hsf"]


class Hsf(McSf):
    """MC-SF run on exact predictions (given by the environment): H-SF."""

    name = "hsf"
