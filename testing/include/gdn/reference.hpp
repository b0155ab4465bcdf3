// The fp64 reference of the GDN layer: the exact function of the golden README, written for
// clarity (token by token, in double), not speed. It is the oracle of the tests, `gdn run` and
// `gdn check`, and is itself held against the golden vectors.
#pragma once

#include <cstdint>
#include <vector>

#include "gdn/export.hpp"

namespace gdn::reference {

struct Problem {
    int num_k_heads = 0, num_v_heads = 0, head_k_dim = 0, head_v_dim = 0, conv_kernel = 0;
    std::vector<double> mixed_qkv;        // [T, conv_dim], the activation values
    std::vector<double> a, b;             // [T, HV]
    std::vector<double> conv_weight;      // [conv_dim, Kc]
    std::vector<double> A_log, dt_bias;   // [HV]
    std::vector<int64_t> cu_seqlens;      // [B+1]
    std::vector<double> conv_state;       // [B, conv_dim, Kc-1], in and out
    std::vector<double> recurrent_state;  // [B, HV, Dv, Dk], in and out

    int64_t conv_dim() const { return 2LL * num_k_heads * head_k_dim + int64_t(num_v_heads) * head_v_dim; }
    int64_t num_tokens() const { return cu_seqlens.empty() ? 0 : cu_seqlens.back(); }
    int64_t num_requests() const { return int64_t(cu_seqlens.size()) - 1; }
};

// Runs the layer over every request; updates the states in `p` and returns out [T, HV*Dv].
GDN_API std::vector<double> forward(Problem& p);

// ‖got − want‖ / ‖want‖ (‖got‖ when want is all zero); infinity when got has a NaN or Inf.
GDN_API double relative_l2(const std::vector<double>& got, const std::vector<double>& want);
GDN_API double max_abs_diff(const std::vector<double>& got, const std::vector<double>& want);

}  // namespace gdn::reference
