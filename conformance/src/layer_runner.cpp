#include "layer_runner.hpp"

namespace gdn::conformance::detail {

LayerRunner::LayerRunner(const Backend& backend, const Case& c, int64_t num_slots)
    : backend_(backend), case_(c), pool_(backend, pool_config(c, num_slots)),
      layer_(backend, c.problem, c.activation_dtype, 0) {}

std::vector<double> LayerRunner::run(ForwardMode mode, const std::vector<int64_t>& slots,
                                     const std::vector<int64_t>& lens, int64_t t0, Stream* stream) {
    const auto& p = case_.problem;
    int64_t T = 0;
    for (int64_t l : lens) T += l;
    const int64_t C = p.conv_dim(), HV = p.num_v_heads;
    auto rows = [&](const std::vector<double>& m, int64_t w) {
        return std::vector<double>(m.begin() + std::ptrdiff_t(t0 * w), m.begin() + std::ptrdiff_t((t0 + T) * w));
    };
    const DType act = case_.activation_dtype;
    Tensor q = to_device(backend_, act, rows(p.mixed_qkv, C), {T, C});
    Tensor a = to_device(backend_, act, rows(p.a, HV), {T, HV});
    Tensor b = to_device(backend_, act, rows(p.b, HV), {T, HV});
    ForwardBatch batch(mode, pool_, slots, lens);
    if (stream) batch.set_stream(stream);
    Tensor out = layer_.layer().forward(batch, q.view(), a.view(), b.view());
    batch.stream().synchronize();
    return to_host_double(out);
}

std::vector<double> LayerRunner::recurrent(int64_t slot) const {
    const std::vector<float> v = pool_.read_recurrent(0, slot);
    return {v.begin(), v.end()};
}

}  // namespace gdn::conformance::detail
