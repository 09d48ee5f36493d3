"""Exhaustive search for the hindsight optimum of tiny instances: a reference for tests.

It shares nothing with the integer program: a depth-first search over start rounds with its own
memory arithmetic. Exact because every optimal schedule starts request ``i`` within
``[a_i, a_i + U - sum o]`` for any feasible cost ``U`` (see
:func:`kvopt.hindsight.windows.start_windows`); here ``U`` is the serial schedule's cost.
"""

from __future__ import annotations

from kvopt.instance import Instance

__all__ = ["brute_force_optimum"]


def brute_force_optimum(instance: Instance, *, max_nodes: int = 2_000_000) -> tuple[int, list[int]]:
    """Minimum total latency and one optimal start vector; raises ``RuntimeError`` when the search
    would exceed ``max_nodes``."""
    a = instance.arrival.tolist()
    s = instance.prompt.tolist()
    o = instance.output.tolist()
    n, memory = len(a), instance.memory
    if n == 0:
        return 0, []
    # a serial schedule in arrival order: feasible since s + o <= M
    t, serial, serial_starts = 0, 0, [0] * n
    for i in sorted(range(n), key=lambda i: a[i]):
        t = max(t, a[i])
        serial_starts[i] = t
        serial += t + o[i] - a[i]
        t += o[i]
    slack = serial - sum(o)
    horizon = max(a[i] + slack + o[i] for i in range(n)) + 2
    usage = [0] * horizon
    best: list = [serial, serial_starts]
    starts = [0] * n
    nodes = [0]

    def place(i: int, k: int, sign: int) -> bool:
        ok = True
        for j in range(1, o[i] + 1):
            usage[k + j] += sign * (s[i] + j)
            if usage[k + j] > memory:
                ok = False
        return ok

    def dfs(i: int, cost: int) -> None:
        nodes[0] += 1
        if nodes[0] > max_nodes:
            raise RuntimeError("brute force exceeded max_nodes")
        if i == n:
            best[0], best[1] = cost, list(starts)
            return
        for k in range(a[i], a[i] + slack + 1):
            c = cost + k + o[i] - a[i]
            if c + sum(o[i + 1:]) >= best[0]:
                break  # costs only grow with k
            feasible = place(i, k, +1)
            if feasible:
                starts[i] = k
                dfs(i + 1, c)
            place(i, k, -1)

    dfs(0, 0)
    return int(best[0]), [int(v) for v in best[1]]
