// The gated delta rule one token at a time: decode, and prefill when asked for (or for very
// short requests, where a chunk's fixed costs do not pay off).
#pragma once

#include <cstdint>

namespace gdn_cpu::GDN_CPU_ISA {

// One token on `rows` rows of a state S (row stride ld >= Dk, updated in place):
//   S <- decay S;  u = beta (v - S k);  S <- S + u k^T;  o = S q.
// k and q hold Dk values padded with zeros to a multiple of kLanes; v and o have `rows` values.
void recurrent_step(float* S, int64_t ld, int Dk, int rows, const float* k, const float* q, const float* v, float decay,
                    float beta, float* o);

// The most tokens one recurrent_tokens call takes (a chunk of the caller).
inline constexpr int kMaxTokens = 32;

// n tokens (1..kMaxTokens) in a row, row by row: each row of S_in is read once, runs all n tokens
// in a buffer in L1 (one pass per token: the update by token t and the sums of token t + 1
// together), and is written once to S_out (which may be S_in; NULL: the new state is not kept,
// as in verify, and the last update is skipped). Token t's k, q are rows t of K, Q (stride ldk),
// its v and o rows t of V and O (strides ldv, ldo). Each row's arithmetic is recurrent_step's:
// the results are the same bits as n calls of it.
void recurrent_tokens(const float* S_in, float* S_out, int64_t ld, int Dk, int rows, int n, const float* K,
                      const float* Q, int ldk, const float* V, int ldv, const float* decay, const float* beta, float* O,
                      int ldo);

}  // namespace gdn_cpu::GDN_CPU_ISA
