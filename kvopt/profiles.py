"""LLM x GPU profiles (``kvopt/data/models/*.toml``): KV bytes per token, KV capacity ``M``,
time model.

The shipped profiles are package data, read through :mod:`importlib.resources`, so an
installed kvopt finds them from any directory.

A profile states a model's shape and the GPUs it runs on; everything else is derived here:

- KV bytes per token: ``2 (K and V) x num_layers x num_kv_heads x head_dim x dtype_bytes``;
- weight bytes: ``num_params x dtype_bytes``;
- usable bytes: ``floor(usable_fraction x gpu_memory_bytes x num_gpus)`` (``usable_fraction``
  plays the role of vLLM's ``gpu_memory_utilization``);
- derived KV capacity in tokens:
  ``M = floor((usable - weights - num_gpus x activation_reserve_bytes_per_gpu)
  / kv_bytes_per_token)``
  (tensor parallelism shards both the weights and the KV heads, so the totals add up);
- ``kv_capacity_tokens``: ``[memory] kv_capacity_tokens_override`` when given (the paper's
  16,492 for Llama-2-70B on two A100s), else the derived ``M``.

The ``[time_model]`` table holds batch-time coefficients in milliseconds (the unit of the
profiles they are fitted to); :attr:`Profile.time_model` converts them to seconds. Every error is
one line naming the file, the table and the field.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, NoReturn

from kvopt.exceptions import KvoptError
from kvopt.time_model import LinearBatchTime, TimeModel, UnitTime

__all__ = [
    "MODELS_DIR",
    "Hardware",
    "ModelShape",
    "Profile",
    "ProfileError",
    "available_profiles",
    "load_profile",
    "parse_profile",
]

#: The shipped profiles: ``kvopt/data/models/<name>.toml`` inside the installed package.
MODELS_DIR: Traversable = resources.files("kvopt") / "data" / "models"

ProfileDir = str | os.PathLike[str] | Traversable

_MS = 1e-3


class ProfileError(KvoptError, ValueError):
    """A profile file is unreadable, malformed, or describes an impossible setup."""


@dataclasses.dataclass(frozen=True)
class ModelShape:
    """The shape of a decoder-only transformer, as far as memory and roofline costs go."""

    name: str
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    num_params: int
    dtype_bytes: int

    @property
    def kv_bytes_per_token(self) -> int:
        """Bytes of KV cache one token takes over all layers: K and V, every KV head."""
        return 2 * self.num_layers * self.num_kv_heads * self.head_dim * self.dtype_bytes

    @property
    def weight_bytes(self) -> int:
        return self.num_params * self.dtype_bytes


@dataclasses.dataclass(frozen=True)
class Hardware:
    """``num_gpus`` identical GPUs running one model replica with tensor parallelism."""

    gpu: str
    num_gpus: int
    gpu_memory_bytes: int
    hbm_bandwidth_bytes_per_s: float
    peak_flops: float
    usable_fraction: float
    activation_reserve_bytes_per_gpu: int

    @property
    def usable_bytes(self) -> int:
        return math.floor(self.usable_fraction * self.gpu_memory_bytes * self.num_gpus)

    @property
    def ridge_tokens(self) -> float:
        """Roofline ridge in batch tokens: an fp16 GEMM does one FLOP per weight byte per token."""
        return self.peak_flops / self.hbm_bandwidth_bytes_per_s


@dataclasses.dataclass(frozen=True)
class Profile:
    """One LLM on one GPU setup: memory facts, KV capacity and batch-time model."""

    name: str
    description: str
    model: ModelShape
    hardware: Hardware
    kv_capacity_tokens_override: int | None
    time_model: TimeModel
    time_model_source: str
    path: Path | None = None

    @property
    def kv_bytes_per_token(self) -> int:
        return self.model.kv_bytes_per_token

    @property
    def weight_bytes(self) -> int:
        return self.model.weight_bytes

    @property
    def kv_cache_bytes(self) -> int:
        """Bytes left for the KV cache: usable memory minus weights and activation reserve."""
        hw = self.hardware
        reserve_bytes = hw.num_gpus * hw.activation_reserve_bytes_per_gpu
        return hw.usable_bytes - self.weight_bytes - reserve_bytes

    @property
    def derived_kv_capacity_tokens(self) -> int:
        """``M`` from the memory arithmetic (module docstring), ignoring any override."""
        return self.kv_cache_bytes // self.kv_bytes_per_token

    @property
    def kv_capacity_tokens(self) -> int:
        """``M``: the override when the profile gives one, else the derived capacity."""
        if self.kv_capacity_tokens_override is not None:
            return self.kv_capacity_tokens_override
        return self.derived_kv_capacity_tokens

    def to_dict(self) -> dict[str, Any]:
        """Facts worth saving next to a result (JSON-ready)."""
        return {
            "name": self.name,
            "model": dataclasses.asdict(self.model),
            "hardware": dataclasses.asdict(self.hardware),
            "kv_bytes_per_token": self.kv_bytes_per_token,
            "weight_bytes": self.weight_bytes,
            "derived_kv_capacity_tokens": self.derived_kv_capacity_tokens,
            "kv_capacity_tokens": self.kv_capacity_tokens,
            "time_model": self.time_model.to_dict(),
            "time_model_source": self.time_model_source,
        }


# --------------------------------------------------------------------------- parsing
class _Table:
    """Typed access to one TOML table; every error names file, table and field."""

    def __init__(self, where: str, table: str, data: Any) -> None:
        self.where, self.table = where, table
        if not isinstance(data, dict):
            self.fail(None, f"must be a table, got {type(data).__name__}")
        self.data: dict[str, Any] = data
        self.used: set[str] = set()

    def fail(self, key: str | None, message: str) -> NoReturn:
        field = f"[{self.table}]" if key is None else f"[{self.table}] {key}"
        raise ProfileError(f"{self.where}: {field}: {message}")

    def _get(self, key: str, required: bool) -> Any:
        self.used.add(key)
        if key not in self.data:
            if required:
                self.fail(key, "missing required field")
            return None
        return self.data[key]

    def text(self, key: str, *, required: bool = True, default: str = "") -> str:
        v = self._get(key, required)
        if v is None:
            return default
        if not isinstance(v, str):
            self.fail(key, f"must be a string, got {v!r}")
        return v

    def integer(self, key: str, *, minimum: int = 1) -> int:
        v = self._get(key, True)
        return self._check_integer(key, v, minimum)

    def optional_integer(self, key: str, *, minimum: int = 1) -> int | None:
        v = self._get(key, False)
        return None if v is None else self._check_integer(key, v, minimum)

    def _check_integer(self, key: str, v: Any, minimum: int) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            self.fail(key, f"must be an integer, got {v!r}")
        if v < minimum:
            self.fail(key, f"must be at least {minimum}, got {v}")
        return int(v)

    def number(self, key: str, *, positive: bool = True, maximum: float | None = None) -> float:
        v = self._get(key, True)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            self.fail(key, f"must be a finite number, got {v!r}")
        if positive and v <= 0:
            self.fail(key, f"must be positive, got {v}")
        if not positive and v < 0:
            self.fail(key, f"must be >= 0, got {v}")
        if maximum is not None and v > maximum:
            self.fail(key, f"must be at most {maximum}, got {v}")
        return float(v)

    def done(self) -> None:
        if unknown := sorted(set(self.data) - self.used):
            self.fail(unknown[0], "unknown field")


_LINEAR_MS_FIELDS = {
    "base_ms": "base_s",
    "prefill_token_ms": "prefill_token_s",
    "decode_request_ms": "decode_request_s",
    "compute_token_ms": "compute_token_s",
    "prefill_attn_token2_ms": "prefill_attn_token2_s",
    "decode_context_token_ms": "decode_context_token_s",
}


def _parse_time_model(t: _Table) -> tuple[TimeModel, str]:
    kind = t.text("kind")
    source = t.text("source", required=False)
    model: TimeModel
    if kind == "unit":
        model = UnitTime(t.number("round_s"))
    elif kind == "linear":
        values = {attr: t.number(key, positive=False) * _MS
                  for key, attr in _LINEAR_MS_FIELDS.items()}
        model = LinearBatchTime(**values, knee_tokens=t.number("knee_tokens", positive=False))
    else:
        t.fail("kind", f"must be 'unit' or 'linear', got {kind!r}")
    t.done()
    return model, source


def parse_profile(data: Any, *, name: str, where: str = "<profile>") -> Profile:
    """Build a :class:`Profile` from parsed TOML ``data``.

    Raises
    ------
    ProfileError
        ``"<where>: [<table>] <field>: <what is wrong>"``.
    """
    top = _Table(where, "top level", data)
    description = top.text("description", required=False)
    top.used.update({"model", "hardware", "memory", "time_model"})
    top.done()

    m = _Table(where, "model", top._get("model", True))
    model = ModelShape(
        name=m.text("name"),
        num_layers=m.integer("num_layers"),
        num_heads=m.integer("num_heads"),
        num_kv_heads=m.integer("num_kv_heads"),
        head_dim=m.integer("head_dim"),
        num_params=m.integer("num_params"),
        dtype_bytes=m.integer("dtype_bytes"),
    )
    if model.num_heads % model.num_kv_heads:
        m.fail("num_kv_heads", f"{model.num_kv_heads} does not divide num_heads {model.num_heads}")
    m.done()

    h = _Table(where, "hardware", top._get("hardware", True))
    hardware = Hardware(
        gpu=h.text("gpu"),
        num_gpus=h.integer("num_gpus"),
        gpu_memory_bytes=h.integer("gpu_memory_bytes"),
        hbm_bandwidth_bytes_per_s=h.number("hbm_bandwidth_bytes_per_s"),
        peak_flops=h.number("peak_flops"),
        usable_fraction=h.number("usable_fraction", maximum=1.0),
        activation_reserve_bytes_per_gpu=h.integer(
            "activation_reserve_bytes_per_gpu", minimum=0),
    )
    if model.num_kv_heads % hardware.num_gpus:
        h.fail("num_gpus", f"{hardware.num_gpus} GPUs cannot split {model.num_kv_heads} KV heads "
                           "evenly (tensor parallelism shards KV heads)")
    h.done()

    override = None
    if "memory" in data:
        mem = _Table(where, "memory", data["memory"])
        override = mem.optional_integer("kv_capacity_tokens_override")
        mem.done()

    tm = _Table(where, "time_model", top._get("time_model", True))
    time_model, source = _parse_time_model(tm)

    profile = Profile(name, description, model, hardware, override, time_model, source)
    if profile.derived_kv_capacity_tokens < 1:
        raise ProfileError(
            f"{where}: [hardware]: no room for the KV cache: usable {hardware.usable_bytes} bytes "
            f"- weights {profile.weight_bytes} - activation reserve "
            f"{hardware.num_gpus * hardware.activation_reserve_bytes_per_gpu} = "
            f"{profile.kv_cache_bytes} bytes"
        )
    return profile


def _directory(models_dir: ProfileDir | None) -> Traversable:
    if models_dir is None:
        return MODELS_DIR
    if isinstance(models_dir, (str, os.PathLike)):
        return Path(models_dir)
    return models_dir


def available_profiles(models_dir: ProfileDir | None = None) -> list[str]:
    """Names of the profiles in ``models_dir`` (default: the shipped ones, :data:`MODELS_DIR`),
    sorted; empty when there are none."""
    directory = _directory(models_dir)
    if not directory.is_dir():
        return []
    return sorted(p.name.removesuffix(".toml") for p in directory.iterdir()
                  if p.name.endswith(".toml") and p.is_file())


def load_profile(
    name_or_path: str | os.PathLike[str], *, models_dir: ProfileDir | None = None
) -> Profile:
    """Load a profile by name (``<models_dir>/<name>.toml``, default the shipped ones) or from a
    TOML file path.

    Raises
    ------
    ProfileError
        One line naming the file and field; for an unknown name, the available ones.
    """
    source: Traversable = Path(name_or_path)
    if Path(name_or_path).suffix != ".toml" and not Path(name_or_path).exists():
        directory = _directory(models_dir)
        source = directory / f"{name_or_path}.toml"
        if not source.is_file():
            names = available_profiles(directory)
            raise ProfileError(
                f"unknown profile {str(name_or_path)!r}; available: " + ", ".join(names)
                if names else
                f"unknown profile {str(name_or_path)!r}: no profiles found in {directory}"
            )
    # a shipped profile is a file on disk in every ordinary installation (not in a zip)
    path = source if isinstance(source, Path) else None
    where = str(source)
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProfileError(f"{where}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ProfileError(f"{where}: not UTF-8 text: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{where}: invalid TOML: {exc}") from None
    stem = source.name.removesuffix(".toml") if path is None else path.stem
    profile = parse_profile(data, name=stem, where=where)
    return dataclasses.replace(profile, path=path)
