"""Online policies behind one registry; the CLI's choices come from ``POLICIES``.

Every entry is a class whose constructor needs no argument. The six alpha/beta configurations
of ``specs/kv-scheduling.md`` section 5 are registered by name (``greedy-a0.3``,
``clear-a0.2-b0.1``, ...). :class:`Replay` needs a schedule, so it is exported but not registered.
"""

from __future__ import annotations

from kvopt.policies.alpha import AlphaBetaClearing, AlphaGreedy, AlphaProtection
from kvopt.policies.fcfs import Fcfs
from kvopt.policies.mcsf import McBenchmark, McSf
from kvopt.policies.replay import Replay

__all__ = [
    "ALPHA_CONFIGS",
    "POLICIES",
    "AlphaBetaClearing",
    "AlphaGreedy",
    "AlphaProtection",
    "Fcfs",
    "McBenchmark",
    "McSf",
    "Replay",
]

#: the paper's six configurations: (alpha, beta), beta None = greedy (clear all)
ALPHA_CONFIGS: tuple[tuple[float, float | None], ...] = (
    (0.3, None), (0.25, None), (0.2, 0.2), (0.2, 0.1), (0.1, 0.2), (0.1, 0.1),
)


def _configured(alpha: float, beta: float | None) -> type[AlphaProtection]:
    """A subclass of :class:`AlphaProtection` with these defaults (no required argument)."""
    base: type[AlphaProtection] = AlphaGreedy if beta is None else AlphaBetaClearing
    name = AlphaProtection(alpha, beta).name

    def __init__(self, alpha: float = alpha, beta: float | None = beta) -> None:
        AlphaProtection.__init__(self, alpha, beta)

    doc = (f"alpha-protection greedy, alpha = {alpha}: clear all on overflow." if beta is None
           else f"alpha-protection beta-clearing, alpha = {alpha}, beta = {beta}.")
    cls_name = name.replace("-", "_").replace(".", "")
    return type(cls_name, (base,), {"__init__": __init__, "__doc__": doc, "name": name})


POLICIES: dict[str, type] = {"mcsf": McSf, "mc-benchmark": McBenchmark}
for _alpha, _beta in ALPHA_CONFIGS:
    _cls = _configured(_alpha, _beta)
    POLICIES[_cls.name] = _cls
POLICIES["fcfs"] = Fcfs
