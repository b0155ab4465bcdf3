"""Errors are gdn.Error subclasses mirroring the C++ statuses, with the C++ messages; a rejected
call writes nothing (the pool is bit-identical afterwards). Row IDs (PY*) are those of docs/errors.md."""

import numpy as np
import pytest
import torch

import gdn
from conftest import Problem


def test_hierarchy_mirrors_the_statuses():
    classes = [gdn.InvalidArgument, gdn.Unsupported, gdn.OutOfMemory, gdn.NoDevice, gdn.Driver, gdn.Runtime,
               gdn.Internal]
    assert [c.status for c in classes] == list(range(1, 8))
    assert all(issubclass(c, gdn.Error) for c in classes)
    assert issubclass(gdn.InvalidArgument, ValueError)
    assert [gdn.status_name(c.status) for c in classes[:2]] == ["invalid argument", "unsupported"]


@pytest.fixture
def setup(cpu, seed):
    p = Problem(lens=(3,))
    pool = p.pool(cpu, num_slots=4)
    p.place_states(pool, [1])
    return p, pool, p.layer(), gdn.ForwardBatch.extend(pool, [1], [3])


def rejected(pool, call, error, message):
    """`call` raises `error` with exactly `message`, and the pool is unchanged."""
    before = pool.snapshot()
    with pytest.raises(error) as info:
        call()
    assert str(info.value) == message
    assert pool.snapshot() == before


def test_layer_inputs(setup):
    p, pool, layer, batch = setup
    C = p.C
    rejected(pool, lambda: layer.forward(batch, torch.randn(3, C, dtype=torch.bfloat16), p.a, p.b),
             gdn.InvalidArgument, "mixed_qkv: dtype f32, got bf16")
    rejected(pool, lambda: layer.forward(batch, p.mixed_qkv, torch.randn(3, 5), p.b),
             gdn.InvalidArgument, "a: shape [3, 4], got [3, 5]")
    rejected(pool, lambda: layer.forward(batch, p.mixed_qkv[:2], p.a, p.b),
             gdn.InvalidArgument, f"mixed_qkv: shape [3, {C}], got [2, {C}]")
    rejected(pool, lambda: layer.forward(batch, p.mixed_qkv, p.a, p.b, torch.empty(3, 7)),
             gdn.InvalidArgument, "out: shape [3, 64], got [3, 7]")
    # PY1, PY2, PY3: what DLPack cannot describe to gdn.
    rejected(pool, lambda: layer.forward(batch, "x", p.a, p.b),
             gdn.InvalidArgument, "mixed_qkv: a tensor with __dlpack__ (torch, NumPy, ...), got str")
    rejected(pool, lambda: layer.forward(batch, p.mixed_qkv.double(), p.a, p.b),
             gdn.InvalidArgument, "mixed_qkv: dtype float32, bfloat16, float16, int32 or int64, got DLPack type "
                                  "code 2 with 64 bits x 1 lanes")
    # PY16: torch exports a negative view's memory without the negation.
    rejected(pool, lambda: layer.forward(batch, torch._neg_view(p.mixed_qkv), p.a, p.b), gdn.InvalidArgument,
             "mixed_qkv: a tensor whose values are its memory, got a negative view (torch's neg bit; call "
             ".resolve_neg() first)")
    before = pool.snapshot()
    with pytest.raises(gdn.InvalidArgument, match=r"^mixed_qkv: a tensor that can be exported through DLPack, but "
                                                  r"(torch\.utils\.dlpack\.to_dlpack|Tensor\.__dlpack__) raised: "):
        layer.forward(batch, p.mixed_qkv.to_sparse(), p.a, p.b)  # PY3, torch's exporter
    assert pool.snapshot() == before
    readonly = p.mixed_qkv.numpy().copy()
    readonly.setflags(write=False)
    with pytest.raises(gdn.InvalidArgument, match=r"^mixed_qkv: a tensor that can be exported through DLPack, but "
                                                  r"__dlpack__ raised: BufferError"):
        layer.forward(batch, readonly, p.a.numpy(), p.b.numpy())


def test_batch_arguments(setup):
    p, pool, layer, batch = setup
    rejected(pool, lambda: gdn.ForwardBatch.extend(pool, [1, 1], [2, 2]), gdn.InvalidArgument,
             "req_pool_indices[1]: a slot not used by another request of the batch, but slot 1 appears twice")
    rejected(pool, lambda: gdn.ForwardBatch.extend(pool, [9], [2]), gdn.InvalidArgument,
             "req_pool_indices[0]: a slot in 0..3 or the padding slot 4, got 9")
    rejected(pool, lambda: gdn.ForwardBatch.extend(pool, [1], [2, 3]), gdn.InvalidArgument,
             "extend_seq_lens: one length per request (1), got 2")
    rejected(pool, lambda: gdn.ForwardBatch("verify", pool, [1], [2]), gdn.InvalidArgument,  # PY4
             "forward_mode: extend, decode or mixed, got 'verify'")
    rejected(pool, lambda: gdn.ForwardBatch.extend(pool, "12", [2]), gdn.InvalidArgument,  # PY5
             "req_pool_indices: a sequence of ints, got str")
    rejected(pool, lambda: gdn.ForwardBatch.extend(pool, [1.5], [2]), gdn.InvalidArgument,  # PY6
             "req_pool_indices[0]: an int, got float")


def test_layer_construction(cpu):
    C = 128
    with pytest.raises(gdn.InvalidArgument, match=r"^A_log\[1\]: a finite value, got nan$"):
        gdn.RadixLinearAttention(0, 0, 2, 4, 16, 16, torch.randn(C, 4), torch.tensor([0, float("nan"), 0, 0]),
                                 torch.zeros(4))
    with pytest.raises(gdn.InvalidArgument, match=r"^conv_weight: shape \[conv_dim = 128, Kc in 2..31\], got \[64, 4\]$"):
        gdn.RadixLinearAttention(0, 0, 2, 4, 16, 16, torch.randn(64, 4), torch.zeros(4), torch.zeros(4))
    with pytest.raises(gdn.InvalidArgument, match=r"^dtype: one of f32, bf16, f16 \(or float32, bfloat16, float16\), "
                                                  r"got 'int8'$"):  # PY7
        gdn.GDNPool(cpu, 1, 4, 2, 4, 16, 16, 4, "int8")


def test_unsupported_is_its_own_class(cpu, seed):
    """The CPU backend runs conv widths 2..4: Kc = 5 is valid but unsupported, and writes nothing."""
    p = Problem(Kc=5, lens=(2,))
    pool = p.pool(cpu, num_slots=2)
    rejected(pool, lambda: p.layer().forward(gdn.ForwardBatch.extend(pool, [0], [2]), p.mixed_qkv, p.a, p.b),
             gdn.Unsupported, "backend cpu does not support conv_kernel 5")


def test_gdn_layer_idx_beyond_the_pool(setup):
    p, pool, _, batch = setup
    rejected(pool, lambda: p.layer(gdn_layer_idx=1).forward(batch, p.mixed_qkv, p.a, p.b), gdn.InvalidArgument,
             "gdn_layer_idx: below the pool's num_layers (1), got 1")


def test_registry_errors(cpu):
    with pytest.raises(gdn.InvalidArgument, match=r"^unknown backend `nosuch`: expected auto or one of: .*cpu"):
        gdn.open("nosuch")
    with pytest.raises(gdn.Unsupported, match=r"^stream_wrap: backend 'cpu' has no native streams"):
        gdn.Stream.wrap(cpu, 1234)
    with pytest.raises(gdn.InvalidArgument, match=r"^/nonexistent\.safetensors: cannot open file"):
        gdn.check("/nonexistent.safetensors", "cpu")


def test_reference_arguments(seed):
    p = Problem(lens=(3,))
    with pytest.raises(gdn.InvalidArgument, match=r"^a: 12 elements, got 8 \(shape \[2, 4\]\)$"):  # PY8
        gdn.reference_forward(p.H, p.HV, p.Dk, p.Dv, p.mixed_qkv, p.a[:2], p.b, p.conv_weight, p.A_log, p.dt_bias,
                              p.cu)
    with pytest.raises(gdn.InvalidArgument, match=r"^cu_seqlens: \[B \+ 1\] cumulative lengths starting at 0$"):
        gdn.reference_forward(p.H, p.HV, p.Dk, p.Dv, p.mixed_qkv, p.a, p.b, p.conv_weight, p.A_log, p.dt_bias,
                              [1, 3])
    np.testing.assert_equal(gdn.status_name(0), "ok")
