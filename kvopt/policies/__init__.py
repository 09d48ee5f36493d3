"""Online policies behind one registry; the CLI's choices come from ``POLICIES``.

``POLICIES`` maps each name to a :class:`PolicySpec`: a typed factory (no argument; a
parameterised variant is a :func:`functools.partial`, so no name is ever parsed), a one-line
description, and whether the policy reads the environment's predictions. Calling a spec makes a
fresh policy: ``POLICIES["fcfs"]()``. The six alpha/beta configurations of
``specs/kv-scheduling.md`` section 5 are registered by name (``greedy-a0.3``,
``clear-a0.2-b0.1``, ...). :class:`Replay` needs a schedule, so it is exported but not
registered.

Interval predictions (``specs/prediction-intervals-and-bins.md`` Part A): ``amax``, ``amin``
(the reconstructed default) and the A_min eviction orders the interval experiment compares
(``amin-lowest-estimate``, ``amin-most-progress``, ``amin-random``), MC-SF fed the interval's
bounds (``mcsf-upper``, ``mcsf-lower``, ``mcsf-mid``), and ``hsf``, the clairvoyant reference:
its spec's :attr:`PolicySpec.predictions` tells the environment to give it the true outputs.

WAIT and Nested WAIT (``specs/fluid-wait.md``, :mod:`kvopt.policies.wait`): ``wait``,
``nested-wait``, and their baselines ``vllm`` and ``sarathi`` (:mod:`kvopt.policies.serving`).
Peer policies (issue 30): ``svf`` (smallest volume first) and ``sorted-f`` (reconstructed from
secondary accounts, :mod:`kvopt.policies.sortedf`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

from kvopt.policies.alpha import AlphaBetaClearing, AlphaGreedy, AlphaProtection
from kvopt.policies.amax import Amax, McSfBound
from kvopt.policies.amin import Amin
from kvopt.policies.base import Policy, RoundRobin, Router
from kvopt.policies.fcfs import Fcfs
from kvopt.policies.hsf import Hsf
from kvopt.policies.mcsf import McBenchmark, McSf
from kvopt.policies.names import display_name
from kvopt.policies.replay import Replay
from kvopt.policies.serving import Sarathi, Vllm
from kvopt.policies.sortedf import SortedF
from kvopt.policies.svf import Svf
from kvopt.policies.wait import NestedWait, Wait
from kvopt.sim.intervals import ExactPredictions
from kvopt.sim.predictions import PredictionModel

__all__ = [
    "ALPHA_CONFIGS",
    "POLICIES",
    "AlphaBetaClearing",
    "AlphaGreedy",
    "AlphaProtection",
    "Amax",
    "Amin",
    "Fcfs",
    "Hsf",
    "McBenchmark",
    "McSf",
    "McSfBound",
    "NestedWait",
    "Policy",
    "PolicySpec",
    "Replay",
    "RoundRobin",
    "Router",
    "display_name",
    "Sarathi",
    "Vllm",
    "Wait",
    "SortedF",
    "Svf",
]


@dataclasses.dataclass(frozen=True)
class PolicySpec:
    """A registered policy: how to make one, what it is, and what it reads.

    Attributes
    ----------
    factory
        Makes a fresh policy, with no argument.
    description
        One line for help texts.
    reads_predictions
        Whether its decisions depend on the predictions (``predicted``, ``lower``, ``upper``):
        the environment's prediction noise changes nothing for a policy that does not.
    predictions
        The predictions the environment gives this policy instead of the run's, or ``None``
        (the run's). Only the clairvoyant reference ``hsf`` has one (the true outputs): a
        reference, not an online policy. Every runner passes it as ``predicted=``.
    """

    factory: Callable[[], Policy]
    description: str
    reads_predictions: bool = False
    predictions: PredictionModel | None = None

    def __call__(self) -> Policy:
        return self.factory()


#: the paper's six configurations: (alpha, beta), beta None = greedy (clear all)
ALPHA_CONFIGS: tuple[tuple[float, float | None], ...] = (
    (0.3, None), (0.25, None), (0.2, 0.2), (0.2, 0.1), (0.1, 0.2), (0.1, 0.1),
)


def _alpha_spec(alpha: float, beta: float | None) -> tuple[str, PolicySpec]:
    if beta is None:
        return f"greedy-a{alpha:g}", PolicySpec(
            functools.partial(AlphaGreedy, alpha=alpha),
            f"alpha-protection greedy, alpha = {alpha}: clear all on overflow")
    return f"clear-a{alpha:g}-b{beta:g}", PolicySpec(
        functools.partial(AlphaBetaClearing, alpha=alpha, beta=beta),
        f"alpha-protection beta-clearing, alpha = {alpha}, beta = {beta}")


POLICIES: dict[str, PolicySpec] = {
    "mcsf": PolicySpec(McSf, "MC-SF: shortest predicted output first, predicted peak fits",
                       reads_predictions=True),
    "mc-benchmark": PolicySpec(McBenchmark, "MC-SF's admission check in arrival order",
                               reads_predictions=True),
    **dict(_alpha_spec(alpha, beta) for alpha, beta in ALPHA_CONFIGS),
    "fcfs": PolicySpec(Fcfs, "FCFS with vLLM-style recompute preemption"),
    "amax": PolicySpec(Amax, "A_max: MC-SF on the interval's upper bound, never overflows",
                       reads_predictions=True),
    "amin": PolicySpec(Amin, "A_min (reconstructed): from the lower bound, refined as tokens "
                             "come, evicting least progress first", reads_predictions=True),
    **{f"amin-{order.replace('_', '-')}": PolicySpec(
        functools.partial(Amin, evict_order=order),
        f"A_min (reconstructed) evicting by {order.replace('_', ' ')} first",
        reads_predictions=True)
       for order in ("lowest_estimate", "most_progress", "random")},
    "hsf": PolicySpec(Hsf, "H-SF: MC-SF on the true outputs (clairvoyant reference, not online)",
                      reads_predictions=True, predictions=ExactPredictions()),
    "mcsf-upper": PolicySpec(functools.partial(McSfBound, "upper"),
                             "MC-SF planning with the interval's upper bound",
                             reads_predictions=True),
    "mcsf-lower": PolicySpec(functools.partial(McSfBound, "lower"),
                             "MC-SF planning with the interval's lower bound",
                             reads_predictions=True),
    "mcsf-mid": PolicySpec(functools.partial(McSfBound, "mid"),
                           "MC-SF planning with the interval's midpoint", reads_predictions=True),
    # specs/fluid-wait.md (issue 30): fluid-guided threshold batching and its baselines
    "wait": PolicySpec(Wait, "WAIT: start n_j of a type (prompt, predicted output) at once, "
                             "n_j = B rho_j / (l'_j + 1), B = 128", reads_predictions=True),
    "nested-wait": PolicySpec(NestedWait, "Nested WAIT: start n_1 at once, n_1 from the length "
                                          "distribution (tl = 128)", reads_predictions=True),
    "vllm": PolicySpec(Vllm, "vLLM: FCFS, whole prefills, 1% reserve, LIFO eviction with restart"),
    "sarathi": PolicySpec(Sarathi, "Sarathi (approximation): vLLM with a 512-token prefill budget "
                                   "per round and 512 requests at most"),
    # issue 30: the peer policies
    "svf": PolicySpec(Svf, "SVF: smallest predicted KV volume s p + p (p + 1) / 2 first, "
                           "MC-SF's admission", reads_predictions=True),
    "sorted-f": PolicySpec(SortedF, "Sorted-F (reconstructed): one feasible batch at a time, "
                                    "the prefix of least sum p / |X|^2", reads_predictions=True),
}
