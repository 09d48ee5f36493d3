"""What a cluster run is given: the workload (arrivals and lengths) and its settings."""

from __future__ import annotations

import dataclasses

import numpy as np

from kvopt.exceptions import KvoptError

__all__ = ["HANDLERS", "ROUTERS", "ClusterConfig", "Workload"]

#: memory-pressure handlers and routers, by CLI name
HANDLERS = ("recompute", "swap", "migrate", "param")
ROUTERS = ("most-free", "round-robin", "least-loaded")


def _frozen(values: object, dtype: type) -> np.ndarray:
    arr: np.ndarray = np.array(values, dtype=dtype).reshape(-1)
    arr.flags.writeable = False
    return arr


@dataclasses.dataclass(frozen=True, eq=False)
class Workload:
    """Requests in arrival order: ``arrival_s`` (seconds), ``prompt`` and ``output`` tokens, and
    ``replica`` (``-1``: the router chooses; ``r >= 0``: sent to replica ``r``, or to the group
    that holds it, a burst aimed at one replica)."""

    arrival_s: np.ndarray
    prompt: np.ndarray
    output: np.ndarray
    replica: np.ndarray | None = None

    def __post_init__(self) -> None:
        arrival = _frozen(self.arrival_s, np.float64)
        prompt, output = _frozen(self.prompt, np.int64), _frozen(self.output, np.int64)
        replica = (np.full(len(arrival), -1, dtype=np.int64) if self.replica is None
                   else _frozen(self.replica, np.int64))
        if not (len(arrival) == len(prompt) == len(output) == len(replica)):
            raise KvoptError("workload: arrival_s, prompt, output and replica differ in length")
        if len(arrival) and not np.all(np.isfinite(arrival)):
            raise KvoptError("workload: an arrival time is not finite")
        if (bad := np.flatnonzero(np.diff(arrival) < 0)).size:
            raise KvoptError(f"workload: request {int(bad[0]) + 1} arrives before request "
                             f"{int(bad[0])} (arrivals must be sorted)")
        for name, col in (("prompt", prompt), ("output", output)):
            if (bad := np.flatnonzero(col < 1)).size:
                raise KvoptError(f"workload: request {int(bad[0])}: {name} must be at least 1 "
                                 f"token, got {int(col[bad[0]])}")
        for name, col in (("arrival_s", arrival), ("prompt", prompt), ("output", output),
                          ("replica", replica)):
            object.__setattr__(self, name, col)

    @property
    def num_requests(self) -> int:
        return len(self.arrival_s)

    def head(self, n: int) -> Workload:
        return Workload(self.arrival_s[:n], self.prompt[:n], self.output[:n],
                        None if self.replica is None else self.replica[:n])


@dataclasses.dataclass(frozen=True)
class ClusterConfig:
    """Settings of one run; every default is the spec's or documented in ``docs/model.md``.

    ``pool_scale`` multiplies every KV pool and the freed weight memory (small, fast tests);
    ``record`` keeps the iteration log the verifier reads; ``sample_s`` samples KV usage and
    queue length per replica for timelines.
    """

    preset: str = "13b-a100-tp1"
    num_replicas: int = 4
    handler: str = "recompute"
    router: str = "most-free"
    group: int = 2
    max_running: int = 256
    max_prefill_tokens: int = 8192
    watermark: float = 0.01
    pool_scale: float = 1.0
    intra_node_at_pcie: bool = False
    # swap
    # migrate (Llumnix)
    migrate_interval_s: float = 0.5
    # param (KunServe)
    poll_s: float = 0.1
    drop_usage: float = 0.95
    restore_usage: float = 0.5
    restore_window: int = 30
    restore: bool = True
    switch_pause_s: float = 0.05
    exchange_batch: int = 8
    micro_batches: str = "balanced"
    # records
    record: bool = True
    fast: bool = True
    sample_s: float | None = None

    def __post_init__(self) -> None:
        if self.handler not in HANDLERS:
            raise KvoptError(f"--handler: unknown handler {self.handler!r}; expected one of "
                             f"{', '.join(HANDLERS)}")
        if self.router not in ROUTERS:
            raise KvoptError(f"--router: unknown router {self.router!r}; expected one of "
                             f"{', '.join(ROUTERS)}")
        if self.num_replicas < 1:
            raise KvoptError(f"--replicas: must be at least 1, got {self.num_replicas}")
        if self.group < 2:
            raise KvoptError(f"--group: must be at least 2, got {self.group}")
        if self.handler == "param" and self.num_replicas % self.group:
            raise KvoptError(f"--group: {self.group} does not divide --replicas "
                             f"{self.num_replicas} (fixed groups of neighbouring replicas)")
        if self.micro_batches not in ("balanced", "naive"):
            raise KvoptError(f"micro_batches: expected 'balanced' or 'naive', got "
                             f"{self.micro_batches!r}")
        if not self.pool_scale > 0:
            raise KvoptError(f"pool_scale: must be positive, got {self.pool_scale}")
        if self.max_running < 1 or self.max_prefill_tokens < 1:
            raise KvoptError("max_running and max_prefill_tokens must be at least 1")
