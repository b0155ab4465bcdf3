"""Peer timings (copied from the project's shared bench, configs matched to gdn_cuda_bench) on the GPU machine: flash-linear-attention (Triton) GDN kernels at Qwen3-Next shapes.

Run there with the fla package source on PYTHONPATH (see ../TOOLCHAIN.md). Writes $OUT/fla_anchor.json.
"""
import json, os, sys, time, math
import torch
import triton
from triton.testing import do_bench

torch.manual_seed(0)
dev = "cuda"
H, HV, K, V, W = 16, 32, 128, 128, 4          # Qwen3-Next-80B-A3B GDN layer
CONV = 2 * H * K + HV * V
rows = []


def med(fn, **kw):
    return do_bench(fn, warmup=50, rep=300, return_mode="median", **kw)


def copy_bw():
    n = 1 << 30
    a = torch.empty(n, dtype=torch.uint8, device=dev).random_(0, 255)
    b = torch.empty_like(a)
    t = med(lambda: b.copy_(a))
    return 2 * n / (t * 1e-3) / 1e12


def prefill_inputs(T, nseq):
    x = torch.randn(1, T, CONV, device=dev, dtype=torch.bfloat16)
    w = torch.randn(CONV, W, device=dev, dtype=torch.bfloat16) * 0.5
    a = torch.randn(1, T, HV, device=dev, dtype=torch.bfloat16)
    b = torch.randn(1, T, HV, device=dev, dtype=torch.bfloat16)
    A_log = torch.log(torch.empty(HV, device=dev).uniform_(1, 16))
    dt_bias = torch.randn(HV, device=dev) * 0.1
    lens = [T // nseq] * nseq
    cu = torch.tensor([0] + list(__import__("itertools").accumulate(lens)), device=dev, dtype=torch.long)
    h0 = torch.randn(nseq, HV, K, V, device=dev, dtype=torch.float32) * 0.01
    return x, w, a, b, A_log, dt_bias, cu, h0


def main():
    from fla.ops.gated_delta_rule import chunk_gated_delta_rule, fused_recurrent_gated_delta_rule
    from fla.modules.conv import causal_conv1d
    info = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "triton": triton.__version__}
    bw = copy_bw()
    info["copy_TBps"] = round(bw, 3)
    print(json.dumps(info), flush=True)

    for T, nseq in [(65536, 16), (32768, 1), (4096, 1), (16384, 1)]:
        x, w, a, b, A_log, dt_bias, cu, h0 = prefill_inputs(T, nseq)

        def conv():
            return causal_conv1d(x, w, activation="silu", cu_seqlens=cu, output_final_state=True)[0]

        y = conv()
        q, k, v = torch.split(y, [H * K, H * K, HV * V], dim=-1)
        q = q.reshape(1, T, H, K); k = k.reshape(1, T, H, K); v = v.reshape(1, T, HV, V)
        g = -A_log.exp() * torch.nn.functional.softplus(a.float() + dt_bias)
        beta = b.float().sigmoid().to(torch.bfloat16)

        def gdn():
            return chunk_gated_delta_rule(q, k, v, g, beta, initial_state=h0, output_final_state=True,
                                          use_qk_l2norm_in_kernel=True, cu_seqlens=cu)

        def layer():
            yy = causal_conv1d(x, w, activation="silu", cu_seqlens=cu, output_final_state=True)[0]
            qq, kk, vv = torch.split(yy, [H * K, H * K, HV * V], dim=-1)
            gg = -A_log.exp() * torch.nn.functional.softplus(a.float() + dt_bias)
            bb = b.float().sigmoid().to(torch.bfloat16)
            return chunk_gated_delta_rule(qq.reshape(1, T, H, K), kk.reshape(1, T, H, K), vv.reshape(1, T, HV, V),
                                          gg, bb, initial_state=h0, output_final_state=True,
                                          use_qk_l2norm_in_kernel=True, cu_seqlens=cu)

        tc, tg, tl = med(conv), med(gdn), med(layer)
        from triton.testing import do_bench_cudagraph
        try:
            layer(); torch.cuda.synchronize()
            tlg = do_bench_cudagraph(layer, rep=200, return_mode="median")
        except Exception as e:
            tlg = float('nan'); print('graph capture failed:', type(e).__name__, str(e)[:200])
        print("  layer under cuda graph: %.3f ms" % tlg)
        rows.append(("prefill", T, nseq, round(tc, 4), round(tg, 4), round(tl, 4),
                     round(T / (tl * 1e-3) / 1e6, 3)))
        print("prefill T=%d nseq=%d conv=%.3fms gdn=%.3fms layer=%.3fms  %.2f Mtok/s" % (T, nseq, tc, tg, tl, T / (tl * 1e-3) / 1e6), flush=True)
        del x, y, q, k, v

    for N in [1, 8, 64, 256, 1024]:
        pool = torch.randn(max(N, 8) * 2, HV, K, V, device=dev, dtype=torch.float32) * 0.01
        idx = torch.randperm(pool.shape[0], device=dev)[:N]
        q = torch.randn(1, N, H, K, device=dev, dtype=torch.bfloat16)
        k = torch.randn(1, N, H, K, device=dev, dtype=torch.bfloat16)
        v = torch.randn(1, N, HV, V, device=dev, dtype=torch.bfloat16)
        g = -torch.rand(1, N, HV, device=dev)
        beta = torch.rand(1, N, HV, device=dev).to(torch.bfloat16)
        cu = torch.arange(N + 1, device=dev, dtype=torch.long)

        def dec():
            h = pool[idx]
            o, ht = fused_recurrent_gated_delta_rule(q, k, v, g, beta, initial_state=h, output_final_state=True,
                                                     use_qk_l2norm_in_kernel=True, cu_seqlens=cu)
            pool[idx] = ht
            return o

        def dec_kernel_only():
            return fused_recurrent_gated_delta_rule(q, k, v, g, beta, initial_state=pool[:N], output_final_state=True,
                                                    use_qk_l2norm_in_kernel=True, cu_seqlens=cu)

        t1, t2 = med(dec), med(dec_kernel_only)
        from triton.testing import do_bench_cudagraph
        dec(); dec_kernel_only(); torch.cuda.synchronize()
        t3 = do_bench_cudagraph(dec, rep=200, return_mode="median")
        t4 = do_bench_cudagraph(dec_kernel_only, rep=200, return_mode="median")
        floor_us = N * HV * K * V * 4 * 2 / (bw * 1e12) * 1e6
        rows.append(("decode", N, 1, round(t1 * 1e3, 2), round(t2 * 1e3, 2), round(t3 * 1e3, 2), round(t4 * 1e3, 2), round(floor_us, 2)))
        print("decode N=%d eager: gather+kernel+scatter=%.1fus kernel=%.1fus | graph: gather+kernel+scatter=%.1fus kernel=%.1fus | state-floor=%.1fus" % (N, t1 * 1e3, t2 * 1e3, t3 * 1e3, t4 * 1e3, floor_us), flush=True)

    out = os.environ.get("OUT", ".")
    with open(os.path.join(out, "fla_anchor.json"), "w") as f:
        json.dump({"info": info, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
