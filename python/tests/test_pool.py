"""The pool's states as DLPack views that alias the pool: reads and writes in place."""

import numpy as np
import pytest
import torch

import gdn
from conftest import Problem, TOLERANCE, rel_l2


def test_views_alias_the_pool_memory(cpu, seed):
    p = Problem(dtype="bf16", lens=(4,))
    pool = p.pool(cpu, num_slots=3, num_layers=2)
    view = pool.recurrent_state(1)
    assert view.shape == (4, p.HV, p.Dv, p.Dk) and view.dtype == "f32"
    t = torch.from_dlpack(view)
    assert t.data_ptr() == view.data_ptr() == torch.from_dlpack(pool.recurrent_state(1)).data_ptr()
    n = np.from_dlpack(view)
    assert n.ctypes.data == view.data_ptr()
    conv = torch.from_dlpack(pool.conv_state(1))
    assert conv.dtype == torch.bfloat16 and conv.shape == (4, p.C, p.Kc - 1)

    # A write through the view is a write to the pool: snapshot() reads the pool itself.
    before = pool.snapshot()
    t[2, 1, 3, 5] = 1.25
    after = pool.snapshot()
    assert after != before
    n2 = np.from_dlpack(pool.recurrent_state(1))
    assert n2[2, 1, 3, 5] == 1.25
    # copy_slot and reset_slot act on the same memory the views see.
    pool.copy_slot(2, 0)
    assert torch.equal(t[0], t[2])
    pool.reset_slot(2)
    assert not t[2].any() and t[0, 1, 3, 5] == 1.25


def test_forward_reads_and_writes_the_states_through_the_views(cpu, seed):
    """States placed through the views are the ones the layer starts from and updates."""
    p = Problem(lens=(5, 2))
    pool = p.pool(cpu, num_slots=8)
    p.place_states(pool, [6, 2])
    out = p.layer().forward(gdn.ForwardBatch.extend(pool, [6, 2], p.lens), p.mixed_qkv, p.a, p.b)
    want_out, want_conv, want_rec = p.expected()
    assert rel_l2(out, want_out) <= TOLERANCE["f32"]
    rec = torch.from_dlpack(pool.recurrent_state(0))
    assert rel_l2(rec[[6, 2]], want_rec) <= TOLERANCE["f32"]
    assert torch.equal(torch.from_dlpack(pool.conv_state(0))[[6, 2]], want_conv.float())
    # Other slots and the padding slot are untouched (still zero).
    others = [s for s in range(pool.padding_slot + 1) if s not in (6, 2)]
    assert not rec[others].any()


def test_a_view_keeps_the_pool_alive(cpu):
    pool = gdn.GDNPool(cpu, 1, 2, 1, 1, 8, 8, 4, "f32")
    t = torch.from_dlpack(pool.recurrent_state(0))
    t.fill_(3.0)
    del pool
    assert float(t.sum()) == 3.0 * t.numel()


def test_slots_are_allocated_and_freed(cpu):
    pool = gdn.GDNPool(cpu, 1, 2, 1, 1, 8, 8, 4, "f32")
    s0, s1 = pool.alloc_slot(), pool.alloc_slot()
    assert {s0, s1} == {0, 1} and pool.free_slots() == 0 and pool.is_allocated(s0)
    pool.free_slot(s0)
    assert pool.free_slots() == 1 and not pool.is_allocated(s0)


def test_a_batch_names_only_allocated_slots_unless_the_engine_manages_them(cpu):
    pool = gdn.GDNPool(cpu, 1, 3, 1, 1, 8, 8, 4, "f32")
    assert not pool.config.engine_managed_slots
    with pytest.raises(gdn.InvalidArgument, match=r"req_pool_indices\[0\]: a slot allocated with alloc_slot"):
        gdn.ForwardBatch.decode(pool, [1])
    gdn.ForwardBatch.decode(pool, [pool.alloc_slot()])
    managed = gdn.GDNPool(cpu, 1, 3, 1, 1, 8, 8, 4, "f32", engine_managed_slots=True)
    assert managed.config.engine_managed_slots
    gdn.ForwardBatch.decode(managed, [1])
