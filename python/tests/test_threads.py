"""Two Python threads forwarding on disjoint slots of one pool at once (the GIL is released while
the backend runs) get exactly what one thread gets running the same steps in turn."""

import threading

import torch

import gdn
from conftest import Problem

STEPS = 50


def decode_steps(layer, pool, slot, inputs, results, start):
    batch = gdn.ForwardBatch.decode(pool, [slot])
    start.wait()
    outs = [layer.forward(batch, x, a, b) for x, a, b in inputs]
    results[slot] = torch.cat(outs)


def test_two_threads_on_disjoint_slots(cpu, seed):
    p = Problem(lens=(1,), dtype="bf16")
    layer = p.layer()
    inputs = {s: [(torch.randn(1, p.C).bfloat16(), torch.randn(1, p.HV).bfloat16(), torch.randn(1, p.HV).bfloat16())
                  for _ in range(STEPS)] for s in (1, 4)}

    pool = p.pool(cpu, num_slots=6)
    results = {}
    start = threading.Barrier(2)
    threads = [threading.Thread(target=decode_steps, args=(layer, pool, s, inputs[s], results, start)) for s in (1, 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    alone = p.pool(cpu, num_slots=6)
    expected = {}
    for s in (1, 4):
        decode_steps(layer, alone, s, inputs[s], expected, threading.Barrier(1))
    for s in (1, 4):
        assert torch.equal(results[s], expected[s])
    assert pool.snapshot() == alone.snapshot()
