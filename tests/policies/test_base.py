"""The protocols' helpers: the round-robin router, revealed columns, the FIFO queue."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_instance

from kvopt.policies.base import FifoQueue, RoundRobin, Router, copy_revealed
from kvopt.sim.engine import simulate
from kvopt.sim.state import Decision


def test_round_robin_routes_in_turn():
    """Replica j mod R for the j-th arrival, whatever the states say."""
    router: Router = RoundRobin()
    router.reset(None, 3, np.random.default_rng(0))  # type: ignore[arg-type]
    assert [router.route(i, []) for i in range(7)] == [0, 1, 2, 0, 1, 2, 0]
    with pytest.raises(ValueError, match="num_replicas"):
        router.reset(None, 0, np.random.default_rng(0))  # type: ignore[arg-type]


class _Copier:
    """Copies the prompts of arrivals into its own list with copy_revealed."""

    name = "copier"

    def reset(self, context, rng):
        self.prompt = [0] * context.num_requests
        self.snapshots = []

    def decide(self, state):
        copy_revealed(state.arrived.tolist(), state.prompt, self.prompt)
        self.snapshots.append(list(self.prompt))
        return Decision(admit=state.arrived.tolist(), wake=None)


def test_copy_revealed_reads_arrivals_only():
    """A policy's own copy fills request by request, as they arrive."""
    copier = _Copier()
    simulate(make_instance([(0, 3, 1), (2, 5, 1)], 10), copier)
    assert copier.snapshots == [[3, 0], [3, 0], [3, 5]]   # rounds 0, 1 (a completion), 2


def test_fifo_queue_requeues_victims_in_front():
    """Arrivals queue at the back; victims (most recent first) end up earliest first."""
    queue = FifoQueue()
    queue.add_arrivals([4, 5])
    queue.requeue_front([2, 1])            # victims, most recently started first
    assert len(queue) == 4
    prompt = [0, 1, 2, 0, 3, 9]
    # next-round memory 0 + (1 + 1) + (2 + 1) + (3 + 1) = 9 <= 10; request 5 would add 10
    assert queue.admit_within(prompt, 0, 10) == [1, 2, 4]
    assert queue.pop_front() == 5 and len(queue) == 0
