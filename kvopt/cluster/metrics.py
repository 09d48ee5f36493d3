"""Metrics of a cluster run: TTFT, queueing and TBT percentiles, throughput and counters.

TTFT is first token minus arrival; a request's *queueing time* is the start of the iteration
that first admitted it (its first prefill) minus its arrival. TBT covers every gap between
consecutive tokens of a request, stalls, swaps and recomputations included; percentiles are
over all gaps (weighted, exact: the engine stores each distinct gap with its count).
Throughput is output tokens over the span from the first arrival to the last completion.
*Stall time* is the request-seconds spent resident but stalled while KV moves (swap-ins,
migrations' downtime, param's exchanges).

*SLO attainment* (spec section 7; the paper gives no definition): the share of requests with
TTFT <= ``ttft_factor`` x a reference TTFT and a mean token gap ``(done - first token) /
(output - 1)`` <= ``tbt_factor`` x a reference TBT (a one-token request needs only the TTFT).
Defaults: factors 5 and 1.5 of the no-burst run's P50 TTFT and P50 TBT; the per-request mean
gap is kvopt's choice (the spec says "TBT" without saying which per request).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from kvopt.cluster.records import KINDS

__all__ = ["ClusterResult", "weighted_percentile"]

COUNTER_KEYS = ("preemptions", "recomputed_tokens", "prefill_tokens", "bytes_swapped",
                "bytes_migrated", "bytes_exchanged", "drops", "restores", "migrations",
                "swap_outs", "stale_requests")


def weighted_percentile(values: np.ndarray, counts: np.ndarray, q: float) -> float:
    """The smallest value with at least ``q`` percent of the total count at or below it
    (the "lower" percentile of the expanded sample); ``nan`` when empty."""
    if len(values) == 0 or counts.sum() == 0:
        return float("nan")
    order = np.argsort(values, kind="stable")
    v, c = values[order], np.cumsum(counts[order])
    rank = max(1.0, np.ceil(q / 100.0 * c[-1]))
    return float(v[np.searchsorted(c, rank - 1e-9)])


@dataclasses.dataclass(frozen=True, eq=False)
class ClusterResult:
    """A verified run: per-request times and the run's counters."""

    arrival_s: np.ndarray
    first_token_s: np.ndarray
    done_s: np.ndarray
    output: np.ndarray
    num_preempted: np.ndarray
    gap_values: np.ndarray
    gap_counts: np.ndarray
    counters: dict[str, float]
    config: dict[str, Any]
    samples: list[tuple[float, list[float], list[float]]] = dataclasses.field(
        default_factory=list)
    events: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)
    admit_s: np.ndarray | None = None          # first admission of each request
    gap_kinds: np.ndarray | None = None        # each gap's kind (kvopt.cluster.records)

    @property
    def queueing_s(self) -> np.ndarray:
        if self.admit_s is None:
            return np.full(len(self.arrival_s), np.nan)
        return self.admit_s - self.arrival_s

    def queueing_percentile(self, q: float) -> float:
        return float(np.percentile(self.queueing_s, q, method="lower")) \
            if len(self.arrival_s) else float("nan")

    def slo_attainment(self, ttft_ref_s: float, tbt_ref_s: float, *, ttft_factor: float = 5.0,
                       tbt_factor: float = 1.5) -> float:
        """The share of requests within both SLOs (module docstring); ``nan`` when empty."""
        if not len(self.arrival_s):
            return float("nan")
        ok = self.ttft_s <= ttft_factor * ttft_ref_s
        multi = self.output > 1
        gap = (self.done_s[multi] - self.first_token_s[multi]) / (self.output[multi] - 1)
        ok[multi] &= gap <= tbt_factor * tbt_ref_s
        return float(ok.mean())

    @property
    def ttft_s(self) -> np.ndarray:
        return self.first_token_s - self.arrival_s

    @property
    def latency_s(self) -> np.ndarray:
        return self.done_s - self.arrival_s

    def ttft_percentile(self, q: float) -> float:
        return float(np.percentile(self.ttft_s, q, method="lower")) if len(self.ttft_s) \
            else float("nan")

    def tbt_percentile(self, q: float, kind: str | None = None) -> float:
        """Over all gaps, or those of ``kind`` (normal, stale, pipelined; without kinds
        recorded every gap is normal)."""
        if kind is None:
            return weighted_percentile(self.gap_values, self.gap_counts, q)
        if self.gap_kinds is None:
            mask = np.full(len(self.gap_values), kind == "normal")
        else:
            mask = self.gap_kinds == KINDS.index(kind)
        return weighted_percentile(self.gap_values[mask], self.gap_counts[mask], q)

    @property
    def throughput_tokens_per_s(self) -> float:
        if not len(self.done_s):
            return 0.0
        span = float(self.done_s.max() - self.arrival_s.min())
        return float(self.output.sum()) / span if span > 0 else float("nan")

    def summary(self) -> dict[str, Any]:
        """The CLI's JSON: counts, percentiles in seconds, throughput and every counter."""
        c = self.counters
        out: dict[str, Any] = {
            "requests": int(len(self.arrival_s)),
            "completed": int(np.isfinite(self.done_s).sum()),
            "p50_ttft_s": self.ttft_percentile(50),
            "p90_ttft_s": self.ttft_percentile(90),
            "p99_ttft_s": self.ttft_percentile(99),
            "p999_ttft_s": self.ttft_percentile(99.9),
            "p50_tbt_s": self.tbt_percentile(50),
            "p99_tbt_s": self.tbt_percentile(99),
            "p90_tbt_s": self.tbt_percentile(90),
            "p999_tbt_s": self.tbt_percentile(99.9),
            "p50_queue_s": self.queueing_percentile(50),
            "p90_queue_s": self.queueing_percentile(90),
            "p99_queue_s": self.queueing_percentile(99),
            "p999_queue_s": self.queueing_percentile(99.9),
            "throughput_tokens_per_s": self.throughput_tokens_per_s,
            "makespan_s": float(self.done_s.max()) if len(self.done_s) else 0.0,
        }
        for key in COUNTER_KEYS:
            out[key] = int(c.get(key, 0))
        out["seconds_grouped"] = float(c.get("seconds_grouped", 0.0))
        out["bubble_s"] = float(c.get("bubble_s", 0.0))
        out["peak_host_bytes"] = int(c.get("peak_host_bytes", 0))
        out["stall_s"] = float(c.get("stall_s", 0.0))
        for kind in KINDS:          # None: no gap of that kind
            for q, name in ((50, "p50"), (99, "p99")):
                v = self.tbt_percentile(q, kind)
                out[f"{name}_tbt_{kind}_s"] = None if np.isnan(v) else v
        return out
