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

}  // namespace gdn_cpu::GDN_CPU_ISA
