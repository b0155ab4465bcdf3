// Small dense products for the chunked prefill: C (+)= A B with A, B, C row-major f32 in
// scratch, sizes padded by the caller (rows to 4, columns to 16) so that there are no tails.
// A 4 x 16 register tile (8 accumulators) is swept along k; each k step loads two vectors of B
// and broadcasts four elements of A for eight FMAs.
#pragma once

#include <cstdint>

#include "simd.hpp"

namespace gdn_cpu {

enum class Shape {
    full,
    lower_a,  // A is lower triangular (zeros above the diagonal): k stops at the row tile's end
    lower_c,  // only C's lower triangle (and the tiles it touches) is needed
};

template <bool Accumulate>
inline void tile_4x16(const float* __restrict A, int64_t lda, const float* __restrict B, int64_t ldb,
                      float* __restrict C, int64_t ldc, int K) {
    f8 c00, c01, c10, c11, c20, c21, c30, c31;
    if constexpr (Accumulate) {
        c00 = load8(C), c01 = load8(C + 8);
        c10 = load8(C + ldc), c11 = load8(C + ldc + 8);
        c20 = load8(C + 2 * ldc), c21 = load8(C + 2 * ldc + 8);
        c30 = load8(C + 3 * ldc), c31 = load8(C + 3 * ldc + 8);
    } else {
        c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = splat(0.0f);
    }
    for (int k = 0; k < K; ++k) {
        const f8 b0 = load8(B + k * ldb), b1 = load8(B + k * ldb + 8);
        const f8 a0 = splat(A[k]), a1 = splat(A[lda + k]), a2 = splat(A[2 * lda + k]),
                 a3 = splat(A[3 * lda + k]);
        c00 += a0 * b0, c01 += a0 * b1;
        c10 += a1 * b0, c11 += a1 * b1;
        c20 += a2 * b0, c21 += a2 * b1;
        c30 += a3 * b0, c31 += a3 * b1;
    }
    store8(C, c00), store8(C + 8, c01);
    store8(C + ldc, c10), store8(C + ldc + 8, c11);
    store8(C + 2 * ldc, c20), store8(C + 2 * ldc + 8, c21);
    store8(C + 3 * ldc, c30), store8(C + 3 * ldc + 8, c31);
}

// C[M][N] (+)= A[M][K] B[K][N]; M a multiple of 4, N of 16.
template <bool Accumulate, Shape shape>
inline void matmul(const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc,
                   int M, int N, int K) {
    for (int r0 = 0; r0 < M; r0 += 4) {
        const int kend = shape == Shape::lower_a ? (r0 + 4 < K ? r0 + 4 : K) : K;
        const int nend = shape == Shape::lower_c ? (round_up(r0 + 4, 16) < N ? round_up(r0 + 4, 16) : N) : N;
        for (int c0 = 0; c0 < nend; c0 += 16)
            tile_4x16<Accumulate>(A + r0 * lda, lda, B + c0, ldb, C + r0 * ldc + c0, ldc, kend);
    }
}

}  // namespace gdn_cpu
