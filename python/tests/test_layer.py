"""The layer through Python against the pure-torch recurrence: every activation dtype, torch and
NumPy, extend / decode / mixed, strided inputs, and zero copy in and out."""

import numpy as np
import pytest
import torch

import gdn
from conftest import TOLERANCE, Problem, rel_l2


def run(problem, backend, slots, mode="extend", inputs=None, out=None):
    pool = problem.pool(backend)
    problem.place_states(pool, slots)
    layer = problem.layer()
    batch = gdn.ForwardBatch(mode, pool, slots, problem.lens)
    x, a, b = inputs or (problem.mixed_qkv, problem.a, problem.b)
    result = layer.forward(batch, x, a, b, out)
    return pool, result


def check_against_torch(problem, pool, slots, out):
    want_out, want_conv, want_rec = problem.expected()
    tol = TOLERANCE[problem.dtype]
    assert rel_l2(torch.as_tensor(out).float(), want_out) <= tol
    rec = torch.from_dlpack(pool.recurrent_state(0))[slots]
    conv = torch.from_dlpack(pool.conv_state(0))[slots]
    assert rel_l2(rec, want_rec) <= tol
    # The conv state is the last inputs themselves: exact.
    assert torch.equal(conv, want_conv.to(conv.dtype))


@pytest.mark.parametrize("dtype", ["f32", "bf16", "f16"])
@pytest.mark.parametrize("mode,lens", [("extend", (5, 0, 70, 2)), ("decode", (1, 1, 1)), ("mixed", (1, 9, 1, 0))])
def test_torch_every_dtype_and_mode(cpu, seed, dtype, mode, lens):
    p = Problem(dtype=dtype, lens=lens)
    slots = [11, 3, 8, 0][:len(lens)]
    pool, out = run(p, cpu, slots, mode)
    assert isinstance(out, torch.Tensor) and out.dtype == gdn_torch_dtype(dtype)
    assert out.shape == (sum(lens), p.HV * p.Dv)
    check_against_torch(p, pool, slots, out)


def gdn_torch_dtype(name):
    return {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}[name]


@pytest.mark.parametrize("dtype", ["f32", "f16"])  # NumPy has no bfloat16 (bf16 goes through torch)
def test_numpy_in_numpy_out(cpu, seed, dtype):
    p = Problem(dtype=dtype, lens=(6, 3))
    slots = [5, 2]
    pool = p.pool(cpu)
    p.place_states(pool, slots)
    w, A, dt = p.conv_weight.numpy(), p.A_log.numpy(), p.dt_bias.numpy()
    layer = gdn.RadixLinearAttention(0, 0, p.H, p.HV, p.Dk, p.Dv, w, A, dt)
    batch = gdn.ForwardBatch.extend(pool, slots, p.lens)
    out = layer.forward(batch, p.mixed_qkv.numpy(), p.a.numpy(), p.b.numpy())
    assert isinstance(out, np.ndarray) and out.dtype == w.dtype and out.shape == (9, p.HV * p.Dv)
    check_against_torch(p, pool, slots, torch.from_numpy(out))


def test_strided_views_of_a_fused_projection(cpu, seed):
    """mixed_qkv, a and b as column slices of one fused projection output, taken as they are."""
    p = Problem(lens=(7, 4))
    T = sum(p.lens)
    fused = torch.randn(T, p.C + 2 * p.HV + 5)
    fused[:, 3:3 + p.C] = p.mixed_qkv
    fused[:, 3 + p.C:3 + p.C + p.HV] = p.a
    fused[:, 3 + p.C + p.HV:3 + p.C + 2 * p.HV] = p.b
    x = fused[:, 3:3 + p.C]
    a = fused[:, 3 + p.C:3 + p.C + p.HV]
    b = fused[:, 3 + p.C + p.HV:3 + p.C + 2 * p.HV]
    assert not x.is_contiguous() and x.stride() == (p.C + 2 * p.HV + 5, 1)
    pool, out = run(p, cpu, [1, 6], inputs=(x, a, b))
    check_against_torch(p, pool, [1, 6], out)


def test_inner_stride_is_refused(cpu, seed):
    p = Problem(lens=(4,))
    x = torch.randn(4, 2 * p.C)[:, ::2]  # every other column: strides (2C, 2)
    pool = p.pool(cpu)
    before = pool.snapshot()
    with pytest.raises(gdn.InvalidArgument, match=r"^mixed_qkv: stride 1 in dimension 1, got strides \[256, 2\]$"):
        p.layer().forward(gdn.ForwardBatch.extend(pool, [0], [4]), x, p.a, p.b)
    assert pool.snapshot() == before


def test_out_is_written_in_place_without_a_copy(cpu, seed):
    p = Problem(lens=(3, 2))
    out = torch.full((5, p.HV * p.Dv), float("nan"))
    pool, got = run(p, cpu, [0, 1], out=out)
    assert got is out and got.data_ptr() == out.data_ptr()
    check_against_torch(p, pool, [0, 1], out)


def test_numpy_out_is_written_in_place(cpu, seed):
    p = Problem(lens=(2,))
    out = np.full((2, p.HV * p.Dv), np.nan, dtype=np.float32)
    pool = p.pool(cpu)
    got = p.layer().forward(gdn.ForwardBatch.extend(pool, [0], [2]), p.mixed_qkv.numpy(), p.a.numpy(),
                            p.b.numpy(), out)
    assert got is out and got.ctypes.data == out.ctypes.data and np.isfinite(out).all()


def test_layer_reads_the_callers_weights_without_copying(cpu, seed):
    """Weights are views: changing conv_weight in place after construction changes the output."""
    p = Problem(lens=(4,))
    layer = p.layer()
    pool = p.pool(cpu)
    p.place_states(pool, [0])
    first = layer.forward(gdn.ForwardBatch.extend(pool, [0], [4]), p.mixed_qkv, p.a, p.b).clone()
    p.place_states(pool, [0])
    p.conv_weight.mul_(-1.0)
    second = layer.forward(gdn.ForwardBatch.extend(pool, [0], [4]), p.mixed_qkv, p.a, p.b)
    check_against_torch(p, pool, [0], second)  # the expected values use the negated weights
    assert not torch.allclose(first, second)


def test_conv1d_weight_layout_is_accepted(cpu, seed):
    """nn.Conv1d's depthwise weight [conv_dim, 1, Kc] is the same memory as [conv_dim, Kc]."""
    p = Problem(lens=(6,))
    conv = torch.nn.Conv1d(p.C, p.C, p.Kc, groups=p.C, bias=False)
    with torch.no_grad():
        conv.weight.copy_(p.conv_weight.unsqueeze(1))
    assert conv.weight.requires_grad  # a parameter, exported read-only
    layer = gdn.RadixLinearAttention(0, 0, p.H, p.HV, p.Dk, p.Dv, conv.weight, p.A_log, p.dt_bias)
    pool = p.pool(cpu)
    p.place_states(pool, [2])
    out = layer.forward(gdn.ForwardBatch.extend(pool, [2], [6]), p.mixed_qkv, p.a, p.b)
    check_against_torch(p, pool, [2], out)


def test_reference_forward_matches_the_torch_recurrence(seed):
    p = Problem(dtype="bf16", lens=(3, 0, 5))
    out, conv, rec = gdn.reference_forward(p.H, p.HV, p.Dk, p.Dv, p.mixed_qkv, p.a, p.b, p.conv_weight, p.A_log,
                                           p.dt_bias, p.cu, p.conv_state, p.recurrent_state)
    want_out, want_conv, want_rec = p.expected()
    assert out.dtype == np.float64 and out.shape == tuple(want_out.shape)
    assert rel_l2(out, want_out) <= 1e-12
    assert rel_l2(rec, want_rec) <= 1e-12
    assert np.array_equal(conv, want_conv.numpy())


class DLPackOnly:
    """A producer gdn knows only through the DLPack protocol (as CuPy or JAX arrays are)."""

    def __init__(self, tensor):
        self.tensor = tensor

    def __dlpack__(self, stream=None):
        return self.tensor.__dlpack__()

    def __dlpack_device__(self):
        return self.tensor.__dlpack_device__()


def test_dlpack_producers_and_torch_tensors_read_the_same_memory(cpu, seed):
    """torch tensors read from their own metadata (or, with GDN_PYTHON_DLPACK_ONLY=1, which ctest's
    python/test_layer_dlpack_only sets, through torch's exporter), other producers through
    __dlpack__, and capsules as they are: the same strided bf16 views give bit-identical outputs
    and states each way."""
    p = Problem(dtype="bf16", lens=(5, 4))
    T = sum(p.lens)
    fused = torch.zeros(T, p.C + 2 * p.HV + 3, dtype=torch.bfloat16)
    fused[:, 3:3 + p.C] = p.mixed_qkv
    fused[:, 3 + p.C:3 + p.C + p.HV] = p.a
    fused[:, 3 + p.C + p.HV:] = p.b
    views = (fused[:, 3:3 + p.C], fused[:, 3 + p.C:3 + p.C + p.HV], fused[:, 3 + p.C + p.HV:])
    results = []
    for wrap in (lambda t: t, DLPackOnly, torch.utils.dlpack.to_dlpack):
        pool = p.pool(cpu)
        p.place_states(pool, [1, 9])
        out = torch.full((T, p.HV * p.Dv), float("nan"), dtype=torch.bfloat16)
        got = p.layer().forward(gdn.ForwardBatch.extend(pool, [1, 9], p.lens), *(wrap(v) for v in views),
                                wrap(out))
        assert got is out or isinstance(got, DLPackOnly) or type(got).__name__ == "PyCapsule"
        results.append((out, pool.snapshot()))
    for other in results[1:]:
        assert torch.equal(results[0][0], other[0]) and results[0][1] == other[1]
    check_against_torch(p, pool, [1, 9], results[1][0])
