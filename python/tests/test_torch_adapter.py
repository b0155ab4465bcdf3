"""gdn.torch: pymllm-style layers and batches delegate to gdn unchanged."""

import enum
from types import SimpleNamespace

import pytest
import torch

import gdn
import gdn.torch as gt
from conftest import Problem, TOLERANCE, rel_l2


class ForwardMode(enum.Enum):  # the engine's own enum, as pymllm has one
    EXTEND = 1
    DECODE = 2
    MIXED = 3


def engine_layer(p, gdn_layer_idx):
    """An object with pymllm's RadixLinearAttention fields (not a gdn type)."""
    return SimpleNamespace(layer_id=3 + gdn_layer_idx, gdn_layer_idx=gdn_layer_idx, num_k_heads=p.H,
                           num_v_heads=p.HV, head_k_dim=p.Dk, head_v_dim=p.Dv,
                           conv_weight=torch.nn.Parameter(p.conv_weight.unsqueeze(1)),
                           A_log=torch.nn.Parameter(p.A_log), dt_bias=torch.nn.Parameter(p.dt_bias))


def test_extend_then_decode_through_forward_gdn(cpu, seed):
    p = Problem(lens=(6, 3), dtype="bf16")
    pool = p.pool(cpu, num_slots=4, num_layers=2)
    p.place_states(pool, [3, 1], layer=1)
    layer = engine_layer(p, 1)
    fb = SimpleNamespace(forward_mode=ForwardMode.EXTEND, req_pool_indices=torch.tensor([3, 1]),
                         extend_seq_lens=torch.tensor(p.lens), gdn_pool=pool)
    out = gt.forward_gdn(layer, fb, p.mixed_qkv, p.a, p.b)
    want_out, _, want_rec = p.expected()
    assert isinstance(out, torch.Tensor) and out.dtype == torch.bfloat16
    assert rel_l2(out, want_out) <= TOLERANCE["bf16"]
    assert rel_l2(torch.from_dlpack(pool.recurrent_state(1))[[3, 1]], want_rec) <= TOLERANCE["bf16"]
    made = layer._gdn_layer
    assert isinstance(made, gdn.RadixLinearAttention) and made.gdn_layer_idx == 1

    # A decode step: the same gdn layer, and one gdn batch shared by every layer of the step.
    backend = gt.GDNAttentionBackend(pool)
    fb2 = SimpleNamespace(forward_mode=ForwardMode.DECODE, req_pool_indices=torch.tensor([3, 1]),
                          extend_seq_lens=None)
    x, a, b = (torch.randn(2, n).bfloat16() for n in (p.C, p.HV, p.HV))
    out2 = backend.forward_gdn(layer, fb2, x, a, b)
    assert layer._gdn_layer is made and out2.shape == (2, p.HV * p.Dv)
    assert backend.batch_for(fb2) is backend.batch_for(fb2)
    assert backend.batch_for(fb2).forward_mode == gdn.ForwardMode.DECODE


def test_default_pool_and_missing_pool(cpu, seed):
    p = Problem(lens=(2,))
    pool = p.pool(cpu, num_slots=2)
    fb = SimpleNamespace(forward_mode="extend", req_pool_indices=[0], extend_seq_lens=[2])
    gt.set_default_pool(None)
    with pytest.raises(gdn.InvalidArgument, match=r"^forward_batch: a gdn_pool attribute"):  # PY9
        gt.forward_gdn(p.layer(), fb, p.mixed_qkv, p.a, p.b)
    gt.set_default_pool(pool)
    try:
        out = gt.forward_gdn(p.layer(), fb, p.mixed_qkv, p.a, p.b)
        assert out.shape == (2, p.HV * p.Dv)
    finally:
        gt.set_default_pool(None)
