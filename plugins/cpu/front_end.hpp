// The per-token front end of the layer (causal conv + SiLU, L2 norm, gates) and the moves of
// activations in and out (output rows, conv state), for a block of rows of one request.
// Templated on the activation dtype (F32, BF16, F16 of half.hpp); instantiated in front_end.cpp.
#pragma once

#include <cstdint>

#include "problem.hpp"

namespace gdn_cpu::GDN_CPU_ISA {

// y[i][j] = SiLU(sum_m w[ch0+j][m] * X[c0+i-(Kc-1)+m][ch0+j]) for i < n, j < width, where X is the
// request's rows (start s0) preceded by its conv state (slot). Columns [width, ldy) and rows
// [n, np) of y are zeroed so that padded kernels see exact zeros. xw and wt are scratch of
// (n + Kc - 1) * round_up(width, kLanes) and Kc * round_up(width, kLanes) floats.
template <class Act>
void conv_silu(const Problem& p, int64_t s0, int64_t slot, int64_t c0, int n, int np, int ch0, int width, float* y,
               int ldy, float* xw, float* wt);

// x[i] *= scale / sqrt(sum x[i]^2 + 1e-6) for the n rows of d (padded to kLanes) columns.
void l2_normalize_rows(float* x, int ld, int n, int d, float scale);

// The smallest log decay g a gate takes: exp(g) is exactly 0 in float and in double from about
// -745 on, so a smaller g means the same, and a finite floor keeps sums of g finite.
inline constexpr float kMinLogDecay = -1000.0f;

// g = -exp(A_log) softplus(a + dt_bias), at least kMinLogDecay (never NaN or -inf for finite
// inputs), beta = sigmoid(b), for rows [row0, row0 + n), head hv.
template <class Act>
void gates(const Problem& p, int64_t row0, int n, int hv, float* g, float* beta);

// out[row0 + i][col + j] = O[i][j], rounded to the activation dtype.
template <class Act>
void write_rows(const Problem& p, int64_t row0, int n, int col, int ncols, const float* O, int ldo);

// The new conv state of channels [ch0, ch0 + width): the last Kc-1 rows of [old state; the
// request's L rows]. Raw element copies: the conv state stays bit-exact.
template <class Act>
void update_conv_state(const Problem& p, int64_t s0, int64_t L, int64_t slot, int ch0, int width);

// The same into another slot: dst gets the last Kc-1 rows of [src's conv state; the L rows from
// s0]; src is unchanged (dst != src).
template <class Act>
void copy_conv_state(const Problem& p, int64_t s0, int64_t L, int64_t src, int64_t dst, int ch0, int width);

// Request r's recurrent state of value head hv, columns [col0, col0 + ncols), between the pool
// (slot, state dtype) and f32 rows of Dk; storing rounds to nearest even.
void load_state(const Problem& p, int64_t slot, int hv, int col0, int ncols, float* dst);
void store_state(const Problem& p, const float* src, int64_t slot, int hv, int col0, int ncols);
// The same state transposed, as the chunked form keeps it: St[j * ldst + c] is row c, column j of
// the pool's [ncols][Dk] block. One pass between the pool and St, whatever the state dtype. A
// snapshot (a checkpoint: written once, read back only on a prefix hit) bypasses the caches
// where it can; the task calls stream_fence() before it ends.
void load_state_transposed(const Problem& p, int64_t slot, int hv, int col0, int ncols, float* St, int64_t ldst);
void store_state_transposed(const Problem& p, const float* St, int64_t ldst, int64_t slot, int hv, int col0, int ncols,
                            bool snapshot);

}  // namespace gdn_cpu::GDN_CPU_ISA
