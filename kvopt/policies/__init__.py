"""Online policies behind one registry; the CLI's choices come from ``POLICIES``."""

from __future__ import annotations

from kvopt.policies.mcsf import McBenchmark, McSf

POLICIES = {"mcsf": McSf, "mc-benchmark": McBenchmark}

__all__ = ["POLICIES", "McSf", "McBenchmark"]
