// A layer, its pool and a way to run batches of given inputs: the pieces the invariant tests
// combine (prefill then decode, batch versus one by one, snapshots).
#pragma once

#include <vector>

#include "fixture.hpp"
#include "gdn/pool.hpp"

namespace gdn::test {

class Runner {
public:
    Runner(const Case& c, int64_t num_slots)
        : case_(c), pool_(backend(), pool_config(c, num_slots)), layer_(backend(), c.problem, c.activation_dtype, 0) {}

    GDNPool& pool() { return pool_; }
    const RadixLinearAttention& layer() const { return layer_.layer(); }
    int64_t conv_dim() const { return case_.problem.conv_dim(); }
    int64_t width() const { return int64_t(case_.problem.num_v_heads) * case_.problem.head_v_dim; }

    // Runs rows [t0, t0 + sum(lens)) of the case's inputs as one batch; returns out as doubles.
    std::vector<double> run(ForwardMode mode, const std::vector<int64_t>& slots, const std::vector<int64_t>& lens,
                            int64_t t0) {
        const auto& p = case_.problem;
        int64_t T = 0;
        for (int64_t l : lens) T += l;
        const int64_t C = conv_dim(), HV = p.num_v_heads;
        auto slice = [&](const std::vector<double>& m, int64_t w) {
            return std::vector<double>(m.begin() + std::ptrdiff_t(t0 * w), m.begin() + std::ptrdiff_t((t0 + T) * w));
        };
        const DType act = case_.activation_dtype;
        Tensor q = to_device(backend(), act, slice(p.mixed_qkv, C), {T, C});
        Tensor a = to_device(backend(), act, slice(p.a, HV), {T, HV});
        Tensor b = to_device(backend(), act, slice(p.b, HV), {T, HV});
        ForwardBatch batch(mode, pool_, slots, lens);
        Tensor out = layer_.layer().forward(batch, q.view(), a.view(), b.view());
        batch.stream().synchronize();
        return to_host_double(out);
    }

private:
    Case case_;
    GDNPool pool_;
    DeviceLayer layer_;
};

}  // namespace gdn::test
