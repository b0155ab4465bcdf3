#include "recurrent.hpp"

#include <cmath>
#include <cstring>

#include "simd.hpp"

namespace gdn_cpu::GDN_CPU_ISA {

namespace {

// The largest Dk a row buffer of recurrent_tokens holds (the capability limit of forward.hpp).
constexpr int kMaxRow = 256;

float key_query(const float* k, const float* q, int Dk) {
    vf kq_acc = splat(0.0f);
    for (int j = 0; j < round_up(Dk, kLanes); j += kLanes) kq_acc += vload(k + j) * vload(q + j);
    return hsum(kq_acc);
}

// One token on one row of the state (Dk values), read from s_in and, with Update, written to
// s_out (which may be s_in): returns o_i. With S_i the old row, (decay S_i) . k and
// (decay S_i) . q give u_i and, since the update adds u_i k, also o_i = decay (S_i . q) + u_i (k . q).
template <bool Update>
inline float row_step(const float* s_in, float* s_out, int Dk, const float* k, const float* q, float v, float decay,
                      float beta, float kq) {
    const int body = Dk / kLanes * kLanes;  // state rows are packed at Dk: a scalar tail covers the rest
    // Two accumulators per dot product halve the FMA dependency chains.
    vf sk0 = splat(0.0f), sk1 = splat(0.0f), sq0 = splat(0.0f), sq1 = splat(0.0f);
    int j = 0;
    for (; j + 2 * kLanes <= body; j += 2 * kLanes) {
        const vf a = vload(s_in + j), b = vload(s_in + j + kLanes);
        sk0 += a * vload(k + j), sk1 += b * vload(k + j + kLanes);
        sq0 += a * vload(q + j), sq1 += b * vload(q + j + kLanes);
    }
    for (; j < body; j += kLanes) {
        const vf a = vload(s_in + j);
        sk0 += a * vload(k + j), sq0 += a * vload(q + j);
    }
    float sk = hsum(sk0 + sk1), sq = hsum(sq0 + sq1);
    for (; j < Dk; ++j) sk += s_in[j] * k[j], sq += s_in[j] * q[j];

    const float u = beta * (v - decay * sk);
    // One FMA, spelled out: a contracted a * b + c * d may fuse either product, and the choice
    // may differ where this is inlined; the explicit form gives every caller the same bits.
    const float o = std::fma(decay, sq, u * kq);
    if constexpr (Update) {
        const vf dv = splat(decay), uv = splat(u);
        for (j = 0; j < body; j += kLanes) vstore(s_out + j, dv * vload(s_in + j) + uv * vload(k + j));
        for (; j < Dk; ++j) s_out[j] = decay * s_in[j] + u * k[j];
    }
    return o;
}

// Rows that recurrent_tokens runs side by side: a row's tokens are a dependency chain, the rows
// of a block are independent chains the core overlaps.
constexpr int kRowBlock = 4;

}  // namespace

void recurrent_step(float* S, int64_t ld, int Dk, int rows, const float* k, const float* q, const float* v, float decay,
                    float beta, float* o) {
    const float kq = key_query(k, q, Dk);
    for (int i = 0; i < rows; ++i) o[i] = row_step<true>(S + i * ld, S + i * ld, Dk, k, q, v[i], decay, beta, kq);
}

void recurrent_tokens(const float* S_in, float* S_out, int64_t ld, int Dk, int rows, int n, const float* K,
                      const float* Q, int ldk, const float* V, int ldv, const float* decay, const float* beta, float* O,
                      int ldo) {
    float kq[kMaxTokens];
    for (int t = 0; t < n; ++t) kq[t] = key_query(K + t * ldk, Q + t * ldk, Dk);
    // The first token reads the row from S_in, the last writes it to S_out (or, for no state
    // write, skips the update altogether); the tokens between run on a copy in L1.
    alignas(64) float buf[kRowBlock][kMaxRow];
    for (int i0 = 0; i0 < rows; i0 += kRowBlock) {
        const int nb = rows - i0 < kRowBlock ? rows - i0 : kRowBlock;
        for (int t = 0; t < n; ++t) {
            const float *k = K + t * ldk, *q = Q + t * ldk;
            for (int r = 0; r < nb; ++r) {
                const int i = i0 + r;
                const float* src = t == 0 ? S_in + i * ld : buf[r];
                float* dst = t < n - 1 ? buf[r] : S_out ? S_out + i * ld : nullptr;
                O[t * ldo + i] =
                    dst ? row_step<true>(src, dst, Dk, k, q, V[t * ldv + i], decay[t], beta[t], kq[t])
                        : row_step<false>(src, nullptr, Dk, k, q, V[t * ldv + i], decay[t], beta[t], kq[t]);
            }
        }
    }
}

}  // namespace gdn_cpu::GDN_CPU_ISA
