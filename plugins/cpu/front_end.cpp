#include "front_end.hpp"

#include <cmath>
#include <cstring>

#include "half.hpp"
#include "simd.hpp"
#include "transpose.hpp"

namespace gdn_cpu::GDN_CPU_ISA {

template <class Act>
void conv_silu(const Problem& p, int64_t s0, int64_t slot, int64_t c0, int n, int np, int ch0, int width, float* y,
               int ldy, float* xw, float* wt) {
    using S = typename Act::storage;
    const int Kc = p.Kc, K1 = Kc - 1;
    const int ldw = round_up(width, kLanes);
    const S* x = static_cast<const S*>(p.qkv);
    const S* cs = static_cast<const S*>(p.cstate) + slot * p.cstate_stride + int64_t(ch0) * K1;
    const S* w = static_cast<const S*>(p.conv_w) + int64_t(ch0) * Kc;

    if (n == 1) {
        // One row (decode): taps read in place, in the [channel][tap] layout of the weights and
        // the conv state; transposing them first would cost more than the conv itself.
        const S* tap[4];
        int64_t step[4];
        for (int m = 0; m < Kc; ++m) {
            const int64_t src = c0 - K1 + m;
            if (src >= 0)
                tap[m] = x + (s0 + src) * p.qkv_ld + ch0, step[m] = 1;
            else
                tap[m] = cs + (K1 + src), step[m] = K1;
        }
        for (int j = 0; j < width; ++j) {
            float c = 0.0f;
            for (int m = 0; m < Kc; ++m) c += Act::load(w[int64_t(j) * Kc + m]) * Act::load(tap[m][j * step[m]]);
            y[j] = c;
        }
        for (int j = width; j < ldy; ++j) y[j] = 0.0f;
        for (int j = 0; j < ldw; j += kLanes) {
            const vf c = vload(y + j);
            vstore(y + j, c / (1.0f + vexp(-c)));  // SiLU
        }
    } else {
        // Weights transposed to [tap][channel] so that the tap loop runs along contiguous channels.
        for (int m = 0; m < Kc; ++m) {
            float* row = wt + m * ldw;
            for (int j = 0; j < width; ++j) row[j] = Act::load(w[int64_t(j) * Kc + m]);
            for (int j = width; j < ldw; ++j) row[j] = 0.0f;
        }
        // The conv window in f32: rows c0-(Kc-1) .. c0+n-1 of [conv state; request rows].
        for (int r = 0; r < n + K1; ++r) {
            const int64_t src = c0 - K1 + r;
            float* row = xw + int64_t(r) * ldw;
            if (src >= 0) {
                const S* in = x + (s0 + src) * p.qkv_ld + ch0;
                for (int j = 0; j < width; ++j) row[j] = Act::load(in[j]);
            } else {
                const int pos = int(K1 + src);  // position in the conv state, oldest first
                for (int j = 0; j < width; ++j) row[j] = Act::load(cs[int64_t(j) * K1 + pos]);
            }
            for (int j = width; j < ldw; ++j) row[j] = 0.0f;
        }
        for (int i = 0; i < n; ++i) {
            float* out = y + int64_t(i) * ldy;
            for (int j = 0; j < ldw; j += kLanes) {
                vf c = splat(0.0f);
                for (int m = 0; m < Kc; ++m) c += vload(wt + m * ldw + j) * vload(xw + int64_t(i + m) * ldw + j);
                vstore(out + j, c / (1.0f + vexp(-c)));  // SiLU
            }
            for (int j = ldw; j < ldy; ++j) out[j] = 0.0f;
        }
    }
    for (int i = n; i < np; ++i) std::memset(y + int64_t(i) * ldy, 0, sizeof(float) * ldy);
}

void l2_normalize_rows(float* x, int ld, int n, int d, float scale) {
    for (int i = 0; i < n; ++i) {
        float* row = x + int64_t(i) * ld;
        vf acc = splat(0.0f);
        for (int j = 0; j < d; j += kLanes) {
            const vf v = vload(row + j);
            acc += v * v;
        }
        const float f = scale / std::sqrt(hsum(acc) + 1e-6f);
        for (int j = 0; j < d; j += kLanes) vstore(row + j, vload(row + j) * f);
    }
}

template <class Act>
void gates(const Problem& p, int64_t row0, int n, int hv, float* g, float* beta) {
    using S = typename Act::storage;
    const S* a = static_cast<const S*>(p.a);
    const S* b = static_cast<const S*>(p.b);
    // In double, so that neither a + dt_bias nor the product leaves the range on the way (float's
    // exp(A_log) is inf from A_log = 89 on). What double cannot hold is settled explicitly:
    //  - exp(A_log) = inf times softplus(x) = 0 (A_log above 709, x below -745) is not NaN but
    //    exp(A_log + log softplus(x)) = exp(A_log + x);
    //  - a log decay below kMinLogDecay is a decay of exactly 0 in float and double; clamping it
    //    there keeps g finite, so the chunk's sums and differences of g (exp(G_r - G_s)) never
    //    meet inf - inf or lose the small g's next to a huge one.
    const double A_log = p.A_log[hv], rate = std::exp(A_log), bias = p.dt_bias[hv];
    for (int i = 0; i < n; ++i) {
        const double x = double(Act::load(a[(row0 + i) * p.a_ld + hv])) + bias;
        const double softplus = x > 20.0 ? x : std::log1p(std::exp(x));
        double gi = -rate * softplus;
        if (std::isnan(gi)) gi = -std::exp(A_log + x);
        g[i] = gi < kMinLogDecay ? kMinLogDecay : float(gi);
        beta[i] = 1.0f / (1.0f + std::exp(-Act::load(b[(row0 + i) * p.b_ld + hv])));
    }
}

template <class Act>
void write_rows(const Problem& p, int64_t row0, int n, int col, int ncols, const float* O, int ldo) {
    using S = typename Act::storage;
    const int64_t ld = int64_t(p.HV) * p.Dv;
    S* out = static_cast<S*>(p.out) + row0 * ld + col;
    for (int i = 0; i < n; ++i)
        for (int j = 0; j < ncols; ++j) out[i * ld + j] = Act::store(O[int64_t(i) * ldo + j]);
}

template <class Act>
void update_conv_state(const Problem& p, int64_t s0, int64_t L, int64_t slot, int ch0, int width) {
    using S = typename Act::storage;
    const int64_t K1 = p.Kc - 1;
    const S* x = static_cast<const S*>(p.qkv);
    S* cs = static_cast<S*>(p.cstate) + slot * p.cstate_stride + int64_t(ch0) * K1;
    // A request shorter than Kc-1 keeps part of the old state: shifting the whole [channel][tap]
    // block left by L moves every kept tap into place (what lands in the other taps of a
    // channel is overwritten below).
    if (L < K1) std::memmove(cs, cs + L, sizeof(S) * (width * K1 - L));
    for (int64_t q = L < K1 ? K1 - L : 0; q < K1; ++q) {
        const S* row = x + (s0 + L - K1 + q) * p.qkv_ld + ch0;
        for (int j = 0; j < width; ++j) cs[j * K1 + q] = row[j];
    }
}

template <class Act>
void copy_conv_state(const Problem& p, int64_t s0, int64_t L, int64_t src, int64_t dst, int ch0, int width) {
    using S = typename Act::storage;
    const int64_t K1 = p.Kc - 1;
    const S* x = static_cast<const S*>(p.qkv);
    const S* from = static_cast<const S*>(p.cstate) + src * p.cstate_stride + int64_t(ch0) * K1;
    S* to = static_cast<S*>(p.cstate) + dst * p.cstate_stride + int64_t(ch0) * K1;
    for (int64_t q = 0; q < K1; ++q) {
        const int64_t at = L + q;  // position in [old state (K1); rows (L)]
        if (at < K1) {
            for (int j = 0; j < width; ++j) to[j * K1 + q] = from[j * K1 + at];
        } else {
            const S* row = x + (s0 + at - K1) * p.qkv_ld + ch0;
            for (int j = 0; j < width; ++j) to[j * K1 + q] = row[j];
        }
    }
}

namespace {
int64_t state_offset(const Problem& p, int64_t slot, int hv, int col0) {
    return slot * p.rstate_stride + (int64_t(hv) * p.Dv + col0) * p.Dk;
}
}  // namespace

void load_state(const Problem& p, int64_t slot, int hv, int col0, int ncols, float* dst) {
    const int64_t at = state_offset(p, slot, hv, col0), n = int64_t(ncols) * p.Dk;
    if (p.state == GDN_DTYPE_F32) {
        std::memcpy(dst, static_cast<const float*>(p.rstate) + at, sizeof(float) * n);
        return;
    }
    const uint16_t* src = static_cast<const uint16_t*>(p.rstate) + at;
    if (p.state == GDN_DTYPE_BF16)
        for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(src[i]);
    else
        for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(src[i]);
}

void store_state(const Problem& p, const float* src, int64_t slot, int hv, int col0, int ncols) {
    const int64_t at = state_offset(p, slot, hv, col0), n = int64_t(ncols) * p.Dk;
    if (p.state == GDN_DTYPE_F32) {
        std::memcpy(static_cast<float*>(p.rstate) + at, src, sizeof(float) * n);
        return;
    }
    uint16_t* dst = static_cast<uint16_t*>(p.rstate) + at;
    if (p.state == GDN_DTYPE_BF16 && p.truncate_state)
        for (int64_t i = 0; i < n; ++i) dst[i] = uint16_t(std::bit_cast<uint32_t>(src[i]) >> 16);
    else if (p.state == GDN_DTYPE_BF16)
        for (int64_t i = 0; i < n; ++i) dst[i] = f32_to_bf16(src[i]);
    else
        for (int64_t i = 0; i < n; ++i) dst[i] = f32_to_f16(src[i]);
}

void load_state_transposed(const Problem& p, int64_t slot, int hv, int col0, int ncols, float* St, int64_t ldst) {
    const int64_t at = state_offset(p, slot, hv, col0);
    if (p.state == GDN_DTYPE_F32)
        pool_to_transposed<StateF32>(static_cast<const float*>(p.rstate) + at, ncols, p.Dk, St, ldst);
    else if (p.state == GDN_DTYPE_BF16)
        pool_to_transposed<StateBF16>(static_cast<const uint16_t*>(p.rstate) + at, ncols, p.Dk, St, ldst);
    else
        pool_to_transposed<StateF16>(static_cast<const uint16_t*>(p.rstate) + at, ncols, p.Dk, St, ldst);
}

void store_state_transposed(const Problem& p, const float* St, int64_t ldst, int64_t slot, int hv, int col0, int ncols,
                            bool snapshot) {
    const int64_t at = state_offset(p, slot, hv, col0);
    uint16_t* S16 = static_cast<uint16_t*>(p.rstate) + at;
    if (p.state == GDN_DTYPE_F32 && snapshot)
        transposed_to_pool<StateF32, true>(St, ldst, ncols, p.Dk, static_cast<float*>(p.rstate) + at);
    else if (p.state == GDN_DTYPE_F32)
        transposed_to_pool<StateF32>(St, ldst, ncols, p.Dk, static_cast<float*>(p.rstate) + at);
    else if (p.state == GDN_DTYPE_BF16 && p.truncate_state)
        transposed_to_pool<StateBF16Truncated>(St, ldst, ncols, p.Dk, S16);
    else if (p.state == GDN_DTYPE_BF16)
        transposed_to_pool<StateBF16>(St, ldst, ncols, p.Dk, S16);
    else
        transposed_to_pool<StateF16>(St, ldst, ncols, p.Dk, S16);
}

#define GDN_CPU_INSTANTIATE(Act)                                                                                     \
    template void conv_silu<Act>(const Problem&, int64_t, int64_t, int64_t, int, int, int, int, float*, int, float*, \
                                 float*);                                                                            \
    template void gates<Act>(const Problem&, int64_t, int, int, float*, float*);                                     \
    template void write_rows<Act>(const Problem&, int64_t, int, int, int, const float*, int);                        \
    template void update_conv_state<Act>(const Problem&, int64_t, int64_t, int64_t, int, int);                       \
    template void copy_conv_state<Act>(const Problem&, int64_t, int64_t, int64_t, int64_t, int, int);
GDN_CPU_INSTANTIATE(F32)
GDN_CPU_INSTANTIATE(BF16)
GDN_CPU_INSTANTIATE(F16)
#undef GDN_CPU_INSTANTIATE

}  // namespace gdn_cpu::GDN_CPU_ISA
