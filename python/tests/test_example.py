"""examples/python's Qwen3.5 GatedDeltaNet block (projections, gdn's layer, gated RMSNorm, output
projection) through a prefill and decode steps, held against the same block written in pure
float64 torch with the recurrence of conftest.torch_gdn."""

import importlib.util
import os

import torch

import gdn
from conftest import rel_l2, torch_gdn

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "python", "qwen35_gdn_block.py")


def load_example():
    spec = importlib.util.spec_from_file_location("qwen35_gdn_block", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TorchBlock:
    """The block in float64 torch, states kept per request in this object."""

    def __init__(self, block, requests):
        f = torch.float64
        self.block = block
        self.W_in = block.in_proj.weight.detach().to(f)
        self.W_out = block.out_proj.weight.detach().to(f)
        self.conv_state = torch.zeros(requests, block.conv_dim, block.conv1d.weight.shape[-1] - 1, dtype=f)
        self.rec_state = torch.zeros(requests, block.HV, block.Dv, block.Dk, dtype=f)

    def __call__(self, hidden, lens):
        b = self.block
        proj = hidden.to(torch.float64) @ self.W_in.T
        C, V = b.conv_dim, b.HV * b.Dv
        mixed_qkv, z, beta_in, a = proj[:, :C], proj[:, C:C + V], proj[:, C + V:C + V + b.HV], proj[:, C + V + b.HV:]
        cu = [0]
        for n in lens:
            cu.append(cu[-1] + n)
        core, self.conv_state, self.rec_state = torch_gdn(
            mixed_qkv, a, beta_in, b.conv1d.weight.detach(), b.A_log.detach(), b.dt_bias.detach(), cu,
            self.conv_state, self.rec_state, b.H, b.HV, b.Dk, b.Dv)
        T = core.shape[0]
        x = core.view(T, b.HV, b.Dv)
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + b.eps) * b.norm_weight.detach().to(torch.float64)
        x = x * torch.nn.functional.silu(z.reshape(T, b.HV, b.Dv))
        return x.reshape(T, -1) @ self.W_out.T


def test_block_prefill_then_decode_matches_pure_torch(cpu, seed):
    example = load_example()
    block = example.GatedDeltaNetBlock(64, 2, 4, 16, 16, 4, 1)
    requests, prompt = 3, [9, 2, 17]
    pool = gdn.GDNPool(cpu, 2, 5, 2, 4, 16, 16, 4, "f32", engine_managed_slots=True)
    slots = [4, 0, 2]
    want = TorchBlock(block, requests)
    with torch.no_grad():
        x = torch.randn(sum(prompt), 64)
        got = block(x, gdn.ForwardBatch.extend(pool, slots, prompt))
        assert rel_l2(got, want(x, prompt)) <= 1e-4
        batch = gdn.ForwardBatch.decode(pool, slots)
        for _ in range(5):
            x = torch.randn(requests, 64)
            got = block(x, batch)
            assert got.shape == (requests, 64)
            assert rel_l2(got, want(x, [1] * requests)) <= 1e-4
    rec = torch.from_dlpack(pool.recurrent_state(1))[slots]
    assert rel_l2(rec, want.rec_state) <= 1e-4


def test_the_example_script_runs_and_reports_tokens_per_second():
    import subprocess
    import sys
    run = subprocess.run([sys.executable, EXAMPLE, "--backend", "cpu", "--requests", "1", "--prefill", "8",
                          "--decode", "2"], capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr
    assert "prefill: 8 tokens in" in run.stdout and "decode:  2 steps x 1 requests" in run.stdout
    assert "tokens/s" in run.stdout and "output finite: True" in run.stdout
