// The backend against the fp64 reference on random shapes and data inside its declared
// capabilities: dims, GVA ratios, conv widths, dtypes, modes, ragged batches.
#include <catch2/catch.hpp>

#include <random>

#include "fixture.hpp"

using namespace gdn;

namespace {

bool supports(const gdn_size_range& r, int v) { return v >= r.min && v <= r.max && (v - r.min) % r.multiple == 0; }

// A random spec the backend declares it supports (retries until one fits).
RandomCaseSpec random_spec(std::mt19937_64& rng) {
    const gdn_capabilities& caps = test::backend().capabilities();
    auto pick = [&](std::initializer_list<int> xs) { return *(xs.begin() + std::ptrdiff_t(rng() % xs.size())); };
    for (;;) {
        RandomCaseSpec s;
        s.num_k_heads = pick({1, 2, 3});
        s.num_v_heads = s.num_k_heads * pick({1, 2, 3, 4});
        s.head_k_dim = pick({8, 16, 24, 32, 40, 64, 128});
        s.head_v_dim = pick({8, 16, 24, 32, 48, 64, 128});
        s.conv_kernel = pick({2, 3, 4});
        s.activation_dtype = DType(pick({GDN_DTYPE_F32, GDN_DTYPE_BF16, GDN_DTYPE_F16}));
        s.mode = ForwardMode(pick({GDN_MODE_EXTEND, GDN_MODE_DECODE, GDN_MODE_MIXED}));
        const int B = pick({1, 2, 3, 5});
        s.lengths.clear();
        for (int r = 0; r < B; ++r) {
            if (s.mode == ForwardMode::mixed)
                s.lengths.push_back(rng() % 2 ? 1 : int64_t(rng() % 150));
            else
                s.lengths.push_back(pick({0, 1, 2, 3, 17, 64, 65, 129, 200}));
        }
        if (!supports(caps.head_k_dim, s.head_k_dim) || !supports(caps.head_v_dim, s.head_v_dim)) continue;
        if (!(caps.conv_kernels & (1u << s.conv_kernel))) continue;
        if (!(caps.gva_ratios & (1u << (s.num_v_heads / s.num_k_heads)))) continue;
        if (!(caps.activation_dtypes & (1u << unsigned(s.activation_dtype)))) continue;
        if (!(caps.modes & (1u << unsigned(s.mode)))) continue;
        return s;
    }
}

}  // namespace

TEST_CASE("random shapes match the fp64 reference", "[random]") {
    const uint64_t seed = test::seed("random shapes match the fp64 reference");
    std::mt19937_64 rng(seed);
    for (int i = 0; i < 24; ++i) {
        const RandomCaseSpec spec = random_spec(rng);
        const uint64_t case_seed = rng();
        const Case c = random_case(spec, case_seed);
        const CaseResult r = run_case(test::backend(), c, default_tolerance(spec.activation_dtype));
        INFO("case " << i << " (seed " << case_seed << "): " << describe(c) << ": out " << r.out_rel_l2 << ", state "
                     << r.state_rel_l2 << "; " << r.message);
        CHECK(r.passed);
    }
}

TEST_CASE("strong decay inside one chunk stays correct", "[random][decay]") {
    const uint64_t seed = test::seed("strong decay inside one chunk stays correct");
    RandomCaseSpec spec;
    spec.num_k_heads = 2;
    spec.num_v_heads = 4;
    spec.head_k_dim = spec.head_v_dim = 32;
    spec.lengths = {200, 64};
    spec.strong_decay = true;
    const Case c = random_case(spec, seed);
    // The case must really be strong: the cumulative log decay over the first 64 tokens of a head.
    const auto& p = c.problem;
    double cum = 0;
    for (int t = 0; t < 64; ++t) {
        const double x = p.a[std::size_t(t * p.num_v_heads)] + p.dt_bias[0];
        cum += -std::exp(p.A_log[0]) * (x > 20 ? x : std::log1p(std::exp(x)));
    }
    REQUIRE(cum < -100.0);
    const CaseResult r = run_case(test::backend(), c, default_tolerance(DType::f32));
    INFO(describe(c) << ": cumulative log decay " << cum << "; out " << r.out_rel_l2 << ", state " << r.state_rel_l2
                     << "; " << r.message);
    CHECK(r.passed);
}

TEST_CASE("the Qwen3-Next shape matches the reference in bf16", "[random][model]") {
    const uint64_t seed = test::seed("the Qwen3-Next shape matches the reference in bf16");
    RandomCaseSpec spec;
    spec.num_k_heads = 16;
    spec.num_v_heads = 32;
    spec.head_k_dim = spec.head_v_dim = 128;
    spec.activation_dtype = DType::bf16;
    spec.lengths = {100, 3};
    const Case c = random_case(spec, seed);
    const CaseResult r = run_case(test::backend(), c, default_tolerance(DType::bf16));
    INFO(describe(c) << ": out " << r.out_rel_l2 << ", state " << r.state_rel_l2 << "; " << r.message);
    CHECK(r.passed);
}
