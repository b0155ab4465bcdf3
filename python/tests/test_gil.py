"""The GIL is released while a backend runs: while one thread is inside forward, another Python
thread runs Python code. No timing is measured: tests/plugins' gil_probe plugin marks out[0, 0]
when its forward_gdn starts and then waits (10 s at most) for mixed_qkv[0, 0] to become non-zero;
a second Python thread waits for the mark and writes that element. Holding the GIL across the
call would keep the second thread from running, and the call would fail with the plugin's error.

    GDN_GIL_PROBE_PLUGIN=build/test-plugins/gil_probe/libgdn_gil_probe.so \\
        PYTHONPATH=build/python python3 -m pytest -q python/tests/test_gil.py
"""

import os
import threading
import time

import numpy as np
import pytest

import gdn

PLUGIN = os.environ.get("GDN_GIL_PROBE_PLUGIN")


@pytest.fixture(scope="module")
def probe():
    if not PLUGIN:
        pytest.skip("GDN_GIL_PROBE_PLUGIN is not set (ctest sets it)")
    assert os.path.exists(PLUGIN), f"{PLUGIN}: the gil_probe test plugin was not built"
    report = gdn.load_plugin(PLUGIN)
    assert report.usable, str(report)
    return gdn.open("gil_probe")


def test_another_python_thread_runs_while_a_backend_call_waits(probe):
    H, HV, D, Kc = 1, 1, 16, 4
    C = 2 * H * D + HV * D
    layer = gdn.RadixLinearAttention(0, 0, H, HV, D, D, np.zeros((C, Kc), np.float32),
                                     np.zeros(HV, np.float32), np.zeros(HV, np.float32))
    pool = gdn.GDNPool(probe, 1, 2, H, HV, D, D, Kc, "f32")
    batch = gdn.ForwardBatch.decode(pool, [pool.alloc_slot()])
    x = np.zeros((1, C), np.float32)
    a = np.zeros((1, HV), np.float32)
    b = np.zeros((1, HV), np.float32)
    out = np.zeros((1, HV * D), np.float32)
    seen = []

    def other_thread():
        deadline = time.monotonic() + 20  # a bound for a plugin that never marks: no hang
        while out[0, 0] != 1.0 and time.monotonic() < deadline:
            time.sleep(0.001)
        seen.append(out[0, 0] == 1.0)
        x[0, 0] = 1.0  # Python code running while the other thread is inside forward

    thread = threading.Thread(target=other_thread)
    thread.start()
    try:
        layer.forward(batch, x, a, b, out)  # raises gdn.Runtime ("gil probe: ...") if the GIL was held
    finally:
        thread.join()
    assert seen == [True]
