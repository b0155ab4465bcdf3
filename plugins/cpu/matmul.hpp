// Small dense products for the chunked prefill: C (+)= A B with A, B, C row-major f32 in
// scratch, sizes padded by the caller (rows to kTileRows, columns to kTileCols) so that there
// are no tails. A register tile of kTileRows x 2 vectors is swept along k; each k step loads two
// vectors of B and broadcasts kTileRows elements of A. AVX2 (16 registers): 4 x 16, 8
// accumulators; AVX-512 (32 registers): 8 x 32, 16 accumulators.
#pragma once

#include <cstdint>

#include "simd.hpp"

namespace gdn_cpu::GDN_CPU_ISA {

inline constexpr int kTileRows = kLanes == 16 ? 8 : 4;
inline constexpr int kTileCols = 2 * kLanes;

enum class Shape {
    full,
    lower_a,  // A is lower triangular (zeros above the diagonal): k stops at the row tile's end
    lower_c,  // only C's lower triangle (and the tiles it touches) is needed
};

template <bool Accumulate>
inline void tile(const float* __restrict A, int64_t lda, const float* __restrict B, int64_t ldb, float* __restrict C,
                 int64_t ldc, int K) {
    vf c0[kTileRows], c1[kTileRows];
#pragma GCC unroll 8
    for (int r = 0; r < kTileRows; ++r) {
        c0[r] = Accumulate ? vload(C + r * ldc) : splat(0.0f);
        c1[r] = Accumulate ? vload(C + r * ldc + kLanes) : splat(0.0f);
    }
    for (int k = 0; k < K; ++k) {
        const vf b0 = vload(B + k * ldb), b1 = vload(B + k * ldb + kLanes);
#pragma GCC unroll 8
        for (int r = 0; r < kTileRows; ++r) {
            const vf a = splat(A[r * lda + k]);
            c0[r] += a * b0;
            c1[r] += a * b1;
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < kTileRows; ++r) {
        vstore(C + r * ldc, c0[r]);
        vstore(C + r * ldc + kLanes, c1[r]);
    }
}

// C[M][N] (+)= A[M][K] B[K][N]; M a multiple of kTileRows, N of kTileCols.
template <bool Accumulate, Shape shape>
inline void matmul(const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc, int M, int N,
                   int K) {
    for (int r0 = 0; r0 < M; r0 += kTileRows) {
        const int r1 = r0 + kTileRows;
        const int kend = shape == Shape::lower_a && r1 < K ? r1 : K;
        const int nend = shape == Shape::lower_c && round_up(r1, kTileCols) < N ? round_up(r1, kTileCols) : N;
        for (int c0 = 0; c0 < nend; c0 += kTileCols)
            tile<Accumulate>(A + r0 * lda, lda, B + c0, ldb, C + r0 * ldc + c0, ldc, kend);
    }
}

}  // namespace gdn_cpu::GDN_CPU_ISA
