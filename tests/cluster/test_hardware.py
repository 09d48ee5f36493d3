"""Presets, capacity formulas (spec section 5), the interconnect and the step times."""

from __future__ import annotations

import pytest

from kvopt.cluster.hardware import GIB, PRESETS, load_preset
from kvopt.cluster.network import Interconnect
from kvopt.cluster.steptime import StepTime
from kvopt.exceptions import KvoptError

# spec section 5: KV per GPU (GiB), tokens per replica, g=2 freed per GPU (GiB) and tokens per
# replica, g=4 tokens per replica (thousands)
CAPACITY = {
    "7b-a100-tp1": (57.4, 117.7, 6.3, 130.5, 136.9),
    "13b-a100-tp1": (45.8, 60.0, 12.1, 75.9, 83.8),
    "70b-a100-tp4": (37.9, 496.5, 16.1, 707.0, 812.3),
    "70b-a100-tp2": (5.8, 37.8, 32.1, 248.3, 353.5),
}


@pytest.mark.parametrize("name", list(CAPACITY))
def test_capacity_table_of_the_spec(name):
    """The capacity table of spec section 5, to its printed precision."""
    kv_gib, tokens_k, freed_gib, g2_k, g4_k = CAPACITY[name]
    p = load_preset(name)
    assert round(p.kv_gpu_bytes / GIB, 1) == kv_gib
    assert round(p.replica_tokens() / 1e3, 1) == pytest.approx(tokens_k, abs=0.1)
    assert round(p.freed_bytes_per_gpu(2) / GIB, 1) == freed_gib
    assert round(p.group_tokens(2) / 2 / 1e3, 1) == pytest.approx(g2_k, abs=0.1)
    assert round(p.group_tokens(4) / 4 / 1e3, 1) == pytest.approx(g4_k, abs=0.1)


def test_presets_accept_profile_names_and_refuse_unknown_ones():
    assert load_preset("llama2-13b-a100").replica_blocks() == load_preset(
        "13b-a100-tp1").replica_blocks()
    assert set(PRESETS) >= {"13b-a100-tp1", "70b-a100-tp4", "70b-a100-tp2", "13b-h100-tp1"}
    with pytest.raises(KvoptError, match="unknown profile 'gpt-5'"):
        load_preset("gpt-5")


@pytest.mark.parametrize(("name", "gpu", "ms"), [
    ("13b-a100-tp1", "a100", 62), ("13b-h100-tp1", "h100", 41),
    ("70b-a100-tp4", "a100", 82), ("70b-a100-tp2", "a100", 164)])
def test_restore_pull_over_nvlink_matches_the_spec(name, gpu, ms):
    """Restore table of section 5: (P/tp)(g-1)/g per GPU over effective NVLink, g = 2."""
    p = load_preset(name)
    net = Interconnect(p.gpu, 2, p.tp)
    seconds = net.replica_transfer_s(0, 1, p.restore_bytes_per_gpu(2) * p.tp)
    assert seconds * 1e3 == pytest.approx(ms, abs=1)


def test_transfers_are_priced_by_their_path():
    """NVLink inside a node, PCIe to host, the network between nodes with 10 us."""
    p = load_preset("13b-a100-tp1")
    net = Interconnect(p.gpu, 16, 1)                 # 8 GPUs per node: two nodes
    assert net.replica_transfer_s(0, 1, 210e9) == pytest.approx(1 + 5e-6)
    assert net.replica_transfer_s(0, 8, 20e9) == pytest.approx(1 + 10e-6)
    assert net.host_transfer_s(0, 1.68e9) * 1e3 == pytest.approx(65.6, abs=0.1)   # spec: 67
    assert net.transfer_s(("gpu", 0), ("gpu", 0), 1e9) == 0.0
    slow = Interconnect(p.gpu, 4, 1, intra_node_at_pcie=True)
    assert slow.replica_transfer_s(0, 1, 25.6e9) == pytest.approx(1 + 5e-6)


def test_roofline_step_time():
    """A 2048-token prefill of 13B takes 0.28 s on an A100 (spec section 5); a lone decode is
    bound by reading the weights."""
    p = load_preset("13b-a100-tp1")
    st = StepTime(p)
    assert st.step_s(2048, 2048) == pytest.approx(0.003 + 0.2846, abs=1e-3)
    read_s = (p.weight_bytes + 100 * p.kv_bytes_per_token) / (0.8 * 2.039e12)
    assert st.step_s(1, 100) == pytest.approx(0.003 + read_s, rel=1e-9)
    assert StepTime(load_preset("70b-a100-tp4")).ar_per_tok_s > 0


def test_balanced_pipeline_costs_g_activation_transfers_over_dp():
    """Balanced micro-batches: a token gap of T(micro-batch) + g t_act, no bubbles; naive ones
    with unequal micro-batches idle."""
    st = StepTime(load_preset("13b-a100-tp1"))
    g, n, ctx = 2, 400.0, 200_000.0
    assert st.balanced_s(g, n, ctx) == pytest.approx(st.step_s(n / g, ctx / g)
                                                     + g * st.act_s(n / g))
    dur, bubble = st.pipeline_s(g, [(n / g, ctx / g)] * g)
    assert dur == pytest.approx(st.balanced_s(g, n, ctx)) and bubble == pytest.approx(0)
    dur, bubble = st.pipeline_s(g, [(4000.0, 4000.0), (10.0, 5000.0)])
    assert bubble > 0 and dur == pytest.approx(g * st.stage_s(g, 4000.0, 4000.0))
