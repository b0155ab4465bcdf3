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

// Rows that recurrent_tokens runs side by side: a row's tokens are a dependency chain, the rows
// of a block are independent chains the core overlaps.
constexpr int kRowBlock = 4;

// One token on one row of the state, in pieces: with S_i the old row, (decay S_i) . k and
// (decay S_i) . q give u_i and, since the update adds u_i k, also
// o_i = decay (S_i . q) + u_i (k . q) (token_out). Two accumulators per dot product halve the FMA
// dependency chains; state rows are packed at Dk, a scalar tail covers what whole vectors do not.
inline void row_dots(const float* s, int Dk, const float* k, const float* q, float& sk_out, float& sq_out) {
    const int body = Dk / kLanes * kLanes;
    vf sk0 = splat(0.0f), sk1 = splat(0.0f), sq0 = splat(0.0f), sq1 = splat(0.0f);
    int j = 0;
    for (; j + 2 * kLanes <= body; j += 2 * kLanes) {
        const vf a = vload(s + j), b = vload(s + j + kLanes);
        sk0 += a * vload(k + j), sk1 += b * vload(k + j + kLanes);
        sq0 += a * vload(q + j), sq1 += b * vload(q + j + kLanes);
    }
    for (; j < body; j += kLanes) {
        const vf a = vload(s + j);
        sk0 += a * vload(k + j), sq0 += a * vload(q + j);
    }
    float sk = hsum(sk0 + sk1), sq = hsum(sq0 + sq1);
    for (; j < Dk; ++j) sk += s[j] * k[j], sq += s[j] * q[j];
    sk_out = sk, sq_out = sq;
}

// s_out = decay s_in + u k (row_step's update), and in the same pass the next token's sums of
// the new row with k2 and q2: one pass over the row per token instead of two.
inline void row_update_dots(const float* s_in, float* s_out, int Dk, const float* k, float decay, float u,
                            const float* k2, const float* q2, float& sk_out, float& sq_out) {
    const int body = Dk / kLanes * kLanes;
    const vf dv = splat(decay), uv = splat(u);
    vf sk0 = splat(0.0f), sk1 = splat(0.0f), sq0 = splat(0.0f), sq1 = splat(0.0f);
    int j = 0;
    for (; j + 2 * kLanes <= body; j += 2 * kLanes) {
        const vf a = dv * vload(s_in + j) + uv * vload(k + j);
        const vf b = dv * vload(s_in + j + kLanes) + uv * vload(k + j + kLanes);
        vstore(s_out + j, a);
        vstore(s_out + j + kLanes, b);
        sk0 += a * vload(k2 + j), sk1 += b * vload(k2 + j + kLanes);
        sq0 += a * vload(q2 + j), sq1 += b * vload(q2 + j + kLanes);
    }
    for (; j < body; j += kLanes) {
        const vf a = dv * vload(s_in + j) + uv * vload(k + j);
        vstore(s_out + j, a);
        sk0 += a * vload(k2 + j), sq0 += a * vload(q2 + j);
    }
    float sk = hsum(sk0 + sk1), sq = hsum(sq0 + sq1);
    for (; j < Dk; ++j) {
        const float x = decay * s_in[j] + u * k[j];
        s_out[j] = x;
        sk += x * k2[j], sq += x * q2[j];
    }
    sk_out = sk, sq_out = sq;
}

// u_i and o_i from the row's sums. The output is one FMA, spelled out: a contracted
// a * b + c * d may fuse either product, and the choice may differ where this is inlined.
inline float token_u(float v, float decay, float beta, float sk) { return beta * (v - decay * sk); }
inline float token_out(float decay, float sq, float u, float kq) { return std::fma(decay, sq, u * kq); }

inline void row_update(const float* s_in, float* s_out, int Dk, const float* k, float decay, float u) {
    const int body = Dk / kLanes * kLanes;
    const vf dv = splat(decay), uv = splat(u);
    int j = 0;
    for (; j < body; j += kLanes) vstore(s_out + j, dv * vload(s_in + j) + uv * vload(k + j));
    for (; j < Dk; ++j) s_out[j] = decay * s_in[j] + u * k[j];
}

}  // namespace

void recurrent_step(float* S, int64_t ld, int Dk, int rows, const float* k, const float* q, const float* v, float decay,
                    float beta, float* o) {
    const float kq = key_query(k, q, Dk);
    for (int i = 0; i < rows; ++i) {
        float* s = S + i * ld;
        float sk, sq;
        row_dots(s, Dk, k, q, sk, sq);
        const float u = token_u(v[i], decay, beta, sk);
        o[i] = token_out(decay, sq, u, kq);
        row_update(s, s, Dk, k, decay, u);
    }
}

void recurrent_tokens(const float* S_in, float* S_out, int64_t ld, int Dk, int rows, int n, const float* K,
                      const float* Q, int ldk, const float* V, int ldv, const float* decay, const float* beta, float* O,
                      int ldo) {
    float kq[kMaxTokens];
    for (int t = 0; t < n; ++t) kq[t] = key_query(K + t * ldk, Q + t * ldk, Dk);
    // Per row: token 0's sums read the row from S_in; each further token updates the row by the
    // token before (into a copy in L1) and takes its own sums in the same pass; the last update
    // goes to S_out, or is skipped when the state is not kept.
    alignas(64) float buf[kRowBlock][kMaxRow];
    for (int i0 = 0; i0 < rows; i0 += kRowBlock) {
        const int nb = rows - i0 < kRowBlock ? rows - i0 : kRowBlock;
        float sk[kRowBlock], sq[kRowBlock], u[kRowBlock];
        for (int t = 0; t < n; ++t) {
            const float *k = K + t * ldk, *q = Q + t * ldk;
            for (int r = 0; r < nb; ++r) {
                const int i = i0 + r;
                if (t == 0)
                    row_dots(S_in + i * ld, Dk, k, q, sk[r], sq[r]);
                else
                    row_update_dots(t == 1 ? S_in + i * ld : buf[r], buf[r], Dk, K + (t - 1) * ldk, decay[t - 1], u[r],
                                    k, q, sk[r], sq[r]);
                u[r] = token_u(V[t * ldv + i], decay[t], beta[t], sk[r]);
                O[t * ldo + i] = token_out(decay[t], sq[r], u[r], kq[t]);
            }
        }
        if (S_out)
            for (int r = 0; r < nb; ++r)
                row_update(n == 1 ? S_in + (i0 + r) * ld : buf[r], S_out + (i0 + r) * ld, Dk, K + (n - 1) * ldk,
                           decay[n - 1], u[r]);
    }
}

}  // namespace gdn_cpu::GDN_CPU_ISA
