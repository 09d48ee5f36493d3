r"""Iteration times: the roofline step (spec section 4.2) and the pipeline tick (section 4.3).

One replica of ``tp`` GPUs running ``N_tok`` tokens (prefill tokens plus one per decode) that
read ``sum_ctx`` tokens of KV cache takes

.. math::

    T = t_0 + \max\Big(\frac{P/tp + \mathrm{sum\_ctx}\cdot kv/tp}{\eta_m BW_{hbm}},
                       \frac{2 n_{params} N_{tok}}{tp\,\eta_f F}\Big) + t_{ar}

with ``t0 = 3 ms``, ``eta_m = 0.8``, ``eta_f`` 0.6 (A100) or 0.5 (H100). The all-reduce term
``t_ar`` is 0 at ``tp = 1``; above it (not specified by the spec; default) two ring all-reduces
per layer of the batch's activations over NVLink:
``2 L (alpha + 2 (tp-1)/tp * N_tok * hidden * 2 B / BW_nvlink)``.

A group of ``g`` runs as a pipeline of ``g`` stages over ``g`` micro-batches; micro-batch
``m`` takes ``s_m = T(m)/g + t_act(m)`` per stage with
``t_act = alpha_link + N_tok(m) * hidden * 2 B / BW_link``; the tick is ``tau = max_m s_m``,
and every request of the group advances one token per ``g * tau``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kvopt.cluster.hardware import Preset
from kvopt.cluster.network import ALPHA_INTRA_S

__all__ = ["StepTime"]


class StepTime:
    """The roofline step time of one replica of ``preset`` and the pipeline tick of a group.

    Parameters
    ----------
    link_bytes_per_s, link_latency_s
        The link between pipeline stages (from :class:`~kvopt.cluster.network.Interconnect`).
    """

    def __init__(self, preset: Preset, *, link_bytes_per_s: float | None = None,
                 link_latency_s: float = ALPHA_INTRA_S) -> None:
        hw = preset.profile.hardware
        tp = preset.tp
        self.t0_s = preset.t0_s
        hbm = preset.gpu.eta_mem * hw.hbm_bandwidth_bytes_per_s
        self.mem_fixed_s = preset.weight_bytes / tp / hbm
        self.mem_per_ctx_s = preset.kv_bytes_per_token / tp / hbm
        self.flop_per_tok_s = 2 * preset.num_params / (tp * preset.gpu.eta_flops * hw.peak_flops)
        act = preset.activation_bytes_per_token
        if tp > 1:
            self.ar_fixed_s = 2 * preset.num_layers * ALPHA_INTRA_S
            self.ar_per_tok_s = (2 * preset.num_layers * 2 * (tp - 1) / tp * act
                                 / preset.gpu.nvlink_eff)
        else:
            self.ar_fixed_s = self.ar_per_tok_s = 0.0
        bw = preset.gpu.nvlink_eff if link_bytes_per_s is None else link_bytes_per_s
        self.act_fixed_s = link_latency_s
        self.act_per_tok_s = act / tp / bw        # each of the tp GPUs sends its share

    def step_s(self, num_tokens: float, sum_ctx: float) -> float:
        """One iteration of a replica: ``num_tokens`` tokens computed, ``sum_ctx`` KV read."""
        mem = self.mem_fixed_s + sum_ctx * self.mem_per_ctx_s
        compute = num_tokens * self.flop_per_tok_s
        ar = self.ar_fixed_s + num_tokens * self.ar_per_tok_s if num_tokens else 0.0
        return self.t0_s + max(mem, compute) + ar

    def step_s_array(self, num_tokens: np.ndarray, sum_ctx: np.ndarray) -> np.ndarray:
        """:meth:`step_s` elementwise (``num_tokens > 0``), with the same floating point
        operations in the same order (so equal bit for bit)."""
        mem = self.mem_fixed_s + sum_ctx * self.mem_per_ctx_s
        compute = num_tokens * self.flop_per_tok_s
        ar = self.ar_fixed_s + num_tokens * self.ar_per_tok_s
        return self.t0_s + np.maximum(mem, compute) + ar

    def act_s(self, num_tokens: float) -> float:
        """``t_act``: one stage boundary's activation transfer for ``num_tokens`` tokens."""
        return self.act_fixed_s + num_tokens * self.act_per_tok_s

    def stage_s(self, g: int, num_tokens: float, sum_ctx: float) -> float:
        """``s_m = T(m)/g + t_act(m)`` for a micro-batch of ``num_tokens`` tokens."""
        return self.step_s(num_tokens, sum_ctx) / g + self.act_s(num_tokens)

    def pipeline_s(self, g: int, micro_batches: Sequence[tuple[float, float]]
                   ) -> tuple[float, float]:
        """``(g * tau, bubble seconds)`` for micro-batches ``(num_tokens, sum_ctx)``.

        ``tau = max_m s_m``; micro-batch ``m`` idles ``tau - s_m`` per stage (the bubble,
        summed over micro-batches and stages). Empty micro-batches cost nothing but idle.
        """
        stages = [self.stage_s(g, n, c) if n > 0 else 0.0 for n, c in micro_batches]
        tau = max(stages, default=0.0)
        bubble = g * sum(tau - s for s in stages)
        return g * tau, bubble

    def balanced_s(self, g: int, num_tokens: float, sum_ctx: float) -> float:
        """The pipeline pass of a batch split into ``g`` equal micro-batches (no bubbles)."""
        return g * self.stage_s(g, num_tokens / g, sum_ctx / g)
