// The chunked WY / UT form of the gated delta rule for one chunk of one value head.
//
// With gamma_r the chunk-local cumulative log decay (all exponents below are of non-positive
// numbers, so nothing overflows and a strong decay only flushes terms to zero):
//   A_rs = beta_r (k_r . k_s) exp(gamma_r - gamma_s)  (s < r),   T = (I + A)^-1
//   W = T diag(beta exp(gamma)) K,   U = T diag(beta) V
//   Delta = U - W S0^T                                  (the per-token deltas u)
//   O = diag(exp(gamma)) Q S0^T + [(Q K^T) o E]_{s<=r} Delta,   E_rs = exp(gamma_r - gamma_s)
//   S^T <- exp(Gamma) S0^T + K^T diag(exp(Gamma - gamma)) Delta
// The state is kept transposed (Dk x Dv) in scratch so that every product is a row-major
// A B with contiguous rows of B: one register-tiled kernel (matmul.hpp) serves all of them.
#include "chunk.hpp"

#include <cmath>
#include <cstring>

#include "matmul.hpp"
#include "simd.hpp"

namespace gdn_cpu::GDN_CPU_ISA {

namespace {
constexpr int C = kChunk;
constexpr float kFlush = -1e30f;  // exp8 of this is exactly 0: masks entries out
}  // namespace

void chunk_keys(const ChunkKeys& keys, float* Kt, float* KK, float* QK) {
    const int np = keys.np, dkp = keys.dkp, cols = round_up(np, kTileCols);
    for (int j = 0; j < dkp; ++j) {
        float* row = Kt + j * C;
        for (int s = 0; s < np; ++s) row[s] = keys.K[s * dkp + j];
        for (int s = np; s < cols; ++s) row[s] = 0.0f;
    }
    matmul<false, Shape::lower_c>(keys.K, dkp, Kt, C, KK, C, np, C, dkp);
    matmul<false, Shape::lower_c>(keys.Q, dkp, Kt, C, QK, C, np, C, dkp);
}

void chunk_head(const ChunkKeys& keys, int ldv, const float* V, const float* g, const float* beta_in, float* St,
                int ldst, float* O, const ChunkWork& w) {
    const int n = keys.n, np = keys.np, dkp = keys.dkp;

    // Cumulative log decay in double: gamma_r - gamma_s for close r, s stays exact even when
    // the sums themselves are large (a strong decay reaches -1e3 and more within a chunk).
    double* gm = w.gamma;
    double acc = 0.0;
    for (int r = 0; r < n; ++r) gm[r] = acc += g[r];
    const double Gamma = gm[n - 1];

    alignas(64) float beta[C];
    for (int r = 0; r < C; ++r) {
        beta[r] = r < n ? beta_in[r] : 0.0f;
        w.eg[r] = r < n ? float(gm[r]) : kFlush;
        w.dcy[r] = r < n ? float(Gamma - gm[r]) : kFlush;
    }
    exp_inplace(w.eg, C);
    exp_inplace(w.dcy, C);
    const float eGamma = float(std::exp(Gamma));

    // E (masked to s <= r < n), then A and P. Every entry of rows [0, np) is written, zeros
    // included, because the triangular products read whole tiles.
    for (int r = 0; r < np; ++r) {
        float* e = w.E + r * C;
        const int last = r < n ? r : -1;  // rows past n are all zero
        for (int s = 0; s <= last; ++s) e[s] = float(gm[r] - gm[s]);
        for (int s = last + 1; s < C; ++s) e[s] = kFlush;
        exp_inplace(e, C);
        float* a = w.A + r * C;
        float* pm = w.P + r * C;
        const float* kk = keys.KK + r * C;
        const float* qk = keys.QK + r * C;
        const float br = beta[r];
        for (int s = 0; s < r; ++s) a[s] = br * kk[s] * e[s];
        for (int s = r; s < C; ++s) a[s] = 0.0f;
        for (int s = 0; s <= r; ++s) pm[s] = qk[s] * e[s];
        for (int s = r + 1; s < C; ++s) pm[s] = 0.0f;
    }

    // T = (I + A)^-1 by forward substitution: T_r = e_r - sum_{s<r} A_rs T_s. The row being
    // built stays in registers (kChunk floats); rows of T are zero past their diagonal.
    constexpr int kRowVectors = C / kLanes;
    for (int r = 0; r < np; ++r) {
        vf t[kRowVectors];
#pragma GCC unroll 8
        for (int j = 0; j < kRowVectors; ++j) t[j] = splat(0.0f);
        const float* a = w.A + r * C;
        for (int s = 0; s < r; ++s) {
            const vf f = splat(a[s]);
            const float* ts = w.T + s * C;
#pragma GCC unroll 8
            for (int j = 0; j < kRowVectors; ++j) t[j] -= f * vload(ts + j * kLanes);
        }
        float* row = w.T + r * C;
#pragma GCC unroll 8
        for (int j = 0; j < kRowVectors; ++j) vstore(row + j * kLanes, t[j]);
        row[r] = 1.0f;
    }
    // Fold the diagonal factors of W and U into T's columns.
    alignas(64) float bw[C];
    for (int s = 0; s < C; ++s) bw[s] = beta[s] * w.eg[s];
    for (int r = 0; r < np; ++r)
        for (int s = 0; s < C; s += kLanes) {
            const vf t = vload(w.T + r * C + s);
            vstore(w.T1 + r * C + s, t * vload(bw + s));
            vstore(w.T2 + r * C + s, t * vload(beta + s));
        }

    float* W = w.W;
    float* U = w.U;
    float* X = w.X;
    matmul<false, Shape::lower_a>(w.T1, C, keys.K, dkp, W, dkp, np, dkp, np);
    matmul<false, Shape::lower_a>(w.T2, C, V, ldv, U, ldv, np, ldv, np);

    // Delta = U - W S0^T, kept in U.
    matmul<false, Shape::full>(W, dkp, St, ldst, X, ldv, np, ldv, dkp);
    for (int i = 0; i < np * ldv; i += kLanes) vstore(U + i, vload(U + i) - vload(X + i));

    // O = diag(exp(gamma)) Q S0^T + P Delta.
    matmul<false, Shape::full>(keys.Q, dkp, St, ldst, O, ldv, np, ldv, dkp);
    for (int r = 0; r < np; ++r) {
        const vf f = splat(w.eg[r]);
        for (int j = 0; j < ldv; j += kLanes) vstore(O + r * ldv + j, f * vload(O + r * ldv + j));
    }
    matmul<true, Shape::lower_a>(w.P, C, U, ldv, O, ldv, np, ldv, np);

    // S^T <- exp(Gamma) S0^T + K^T diag(exp(Gamma - gamma)) Delta.
    for (int r = 0; r < np; ++r) {
        const vf f = splat(w.dcy[r]);
        for (int j = 0; j < ldv; j += kLanes) vstore(X + r * ldv + j, f * vload(U + r * ldv + j));
    }
    const vf eG = splat(eGamma);
    for (int j = 0; j < dkp; ++j)
        for (int i = 0; i < ldv; i += kLanes) vstore(St + j * ldst + i, eG * vload(St + j * ldst + i));
    matmul<true, Shape::full>(keys.Kt, C, X, ldv, St, ldst, dkp, ldv, np);
}

}  // namespace gdn_cpu::GDN_CPU_ISA
