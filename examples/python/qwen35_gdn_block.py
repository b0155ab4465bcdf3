"""A Qwen3.5 GatedDeltaNet block on gdn: the input projections, gdn's layer (conv, gates, delta
rule, state in the pool), the gated RMSNorm and the output projection, on random weights. It runs
a prefill of several requests, then decode steps, and prints tokens/s for each phase.

    python3 examples/python/qwen35_gdn_block.py [--backend cpu] [--requests 2] [--prefill 128]
                                                [--decode 8] [--dtype f32]

The four input projections are one fused matrix, as serving engines keep them: mixed_qkv, z, b and
a are column slices of its output, handed to gdn as they are (strided views, no copies).
python/tests/test_example.py holds this block against a pure-torch recurrence.
"""

import argparse
import time

import torch

import gdn


class GatedDeltaNetBlock(torch.nn.Module):
    """One linear-attention block of Qwen3.5, its state in a gdn.GDNPool."""

    def __init__(self, hidden_size, num_k_heads, num_v_heads, head_k_dim, head_v_dim, conv_kernel, gdn_layer_idx,
                 dtype=torch.float32, eps=1e-6):
        super().__init__()
        self.H, self.HV, self.Dk, self.Dv = num_k_heads, num_v_heads, head_k_dim, head_v_dim
        self.conv_dim = 2 * num_k_heads * head_k_dim + num_v_heads * head_v_dim
        self.eps = eps
        # Columns: [q | k | v] (mixed_qkv, before the conv), z (the norm's gate), b, a.
        self.in_proj = torch.nn.Linear(hidden_size, self.conv_dim + num_v_heads * head_v_dim + 2 * num_v_heads,
                                       bias=False, dtype=dtype)
        self.conv1d = torch.nn.Conv1d(self.conv_dim, self.conv_dim, conv_kernel, groups=self.conv_dim, bias=False,
                                      dtype=dtype)
        self.A_log = torch.nn.Parameter(torch.empty(num_v_heads).uniform_(1.0, 16.0).log())
        self.dt_bias = torch.nn.Parameter(0.1 * torch.randn(num_v_heads))
        self.norm_weight = torch.nn.Parameter(1.0 + 0.1 * torch.randn(head_v_dim))
        self.out_proj = torch.nn.Linear(num_v_heads * head_v_dim, hidden_size, bias=False, dtype=dtype)
        # gdn's layer reads the parameters in place (conv1d.weight as [conv_dim, 1, Kc]).
        self.gdn = gdn.RadixLinearAttention(gdn_layer_idx, gdn_layer_idx, num_k_heads, num_v_heads, head_k_dim,
                                            head_v_dim, self.conv1d.weight, self.A_log, self.dt_bias)

    def projections(self, hidden_states):
        """mixed_qkv, z, b, a: column slices of one projection output (strided views)."""
        proj = self.in_proj(hidden_states)
        C, V = self.conv_dim, self.HV * self.Dv
        return proj[:, :C], proj[:, C:C + V], proj[:, C + V:C + V + self.HV], proj[:, C + V + self.HV:]

    def gated_norm_and_output(self, core, z):
        """RMSNorm per value head, times SiLU(z), then the output projection (norm in float32)."""
        T = core.shape[0]
        x = core.view(T, self.HV, self.Dv).float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.norm_weight
        x = x * torch.nn.functional.silu(z.reshape(T, self.HV, self.Dv).float())
        return self.out_proj(x.reshape(T, -1).to(core.dtype))

    def forward(self, hidden_states, forward_batch):
        mixed_qkv, z, b, a = self.projections(hidden_states)
        core = self.gdn.forward(forward_batch, mixed_qkv, a, b)
        return self.gated_norm_and_output(core, z)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default="auto", help="cpu, cuda, ... (default: the best available)")
    parser.add_argument("--requests", type=int, default=2)
    parser.add_argument("--prefill", type=int, default=128, help="prompt tokens per request")
    parser.add_argument("--decode", type=int, default=8, help="decode steps")
    parser.add_argument("--dtype", default="f32", choices=["f32", "bf16", "f16"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    dtype = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}[args.dtype]
    backend = gdn.open(args.backend)
    device = "cpu" if backend.host_accessible else f"cuda:{backend.device}"
    hidden, H, HV, D, Kc = 1024, 16, 16, 128, 4  # Qwen3.5-0.8B's linear-attention layers
    block = GatedDeltaNetBlock(hidden, H, HV, D, D, Kc, 0, dtype=dtype).to(device)
    pool = gdn.GDNPool(backend, 1, args.requests, H, HV, D, D, Kc, args.dtype)
    slots = [pool.alloc_slot() for _ in range(args.requests)]
    print(f"backend {backend.name} ({backend.device_name}); block hidden={hidden} H={H} HV={HV} Dk=Dv={D} "
          f"Kc={Kc} {args.dtype}; {args.requests} requests x {args.prefill} prompt tokens, {args.decode} decode steps")

    def sync():
        if device != "cpu":
            torch.cuda.synchronize()

    with torch.no_grad():
        x = torch.randn(args.requests * args.prefill, hidden, dtype=dtype, device=device)
        sync()
        start = time.perf_counter()
        y = block(x, gdn.ForwardBatch.extend(pool, slots, [args.prefill] * args.requests))
        sync()
        prefill_s = time.perf_counter() - start

        batch = gdn.ForwardBatch.decode(pool, slots)
        steps = [torch.randn(args.requests, hidden, dtype=dtype, device=device) for _ in range(args.decode)]
        sync()
        start = time.perf_counter()
        for step in steps:
            y = block(step, batch)
        sync()
        decode_s = time.perf_counter() - start

    print(f"prefill: {x.shape[0]} tokens in {prefill_s * 1e3:.1f} ms = {x.shape[0] / prefill_s:,.0f} tokens/s")
    print(f"decode:  {args.decode} steps x {args.requests} requests in {decode_s * 1e3:.1f} ms = "
          f"{args.decode * args.requests / decode_s:,.0f} tokens/s")
    print(f"output finite: {bool(torch.isfinite(y).all())}")


if __name__ == "__main__":
    main()
