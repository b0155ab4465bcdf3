"""What calling gdn from Python costs: one decode step of one layer from Python (torch and NumPy
tensors through DLPack) against the same step from C++ (bench_decode_step), same backend, shape
and dtype, rounds interleaved. Reports medians of per-round means, and the median of each round's
difference to the C++ round run just before it (robust to a machine whose load drifts), in
microseconds per call.

    PYTHONPATH=build/python GDN_NUM_THREADS=1 python3 bench/python_decode_overhead.py \
        [--cpp build/bin/bench_decode_step] [--requests 1] [--heads 2,4] [--dim 16] [--rounds 7]

torch tensors are read from their own metadata; GDN_PYTHON_DLPACK_ONLY=1 sends them through
torch's DLPack exporter instead, for comparison.

A benchmark, never a test: the numbers go to docs/performance.md with machine, date and command.
"""

import argparse
import statistics
import subprocess
import time

import torch

import gdn


def time_loop(fn, iters):
    start = time.perf_counter()
    for _ in range(iters):
        fn()
    return (time.perf_counter() - start) / iters * 1e6


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cpp", default="build/bin/bench_decode_step")
    p.add_argument("--backend", default="cpu")
    p.add_argument("--requests", type=int, default=1)
    p.add_argument("--heads", default="2,4")
    p.add_argument("--dim", type=int, default=16)
    p.add_argument("--dtype", default="f32", choices=["f32", "bf16", "f16"])
    p.add_argument("--iters", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=7)
    args = p.parse_args()

    H, HV = (int(v) for v in args.heads.split(","))
    D, B = args.dim, args.requests
    C = 2 * H * D + HV * D
    td = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}[args.dtype]
    be = gdn.open(args.backend)
    layer = gdn.RadixLinearAttention(0, 0, H, HV, D, D, torch.full((C, 4), 0.25, dtype=td),
                                     torch.full((HV,), -1.0), torch.full((HV,), 0.1))
    pool = gdn.GDNPool(be, 1, B, H, HV, D, D, 4, args.dtype)
    batch = gdn.ForwardBatch.decode(pool, [pool.alloc_slot() for _ in range(B)])
    x, a, b = (torch.full((B, n), v, dtype=td) for n, v in ((C, 0.5), (HV, 0.1), (HV, 0.2)))
    out = torch.empty(B, HV * D, dtype=td)
    paths = {
        "python, torch, out allocated": lambda: layer.forward(batch, x, a, b),
        "python, torch, out given": lambda: layer.forward(batch, x, a, b, out),
    }
    if args.dtype != "bf16":
        xn, an, bn, on = x.numpy(), a.numpy(), b.numpy(), out.numpy()
        paths["python, numpy, out allocated"] = lambda: layer.forward(batch, xn, an, bn)
        paths["python, numpy, out given"] = lambda: layer.forward(batch, xn, an, bn, on)

    cpp_cmd = [args.cpp, "--backend", args.backend, "--requests", str(B), "--heads", args.heads, "--dim", str(D),
               "--dtype", args.dtype, "--iters", str(args.iters), "--rounds", "1"]
    results = {"c++": []}
    results.update({name: [] for name in paths})
    for fn in paths.values():  # warm up
        time_loop(fn, args.iters)
    for _ in range(args.rounds):
        text = subprocess.run(cpp_cmd, check=True, capture_output=True, text=True).stdout
        results["c++"].append(float(text.split("median_us_per_call")[1]))
        for name, fn in paths.items():
            results[name].append(time_loop(fn, args.iters))

    print(f"decode step, backend {be.name}, B={B} H={H} HV={HV} Dk=Dv={D} Kc=4 {args.dtype}, "
          f"{args.iters} calls x {args.rounds} rounds; median of round means, and of each round's "
          f"difference to the C++ run next to it (min..max)")
    base = results["c++"]
    for name, values in results.items():
        m = statistics.median(values)
        extra = ""
        if name != "c++":
            diff = [v - c for v, c in zip(values, base)]
            extra = f"   +{statistics.median(diff):6.2f} us over C++ ({min(diff):+.2f}..{max(diff):+.2f})"
        print(f"  {name:32s} {m:8.2f} us/call{extra}")


if __name__ == "__main__":
    main()
