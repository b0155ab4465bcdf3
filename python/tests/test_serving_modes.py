"""The ABI 1.2 serving options from Python (cpu backend): verify + commit, write slots, checkpoints
and a 16-bit recurrent state, each against plain extends of the same tokens."""

import pytest
import torch

import gdn
from conftest import Problem


def states(pool, slot, layer=0):
    return (torch.from_dlpack(pool.recurrent_state(layer))[slot].clone(),
            torch.from_dlpack(pool.conv_state(layer))[slot].clone())


def test_verify_writes_nothing_and_commit_advances_by_the_accepted_prefix(cpu, seed):
    p = Problem(lens=(4, 3))
    layer = p.layer()
    pool = p.pool(cpu, num_slots=6)
    p.place_states(pool, [5, 1])
    before = pool.snapshot()
    out = layer.forward(gdn.ForwardBatch.verify(pool, [5, 1], p.lens), p.mixed_qkv, p.a, p.b)
    assert pool.snapshot() == before  # verify: outputs, pool untouched
    # Its outputs are those of an extend over the same drafts.
    ref = p.pool(cpu, num_slots=6)
    p.place_states(ref, [5, 1])
    assert torch.equal(out, layer.forward(gdn.ForwardBatch.extend(ref, [5, 1], p.lens), p.mixed_qkv, p.a, p.b))

    batch = gdn.ForwardBatch.commit(pool, [5, 1], p.lens, [2, 0])
    assert not batch.writes_output and batch.accepted == [2, 0]
    assert layer.forward(batch, p.mixed_qkv, p.a, p.b) is None
    # Request 0 advanced by its first 2 drafts, request 1 kept its state.
    ref = p.pool(cpu, num_slots=6)
    p.place_states(ref, [5, 1])
    rows = [0, 1]
    layer.forward(gdn.ForwardBatch.extend(ref, [5], [2]), p.mixed_qkv[rows], p.a[rows], p.b[rows])
    for got, want in zip(states(pool, 5), states(ref, 5)):
        assert torch.equal(got, want)
    for got, want in zip(states(pool, 1), states(ref, 1)):
        assert torch.equal(got, want)


def test_write_slots_fork_a_prefix_and_checkpoints_snapshot_it(cpu, seed):
    p = Problem(lens=(6,))
    layer = p.layer()
    pool = p.pool(cpu, num_slots=6)
    p.place_states(pool, [0])
    read_before = states(pool, 0)
    batch = gdn.ForwardBatch.extend(pool, [0], [6])
    batch.set_write_slots([3])
    batch.set_checkpoints([[(2, 4), (6, 5)]])
    assert batch.write_slots == [3] and batch.num_checkpoints == 2
    layer.forward(batch, p.mixed_qkv, p.a, p.b)
    for got, want in zip(states(pool, 0), read_before):  # the read slot is untouched
        assert torch.equal(got, want)

    ref = p.pool(cpu, num_slots=6)
    p.place_states(ref, [0])
    layer.forward(gdn.ForwardBatch.extend(ref, [0], [2]), p.mixed_qkv[:2], p.a[:2], p.b[:2])
    for got, want in zip(states(pool, 4), states(ref, 0)):  # the checkpoint after 2 tokens
        assert torch.equal(got, want)
    layer.forward(gdn.ForwardBatch.extend(ref, [0], [4]), p.mixed_qkv[2:], p.a[2:], p.b[2:])
    for slot in (3, 5):  # the write slot and the checkpoint at the end: the final state
        for got, want in zip(states(pool, slot), states(ref, 0)):
            assert torch.allclose(got.float(), want.float(), rtol=1e-5, atol=1e-6)

    none = gdn.ForwardBatch.extend(pool, [1], [6])
    none.set_write_slots([gdn.NO_STATE_WRITE])
    before = pool.snapshot()
    layer.forward(none, p.mixed_qkv, p.a, p.b)
    assert pool.snapshot() == before


def test_bf16_recurrent_state(cpu, seed):
    p = Problem(lens=(5,))
    pool = gdn.GDNPool(cpu, 1, 2, p.H, p.HV, p.Dk, p.Dv, p.Kc, "f32", state_dtype=torch.bfloat16,
                      engine_managed_slots=True)
    assert pool.config.state_dtype == "bf16" and pool.recurrent_state(0).dtype == "bf16"
    p.layer().forward(gdn.ForwardBatch.extend(pool, [0], [5]), p.mixed_qkv, p.a, p.b)
    ref = p.pool(cpu, num_slots=2)
    p.layer().forward(gdn.ForwardBatch.extend(ref, [0], [5]), p.mixed_qkv, p.a, p.b)
    want = torch.from_dlpack(ref.recurrent_state(0))[0]
    got = torch.from_dlpack(pool.recurrent_state(0))[0]
    assert got.dtype == torch.bfloat16
    # The f32 result rounded to bf16 once: within bf16's half-ulp of it.
    assert torch.allclose(got.float(), want, rtol=2 ** -8, atol=1e-30)


def test_a_checkpoint_is_a_pair(cpu):
    pool = gdn.GDNPool(cpu, 1, 4, 1, 2, 8, 8, 4, "f32", engine_managed_slots=True)
    batch = gdn.ForwardBatch.extend(pool, [0], [4])
    before = pool.snapshot()
    with pytest.raises(gdn.InvalidArgument, match=r"^checkpoints\[0\]\[1\]: a pair \(tokens, slot\), got 3 values$"):  # PY14
        batch.set_checkpoints([[(2, 1), (3, 2, 9)]])
    assert batch.num_checkpoints == 0 and pool.snapshot() == before
