"""Run a workload on a cluster, verify the run, and return its metrics."""

from __future__ import annotations

import dataclasses

import numpy as np

from kvopt.cluster.config import ClusterConfig, Workload
from kvopt.cluster.engine import Sim
from kvopt.cluster.handlers import make_handler
from kvopt.cluster.hardware import Preset
from kvopt.cluster.metrics import ClusterResult
from kvopt.cluster.verify import verify_run

__all__ = ["simulate_cluster"]


def simulate_cluster(workload: Workload, config: ClusterConfig, *,
                     preset: Preset | None = None, keep_sim: bool = False
                     ) -> ClusterResult | tuple[ClusterResult, Sim]:
    """Run ``workload`` with ``config``; when ``config.record`` (the default), check the run
    with :func:`kvopt.cluster.verify.verify_run` before any metric is computed.

    The run is deterministic: no randomness is drawn. ``keep_sim`` also returns the engine
    (its logs, for tests and timelines).

    Raises
    ------
    KvoptError
        Bad settings or a request that fits no replica.
    ScheduleError
        When the run breaks a rule (a bug).
    """
    sim = Sim(workload, config, make_handler(config.handler), preset=preset).run()
    counters = dict(sim.counters)
    if config.record:
        checked = verify_run(sim.prompt, sim.output, sim.arrival, sim.iter_log,
                             sim.transfer_log, int(counters.get("recomputed_tokens", 0)),
                             int(counters.get("prefill_tokens", 0)))
        counters["peak_host_bytes"] = max(counters.get("peak_host_bytes", 0),
                                          checked["peak_host_bytes"])
    result = ClusterResult(
        arrival_s=np.array(sim.arrival), first_token_s=np.array(sim.first_s),
        done_s=np.array(sim.done_s), output=np.array(sim.output),
        num_preempted=np.array(sim.num_preempted), gap_values=np.frombuffer(sim.gap_values),
        gap_counts=np.frombuffer(sim.gap_counts), counters=counters,
        config=dataclasses.asdict(config), samples=sim.samples, events=sim.event_log,
        admit_s=np.array(sim.admit_s),
        gap_kinds=np.frombuffer(sim.gap_kinds, dtype=np.int8) if sim.kinds else None)
    return (result, sim) if keep_sim else result
