// Running rows of a case's inputs through a layer on a pool the test made itself (a pool over
// engine memory, a second pool a slot moves to, the pools of head shards).
#pragma once

#include <vector>

#include "fixture.hpp"

namespace gdn::test {

// Rows [t0, t0 + sum(lens)) of the case's inputs as one batch of `mode` on `pool`; out as doubles.
inline std::vector<double> run_rows(const Case& c, const RadixLinearAttention& layer, GDNPool& pool, ForwardMode mode,
                                    const std::vector<int64_t>& slots, const std::vector<int64_t>& lens, int64_t t0) {
    const auto& p = c.problem;
    int64_t T = 0;
    for (int64_t l : lens) T += l;
    const int64_t C = p.conv_dim(), HV = p.num_v_heads;
    auto slice = [&](const std::vector<double>& m, int64_t w) {
        return std::vector<double>(m.begin() + std::ptrdiff_t(t0 * w), m.begin() + std::ptrdiff_t((t0 + T) * w));
    };
    const Backend& be = pool.backend();
    Tensor q = to_device(be, c.activation_dtype, slice(p.mixed_qkv, C), {T, C});
    Tensor a = to_device(be, c.activation_dtype, slice(p.a, HV), {T, HV});
    Tensor b = to_device(be, c.activation_dtype, slice(p.b, HV), {T, HV});
    ForwardBatch batch(mode, pool, slots, lens);
    Tensor out = layer.forward(batch, q.view(), a.view(), b.view());
    batch.stream().synchronize();
    return to_host_double(out);
}

}  // namespace gdn::test
