r"""Start windows, the serial horizon and identical requests: the reductions every exact model
of the hindsight problem shares (the integer program of :mod:`kvopt.hindsight.milp.formulation`
and CP-SAT's model of :mod:`kvopt.hindsight.exact.cpsat`).

Each keeps some optimal schedule (its docstring gives the argument), so a model restricted by
them has the optimum of the unrestricted one.
"""

from __future__ import annotations

import numpy as np

from kvopt.instance import Instance

__all__ = ["identical_groups", "serial_horizon", "start_windows"]


def serial_horizon(instance: Instance) -> int:
    r"""The naive horizon :math:`T = \max_i a_i + \sum_i o_i`.

    Valid: from :math:`\max_i a_i` on, running the requests one after another (each alone, which
    fits as :math:`s_i + o_i \le M`) finishes by :math:`T`; a schedule starting anything later has
    an idle round it could close up, so some optimal schedule starts everything by :math:`T`.
    (Only used when no upper bound is known.)
    """
    if instance.num_requests == 0:
        return 0
    return int(instance.arrival.max() + instance.output.sum())


def start_windows(instance: Instance, upper_bound: float | None) -> np.ndarray:
    r"""The last start round :math:`a_i + W_i` allowed for each request.

    With a feasible schedule of total latency :math:`U` (``upper_bound``), every optimal schedule
    has total latency at most :math:`U`. The latency of request :math:`j` is its wait
    :math:`k_j - a_j \ge 0` plus :math:`o_j`, so
    :math:`k_i - a_i \le U - \sum_j o_j - \sum_{j \ne i} (k_j - a_j) \le U - \sum_j o_j`.
    Hence :math:`W_i = U - \sum_j o_j` excludes no optimal schedule. Without :math:`U` the window
    ends at :func:`serial_horizon` (where some optimal schedule lies, see there).
    """
    a = instance.arrival
    if upper_bound is None:
        return np.full(len(a), serial_horizon(instance), dtype=np.int64)
    slack = int(np.floor(upper_bound + 1e-9)) - int(instance.output.sum())
    if slack < 0:
        raise ValueError(f"upper bound {upper_bound} is below the sum of outputs")
    last = a + slack
    if len(a):
        last = np.minimum(last, serial_horizon(instance))
    return np.maximum(last, a)


def identical_groups(instance: Instance) -> list[np.ndarray]:
    """Positions of requests with the same ``(a, s, o)``, groups of size >= 2."""
    keys = np.stack([instance.arrival, instance.prompt, instance.output], axis=1)
    _, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    return [np.flatnonzero(inverse == g) for g in np.flatnonzero(counts >= 2)]

