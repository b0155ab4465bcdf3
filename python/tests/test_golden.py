"""The golden vectors through Python: gdn.check (the C++ harness, as `gdn check`) and the files'
inputs run through the Python layer with torch tensors, compared with their expected values."""

import glob
import os

import pytest
import torch

import gdn
from conftest import TORCH_DTYPES, rel_l2

GOLDEN_DIR = os.environ.get("GDN_GOLDEN_DIR", "")
FILES = sorted(glob.glob(os.path.join(GOLDEN_DIR, "*.safetensors")))


def test_the_golden_directory_has_files():
    assert FILES, f"no golden files in GDN_GOLDEN_DIR={GOLDEN_DIR!r}"


@pytest.mark.parametrize("path", FILES, ids=os.path.basename)
def test_check(cpu, path):
    result = gdn.check(path, cpu)
    assert result.passed, result.message
    assert result.conv_exact and result.finite and result.others_untouched


@pytest.mark.parametrize("path", FILES, ids=os.path.basename)
def test_through_the_python_layer(cpu, path):
    g = gdn.load_golden(path)
    td = TORCH_DTYPES[g["dtype"]]
    H, HV, Dk, Dv, Kc = (g[k] for k in ("num_k_heads", "num_v_heads", "head_k_dim", "head_v_dim", "conv_kernel"))
    B = len(g["cu_seqlens"]) - 1
    slots = [2 * (B - r) for r in range(B)]  # scattered, distinct, in reverse order
    pool = gdn.GDNPool(cpu, 2, 2 * B + 3, H, HV, Dk, Dv, Kc, g["dtype"], engine_managed_slots=True)

    def t(name, dtype=td):
        return torch.from_numpy(g[name]).to(dtype)

    rec = torch.from_dlpack(pool.recurrent_state(1))
    conv = torch.from_dlpack(pool.conv_state(1))
    rec[slots] = t("recurrent_state", torch.float32)
    conv[slots] = t("conv_state")
    layer = gdn.RadixLinearAttention(0, 1, H, HV, Dk, Dv, t("conv_weight"), t("A_log", torch.float32),
                                     t("dt_bias", torch.float32))
    lens = [g["cu_seqlens"][r + 1] - g["cu_seqlens"][r] for r in range(B)]
    batch = gdn.ForwardBatch(g["forward_mode"], pool, slots, lens)
    out = layer.forward(batch, t("mixed_qkv"), t("a"), t("b"))
    tol = g["tolerance"]
    assert out.dtype == td
    assert rel_l2(out, g["expected_out"]) <= tol["out"]
    assert rel_l2(rec[slots], g["expected_recurrent_state"]) <= tol["state"]
    assert torch.equal(conv[slots], t("expected_conv_state"))
