"""A seconds-based serving cluster under memory pressure (spec ``parameter-centric-memory.md``).

R replicas (or groups of them) with their own KV pools and clocks, a router, an interconnect
that prices every transfer, and pluggable memory-pressure handlers: ``recompute`` (vLLM),
``swap`` (to host), ``migrate`` (Llumnix) and ``param`` (KunServe). :func:`simulate_cluster`
runs, verifies (:mod:`kvopt.cluster.verify`) and measures a run.
"""

from kvopt.cluster.config import HANDLERS, ROUTERS, ClusterConfig, Workload
from kvopt.cluster.hardware import PRESETS, Preset, load_preset
from kvopt.cluster.metrics import ClusterResult
from kvopt.cluster.run import simulate_cluster

__all__ = ["HANDLERS", "PRESETS", "ROUTERS", "ClusterConfig", "ClusterResult", "Preset",
           "Workload", "load_preset", "simulate_cluster"]
