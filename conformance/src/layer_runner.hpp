// A layer, its pool and a way to run rows of a case's inputs as one batch: what the invariant
// cases combine (prefill then decode, a batch against its requests one by one, padding rows).
#pragma once

#include <vector>

#include "gdn/harness.hpp"
#include "gdn/pool.hpp"

namespace gdn::conformance::detail {

class LayerRunner {
public:
    // A one-layer pool of `num_slots` zeroed slots shaped like `c`, and the layer of `c`.
    LayerRunner(const Backend& backend, const Case& c, int64_t num_slots);

    GDNPool& pool() { return pool_; }
    const RadixLinearAttention& layer() const { return layer_.layer(); }
    int64_t width() const { return int64_t(case_.problem.num_v_heads) * case_.problem.head_v_dim; }

    // Rows [t0, t0 + sum(lens)) of the case's inputs as one batch over `slots`, on `stream`
    // (default: the backend's); out as doubles.
    std::vector<double> run(ForwardMode mode, const std::vector<int64_t>& slots, const std::vector<int64_t>& lens,
                            int64_t t0, Stream* stream = nullptr);

    std::vector<double> recurrent(int64_t slot) const;  // the slot's recurrent state as doubles

private:
    Backend backend_;
    Case case_;
    GDNPool pool_;
    DeviceLayer layer_;
};

}  // namespace gdn::conformance::detail
