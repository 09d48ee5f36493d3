import math

import pytest

from kvopt.profiles import (
    MODELS_DIR,
    ProfileError,
    available_profiles,
    load_profile,
)
from kvopt.time_model import LinearBatchTime, UnitTime

GIB = 2**30
SHIPPED = [
    "llama2-13b-a100", "llama2-13b-h100", "llama2-70b-a100x2", "llama2-70b-a100x4",
    "llama2-7b-a100", "llama2-7b-h100",
]

TEMPLATE = """\
description = "test"
[model]
name = "Tiny"
num_layers = 2
num_heads = 4
num_kv_heads = 2
head_dim = 8
num_params = 1000
dtype_bytes = 2
[hardware]
gpu = "G"
num_gpus = 2
gpu_memory_bytes = 100_000
hbm_bandwidth_bytes_per_s = 1e12
peak_flops = 1e14
usable_fraction = 0.9
activation_reserve_bytes_per_gpu = 1000
[time_model]
kind = "unit"
round_s = 1.0
"""


def write(tmp_path, text, name="tiny"):
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


def test_every_shipped_profile_loads():
    """All six issue profiles exist, load and have a positive capacity and a linear model."""
    assert available_profiles() == SHIPPED
    for name in SHIPPED:
        p = load_profile(name)
        assert p.kv_capacity_tokens > 0 and isinstance(p.time_model, LinearBatchTime)
        assert p.path == MODELS_DIR / f"{name}.toml"


def test_llama2_70b_memory_facts_match_spec():
    """Spec section 8: 327,680 KV bytes per token, about 129 GiB of weights, M override 16,492."""
    p = load_profile("llama2-70b-a100x2")
    assert p.kv_bytes_per_token == 2 * 80 * 8 * 128 * 2 == 327_680
    assert p.weight_bytes / GIB == pytest.approx(128.5, abs=0.1)
    assert p.kv_capacity_tokens == 16_492
    usable = math.floor(0.9 * 80 * GIB * 2)
    assert p.derived_kv_capacity_tokens == (usable - p.weight_bytes - 2 * 2 * GIB) // 327_680


def test_derived_capacity_without_override():
    """Llama-2-7B on one A100: no GQA, 512 KiB per token; M is the derived value."""
    p = load_profile("llama2-7b-a100")
    assert p.kv_bytes_per_token == 524_288
    assert p.kv_capacity_tokens_override is None
    usable = math.floor(0.9 * 80 * GIB)
    assert p.kv_capacity_tokens == (usable - 6_738_415_616 * 2 - 2 * GIB) // 524_288


def test_tiny_profile_arithmetic(tmp_path):
    """M = floor((0.9 x 100,000 x 2 - 2,000 weights - 2 x 1,000 reserve) / 128)."""
    p = load_profile(write(tmp_path, TEMPLATE))
    assert p.name == "tiny" and p.kv_bytes_per_token == 2 * 2 * 2 * 8 * 2 == 128
    assert p.derived_kv_capacity_tokens == (180_000 - 2_000 - 2_000) // 128
    assert p.time_model == UnitTime(1.0)


def test_override_replaces_derived_capacity(tmp_path):
    """[memory] kv_capacity_tokens_override wins; the derived value stays available."""
    p = load_profile(write(tmp_path, TEMPLATE + "[memory]\nkv_capacity_tokens_override = 77\n"))
    assert p.kv_capacity_tokens == 77 and p.derived_kv_capacity_tokens == 1375


def test_linear_time_model_in_ms(tmp_path):
    """Coefficients are read in ms and stored in seconds."""
    text = TEMPLATE.replace('kind = "unit"\nround_s = 1.0\n', (
        'kind = "linear"\nbase_ms = 50\nprefill_token_ms = 0.1\ndecode_request_ms = 0.2\n'
        'compute_token_ms = 0.3\nprefill_attn_token2_ms = 0\ndecode_context_token_ms = 1e-4\n'
        'knee_tokens = 128\n'))
    tm = load_profile(write(tmp_path, text)).time_model
    assert isinstance(tm, LinearBatchTime)
    assert tm.base_s == pytest.approx(0.05) and tm.decode_context_token_s == pytest.approx(1e-7)


@pytest.mark.parametrize("old, new, match", [
    ("num_layers = 2\n", "", r"\[model\] num_layers: missing required field"),
    ("num_layers = 2", 'num_layers = "2"', r"\[model\] num_layers: must be an integer"),
    ("num_layers = 2", "num_layers = 0", r"\[model\] num_layers: must be at least 1"),
    ("usable_fraction = 0.9", "usable_fraction = 1.5", r"\[hardware\] usable_fraction: .*at most"),
    ("peak_flops = 1e14", "peak_flops = -1.0", r"\[hardware\] peak_flops: must be positive"),
    ("head_dim = 8\n", "head_dim = 8\nhead_dims = 8\n", r"\[model\] head_dims: unknown field"),
    ("num_kv_heads = 2", "num_kv_heads = 3", r"\[model\] num_kv_heads: 3 does not divide"),
    ("num_gpus = 2", "num_gpus = 4", r"\[hardware\] num_gpus: 4 GPUs cannot split"),
    ('kind = "unit"', 'kind = "cubic"', r"\[time_model\] kind: must be 'unit' or 'linear'"),
    ("num_params = 1000", "num_params = 100_000", r"\[hardware\]: no room for the KV cache"),
])
def test_invalid_field_names_file_and_field(tmp_path, old, new, match):
    """Each broken field gives one line naming the file, table and field."""
    path = write(tmp_path, TEMPLATE.replace(old, new))
    with pytest.raises(ProfileError, match=match) as info:
        load_profile(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_invalid_toml_names_file(tmp_path):
    """A TOML syntax error is reported with the file name."""
    path = write(tmp_path, "[model\n")
    with pytest.raises(ProfileError, match="invalid TOML"):
        load_profile(path)


def test_unknown_profile_lists_available():
    """An unknown name lists the shipped profiles."""
    with pytest.raises(ProfileError, match="llama2-70b-a100x2"):
        load_profile("gpt-5-on-a-toaster")


def test_to_dict_is_json_ready():
    """to_dict carries capacity, derived capacity and the time model."""
    import json

    d = json.loads(json.dumps(load_profile("llama2-70b-a100x4").to_dict()))
    assert d["kv_capacity_tokens"] == d["derived_kv_capacity_tokens"]
    assert d["time_model"]["kind"] == "linear"


def test_no_profiles_found(tmp_path):
    """An empty (or missing) profile directory lists nothing, and a name names the problem."""
    assert available_profiles(tmp_path) == [] and available_profiles(tmp_path / "absent") == []
    with pytest.raises(ProfileError, match="no profiles found in"):
        load_profile("llama2-7b-a100", models_dir=tmp_path)
