// Named configuration: a layer built from a gdn::LayerConfig and one built in pymllm's positional
// order are the same layer, and a config that leaves a head dim out is refused by name.
#include <catch2/catch.hpp>

#include <random>

#include "fixture.hpp"
#include "gdn/layer.hpp"

using namespace gdn;

TEST_CASE("LayerConfig and the positional constructor build the same layer", "[config]") {
    const uint64_t seed = test::seed("LayerConfig and the positional constructor build the same layer");
    std::mt19937_64 rng(seed);
    for (int trial = 0; trial < 20; ++trial) {
        const int H = 1 + int(rng() % 4), HV = H * (1 + int(rng() % 4)), Dk = 8 + int(rng() % 60),
                  Dv = 8 + int(rng() % 60), id = int(rng() % 100), idx = int(rng() % 10);
        const int64_t C = 2LL * H * Dk + int64_t(HV) * Dv;
        std::vector<float> w(std::size_t(C * 4), 0.1f), A(std::size_t(HV), -1.f), dt(std::size_t(HV), 0.f);
        const TensorView wv(w.data(), DType::f32, {C, 4}), Av(A.data(), DType::f32, {HV}),
            dv(dt.data(), DType::f32, {HV});
        const RadixLinearAttention positional(id, idx, H, HV, Dk, Dv, wv, Av, dv);
        const RadixLinearAttention named(LayerConfig{.layer_id = id,
                                                     .gdn_layer_idx = idx,
                                                     .num_k_heads = H,
                                                     .num_v_heads = HV,
                                                     .head_k_dim = Dk,
                                                     .head_v_dim = Dv},
                                         wv, Av, dv);
        INFO("trial " << trial << ": id=" << id << " idx=" << idx << " H=" << H << " HV=" << HV << " Dk=" << Dk
                      << " Dv=" << Dv);
        for (const RadixLinearAttention* l : {&positional, &named}) {
            CHECK(l->layer_id() == id);
            CHECK(l->gdn_layer_idx() == idx);
            CHECK(l->num_k_heads() == H);
            CHECK(l->num_v_heads() == HV);
            CHECK(l->head_k_dim() == Dk);
            CHECK(l->head_v_dim() == Dv);
        }
        const LayerConfig c = named.config();
        CHECK((c.layer_id == id && c.gdn_layer_idx == idx && c.num_k_heads == H && c.num_v_heads == HV &&
               c.head_k_dim == Dk && c.head_v_dim == Dv));
    }
    // The head dims have no default: leaving one out is an error that names it.
    std::vector<float> w(64 * 4, 0.1f), A{-1.f, -1.f}, dt{0.f, 0.f};
    test::expect_error("head_v_dim: >= 1, got 0", [&] {
        RadixLinearAttention(LayerConfig{.num_k_heads = 1, .num_v_heads = 2, .head_k_dim = 16},
                             TensorView(w.data(), DType::f32, {64, 4}), TensorView(A.data(), DType::f32, {2}),
                             TensorView(dt.data(), DType::f32, {2}));
    });
}
