// Prefill (extend): conv + SiLU + L2 norm + gates + chunked gated delta rule, fused in one kernel.
//
// Grid (Dv / DVS, HV, B): a CTA owns rows [v0, v0 + DVS) of one request's value head and walks
// the request's chunks of C = 64 tokens in order, holding its slice of the state S (DVS x Dk,
// f32) in shared memory. State rows are independent along Dv, so splitting Dv over CTAs gives a
// long single request enough CTAs; the Dv-independent chunk work (conv of q/k, K Kᵀ, Q Kᵀ,
// T = (I + A)^-1) is then recomputed per slice, which the host weighs when it picks DVS.
//
// Per chunk (notation of NUMERICS.md; γ chunk-local inclusive cumulative log decay, Γ its last):
//   A  = strict_lower(diag(β) K Kᵀ ⊙ exp(γ_r - γ_s));  T = (I + A)^-1   (16x16 blocks, f32)
//   Y  = diag(β) (V - diag(exp γ) K S0ᵀ)                  (so Δ = T Y = U - W S0ᵀ, no W needed)
//   Δ  = T Y
//   O  = diag(exp γ) Q S0ᵀ + lower(Q Kᵀ ⊙ exp(γ_r - γ_s)) Δ
//   S  = exp(Γ) S0 + (diag(exp(Γ - γ)) Δ)ᵀ K
// Every exponent is of a non-positive number; rows past the end of a partial chunk are zero
// with g = 0, so nothing is exponentiated outside [-inf, 0].
//
// Precision: products on tensor cores with f32 accumulation. bf16/f16 activations: q̂, k̂ kept
// as f16 (|x| <= 1, exact in tf32), other operands rounded to tf32 (2^-11). f32 activations:
// q̂, k̂ in f32 and every product in 3xTF32 (hi*hi + hi*lo + lo*hi), about f32 accuracy.
#pragma once

#include <type_traits>

#include "gdn_common.cuh"

namespace gdn_gpu {
// Kernels and their launchers have internal linkage: each plugin translation unit owns its copies.
namespace {

constexpr int kPrefillThreads = 256;
constexpr int kPrefillWarps = kPrefillThreads / kWarpSize;
constexpr int kChunk = 64;
constexpr int kLdC = kChunk + 4;  // row stride of the C x C matrices (A, T, QKm)

struct PrefillSmem {
    int ldkq, lds, ldv;
    size_t off_k, off_q, off_s, off_v, off_d, off_t, off_qk, off_misc, total;
};

__host__ __device__ inline size_t align16(size_t x) { return (x + 15) & ~static_cast<size_t>(15); }

// Row strides are chosen so that the fragment loads of a warp hit 32 distinct banks:
// k-contiguous operands use stride = 4 (mod 32) words, m/n-contiguous ones 8 (mod 32).
__host__ __device__ inline PrefillSmem prefill_smem(int Dk, int dvs, bool exact) {
    PrefillSmem L{};
    L.ldkq = exact ? Dk + 4 : Dk + 8;
    L.lds = Dk + 4;
    L.ldv = dvs + 8;
    const size_t kq = static_cast<size_t>(kChunk) * L.ldkq * (exact ? 4 : 2);
    size_t o = 0;
    L.off_k = o; o = align16(o + kq);
    L.off_q = o; o = align16(o + kq);
    L.off_s = o; o = align16(o + static_cast<size_t>(dvs) * L.lds * 4);
    L.off_v = o; o = align16(o + static_cast<size_t>(kChunk) * L.ldv * 4);
    const size_t dsz = static_cast<size_t>(kChunk) * (L.ldv > kLdC ? L.ldv : kLdC) * 4;  // Δ, aliased with A
    L.off_d = o; o = align16(o + dsz);
    L.off_t = o; o = align16(o + static_cast<size_t>(kChunk) * kLdC * 4);
    L.off_qk = o; o = align16(o + static_cast<size_t>(kChunk) * kLdC * 4);
    L.off_misc = o; o = align16(o + kChunk * 8 + (3 * kChunk + 3 * 256 + 4) * 4);
    L.total = o;
    return L;
}

// acc[MT][NT] (a (16 MT) x (8 NT) warp tile) += Σ_k fa(m, k) fb(k, n) over k in [kbeg, kend),
// kend - kbeg a multiple of 8. EXACT: 3xTF32.
template <int MT, int NT, bool EXACT, class FA, class FB>
__device__ __forceinline__ void warp_mma_tf32(float (&acc)[MT][NT][4], const FA& fa, const FB& fb, int kbeg, int kend) {
    const int lane = threadIdx.x % kWarpSize, g = lane >> 2, t = lane & 3;
    for (int k0 = kbeg; k0 < kend; k0 += 8) {
        uint32_t ah[MT][4], al[MT][4], bh[NT][2], bl[NT][2];
#pragma unroll
        for (int i = 0; i < MT; ++i) {
            const float v[4] = {fa(16 * i + g, k0 + t), fa(16 * i + g + 8, k0 + t), fa(16 * i + g, k0 + t + 4),
                                fa(16 * i + g + 8, k0 + t + 4)};
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                ah[i][e] = tf32_bits(v[e]);
                if (EXACT) al[i][e] = tf32_bits(v[e] - __uint_as_float(ah[i][e]));
            }
        }
#pragma unroll
        for (int j = 0; j < NT; ++j) {
            const float w[2] = {fb(k0 + t, 8 * j + g), fb(k0 + t + 4, 8 * j + g)};
#pragma unroll
            for (int e = 0; e < 2; ++e) {
                bh[j][e] = tf32_bits(w[e]);
                if (EXACT) bl[j][e] = tf32_bits(w[e] - __uint_as_float(bh[j][e]));
            }
        }
#pragma unroll
        for (int i = 0; i < MT; ++i)
#pragma unroll
            for (int j = 0; j < NT; ++j) {
                if (EXACT) {
                    mma_tf32_16x8x8(acc[i][j], al[i], bh[j]);
                    mma_tf32_16x8x8(acc[i][j], ah[i], bl[j]);
                }
                mma_tf32_16x8x8(acc[i][j], ah[i], bh[j]);
            }
    }
}

// Two products sharing the B operand: acc1 += fa1·fb, acc2 += fa2·fb.
template <int MT, int NT, bool EXACT, class FA1, class FA2, class FB>
__device__ __forceinline__ void warp_mma_tf32_dual(float (&acc1)[MT][NT][4], float (&acc2)[MT][NT][4], const FA1& fa1,
                                                   const FA2& fa2, const FB& fb, int kbeg, int kend) {
    const int lane = threadIdx.x % kWarpSize, g = lane >> 2, t = lane & 3;
    for (int k0 = kbeg; k0 < kend; k0 += 8) {
        uint32_t bh[NT][2], bl[NT][2];
#pragma unroll
        for (int j = 0; j < NT; ++j) {
            const float w[2] = {fb(k0 + t, 8 * j + g), fb(k0 + t + 4, 8 * j + g)};
#pragma unroll
            for (int e = 0; e < 2; ++e) {
                bh[j][e] = tf32_bits(w[e]);
                if (EXACT) bl[j][e] = tf32_bits(w[e] - __uint_as_float(bh[j][e]));
            }
        }
#pragma unroll
        for (int i = 0; i < MT; ++i) {
#pragma unroll
            for (int which = 0; which < 2; ++which) {
                float v[4];
                if (which == 0) {
                    v[0] = fa1(16 * i + g, k0 + t); v[1] = fa1(16 * i + g + 8, k0 + t);
                    v[2] = fa1(16 * i + g, k0 + t + 4); v[3] = fa1(16 * i + g + 8, k0 + t + 4);
                } else {
                    v[0] = fa2(16 * i + g, k0 + t); v[1] = fa2(16 * i + g + 8, k0 + t);
                    v[2] = fa2(16 * i + g, k0 + t + 4); v[3] = fa2(16 * i + g + 8, k0 + t + 4);
                }
                uint32_t ah[4], al[4];
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    ah[e] = tf32_bits(v[e]);
                    if (EXACT) al[e] = tf32_bits(v[e] - __uint_as_float(ah[e]));
                }
#pragma unroll
                for (int j = 0; j < NT; ++j) {
                    float (&acc)[4] = which == 0 ? acc1[i][j] : acc2[i][j];
                    if (EXACT) {
                        mma_tf32_16x8x8(acc, al, bh[j]);
                        mma_tf32_16x8x8(acc, ah, bl[j]);
                    }
                    mma_tf32_16x8x8(acc, ah, bh[j]);
                }
            }
        }
    }
}

// acc += A Btᵀ with A [16 MT][K] and Bt [8 NT][K], both f16 row-major (k contiguous) in shared memory.
template <int MT, int NT>
__device__ __forceinline__ void warp_mma_f16_abt(float (&acc)[MT][NT][4], const f16* A, int lda, const f16* Bt, int ldb,
                                                 int K) {
    const int lane = threadIdx.x % kWarpSize, g = lane >> 2, t = lane & 3;
    for (int k0 = 0; k0 < K; k0 += 16) {
        uint32_t a[MT][4], b[NT][2];
#pragma unroll
        for (int i = 0; i < MT; ++i) {
            const f16* p0 = A + (16 * i + g) * lda + k0 + 2 * t;
            const f16* p1 = p0 + 8 * lda;
            a[i][0] = *reinterpret_cast<const uint32_t*>(p0);
            a[i][1] = *reinterpret_cast<const uint32_t*>(p1);
            a[i][2] = *reinterpret_cast<const uint32_t*>(p0 + 8);
            a[i][3] = *reinterpret_cast<const uint32_t*>(p1 + 8);
        }
#pragma unroll
        for (int j = 0; j < NT; ++j) {
            const f16* q = Bt + (8 * j + g) * ldb + k0 + 2 * t;
            b[j][0] = *reinterpret_cast<const uint32_t*>(q);
            b[j][1] = *reinterpret_cast<const uint32_t*>(q + 8);
        }
#pragma unroll
        for (int i = 0; i < MT; ++i)
#pragma unroll
            for (int j = 0; j < NT; ++j) mma_f16_16x8x16(acc[i][j], a[i], b[j]);
    }
}

template <int MT, int NT>
__device__ __forceinline__ void zero_acc(float (&acc)[MT][NT][4]) {
#pragma unroll
    for (int i = 0; i < MT; ++i)
#pragma unroll
        for (int j = 0; j < NT; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.f;
}

// Row of accumulator element e of m-tile i (relative to the warp tile), and column of n-tile j.
__device__ __forceinline__ int acc_row(int i, int e, int g) { return 16 * i + g + (e >= 2 ? 8 : 0); }
__device__ __forceinline__ int acc_col(int j, int e, int t) { return 8 * j + 2 * t + (e & 1); }

// Conv input at absolute row tt of channel ch; zero outside [start-(Kc-1), end).
template <typename Act>
__device__ __forceinline__ float conv_in_guarded(const GdnParams& p, const Act* cs, int64_t start, int64_t end,
                                                 int64_t tt, int ch) {
    if (tt >= end || tt < start - (p.Kc - 1)) return 0.f;
    return conv_input<Act>(p, cs, start, tt, ch);
}

template <typename Act, int DVS, int DKT>
__global__ void __launch_bounds__(kPrefillThreads, 1) gdn_prefill_kernel(GdnParams p) {
    constexpr bool EXACT = std::is_same<Act, float>::value;
    using KQ = typename std::conditional<EXACT, float, f16>::type;
    constexpr int C = kChunk;
    constexpr int QKPL = DKT ? (2 * DKT + kWarpSize - 1) / kWarpSize : 2 * 256 / kWarpSize;  // q/k values per lane
    constexpr int VPL = (DVS + kWarpSize - 1) / kWarpSize;                                 // v values per lane
    constexpr int RPWARP = C / kPrefillWarps;                                              // rows per warp in the load

    extern __shared__ __align__(16) unsigned char smem[];
    const int Dk = DKT ? DKT : p.Dk;
    const PrefillSmem L = prefill_smem(Dk, DVS, EXACT);
    KQ* Ks = reinterpret_cast<KQ*>(smem + L.off_k);
    KQ* Qs = reinterpret_cast<KQ*>(smem + L.off_q);
    float* Ss = reinterpret_cast<float*>(smem + L.off_s);
    float* Vs = reinterpret_cast<float*>(smem + L.off_v);
    float* Ds = reinterpret_cast<float*>(smem + L.off_d);
    float* As = Ds;  // A lives until T is built, Δ after
    float* Ts = reinterpret_cast<float*>(smem + L.off_t);
    float* QKs = reinterpret_cast<float*>(smem + L.off_qk);
    // γ in double: exp(γ_r - γ_s) and exp(Γ - γ_r) of chunk-local sums near -4000 would lose
    // ~1e-4 relative in f32 (the difference of two large prefix sums), visible in f32 results
    double* gam = reinterpret_cast<double*>(smem + L.off_misc);
    float* bet = reinterpret_cast<float*>(gam + C);
    float* eg = bet + C;
    float* sc = eg + C;
    float* Pm = sc + C;
    int* flag = reinterpret_cast<int*>(Pm + 3 * 256);
    const int ldkq = L.ldkq, lds = L.lds, ldv = L.ldv;

    const int slice = blockIdx.x, hv = blockIdx.y, r = blockIdx.z;
    const int64_t start = p.cu[r], end = p.cu[r + 1];
    const int64_t len = end - start;
    if (len < 2) return;  // zero-length: nothing; one token: the decode kernel
    const int tid = threadIdx.x, warp = tid / kWarpSize, lane = tid % kWarpSize, g = lane >> 2, t = lane & 3;
    const int Dv = p.Dv, h = hv / p.gva, v0 = slice * DVS;
    const int64_t out_ld = static_cast<int64_t>(p.HV) * Dv;
    Act* out = static_cast<Act*>(p.out) + static_cast<int64_t>(hv) * Dv + v0;
    const int64_t slot = p.slots[r];
    if (slot == p.padding_slot) {
        for (int64_t i = tid; i < len * DVS; i += kPrefillThreads)
            out[(start + i / DVS) * out_ld + i % DVS] = from_f32<Act>(0.f);
        return;
    }
    Act* cs = static_cast<Act*>(p.conv_state) + slot * p.conv_stride;
    float* Sg = p.state + slot * p.state_stride + (static_cast<int64_t>(hv) * Dv + v0) * Dk;
    const Act* xa = static_cast<const Act*>(p.a);
    const Act* xb = static_cast<const Act*>(p.b);
    const int qch = h * Dk, kch = p.H * Dk + h * Dk, vch = 2 * p.H * Dk + hv * Dv + v0;
    const float A_log = p.A_log[hv], dt_bias = p.dt_bias[hv];
    const float qnorm = rsqrtf(static_cast<float>(Dk));

    for (int i = tid; i < DVS * (Dk / 4); i += kPrefillThreads) {
        const int row = i / (Dk / 4), c4 = i % (Dk / 4);
        *reinterpret_cast<float4*>(Ss + row * lds + 4 * c4) =
            reinterpret_cast<const float4*>(Sg + static_cast<int64_t>(row) * Dk)[c4];
    }
    for (int i = tid; i < C * C; i += kPrefillThreads) {
        const int rr = i / C, cc = i % C;
        if (cc / 16 > rr / 16) { Ts[rr * kLdC + cc] = 0.f; QKs[rr * kLdC + cc] = 0.f; }
    }

    const int nchunks = static_cast<int>((len + C - 1) / C);
    for (int ck = 0; ck < nchunks; ++ck) {
        const int64_t c0 = start + static_cast<int64_t>(ck) * C;
        const int n = static_cast<int>(end - c0 < C ? end - c0 : C);
        __syncthreads();  // the previous chunk's readers of K, Q, V, gates are done

        // ---- load: conv + SiLU + norms + gates; warp w owns rows [w*RPWARP, (w+1)*RPWARP) ----
        {
            float wq[QKPL][4], winq[QKPL][3], wv[VPL][4], winv[VPL][3];
            const Act* W = static_cast<const Act*>(p.conv_w);
            const int i0 = warp * RPWARP;
#pragma unroll
            for (int j = 0; j < QKPL; ++j) {
                const int cc = lane + j * kWarpSize;
                const bool on = cc < 2 * Dk;
                const int ch = cc < Dk ? qch + cc : kch + (cc - Dk);
#pragma unroll
                for (int m = 0; m < 4; ++m) {
                    const int src = m - (4 - p.Kc);  // right-aligned taps: wq[3] multiplies the current row
                    wq[j][m] = (on && src >= 0) ? to_f32(W[static_cast<int64_t>(ch) * p.Kc + src]) : 0.f;
                }
#pragma unroll
                for (int m = 0; m < 3; ++m)
                    winq[j][m] = on ? conv_in_guarded<Act>(p, cs, start, end, c0 + i0 - 3 + m, ch) : 0.f;
            }
#pragma unroll
            for (int j = 0; j < VPL; ++j) {
                const int cc = lane + j * kWarpSize;
                const bool on = cc < DVS;
                const int ch = vch + cc;
#pragma unroll
                for (int m = 0; m < 4; ++m) {
                    const int src = m - (4 - p.Kc);
                    wv[j][m] = (on && src >= 0) ? to_f32(W[static_cast<int64_t>(ch) * p.Kc + src]) : 0.f;
                }
#pragma unroll
                for (int m = 0; m < 3; ++m)
                    winv[j][m] = on ? conv_in_guarded<Act>(p, cs, start, end, c0 + i0 - 3 + m, ch) : 0.f;
            }
            for (int ii = 0; ii < RPWARP; ++ii) {
                const int i = i0 + ii;
                const int64_t tt = c0 + i;
                const bool valid = i < n;
                float y[QKPL];
                float sq = 0.f, sk = 0.f;
#pragma unroll
                for (int j = 0; j < QKPL; ++j) {
                    const int cc = lane + j * kWarpSize;
                    const bool on = cc < 2 * Dk;
                    const int ch = cc < Dk ? qch + cc : kch + (cc - Dk);
                    const float x = (on && valid) ? to_f32(static_cast<const Act*>(p.x)[tt * p.x_stride + ch]) : 0.f;
                    const float c = wq[j][0] * winq[j][0] + wq[j][1] * winq[j][1] + wq[j][2] * winq[j][2] + wq[j][3] * x;
                    winq[j][0] = winq[j][1]; winq[j][1] = winq[j][2]; winq[j][2] = x;
                    const float v = valid ? silu(c) : 0.f;
                    y[j] = v;
                    if (cc < Dk) sq += v * v; else sk += v * v;
                }
                sq = warp_sum(sq);
                sk = warp_sum(sk);
                const float qs = rsqrtf(sq + 1e-6f) * qnorm, ks = rsqrtf(sk + 1e-6f);
#pragma unroll
                for (int j = 0; j < QKPL; ++j) {
                    const int cc = lane + j * kWarpSize;
                    if (cc < Dk) Qs[i * ldkq + cc] = static_cast<KQ>(y[j] * qs);
                    else if (cc < 2 * Dk) Ks[i * ldkq + (cc - Dk)] = static_cast<KQ>(y[j] * ks);
                }
#pragma unroll
                for (int j = 0; j < VPL; ++j) {
                    const int cc = lane + j * kWarpSize;
                    const bool on = cc < DVS;
                    const float x = (on && valid) ? to_f32(static_cast<const Act*>(p.x)[tt * p.x_stride + vch + cc]) : 0.f;
                    const float c = wv[j][0] * winv[j][0] + wv[j][1] * winv[j][1] + wv[j][2] * winv[j][2] + wv[j][3] * x;
                    winv[j][0] = winv[j][1]; winv[j][1] = winv[j][2]; winv[j][2] = x;
                    if (on) Vs[i * ldv + cc] = valid ? silu(c) : 0.f;
                }
                if (lane == 0) {
                    gam[i] = valid ? gate_g(to_f32(xa[tt * p.a_stride + hv]), A_log, dt_bias) : 0.f;
                    bet[i] = valid ? gate_beta(to_f32(xb[tt * p.b_stride + hv])) : 0.f;
                }
            }
        }
        __syncthreads();
        if (ck == 0) {
            // Only the first chunk reads the old conv state. The v channels are this CTA's own;
            // the q/k channels are written by the last CTA of the (request, key head) group.
            for (int cc = tid; cc < DVS; cc += kPrefillThreads) write_conv_state<Act>(p, cs, start, end, vch + cc);
            const bool last = last_arrival(p.counters + static_cast<int64_t>(r) * p.H + h, p.gva * p.nsplit, flag);
            if (last)
                for (int cc = tid; cc < 2 * Dk; cc += kPrefillThreads)
                    write_conv_state<Act>(p, cs, start, end, cc < Dk ? qch + cc : kch + (cc - Dk));
        }
        if (warp == 0) {  // chunk-local inclusive cumsum of g; rows past n carry g = 0
            const double g0 = gam[2 * lane], g1 = gam[2 * lane + 1];
            double s = g0 + g1;
#pragma unroll
            for (int o = 1; o < kWarpSize; o <<= 1) {
                const double u = warp_up(s, o);
                if (lane >= o) s += u;
            }
            const double G = warp_bcast(s, kWarpSize - 1);
            const double e0 = s - g1, e1 = s;
            gam[2 * lane] = e0;
            gam[2 * lane + 1] = e1;
            eg[2 * lane] = expf(static_cast<float>(e0));
            eg[2 * lane + 1] = expf(static_cast<float>(e1));
            sc[2 * lane] = expf(static_cast<float>(G - e0));
            sc[2 * lane + 1] = expf(static_cast<float>(G - e1));
        }
        __syncthreads();

        // ---- A = strict_lower(β K Kᵀ ⊙ E), QKm = lower(Q Kᵀ ⊙ E) on 16x16 tiles at or below the diagonal ----
        for (int tix = warp; tix < 20; tix += kPrefillWarps) {
            const int mat = tix / 10;
            int l = tix % 10, mi = 0;
            while (l > mi) { l -= mi + 1; ++mi; }
            const int ni = l;
            float acc[1][2][4];
            zero_acc(acc);
            const KQ* Ap = (mat ? Qs : Ks) + mi * 16 * ldkq;
            const KQ* Bp = Ks + ni * 16 * ldkq;
            if constexpr (EXACT) {
                warp_mma_tf32<1, 2, true>(
                    acc, [&](int m, int k) { return static_cast<float>(Ap[m * ldkq + k]); },
                    [&](int k, int nn) { return static_cast<float>(Bp[nn * ldkq + k]); }, 0, Dk);
            } else {
                warp_mma_f16_abt<1, 2>(acc, Ap, ldkq, Bp, ldkq, Dk);
            }
#pragma unroll
            for (int j = 0; j < 2; ++j)
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    const int row = mi * 16 + acc_row(0, e, g), col = ni * 16 + acc_col(j, e, t);
                    if (mat == 0) {
                        As[row * kLdC + col] = row > col ? bet[row] * acc[0][j][e] * expf(static_cast<float>(gam[row] - gam[col])) : 0.f;
                    } else {
                        QKs[row * kLdC + col] = row >= col ? acc[0][j][e] * expf(static_cast<float>(gam[row] - gam[col])) : 0.f;
                    }
                }
        }

        // ---- X = K S0ᵀ, O = Q S0ᵀ on the warp's tile of the C x DVS outputs; Y in place of V ----
        constexpr int WM = DVS >= 64 ? 32 : 16;
        constexpr int WN = DVS == 128 ? 32 : (DVS == 16 ? 8 : 16);
        constexpr int MT = WM / 16, NT = WN / 8;
        const int m0 = (warp / (DVS / WN)) * WM, n0 = (warp % (DVS / WN)) * WN;
        float oo[MT][NT][4];
        {
            float xo[MT][NT][4];
            zero_acc(xo);
            zero_acc(oo);
            warp_mma_tf32_dual<MT, NT, EXACT>(
                xo, oo, [&](int m, int k) { return static_cast<float>(Ks[(m0 + m) * ldkq + k]); },
                [&](int m, int k) { return static_cast<float>(Qs[(m0 + m) * ldkq + k]); },
                [&](int k, int nn) { return Ss[(n0 + nn) * lds + k]; }, 0, Dk);
#pragma unroll
            for (int i = 0; i < MT; ++i)
#pragma unroll
                for (int j = 0; j < NT; ++j)
#pragma unroll
                    for (int e = 0; e < 4; ++e) {
                        const int row = m0 + acc_row(i, e, g), col = n0 + acc_col(j, e, t);
                        float& v = Vs[row * ldv + col];
                        v = bet[row] * (v - eg[row] * xo[i][j][e]);
                        oo[i][j][e] *= eg[row];
                    }
        }
        __syncthreads();

        // ---- T = (I + A)^-1: diagonal 16x16 blocks by forward substitution, then block rows ----
        if (warp < 4) {
            const int j = lane & 15, b0 = warp * 16;
            float col[16];
#pragma unroll
            for (int i = 0; i < 16; ++i) {
                float s = i == j ? 1.f : 0.f;
#pragma unroll
                for (int m = 0; m < i; ++m) s -= As[(b0 + i) * kLdC + b0 + m] * col[m];
                col[i] = s;
            }
            if (lane < 16)
#pragma unroll
                for (int i = 0; i < 16; ++i) Ts[(b0 + i) * kLdC + b0 + j] = col[i];
        }
        __syncthreads();
        for (int d = 1; d < 4; ++d) {
            const int nb = 4 - d;
            for (int e = tid; e < nb * 256; e += kPrefillThreads) {
                const int bj = e >> 8, bi = bj + d, rr = (e >> 4) & 15, cc = e & 15;
                float s = 0.f;
                for (int m = bj; m < bi; ++m)
#pragma unroll
                    for (int x = 0; x < 16; ++x)
                        s = fmaf(As[(16 * bi + rr) * kLdC + 16 * m + x], Ts[(16 * m + x) * kLdC + 16 * bj + cc], s);
                Pm[bj * 256 + rr * 16 + cc] = s;
            }
            __syncthreads();
            for (int e = tid; e < nb * 256; e += kPrefillThreads) {
                const int bj = e >> 8, bi = bj + d, rr = (e >> 4) & 15, cc = e & 15;
                float s = 0.f;
#pragma unroll
                for (int x = 0; x < 16; ++x) s = fmaf(Ts[(16 * bi + rr) * kLdC + 16 * bi + x], Pm[bj * 256 + x * 16 + cc], s);
                Ts[(16 * bi + rr) * kLdC + 16 * bj + cc] = -s;
            }
            __syncthreads();
        }

        // ---- Δ = T Y (T lower triangular: k < m0 + WM) ----
        const int kv = (n + 7) & ~7;  // rows past n are zero in Y, Δ, K, Q
        {
            float dd[MT][NT][4];
            zero_acc(dd);
            const int kend = m0 + WM < kv ? m0 + WM : kv;
            warp_mma_tf32<MT, NT, EXACT>(
                dd, [&](int m, int k) { return Ts[(m0 + m) * kLdC + k]; },
                [&](int k, int nn) { return Vs[k * ldv + n0 + nn]; }, 0, kend);
#pragma unroll
            for (int i = 0; i < MT; ++i)
#pragma unroll
                for (int j = 0; j < NT; ++j)
#pragma unroll
                    for (int e = 0; e < 4; ++e)
                        Ds[(m0 + acc_row(i, e, g)) * ldv + n0 + acc_col(j, e, t)] = dd[i][j][e];
        }
        __syncthreads();

        // ---- O += QKm Δ, written out; S = exp(Γ) S + (diag(exp(Γ-γ)) Δ)ᵀ K ----
        {
            const int kend = m0 + WM < kv ? m0 + WM : kv;
            warp_mma_tf32<MT, NT, EXACT>(
                oo, [&](int m, int k) { return QKs[(m0 + m) * kLdC + k]; },
                [&](int k, int nn) { return Ds[k * ldv + n0 + nn]; }, 0, kend);
#pragma unroll
            for (int i = 0; i < MT; ++i)
#pragma unroll
                for (int j = 0; j < NT; ++j)
#pragma unroll
                    for (int e = 0; e < 4; ++e) {
                        const int row = m0 + acc_row(i, e, g);
                        if (row < n) out[(c0 + row) * out_ld + n0 + acc_col(j, e, t)] = from_f32<Act>(oo[i][j][e]);
                    }
        }
        {
            constexpr int UWM = DVS >= 32 ? 32 : 16;
            constexpr int UMT = UWM / 16;
            constexpr int UNT = (DKT != 0 && DKT % 32 == 0) ? 4 : 2;
            constexpr int UWN = 8 * UNT;
            const int ntn = Dk / UWN;
            const int ntiles = (DVS / UWM) * ntn;
            const float eG = expf(static_cast<float>(gam[C - 1]));
            for (int tile = warp; tile < ntiles; tile += kPrefillWarps) {
                const int um0 = (tile / ntn) * UWM, un0 = (tile % ntn) * UWN;
                float acc[UMT][UNT][4];
#pragma unroll
                for (int i = 0; i < UMT; ++i)
#pragma unroll
                    for (int j = 0; j < UNT; ++j)
#pragma unroll
                        for (int e = 0; e < 4; ++e)
                            acc[i][j][e] = eG * Ss[(um0 + acc_row(i, e, g)) * lds + un0 + acc_col(j, e, t)];
                warp_mma_tf32<UMT, UNT, EXACT>(
                    acc, [&](int m, int k) { return Ds[k * ldv + um0 + m] * sc[k]; },
                    [&](int k, int nn) { return static_cast<float>(Ks[k * ldkq + un0 + nn]); }, 0, kv);
#pragma unroll
                for (int i = 0; i < UMT; ++i)
#pragma unroll
                    for (int j = 0; j < UNT; ++j)
#pragma unroll
                        for (int e = 0; e < 4; ++e)
                            Ss[(um0 + acc_row(i, e, g)) * lds + un0 + acc_col(j, e, t)] = acc[i][j][e];
            }
        }
    }
    __syncthreads();
    for (int i = tid; i < DVS * (Dk / 4); i += kPrefillThreads) {
        const int row = i / (Dk / 4), c4 = i % (Dk / 4);
        reinterpret_cast<float4*>(Sg + static_cast<int64_t>(row) * Dk)[c4] =
            *reinterpret_cast<const float4*>(Ss + row * lds + 4 * c4);
    }
}

} // namespace
} // namespace gdn_gpu
