"""Shared fixtures of the gdn Python tests: the CPU backend, seeded random problems (the seed is
printed with a one-line rerun command), and a pure-torch recurrence of the layer written from the
golden README, independent of gdn's own code."""

import os
import random
import zlib

import pytest

import gdn

torch = pytest.importorskip("torch")


@pytest.fixture(scope="session")
def cpu():
    return gdn.open("cpu")


@pytest.fixture
def seed(request):
    """A seed per test (GDN_TEST_SEED overrides it), printed with the command that reruns it."""
    env = os.environ.get("GDN_TEST_SEED")
    s = int(env) if env else zlib.crc32(request.node.nodeid.encode()) + random.randrange(1 << 20)
    print(f"seed {s}; rerun: GDN_TEST_SEED={s} python3 -m pytest '{request.node.nodeid}'")
    torch.manual_seed(s)
    return s


TORCH_DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}
TOLERANCE = {"f32": 2e-5, "bf16": 5e-3, "f16": 5e-3}  # the golden README's relative L2 bounds


class Problem:
    """Random inputs of one layer call, rounded to the activation dtype, in torch tensors."""

    def __init__(self, H=2, HV=4, Dk=16, Dv=16, Kc=4, lens=(5, 0, 9), dtype="f32", state_scale=0.1):
        self.H, self.HV, self.Dk, self.Dv, self.Kc = H, HV, Dk, Dv, Kc
        self.lens = list(lens)
        self.dtype = dtype
        self.C = 2 * H * Dk + HV * Dv
        td = TORCH_DTYPES[dtype]
        T = sum(self.lens)
        self.cu = [0]
        for n in self.lens:
            self.cu.append(self.cu[-1] + n)
        self.mixed_qkv = torch.randn(T, self.C).to(td)
        self.a = torch.randn(T, HV).to(td)
        self.b = torch.randn(T, HV).to(td)
        self.conv_weight = (0.5 * torch.randn(self.C, Kc)).to(td)
        self.A_log = torch.empty(HV).uniform_(-1.0, 0.5)
        self.dt_bias = 0.1 * torch.randn(HV)
        B = len(self.lens)
        self.conv_state = torch.randn(B, self.C, Kc - 1).to(td)
        self.recurrent_state = state_scale * torch.randn(B, HV, Dv, Dk)

    def layer(self, gdn_layer_idx=0, **override):
        args = dict(conv_weight=self.conv_weight, A_log=self.A_log, dt_bias=self.dt_bias)
        args.update(override)
        return gdn.RadixLinearAttention(7, gdn_layer_idx, self.H, self.HV, self.Dk, self.Dv,
                                        args["conv_weight"], args["A_log"], args["dt_bias"])

    def pool(self, backend, num_slots=16, num_layers=1):
        # The tests name slots of their choosing.
        return gdn.GDNPool(backend, num_layers, num_slots, self.H, self.HV, self.Dk, self.Dv, self.Kc,
                           self.dtype, engine_managed_slots=True)

    def place_states(self, pool, slots, layer=0):
        """Writes this problem's states before into `slots` of the pool, through the pool's views."""
        rec = torch.from_dlpack(pool.recurrent_state(layer))
        conv = torch.from_dlpack(pool.conv_state(layer))
        for r, s in enumerate(slots):
            rec[s] = self.recurrent_state[r]
            conv[s] = self.conv_state[r]

    def expected(self):
        return torch_gdn(self.mixed_qkv, self.a, self.b, self.conv_weight, self.A_log, self.dt_bias,
                         self.cu, self.conv_state, self.recurrent_state, self.H, self.HV, self.Dk, self.Dv)


def torch_gdn(mixed_qkv, a, b, conv_weight, A_log, dt_bias, cu, conv_state, recurrent_state, H, HV, Dk, Dv):
    """The layer token by token in float64 torch: (out [T, HV*Dv], conv_state, recurrent_state) after."""
    f = torch.float64
    x, a, b = mixed_qkv.to(f), a.to(f), b.to(f)
    w = conv_weight.to(f).reshape(conv_weight.shape[0], -1)
    A_log, dt_bias = A_log.to(f), dt_bias.to(f)
    Kc = w.shape[1]
    rep = HV // H
    out = torch.zeros(x.shape[0], HV * Dv, dtype=f)
    conv_out = conv_state.to(f).clone()
    rec_out = recurrent_state.to(f).clone()
    for r in range(len(cu) - 1):
        s, e = cu[r], cu[r + 1]
        X = torch.cat([conv_out[r].T, x[s:e]])  # [Kc-1 + L, conv_dim], oldest first
        S = rec_out[r]  # [HV, Dv, Dk]
        for t in range(e - s):
            y = torch.nn.functional.silu((w * X[t:t + Kc].T).sum(-1))
            q = y[:H * Dk].view(H, Dk)
            k = y[H * Dk:2 * H * Dk].view(H, Dk)
            v = y[2 * H * Dk:].view(HV, Dv)
            q = q * torch.rsqrt((q * q).sum(-1, keepdim=True) + 1e-6) * Dk ** -0.5
            k = k * torch.rsqrt((k * k).sum(-1, keepdim=True) + 1e-6)
            q, k = q.repeat_interleave(rep, 0), k.repeat_interleave(rep, 0)
            g = -torch.exp(A_log) * torch.nn.functional.softplus(a[s + t] + dt_bias)
            beta = torch.sigmoid(b[s + t])
            S = S * torch.exp(g)[:, None, None]
            u = beta[:, None] * (v - torch.einsum("hvk,hk->hv", S, k))
            S = S + torch.einsum("hv,hk->hvk", u, k)
            out[s + t] = torch.einsum("hvk,hk->hv", S, q).reshape(-1)
        rec_out[r] = S
        conv_out[r] = X[-(Kc - 1):].T
    return out, conv_out, rec_out


def rel_l2(got, want):
    got, want = torch.as_tensor(got).to(torch.float64), torch.as_tensor(want).to(torch.float64)
    if not torch.isfinite(got).all():
        return float("inf")
    norm = want.norm()
    return float((got - want).norm() / (norm if norm > 0 else 1.0))
