"""Cluster hardware: GPU datasheets, model shapes, presets and the capacity formulas.

Spec ``parameter-centric-memory.md`` sections 4.1 and 5. A *preset* is one LLM on ``tp`` GPUs per
replica; the model shape (layers, KV heads, parameters) and HBM facts come from kvopt's
profiles (``kvopt/data/models/*.toml``), the link speeds from :data:`GPUS`.

Capacity, per replica of ``tp`` GPUs, with ``P`` the weight bytes and ``kv`` the KV bytes per
token:

* ``KV_gpu = 0.9 * HBM - P/tp - act_reserve`` (act_reserve 2 GiB per GPU);
* tokens per replica ``tp * KV_gpu / kv``;
* a group of ``g`` replicas after a drop: ``(g * tp * KV_gpu + (g - 1) * P) / kv`` tokens.

Pools are counted in blocks of :data:`BLOCK_TOKENS` tokens: ``floor(tokens / 16)``.
"""

from __future__ import annotations

import dataclasses

from kvopt.exceptions import KvoptError
from kvopt.profiles import Profile, available_profiles, load_profile

__all__ = ["BLOCK_TOKENS", "GPUS", "PRESETS", "GpuSpec", "Preset", "load_preset", "preset_names"]

#: tokens per KV block (vLLM's default; the KunServe code uses 256)
BLOCK_TOKENS = 16
#: share of a pool kept free when admitting new requests (vLLM's watermark)
WATERMARK = 0.01
GIB = 1 << 30


@dataclasses.dataclass(frozen=True)
class GpuSpec:
    """Datasheet figures per direction, and the effective shares of them (spec section 5)."""

    name: str
    nvlink_bytes_per_s: float
    pcie_bytes_per_s: float
    network_bytes_per_s: float
    eta_flops: float                    # share of peak FLOP/s a GEMM reaches
    eta_mem: float = 0.8                # share of HBM bandwidth
    nvlink_share: float = 0.7
    pcie_share: float = 0.8
    network_share: float = 0.8
    gpus_per_node: int = 8

    @property
    def nvlink_eff(self) -> float:
        return self.nvlink_share * self.nvlink_bytes_per_s

    @property
    def pcie_eff(self) -> float:
        return self.pcie_share * self.pcie_bytes_per_s

    @property
    def network_eff(self) -> float:
        return self.network_share * self.network_bytes_per_s


#: GPU link figures by the ``[hardware] gpu`` name of a profile
GPUS: dict[str, GpuSpec] = {
    "A100-80GB SXM": GpuSpec("A100-80GB SXM", 300e9, 32e9, 25e9, eta_flops=0.6),
    "H100-80GB SXM": GpuSpec("H100-80GB SXM", 450e9, 64e9, 50e9, eta_flops=0.5),
}

#: preset name -> kvopt profile name
PRESETS: dict[str, str] = {
    "13b-a100-tp1": "llama2-13b-a100",
    "7b-a100-tp1": "llama2-7b-a100",
    "70b-a100-tp4": "llama2-70b-a100x4",
    "70b-a100-tp2": "llama2-70b-a100x2",
    "13b-h100-tp1": "llama2-13b-h100",
    "7b-h100-tp1": "llama2-7b-h100",
}


@dataclasses.dataclass(frozen=True)
class Preset:
    """One replica's setup: the profile (model shape, HBM, FLOP/s, tp) and its links."""

    name: str
    profile: Profile
    gpu: GpuSpec
    act_reserve_bytes: int = 2 * GIB
    usable_fraction: float = 0.9
    t0_s: float = 3e-3                  # fixed cost of an iteration

    # ------------------------------------------------------------------ model shape
    @property
    def tp(self) -> int:
        return self.profile.hardware.num_gpus

    @property
    def num_layers(self) -> int:
        return self.profile.model.num_layers

    @property
    def hidden(self) -> int:
        m = self.profile.model
        return m.num_heads * m.head_dim

    @property
    def num_params(self) -> int:
        return self.profile.model.num_params

    @property
    def weight_bytes(self) -> int:
        """``P``: every weight of the model, over all ``tp`` GPUs."""
        return self.profile.weight_bytes

    @property
    def kv_bytes_per_token(self) -> int:
        return self.profile.kv_bytes_per_token

    @property
    def activation_bytes_per_token(self) -> int:
        """Bytes per token crossing a pipeline-stage boundary: ``hidden * 2``."""
        return self.hidden * self.profile.model.dtype_bytes

    # ------------------------------------------------------------------ capacity
    @property
    def kv_gpu_bytes(self) -> float:
        """``KV_gpu = 0.9 * HBM - P/tp - act_reserve`` per GPU."""
        hw = self.profile.hardware
        return (self.usable_fraction * hw.gpu_memory_bytes - self.weight_bytes / self.tp
                - self.act_reserve_bytes)

    def freed_bytes_per_gpu(self, g: int) -> float:
        """Weight bytes a GPU gives up in a group of ``g``: ``(P/tp)(1 - 1/g)``."""
        return self.weight_bytes / self.tp * (1 - 1 / g)

    def replica_tokens(self) -> float:
        """KV tokens of one replica: ``tp * KV_gpu / kv`` (not rounded)."""
        return self.tp * self.kv_gpu_bytes / self.kv_bytes_per_token

    def group_tokens(self, g: int) -> float:
        """KV tokens of a group of ``g`` after a drop: ``(g tp KV_gpu + (g-1) P) / kv``."""
        return (g * self.tp * self.kv_gpu_bytes + (g - 1) * self.weight_bytes) \
            / self.kv_bytes_per_token

    def replica_blocks(self) -> int:
        return int(self.replica_tokens() // BLOCK_TOKENS)

    def group_blocks(self, g: int) -> int:
        return int(self.group_tokens(g) // BLOCK_TOKENS)

    def restore_bytes_per_gpu(self, g: int) -> float:
        """Weights one GPU pulls back on restore: ``(P/tp)(g-1)/g``."""
        return self.freed_bytes_per_gpu(g)

    def to_dict(self) -> dict[str, object]:
        return {"preset": self.name, "profile": self.profile.name, "gpu": self.gpu.name,
                "tp": self.tp, "kv_bytes_per_token": self.kv_bytes_per_token,
                "weight_bytes": self.weight_bytes, "replica_tokens": self.replica_tokens()}


def preset_names() -> list[str]:
    """The preset names, then the kvopt profile names they stand for."""
    return list(PRESETS) + [p for p in PRESETS.values()]


def load_preset(name: str) -> Preset:
    """A preset by its name (``13b-a100-tp1``, ...) or by a kvopt profile name.

    Raises
    ------
    KvoptError
        For an unknown name (the message lists the known ones) or a GPU without link figures.
    """
    profile_name = PRESETS.get(name, name)
    if profile_name not in PRESETS.values() and profile_name not in available_profiles():
        raise KvoptError(f"unknown profile {name!r}; available: {', '.join(PRESETS)} "
                         f"(or a kvopt profile name: {', '.join(PRESETS.values())})")
    profile = load_profile(profile_name)
    gpu = GPUS.get(profile.hardware.gpu)
    if gpu is None:
        raise KvoptError(f"profile {name!r}: no link figures for GPU {profile.hardware.gpu!r}; "
                         f"known: {', '.join(GPUS)}")
    return Preset(name, profile, gpu)
