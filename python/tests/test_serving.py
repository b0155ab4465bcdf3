"""The serving features from Python: a pool over an engine's own torch tensors (in place, kept
alive by the pool) and slot transfer blobs between pools."""

import pytest
import torch

import gdn
from conftest import TOLERANCE, Problem, rel_l2


def aligned_empty(shape, dtype, alignment=256):
    """A packed tensor whose data starts on an `alignment`-byte boundary (what a pool requires)."""
    itemsize = torch.empty(0, dtype=dtype).element_size()
    n = 1
    for d in shape:
        n *= d
    buf = torch.zeros(n * itemsize + alignment, dtype=torch.uint8)
    off = (-buf.data_ptr()) % alignment
    return buf[off:off + n * itemsize].view(dtype).view(*shape)


def test_pool_over_engine_tensors_works_in_place(cpu, seed):
    p = Problem(lens=(5, 3), dtype="bf16")
    slots = 4
    rec = aligned_empty((2, slots + 1, p.HV, p.Dv, p.Dk), torch.float32)
    conv = aligned_empty((2, slots + 1, p.C, p.Kc - 1), torch.bfloat16)
    rec[1, [3, 0]] = p.recurrent_state  # the engine's existing states are kept
    conv[1, [3, 0]] = p.conv_state
    pool = gdn.GDNPool.over_memory(cpu, 2, slots, p.H, p.HV, p.Dk, p.Dv, p.Kc, "bf16", rec, conv,
                                   engine_managed_slots=True)  # the engine's slot numbers
    assert not pool.owns_memory
    assert torch.from_dlpack(pool.recurrent_state(1)).data_ptr() == rec[1].data_ptr()
    out = p.layer(gdn_layer_idx=1).forward(gdn.ForwardBatch.extend(pool, [3, 0], p.lens), p.mixed_qkv, p.a, p.b)
    want_out, want_conv, want_rec = p.expected()
    assert rel_l2(out, want_out) <= TOLERANCE["bf16"]
    assert rel_l2(rec[1, [3, 0]], want_rec) <= TOLERANCE["bf16"]  # written into the engine's tensor
    assert torch.equal(conv[1, [3, 0]], want_conv.bfloat16())

    # The pool keeps the engine's tensors alive.
    rec_ptr = rec.data_ptr()
    del rec, conv
    assert torch.from_dlpack(pool.recurrent_state(0)).data_ptr() == rec_ptr
    pool.reset_slot(3)


def test_engine_tensors_are_checked(cpu):
    rec = aligned_empty((1, 3, 2, 8, 8), torch.float32)
    conv = aligned_empty((1, 3, 32, 3), torch.float32)
    with pytest.raises(gdn.InvalidArgument):  # one slot too many for the memory given
        gdn.GDNPool.over_memory(cpu, 1, 3, 1, 2, 8, 8, 4, "f32", rec, conv)
    with pytest.raises(gdn.InvalidArgument, match=r"^recurrent: packed strides, got \[384, 128, 64, 1, 8\]$"):
        gdn.GDNPool.over_memory(cpu, 1, 2, 1, 2, 8, 8, 4, "f32", rec.transpose(3, 4), conv)
    pool = gdn.GDNPool.over_memory(cpu, 1, 2, 1, 2, 8, 8, 4, "f32", rec, conv)
    assert pool.num_slots == 2


def test_slot_blobs_move_a_request_between_pools(cpu, seed):
    p = Problem(lens=(6,))
    a = p.pool(cpu, num_slots=4, num_layers=2)
    p.place_states(a, [2], layer=1)
    blob = gdn.export_slot(a, 2)
    info = gdn.read_slot_blob(blob)
    assert (info["num_layers"], info["num_v_heads"], info["head_k_dim"], info["dtype"]) == (2, p.HV, p.Dk, "f32")
    b = p.pool(cpu, num_slots=6, num_layers=2)
    gdn.import_slot(b, 5, blob)
    assert torch.equal(torch.from_dlpack(b.recurrent_state(1))[5], torch.from_dlpack(a.recurrent_state(1))[2])
    assert torch.equal(torch.from_dlpack(b.conv_state(1))[5], torch.from_dlpack(a.conv_state(1))[2])

    before = b.snapshot()
    broken = bytearray(blob)
    broken[-1] ^= 0xFF
    with pytest.raises(gdn.InvalidArgument):
        gdn.import_slot(b, 4, bytes(broken))
    with pytest.raises(gdn.InvalidArgument):
        gdn.import_slot(p.pool(cpu, num_slots=2, num_layers=1), 0, blob)  # another shape
    assert b.snapshot() == before
