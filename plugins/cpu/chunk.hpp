// One chunk of one value head in the chunked (WY / UT) form; see NUMERICS.md for the equations.
#pragma once

#include "simd.hpp"

namespace gdn_cpu::GDN_CPU_ISA {

// Tokens per chunk. Measured here (Zen 4 class, Dk = Dv = 128): 32 costs 0.63 us per token and
// value head, 64 costs 1.07 us: the chunk-size-dependent work (T, the triangular products, the
// key products) halves and a chunk's matrices (32 x 128 f32 = 16 KiB) stay in L1 next to the
// state's tiles. It must be a multiple of kTileCols (32 with AVX-512).
inline constexpr int kChunk = 32;

// Scratch of chunk_head, each [kChunk][kChunk] unless noted.
struct ChunkWork {
    float *E, *A, *T, *T1, *T2, *P;
    float* W;         // [kChunk][dkp]
    float *U, *X;     // [kChunk][ldv]
    double* gamma;    // [kChunk]
    float *eg, *dcy;  // [kChunk]
};

// Inputs of the key head shared by the value heads of a group, for rows [0, n) of a chunk
// (rows [n, np) are zero, np = round_up(n, kTileRows)).
struct ChunkKeys {
    int n, np, dkp;
    const float* Q;   // [np][dkp]  q-hat (normalized, with Dk^-1/2)
    const float* K;   // [np][dkp]  k-hat
    const float* Kt;  // [dkp][kChunk]  K transposed, columns [np, round_up(np, kTileCols)) zero
    const float* KK;  // [kChunk][kChunk]  K K^T, valid for s < r
    const float* QK;  // [kChunk][kChunk]  Q K^T, valid for s <= r
};

// Fills Kt, KK and QK of `keys` from its Q and K.
void chunk_keys(const ChunkKeys& keys, float* Kt, float* KK, float* QK);

// Advances St (the state transposed: dkp rows of Dk, ldv value columns, row stride ldst) over
// the chunk and writes the chunk's outputs O [np][ldv]. V [np][ldv] (zero rows past n), g and
// beta [n].
void chunk_head(const ChunkKeys& keys, int ldv, const float* V, const float* g, const float* beta, float* St, int ldst,
                float* O, const ChunkWork& w);

}  // namespace gdn_cpu::GDN_CPU_ISA
