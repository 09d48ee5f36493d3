r"""SVF, Smallest Volume First (Kong, Qi, Ye and Zhou, arXiv 2606.22327).

SVF is MC-SF's admission (:mod:`kvopt.policies.mcsf`: every round, walk the waiting requests in
order and start each while the memory *predicted* for every future round stays at most ``M``;
stop at the first that does not fit) with another order: the smallest projected KV *volume*
first, the memory-time area a request is predicted to occupy,

.. math:: v_i = s_i\,p_i + p_i (p_i + 1) / 2

(its memory over the rounds ``k+1 .. k+p_i`` of a run started at ``k``: ``s_i + 1, ...,
s_i + p_i``), ties by arrival round, then position. ``p_i`` is MC-SF's planned length: the
environment's point prediction, capped at ``M - s_i`` and raised to 1 (so it is an integer and
so is ``v_i``). Everything else is MC-SF's: the wake rounds, the handling of wrong predictions
(overrunning requests predicted to end at ``t + 1``; on a real overflow of round ``t + 1``,
clear most recently started first, admit nothing, requeue the cleared requests in front).

With equal prompts ``v_i`` is strictly increasing in ``p_i``, so SVF and MC-SF walk the same
order and produce the same schedule (``tests/policies/test_svf.py``).
"""

from __future__ import annotations

from kvopt.policies.mcsf import McSf

__all__ = ["Svf", "volume"]


def volume(prompt: int, planned: int) -> int:
    """The projected KV volume ``s p + p (p + 1) / 2`` of a run of ``planned`` rounds."""
    return prompt * planned + planned * (planned + 1) // 2


class Svf(McSf):
    """Smallest predicted KV volume first, admitted while the predicted future peak fits.

    Parameters
    ----------
    requeue
        As :class:`~kvopt.policies.mcsf.McSf`.
    """

    name = "svf"

    def _key(self, i: int) -> tuple[int, ...]:
        s, p = self._s[i], self._p[i]
        return (s * p + p * (p + 1) // 2, self._a[i], i)
