"""MC-SF: Memory-Constrained Shortest First (``specs/kv-scheduling.md`` section 4)."""

from __future__ import annotations

import numpy as np

from kvopt.instance import Instance
from kvopt.sim.state import Decision, SimState

__all__ = ["McSf", "McBenchmark", "future_peak_admissions"]


def future_peak_admissions(state: SimState, order: np.ndarray) -> np.ndarray:
    """Walk ``order`` (waiting requests); admit while the predicted future peak fits.

    A request started at ``k`` with prediction ``p`` is predicted to hold ``s + (r - k)`` in rounds
    ``r = k+1 .. k+p``; a running request already past ``k + p`` is taken to end at ``t + 1``.
    The predicted memory only drops after a predicted completion, so it is enough to check each
    predicted completion round ``r >= t + 1``. Stops at the first candidate that fails.
    """
    t, memory = state.round, state.memory
    run = state.running_idcs
    k = state.run_start[run]
    # per admitted or running request: constant (s - k) and predicted end round
    const = list((state.prompt[run] - k).tolist())
    end = list(np.maximum(k + state.predicted[run], t + 1).tolist())
    admitted: list[int] = []
    for j in order.tolist():
        c_j = int(state.prompt[j]) - t
        e_j = t + int(state.predicted[j])
        const.append(c_j)
        end.append(e_j)
        const_arr = np.asarray(const, dtype=np.int64)
        end_arr = np.asarray(end, dtype=np.int64)
        # memory at checkpoint r: sum over members with end >= r of (const + r)
        checkpoints = end_arr[:, None]
        alive = end_arr[None, :] >= checkpoints
        mem = (alive * (const_arr[None, :] + checkpoints)).sum(axis=1)
        if mem.max() > memory:
            break
        admitted.append(j)
    return np.asarray(admitted, dtype=np.int64)


class McSf:
    """Every round: sort the waiting requests by predicted length, then arrival, then position;
    admit while the predicted future peak fits; stop at the first that fails."""

    name = "mcsf"

    def reset(self, instance: Instance, rng: np.random.Generator) -> None:
        pass

    def decide(self, state: SimState) -> Decision:
        w = state.waiting_idcs
        if w.size == 0:
            return Decision()
        order = w[np.lexsort((w, state.arrival[w], state.predicted[w]))]
        return Decision(admit=future_peak_admissions(state, order))


class McBenchmark(McSf):
    """MC-SF's feasibility check with candidates in arrival order (ties by position)."""

    name = "mc-benchmark"

    def decide(self, state: SimState) -> Decision:
        w = state.waiting_idcs
        if w.size == 0:
            return Decision()
        order = w[np.lexsort((w, state.arrival[w]))]
        return Decision(admit=future_peak_admissions(state, order))
