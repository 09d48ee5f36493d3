r"""WAIT and Nested WAIT: fluid-guided threshold batching (``specs/fluid-wait.md`` sections 3, 4).

Ao, Luo, Simchi-Levi and Wang (arXiv 2504.11320) hold prompts back until enough of a kind have
arrived, then start them together: a *gate* at stage 0.

**Formulation in kvopt: the gate holds requests before admission; admitted requests decode every
round.** The paper's WAIT also pauses admitted prompts of types outside ``J`` (they keep their
KV); kvopt's engines cannot express a running request that skips a round while keeping its KV
(a :class:`~kvopt.sim.state.Decision` only admits and clears). The authors' own simulator
(``vidur_or``, ``booking_limit`` replica scheduler) does the same as kvopt: it gates stage 0
only and runs every prompt past stage 0 in each batch. With the gate, at most ``n_j`` type-``j``
prompts start per round, so at most ``n_j`` sit at each stage and the memory never exceeds
``M^pi = sum_j n_j W_j`` (:func:`kvopt.fluid.wait_memory`). Nested WAIT's thresholds of later
segments are then caps that the survivors never exceed (``n_k`` is ``n_1`` times a product of
survival probabilities plus ``eta``), so only segment 1's threshold acts.

Every round ``t`` (both policies; they differ in the *classes* and their thresholds):

1. Arrivals join their class's queue (oldest first; the spec's default).
2. If round ``t + 1`` would overflow ``M`` (only possible when the memory check below plans with
   wrong lengths), clear running requests most recently started first (LIFO, restart from
   prefill, as the revision's server), put them at the front of their queues, admit nothing.
3. For every class ``c`` with ``n_c`` or more waiting (classes in the order their queues last
   became non-empty),
   start its ``n_c`` oldest, each while the memory check passes; a class stops at the first that
   fails.
4. Once every request has arrived (the number of requests is known in advance), thresholds no
   longer wait: up to ``n_c`` of what is left start per round (the authors' simulator drops the
   leftovers instead, "force clear"; kvopt must serve every request).
5. ``wake``: the next round when a class still has ``n_c`` waiting (one batch per class per
   round) or a start was refused by memory; otherwise nothing until an event.

:class:`Wait` (types known on arrival): a request's type is ``(prompt, predicted)``: its prompt
length and the environment's point prediction of its output (with exact predictions, the true
type). Thresholds: explicit ``thresholds={type: n}`` (:meth:`Wait.from_fluid` computes them with
:func:`kvopt.fluid.fluid_wait_thresholds` from known rates and a time model), else the
practical rule :func:`kvopt.fluid.practical_wait_thresholds` with cap ``B`` and the type
proportions among the requests arrived so far (online estimates of ``rho_j``). Memory check
``"peak"``: the predicted future peak (MC-SF's :class:`Checkpoints`) with every running request
fits ``M``; with exact predictions WAIT never clears.

:class:`NestedWait` (types unknown, length distribution known): one FIFO class; threshold
``n_1`` from :func:`kvopt.fluid.nested_thresholds` with segment ends ``bounds`` (decode stages
``l'_1 < ... < l'_m``), the segment rates ``weights`` (default: estimated online from the
predictions of the requests arrived so far, counted per segment) and cap ``tl``. Without
``bounds``: one segment up to the largest prediction seen so far. Memory check ``"next"``: round
``t + 1`` fits (vLLM's check; no per-request lengths are used).
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Hashable, Mapping, Sequence
from typing import Literal

import numpy as np

from kvopt.fluid import FluidModel, fluid_wait_thresholds, nested_thresholds
from kvopt.policies.base import copy_revealed, most_recent_victims
from kvopt.policies.mcsf import Checkpoints
from kvopt.sim.state import IDLE, Decision, PolicyContext, SimState

__all__ = ["NestedWait", "ThresholdGate", "Wait"]

MemoryCheck = Literal["peak", "next"]


class ThresholdGate:
    """The gate shared by :class:`Wait` and :class:`NestedWait` (module docstring); subclasses
    give :meth:`_class_of` and :meth:`_threshold`."""

    name = "threshold-gate"

    def __init__(self, memory_check: MemoryCheck = "next") -> None:
        if memory_check not in ("peak", "next"):
            raise ValueError(f"memory_check must be 'peak' or 'next', got {memory_check!r}")
        self.memory_check = memory_check

    # ---------------------------------------------------------------- subclass interface
    def _class_of(self, i: int) -> Hashable:
        raise NotImplementedError

    def _threshold(self, c: Hashable) -> int:
        raise NotImplementedError

    def _on_arrival(self, i: int, c: Hashable) -> None:
        """Bookkeeping of a subclass (counts) when request ``i`` of class ``c`` arrives."""

    # ---------------------------------------------------------------------------- contract
    def reset(self, context: PolicyContext, rng: np.random.Generator) -> None:
        n = context.num_requests
        self._n = n
        self._memory = context.memory
        self._prompt: list[int] = [0] * n
        self._pred: list[int] = [0] * n
        self._cls: list[Hashable] = [None] * n
        self._queues: dict[Hashable, deque[int]] = {}
        self._num_arrived = 0

    def _arrive(self, state: SimState) -> None:
        arrived = state.arrived.tolist()
        copy_revealed(arrived, state.prompt, self._prompt)
        copy_revealed(arrived, state.predicted, self._pred)
        memory = self._memory
        for i in arrived:
            s = self._prompt[i]
            p = self._pred[i]
            self._pred[i] = 1 if p < 1 else (memory - s if p > memory - s else p)
            c = self._class_of(i)
            self._cls[i] = c
            q = self._queues.get(c)
            if q is None:
                q = self._queues[c] = deque()
            q.append(i)
            self._on_arrival(i, c)
        self._num_arrived += len(arrived)

    def decide(self, state: SimState) -> Decision:
        if len(state.arrived):
            self._arrive(state)
        t, memory = state.round, state.memory
        if state.memory_next_tokens > memory:
            victims = most_recent_victims(state, self._prompt)
            for i in victims:                    # earliest started ends up first
                c = self._cls[i]
                q = self._queues.get(c)
                if q is None:
                    q = self._queues[c] = deque()
                q.appendleft(i)
            return Decision(clear=victims, wake=t + 1)
        flush = self._num_arrived == self._n
        ready: list[tuple[deque[int], int]] = []
        for c, q in self._queues.items():
            n_c = self._threshold(c)
            if flush or len(q) >= n_c:
                ready.append((q, n_c))
        if not ready:
            return IDLE
        admit: list[int] = []
        blocked = False
        fits = self._fits_peak(state) if self.memory_check == "peak" else self._fits_next(state)
        prompt, pred = self._prompt, self._pred
        for q, n_c in ready:
            for _ in range(min(n_c, len(q))):
                i = q[0]
                if not fits(prompt[i], pred[i]):
                    blocked = True
                    break
                admit.append(q.popleft())
        more = blocked or any(q and (flush or len(q) >= n_c) for q, n_c in ready)
        for i in admit:                          # empty queues leave (re-enter at the end)
            c = self._cls[i]
            if c in self._queues and not self._queues[c]:
                del self._queues[c]
        wake = t + 1 if more else None
        return Decision(admit=admit, wake=wake) if admit else Decision(wake=wake)

    def _fits_next(self, state: SimState):
        """Round ``t + 1`` fits with the running requests and those admitted so far."""
        used = [state.memory_next_tokens]
        memory = state.memory

        def fits(s: int, p: int) -> bool:
            if used[0] + s + 1 > memory:
                return False
            used[0] += s + 1
            return True

        return fits

    def _fits_peak(self, state: SimState):
        """The predicted future peak fits (MC-SF's check, :class:`Checkpoints`)."""
        t = state.round
        run_start, pred, prompt = state.run_start, self._pred, self._prompt
        members = []
        for i in state.running:
            k = int(run_start[i])
            members.append((k + pred[i], prompt[i] - k))
        cps = Checkpoints(state.memory, members, t)

        def fits(s: int, p: int) -> bool:
            return cps.try_add(t + p, s - t, s + p)

        return fits


class Wait(ThresholdGate):
    """WAIT: types known on arrival (module docstring).

    Parameters
    ----------
    cap
        ``B`` of the practical thresholds (the early version's batch cap; the revision's ``tl``).
    thresholds
        Explicit ``{(prompt, predicted): n}``; types not in it use the practical rule.
    rule
        ``"proportional"`` (``B rho_j / (l'_j + 1)``, the spec) or ``"stages"``
        (``B lambda_j / sum_r lambda_r (l'_r + 1)``, the authors' simulator).
    memory_check
        ``"peak"`` (default: the predicted peak fits) or ``"next"``.
    """

    name = "wait"

    def __init__(self, cap: float = 128, thresholds: Mapping[tuple[int, int], int] | None = None,
                 rule: Literal["proportional", "stages"] = "proportional",
                 memory_check: MemoryCheck = "peak") -> None:
        super().__init__(memory_check)
        if not cap > 0:
            raise ValueError(f"cap must be > 0, got {cap}")
        if rule not in ("proportional", "stages"):
            raise ValueError(f"rule must be 'proportional' or 'stages', got {rule!r}")
        self.cap, self.rule = float(cap), rule
        self.thresholds = dict(thresholds or {})
        if any(int(v) < 1 for v in self.thresholds.values()):
            raise ValueError("every threshold must be at least 1")

    @classmethod
    def from_fluid(cls, model: FluidModel, *, strict: bool = True, margin: float = 0.0,
                   **kwargs) -> Wait:
        """WAIT with the fluid thresholds of known rates and time model
        (:func:`kvopt.fluid.fluid_wait_thresholds`), one per type ``(l_j, l'_j)``."""
        n = fluid_wait_thresholds(model, strict=strict, margin=margin)
        types = zip(model.prefill.tolist(), model.decode.tolist(), n.tolist(), strict=True)
        return cls(thresholds={(int(s), int(o)): int(k) for s, o, k in types}, **kwargs)

    def reset(self, context: PolicyContext, rng: np.random.Generator) -> None:
        super().reset(context, rng)
        self._count: dict[Hashable, int] = {}
        self._stage_weight = 0                 # sum over arrivals of (l'_j + 1)

    def _class_of(self, i: int) -> Hashable:
        return (self._prompt[i], self._pred[i])

    def _on_arrival(self, i: int, c: Hashable) -> None:
        self._count[c] = self._count.get(c, 0) + 1
        self._stage_weight += self._pred[i] + 1

    def _threshold(self, c: Hashable) -> int:
        fixed = self.thresholds.get(c)       # type: ignore[call-overload]
        if fixed is not None:
            return int(fixed)
        count = self._count[c]
        if self.rule == "proportional":
            raw = self.cap * count / self._num_arrived / (c[1] + 1)   # type: ignore[index]
        else:
            raw = self.cap * count / self._stage_weight
        return max(1, int(raw + 0.5))


class NestedWait(ThresholdGate):
    """Nested WAIT: types unknown, the length distribution known (module docstring).

    Parameters
    ----------
    cap
        ``tl``, the revision's system-wide cap.
    bounds
        Segment ends ``l'_1 < ... < l'_m`` in decode stages; ``None``: one segment up to the
        largest prediction seen so far.
    weights
        Rates (or proportions) of prompts whose decode ends in each segment; ``None``: counted
        from the predictions of the requests arrived so far.
    eta
        The revision's slack on the survival probabilities.
    threshold
        An explicit ``n_1`` instead.
    memory_check
        ``"next"`` (default) or ``"peak"``.
    """

    name = "nested-wait"

    def __init__(self, cap: float = 128, bounds: Sequence[int] | None = None,
                 weights: Sequence[float] | None = None, *, eta: float = 0.05,
                 threshold: int | None = None, memory_check: MemoryCheck = "next") -> None:
        super().__init__(memory_check)
        if not cap > 0:
            raise ValueError(f"cap must be > 0, got {cap}")
        if bounds is not None:
            b = [int(x) for x in bounds]
            if not b or b[0] < 1 or any(y <= x for x, y in zip(b, b[1:], strict=False)):
                raise ValueError(f"bounds must be increasing positive decode stages, got {b}")
            bounds = b
        if weights is not None and (bounds is None or len(weights) != len(bounds)):
            raise ValueError("weights need bounds of the same length")
        if threshold is not None and threshold < 1:
            raise ValueError(f"threshold must be at least 1, got {threshold}")
        self.cap, self.bounds, self.eta, self.threshold = float(cap), bounds, eta, threshold
        self.weights = None if weights is None else [float(w) for w in weights]

    def reset(self, context: PolicyContext, rng: np.random.Generator) -> None:
        super().reset(context, rng)
        self._seg_count = [0] * (len(self.bounds) if self.bounds else 0)
        self._max_pred = 0
        self._n1: int | None = None            # cached until the next arrival

    def _class_of(self, i: int) -> Hashable:
        return 0

    def _on_arrival(self, i: int, c: Hashable) -> None:
        p = self._pred[i]
        self._max_pred = max(self._max_pred, p)
        if self.bounds and self.weights is None:
            k = min(bisect.bisect_left(self.bounds, p), len(self.bounds) - 1)
            self._seg_count[k] += 1
        self._n1 = None

    def _threshold(self, c: Hashable) -> int:
        if self.threshold is not None:
            return self.threshold
        if self._n1 is None:
            if self.bounds is None:
                raw = self.cap / (self._max_pred + 1)
            else:
                b = self.bounds
                widths = [b[0] + 1] + [y - x for x, y in zip(b, b[1:], strict=False)]
                weights = self.weights if self.weights is not None else self._seg_count
                raw = float(nested_thresholds(widths, weights, self.cap, eta=self.eta)[0])
            self._n1 = max(1, int(raw + 0.5))
        return self._n1
