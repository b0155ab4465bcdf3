"""10,000 forward calls leave resident memory and reference counts where they were: the DLPack
capsules of inputs and outputs are all given back."""

import gc
import os
import sys

import numpy as np
import torch

import gdn
from conftest import Problem

CALLS = 10_000


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_no_leak_over_ten_thousand_calls(cpu, seed):
    p = Problem(H=1, HV=2, Dk=8, Dv=8, lens=(1,))
    pool = p.pool(cpu, num_slots=2)
    layer = p.layer()
    batch = gdn.ForwardBatch.decode(pool, [1])
    x, a, b = p.mixed_qkv, p.a, p.b
    xn, an, bn = x.numpy(), a.numpy(), b.numpy()
    out = torch.empty(1, p.HV * p.Dv)
    tracked = [x, a, b, xn, an, bn, out, layer, batch, pool]
    workloads = [
        lambda: layer.forward(batch, x, a, b),          # torch in, torch out (allocated per call)
        lambda: layer.forward(batch, xn, an, bn),       # NumPy in, NumPy out
        lambda: layer.forward(batch, x, a, b, out),     # into a caller's tensor
        lambda: torch.from_dlpack(pool.recurrent_state(0)).sum(),  # pool views made and dropped
        lambda: gdn.ForwardBatch.decode(pool, [0]),     # batches made and dropped
    ]

    for work in workloads:  # warm up: allocator pools, lazy imports, caches
        for _ in range(CALLS // 10):
            work()
    gc.collect()
    refs = [sys.getrefcount(o) for o in tracked]
    objects = len(gc.get_objects())
    rss = rss_bytes()

    for work in workloads:
        for _ in range(CALLS):
            work()
    gc.collect()

    assert [sys.getrefcount(o) for o in tracked] == refs
    assert len(gc.get_objects()) - objects < 100
    # 50,000 calls that each leaked even one 64-byte capsule would add ~3 MB.
    growth = rss_bytes() - rss
    print(f"resident memory growth over {len(workloads) * CALLS} calls: {growth} bytes")
    if os.environ.get("GDN_SANITIZER") != "asan":  # ASan's quarantine keeps freed memory resident
        assert growth < 1 << 20
    assert np.isfinite(out.numpy()).all()
