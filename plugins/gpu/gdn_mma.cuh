// Warp-level tensor-core products on operands in shared memory, f32 accumulation.
// Operand access goes through functors (m, k) -> float so any layout and any element type
// (f16, f32) can feed them; the vendor layer supplies the fragment contract.
#pragma once

#include "gdn_common.cuh"

namespace gdn_gpu {
namespace {

// tf32 operand bits of x. The tensor cores read the top 19 bits of an f32 (truncation), so the
// fast path passes x as it is (no conversion instructions; error <= 2^-10 relative); EXACT
// splits x = hi + lo with hi the truncated value and lo = x - hi exact in f32 (3xTF32).
template <bool EXACT>
__device__ __forceinline__ void tf32_split(float x, uint32_t& hi, uint32_t& lo) {
    if (EXACT) {
        hi = __float_as_uint(x) & 0xffffe000u;
        lo = __float_as_uint(x - __uint_as_float(hi));
    } else {
        hi = __float_as_uint(x);
    }
}

// acc[i][j] += the products of A fragments (ah, al) and B fragments (bh, bl); EXACT: 3xTF32.
template <int MT, int NT, bool EXACT>
__device__ __forceinline__ void mma_frags(float (&acc)[MT][NT][4], const uint32_t (&ah)[MT][4],
                                          const uint32_t (&al)[MT][4], const uint32_t (&bh)[NT][2],
                                          const uint32_t (&bl)[NT][2]) {
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

// acc[MT][NT] (a (16 MT) x (8 NT) warp tile) += Σ_k fa(m, k) fb(k, n) over k in [kbeg, kend),
// kend - kbeg a multiple of 8. EXACT: 3xTF32.
template <int MT, int NT, bool EXACT, class FA, class FB>
__device__ __forceinline__ void warp_mma_tf32(float (&acc)[MT][NT][4], const FA& fa, const FB& fb, int kbeg, int kend) {
    const int lane = threadIdx.x % kWarpSize, g = lane >> 2, t = lane & 3;
#pragma unroll 2
    for (int k0 = kbeg; k0 < kend; k0 += 8) {
        uint32_t ah[MT][4], al[MT][4], bh[NT][2], bl[NT][2];
#pragma unroll
        for (int i = 0; i < MT; ++i) {
            const float v[4] = {fa(16 * i + g, k0 + t), fa(16 * i + g + 8, k0 + t), fa(16 * i + g, k0 + t + 4),
                                fa(16 * i + g + 8, k0 + t + 4)};
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                tf32_split<EXACT>(v[e], ah[i][e], al[i][e]);
            }
        }
#pragma unroll
        for (int j = 0; j < NT; ++j) {
            const float w[2] = {fb(k0 + t, 8 * j + g), fb(k0 + t + 4, 8 * j + g)};
#pragma unroll
            for (int e = 0; e < 2; ++e) {
                tf32_split<EXACT>(w[e], bh[j][e], bl[j][e]);
            }
        }
        mma_frags<MT, NT, EXACT>(acc, ah, al, bh, bl);
    }
}

// ---- products with paired k --------------------------------------------------------------------------
// A sum over k does not depend on the order of its terms, so inside each step of 8 the logical k
// of the tf32 fragments (t and t + 4 of lane 4g + t) can stand for the physical k0 + 2t and
// k0 + 2t + 1: a lane's two k values are adjacent, and an operand stored k-contiguous is fetched
// with one 32-bit (f16 pair) or 64-bit (f32 pair) load instead of two scalar ones and their index
// arithmetic. fa(m, k) and fb(k, n) return the float2 {element at k, element at k + 1}, k even.
__device__ __forceinline__ float2 load_pair(const float* p) { return *reinterpret_cast<const float2*>(p); }
__device__ __forceinline__ float2 load_pair(const f16* p) {
#if defined(GDN_GPU_HIP)
    return make_float2(to_f32(p[0]), to_f32(p[1]));
#else
    return __half22float2(*reinterpret_cast<const __half2*>(p));
#endif
}

template <int MT, bool EXACT, class FA>
__device__ __forceinline__ void a_frag_pk(uint32_t (&ah)[MT][4], uint32_t (&al)[MT][4], const FA& fa, int k, int g) {
#pragma unroll
    for (int i = 0; i < MT; ++i) {
        const float2 r0 = fa(16 * i + g, k), r1 = fa(16 * i + g + 8, k);
        tf32_split<EXACT>(r0.x, ah[i][0], al[i][0]);
        tf32_split<EXACT>(r1.x, ah[i][1], al[i][1]);
        tf32_split<EXACT>(r0.y, ah[i][2], al[i][2]);
        tf32_split<EXACT>(r1.y, ah[i][3], al[i][3]);
    }
}

template <int NT, bool EXACT, class FB>
__device__ __forceinline__ void b_frag_pk(uint32_t (&bh)[NT][2], uint32_t (&bl)[NT][2], const FB& fb, int k, int g) {
#pragma unroll
    for (int j = 0; j < NT; ++j) {
        const float2 w = fb(k, 8 * j + g);
        tf32_split<EXACT>(w.x, bh[j][0], bl[j][0]);
        tf32_split<EXACT>(w.y, bh[j][1], bl[j][1]);
    }
}

// ---- fragment loaders ------------------------------------------------------------------------------
// The products below take loaders: la(ah, al, k0) fills the A fragments of the warp tile for the
// step [k0, k0 + 8), lb(bh, bl, k0) the B fragments, both in the paired-k order above. Loaders
// for the layouts the kernels use:
//   PairA / PairB   element-pair functors fa(m, k) / fb(k, n) (any element type, any layout)
//   RowsA           A stored [m][k], f16, from the tile's first row: ldmatrix (four 8x8 pieces in
//                   one instruction instead of four 32-bit loads per lane)
//   RowsBT          B stored [k][n], f16 (k-major rows, i.e. Bᵀ row-major): ldmatrix.trans gives
//                   the (k = 2t, 2t + 1; n = g) pair of a lane directly (two 16-bit loads before)
// f16 values are exact in tf32, so the f16 loaders leave the low parts zero.
template <int MT, bool EXACT, class FA>
struct PairA {
    FA fa;
    __device__ __forceinline__ void operator()(uint32_t (&ah)[MT][4], uint32_t (&al)[MT][4], int k0) const {
        const int lane = threadIdx.x % kWarpSize;
        a_frag_pk<MT, EXACT>(ah, al, fa, k0 + 2 * (lane & 3), lane >> 2);
    }
};
template <int NT, bool EXACT, class FB>
struct PairB {
    FB fb;
    __device__ __forceinline__ void operator()(uint32_t (&bh)[NT][2], uint32_t (&bl)[NT][2], int k0) const {
        const int lane = threadIdx.x % kWarpSize;
        b_frag_pk<NT, EXACT>(bh, bl, fb, k0 + 2 * (lane & 3), lane >> 2);
    }
};
template <int MT, bool EXACT, class FA>
__device__ __forceinline__ PairA<MT, EXACT, FA> pair_a(const FA& fa) {
    return {fa};
}
template <int NT, bool EXACT, class FB>
__device__ __forceinline__ PairB<NT, EXACT, FB> pair_b(const FB& fb) {
    return {fb};
}

#if defined(GDN_GPU_HAS_LDMATRIX)
// Both halves of an f16 pair register as tf32 operand bits (exact).
__device__ __forceinline__ void f16x2_bits(uint32_t v, uint32_t& lo, uint32_t& hi) {
    const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&v));
    lo = __float_as_uint(f.x);
    hi = __float_as_uint(f.y);
}
#endif

template <int MT>
struct RowsA {
    const f16* base;  // row 0 of the warp tile; rows ld apart, 16-byte aligned
    int ld;
    __device__ __forceinline__ void operator()(uint32_t (&ah)[MT][4], uint32_t (&al)[MT][4], int k0) const {
        const int lane = threadIdx.x % kWarpSize;
#if defined(GDN_GPU_HAS_LDMATRIX)
        uint32_t r[2 * MT];
        ldmatrix<2 * MT, false>(r, base + (lane % (16 * MT)) * ld + k0);
#pragma unroll
        for (int i = 0; i < MT; ++i) {
            f16x2_bits(r[2 * i], ah[i][0], ah[i][2]);
            f16x2_bits(r[2 * i + 1], ah[i][1], ah[i][3]);
        }
#else
        a_frag_pk<MT, false>(
            ah, al, [&](int m, int k) { return load_pair(base + m * ld + k); }, k0 + 2 * (lane & 3), lane >> 2);
#endif
#pragma unroll
        for (int i = 0; i < MT; ++i)
#pragma unroll
            for (int e = 0; e < 4; ++e) al[i][e] = 0u;
    }
};
template <int NT>
struct RowsBT {
    const f16* base;  // B(0, 0) of the warp tile: B(k, n) at base[k * ld + n], rows 16-byte aligned
    int ld;
    __device__ __forceinline__ void operator()(uint32_t (&bh)[NT][2], uint32_t (&bl)[NT][2], int k0) const {
        const int lane = threadIdx.x % kWarpSize;
#if defined(GDN_GPU_HAS_LDMATRIX)
        static_assert(NT == 1 || NT == 2 || NT % 4 == 0, "ldmatrix takes 1, 2 or 4 pieces");
        constexpr int P = NT < 4 ? NT : 4;  // pieces per ldmatrix
#pragma unroll
        for (int j0 = 0; j0 < NT; j0 += P) {
            uint32_t r[P];
            ldmatrix<P, true>(r, base + (k0 + (lane & 7)) * ld + 8 * (j0 + (lane >> 3) % P));
#pragma unroll
            for (int j = 0; j < P; ++j) f16x2_bits(r[j], bh[j0 + j][0], bh[j0 + j][1]);
        }
#else
        const int g = lane >> 2, k = k0 + 2 * (lane & 3);
#pragma unroll
        for (int j = 0; j < NT; ++j) {
            bh[j][0] = __float_as_uint(to_f32(base[k * ld + 8 * j + g]));
            bh[j][1] = __float_as_uint(to_f32(base[(k + 1) * ld + 8 * j + g]));
        }
#endif
#pragma unroll
        for (int j = 0; j < NT; ++j) bl[j][0] = bl[j][1] = 0u;
    }
};

// acc[MT][NT] += Σ_k A(m, k) B(k, n) over k in [kbeg, kend), kend - kbeg a multiple of 8, the
// fragments from loaders (above). EXACT: 3xTF32. Four steps unrolled: loads of later steps in
// flight during the products of earlier ones (the sequential prefill runs faster than with two:
// docs/performance-cuda.md).
template <int MT, int NT, bool EXACT, class LA, class LB>
__device__ __forceinline__ void warp_mma_frag(float (&acc)[MT][NT][4], const LA& la, const LB& lb, int kbeg, int kend) {
#pragma unroll 4
    for (int k0 = kbeg; k0 < kend; k0 += 8) {
        uint32_t ah[MT][4], al[MT][4], bh[NT][2], bl[NT][2];
        la(ah, al, k0);
        lb(bh, bl, k0);
        mma_frags<MT, NT, EXACT>(acc, ah, al, bh, bl);
    }
}

// Two products sharing the B operand: acc1 += A1 B, acc2 += A2 B; UNROLL steps in flight.
template <int MT, int NT, bool EXACT, int UNROLL = 4, class LA1, class LA2, class LB>
__device__ __forceinline__ void warp_mma_frag_dual(float (&acc1)[MT][NT][4], float (&acc2)[MT][NT][4], const LA1& la1,
                                                   const LA2& la2, const LB& lb, int kbeg, int kend) {
#pragma unroll UNROLL
    for (int k0 = kbeg; k0 < kend; k0 += 8) {
        uint32_t bh[NT][2], bl[NT][2];
        lb(bh, bl, k0);
        {
            uint32_t ah[MT][4], al[MT][4];
            la1(ah, al, k0);
            mma_frags<MT, NT, EXACT>(acc1, ah, al, bh, bl);
        }
        {
            uint32_t ah[MT][4], al[MT][4];
            la2(ah, al, k0);
            mma_frags<MT, NT, EXACT>(acc2, ah, al, bh, bl);
        }
    }
}

// The same with paired-k element functors for both operands.
template <int MT, int NT, bool EXACT, class FA, class FB>
__device__ __forceinline__ void warp_mma_tf32_pk(float (&acc)[MT][NT][4], const FA& fa, const FB& fb, int kbeg,
                                                 int kend) {
    warp_mma_frag<MT, NT, EXACT>(acc, pair_a<MT, EXACT>(fa), pair_b<NT, EXACT>(fb), kbeg, kend);
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

// ---- f16 products (m16n8k16) ----------------------------------------------------------------------------
// Both operands f16 in shared memory, f32 accumulation; a step covers 16 k at once (the tf32
// products above cover 8, with a conversion per element). The sequential prefill runs on these
// for 16-bit activations: its f32 operands (the state, Y, Δ) are stored in f16 copies, rounded to
// nearest (2^-11 relative, finer than the tf32 truncation they replace).
// Loaders fill the fragments of the warp tile for the step [k0, k0 + 16):
//   la(a[MT][4], k0): A; lb(b[NT][2], k0): B.
// Fragment contract (vendor.cuh): a[0] = A(g, 2t:2t+1), a[1] = A(g+8, 2t:), a[2] = A(g, 2t+8:),
// a[3] = A(g+8, 2t+8:); b[0] = B(2t:2t+1, g), b[1] = B(2t+8:2t+9, g); lower k in the lower half.

// Two f16 values from shared memory as one fragment register (lower address in the lower half).
__device__ __forceinline__ uint32_t f16_pair_bits(const f16* p) { return *reinterpret_cast<const uint32_t*>(p); }
__device__ __forceinline__ uint32_t f16_bits2(f16 lo, f16 hi) {
    return static_cast<uint32_t>(__half_as_ushort(lo)) | (static_cast<uint32_t>(__half_as_ushort(hi)) << 16);
}
// The f16 pair {lo, hi} of two f32 values (round to nearest), as stored bits.
__device__ __forceinline__ uint32_t f16x2_from(float lo, float hi) {
    return f16_bits2(__float2half_rn(lo), __float2half_rn(hi));
}
// Both halves of v times both halves of s (f16 products, rounded to nearest).
__device__ __forceinline__ uint32_t f16x2_mul(uint32_t v, uint32_t s) {
    __half2 a, b;
    static_assert(sizeof(a) == sizeof(v), "a half2 is one register");
    __builtin_memcpy(&a, &v, sizeof v);
    __builtin_memcpy(&b, &s, sizeof s);
    const __half2 r = __hmul2(a, b);
    uint32_t out;
    __builtin_memcpy(&out, &r, sizeof out);
    return out;
}

// A stored [m][k] (k contiguous), rows ld apart, from the warp tile's first row; 16-byte aligned
// rows for ldmatrix (one instruction per 16 x 16 piece instead of four 32-bit loads per lane).
template <int MT>
struct H16A {
    const f16* base;
    int ld;
    __device__ __forceinline__ void operator()(uint32_t (&a)[MT][4], int k0) const {
        const int lane = threadIdx.x % kWarpSize;
#if defined(GDN_GPU_HAS_LDMATRIX)
#pragma unroll
        for (int i = 0; i < MT; ++i) ldmatrix<4, false>(a[i], base + (16 * i + lane % 16) * ld + k0 + 8 * (lane / 16));
#else
        const int g = lane >> 2, k = k0 + 2 * (lane & 3);
#pragma unroll
        for (int i = 0; i < MT; ++i) {
            const f16* p = base + (16 * i + g) * ld + k;
            a[i][0] = f16_pair_bits(p);
            a[i][1] = f16_pair_bits(p + 8 * ld);
            a[i][2] = f16_pair_bits(p + 8);
            a[i][3] = f16_pair_bits(p + 8 * ld + 8);
        }
#endif
    }
};

// The same A with column k scaled by scale(k) (f32 values, e.g. per-token decays), in f16.
template <int MT, class Scale>
struct H16AScaledK {
    H16A<MT> rows;
    Scale scale;
    __device__ __forceinline__ void operator()(uint32_t (&a)[MT][4], int k0) const {
        rows(a, k0);
        const int k = k0 + 2 * (threadIdx.x % 4);
        const uint32_t s0 = f16x2_from(scale(k), scale(k + 1)), s8 = f16x2_from(scale(k + 8), scale(k + 9));
#pragma unroll
        for (int i = 0; i < MT; ++i) {
            a[i][0] = f16x2_mul(a[i][0], s0);
            a[i][1] = f16x2_mul(a[i][1], s0);
            a[i][2] = f16x2_mul(a[i][2], s8);
            a[i][3] = f16x2_mul(a[i][3], s8);
        }
    }
};

#if defined(GDN_GPU_HAS_LDMATRIX)
// The B fragments of NT n-tiles (1, or pairs) for one step of 16 k: row(j) is the address this lane
// gives for the four 8x8 pieces of n-tiles j and j + 1 (n-tile j's k 0..7, its k 8..15, then n-tile
// j + 1's), so that register q of the x4 load is b[j + q / 2][q % 2]; NT = 1 takes the first two
// pieces (x2, lanes 0..15). TRANS: the pieces are stored k-major.
template <int NT, bool TRANS, class Row>
__device__ __forceinline__ void ldmatrix_b(uint32_t (&b)[NT][2], const Row& row) {
    static_assert(NT == 1 || NT % 2 == 0, "pairs of n-tiles per ldmatrix");
    if constexpr (NT == 1) {
        uint32_t r[2];
        ldmatrix<2, TRANS>(r, row(0));
        b[0][0] = r[0];
        b[0][1] = r[1];
    } else {
#pragma unroll
        for (int j = 0; j < NT; j += 2) {
            uint32_t r[4];
            ldmatrix<4, TRANS>(r, row(j));
            b[j][0] = r[0];
            b[j][1] = r[1];
            b[j + 1][0] = r[2];
            b[j + 1][1] = r[3];
        }
    }
}
#endif

// B(k, n) stored at base[n * ld + k] (k contiguous, i.e. Bᵀ row-major), from the warp tile's
// first column; 16-byte aligned rows.
template <int NT>
struct H16Bnk {
    const f16* base;
    int ld;
    __device__ __forceinline__ void operator()(uint32_t (&b)[NT][2], int k0) const {
        const int lane = threadIdx.x % kWarpSize;
#if defined(GDN_GPU_HAS_LDMATRIX)
        ldmatrix_b<NT, false>(
            b, [&](int j) { return base + (8 * (j + lane / 16) + lane % 8) * ld + k0 + 8 * ((lane / 8) % 2); });
#else
        const int g = lane >> 2, k = k0 + 2 * (lane & 3);
#pragma unroll
        for (int j = 0; j < NT; ++j) {
            const f16* p = base + (8 * j + g) * ld + k;
            b[j][0] = f16_pair_bits(p);
            b[j][1] = f16_pair_bits(p + 8);
        }
#endif
    }
};

// B(k, n) stored at base[k * ld + n] (n contiguous), from the warp tile's first column:
// ldmatrix.trans; 16-byte aligned rows.
template <int NT>
struct H16Bkn {
    const f16* base;
    int ld;
    __device__ __forceinline__ void operator()(uint32_t (&b)[NT][2], int k0) const {
        const int lane = threadIdx.x % kWarpSize;
#if defined(GDN_GPU_HAS_LDMATRIX)
        ldmatrix_b<NT, true>(
            b, [&](int j) { return base + (k0 + lane % 8 + 8 * ((lane / 8) % 2)) * ld + 8 * (j + lane / 16); });
#else
        const int g = lane >> 2, k = k0 + 2 * (lane & 3);
#pragma unroll
        for (int j = 0; j < NT; ++j) {
            const f16* p = base + k * ld + 8 * j + g;
            b[j][0] = f16_bits2(p[0], p[ld]);
            b[j][1] = f16_bits2(p[8 * ld], p[9 * ld]);
        }
#endif
    }
};

// acc[MT][NT] += Σ_k A(m, k) B(k, n) over k in [kbeg, kend), kend - kbeg a multiple of 16.
template <int MT, int NT, int UNROLL = 4, class LA, class LB>
__device__ __forceinline__ void warp_mma_h16(float (&acc)[MT][NT][4], const LA& la, const LB& lb, int kbeg, int kend) {
#pragma unroll UNROLL
    for (int k0 = kbeg; k0 < kend; k0 += 16) {
        uint32_t a[MT][4], b[NT][2];
        la(a, k0);
        lb(b, k0);
#pragma unroll
        for (int i = 0; i < MT; ++i)
#pragma unroll
            for (int j = 0; j < NT; ++j) mma_f16_16x8x16(acc[i][j], a[i], b[j]);
    }
}

// Two products sharing the B operand: acc1 += A1 B, acc2 += A2 B.
template <int MT, int NT, int UNROLL = 4, class LA1, class LA2, class LB>
__device__ __forceinline__ void warp_mma_h16_dual(float (&acc1)[MT][NT][4], float (&acc2)[MT][NT][4], const LA1& la1,
                                                  const LA2& la2, const LB& lb, int kbeg, int kend) {
#pragma unroll UNROLL
    for (int k0 = kbeg; k0 < kend; k0 += 16) {
        uint32_t a1[MT][4], a2[MT][4], b[NT][2];
        lb(b, k0);
        la1(a1, k0);
        la2(a2, k0);
#pragma unroll
        for (int i = 0; i < MT; ++i)
#pragma unroll
            for (int j = 0; j < NT; ++j) {
                mma_f16_16x8x16(acc1[i][j], a1[i], b[j]);
                mma_f16_16x8x16(acc2[i][j], a2[i], b[j]);
            }
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

}  // namespace
}  // namespace gdn_gpu
