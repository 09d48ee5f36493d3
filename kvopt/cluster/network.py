"""The interconnect: a ``networkx`` graph of GPUs, host memory and nodes that prices transfers.

Vertices: ``("gpu", k)`` for GPU ``k`` (replica ``r`` owns GPUs ``r*tp .. r*tp + tp - 1``; a
node holds :attr:`GpuSpec.gpus_per_node` consecutive GPUs), ``("host", n)`` for node ``n``'s
host memory, ``("nic", n)`` for its network interface and one ``"fabric"`` switch. Edges carry
an effective ``bandwidth`` (bytes/s, per direction) and a ``latency`` (seconds):

* NVLink between every two GPUs of a node (NVSwitch): 0.7 x datasheet, 5 us;
* PCIe from each GPU to its host memory: 0.8 x datasheet, 5 us;
* each GPU to its node's NIC at the network rate, and each NIC to the fabric at the network
  rate with 5 us, so that GPU -> GPU between nodes sums to 10 us.

:meth:`Interconnect.transfer_s` prices ``nbytes`` from one vertex to another by the path of
least ``latency + 1 MB / bandwidth`` summed over its edges (so a wide link wins over a
short cut through a slow one): the sum of its latencies plus ``nbytes`` over its narrowest
bandwidth.
Transfers do not contend with each other (not modelled; each is priced alone).
"""

from __future__ import annotations

import networkx as nx

from kvopt.cluster.hardware import GpuSpec

__all__ = ["Interconnect"]

ALPHA_INTRA_S = 5e-6
ALPHA_INTER_S = 10e-6

_REF_BYTES = 1e6
Vertex = tuple[str, int] | str


class Interconnect:
    """The cluster's links for ``num_replicas`` replicas of ``tp`` GPUs each.

    Parameters
    ----------
    intra_node_at_pcie
        Price NVLink edges at the PCIe rate (the KunServe code disables NCCL peer-to-peer).
    """

    def __init__(self, gpu: GpuSpec, num_replicas: int, tp: int, *,
                 intra_node_at_pcie: bool = False) -> None:
        self.gpu, self.tp, self.num_replicas = gpu, tp, num_replicas
        per_node = gpu.gpus_per_node
        num_gpus = num_replicas * tp
        self.num_nodes = -(-num_gpus // per_node)
        nvlink = gpu.pcie_eff if intra_node_at_pcie else gpu.nvlink_eff
        graph = nx.Graph()
        graph.add_node("fabric")
        for n in range(self.num_nodes):
            graph.add_edge(("nic", n), "fabric", bandwidth=gpu.network_eff,
                           latency=ALPHA_INTER_S / 2)
        for k in range(num_gpus):
            n = k // per_node
            graph.add_edge(("gpu", k), ("host", n), bandwidth=gpu.pcie_eff,
                           latency=ALPHA_INTRA_S)
            graph.add_edge(("gpu", k), ("nic", n), bandwidth=gpu.network_eff, latency=0.0)
            for j in range(n * per_node, k):
                graph.add_edge(("gpu", j), ("gpu", k), bandwidth=nvlink, latency=ALPHA_INTRA_S)
        for _, _, data in graph.edges(data=True):
            data["cost"] = data["latency"] + _REF_BYTES / data["bandwidth"]
        self.graph = graph
        self._paths: dict[tuple[Vertex, Vertex], tuple[float, float]] = {}

    def node_of(self, replica: int) -> int:
        return replica * self.tp // self.gpu.gpus_per_node

    def _path(self, src: Vertex, dst: Vertex) -> tuple[float, float]:
        """``(summed latency, bottleneck bandwidth)`` of the cheapest path, cached."""
        key = (src, dst)
        if key not in self._paths:
            path = nx.shortest_path(self.graph, src, dst, weight="cost")
            edges = [self.graph.edges[a, b] for a, b in zip(path, path[1:], strict=False)]
            self._paths[key] = (sum(e["latency"] for e in edges),
                                min((e["bandwidth"] for e in edges), default=float("inf")))
        return self._paths[key]

    def transfer_s(self, src: Vertex, dst: Vertex, nbytes: float) -> float:
        """Seconds to move ``nbytes`` from ``src`` to ``dst`` (0 for no bytes or one vertex)."""
        if nbytes <= 0 or src == dst:
            return 0.0
        latency, bandwidth = self._path(src, dst)
        return latency + nbytes / bandwidth

    def latency_s(self, src: Vertex, dst: Vertex) -> float:
        return 0.0 if src == dst else self._path(src, dst)[0]

    # ------------------------------------------------------------------ replica level
    def gpus(self, replica: int) -> list[tuple[str, int]]:
        return [("gpu", replica * self.tp + k) for k in range(self.tp)]

    def replica_transfer_s(self, src: int, dst: int, nbytes: float) -> float:
        """``nbytes`` of a replica's state from replica ``src`` to ``dst``: each of the ``tp``
        GPU pairs moves its ``1/tp`` share in parallel; the slowest decides."""
        return max(self.transfer_s(a, b, nbytes / self.tp)
                   for a, b in zip(self.gpus(src), self.gpus(dst), strict=True))

    def replica_latency_s(self, src: int, dst: int) -> float:
        return max(self.latency_s(a, b)
                   for a, b in zip(self.gpus(src), self.gpus(dst), strict=True))

    def host_transfer_s(self, replica: int, nbytes: float) -> float:
        """``nbytes`` between a replica's GPUs and its node's host memory (each GPU its share
        over its own PCIe link)."""
        host = ("host", self.node_of(replica))
        return max(self.transfer_s(g, host, nbytes / self.tp) for g in self.gpus(replica))
