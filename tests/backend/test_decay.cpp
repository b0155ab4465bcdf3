// Finite gate parameters at the ends of float's range: the decay factor must be what the fp64
// reference says (exactly 0, or exactly 1), never NaN, in every mode and on every prefill path
// (long requests take the chunked form on the CPU backend, whose sums of the log decay met
// -inf - -inf = NaN; short ones the token-by-token form).
#include <catch2/catch.hpp>

#include <random>

#include "fixture.hpp"

using namespace gdn;

TEST_CASE("extreme decay: A_log = 89, a + dt_bias huge, inf * 0 in float", "[random][decay]") {
    const uint64_t seed = test::seed("extreme decay: A_log = 89, a + dt_bias huge, inf * 0 in float");
    std::mt19937_64 rng(seed);
    const gdn_capabilities& caps = test::backend().capabilities();
    using Extreme = RandomCaseSpec::ExtremeDecay;
    for (const Extreme kind : {Extreme::huge_rate, Extreme::huge_softplus, Extreme::rate_times_tiny})
        for (const DType dt : {DType::f32, DType::bf16, DType::f16})
            for (const ForwardMode mode : {ForwardMode::extend, ForwardMode::decode, ForwardMode::mixed}) {
                if (!(caps.activation_dtypes & (1u << unsigned(dt))) || !(caps.modes & (1u << unsigned(mode))))
                    continue;
                RandomCaseSpec spec;  // H=2, HV=4, Dk=Dv=32, Kc=4: inside every backend's declaration here
                spec.activation_dtype = dt;
                spec.mode = mode;
                spec.extreme_decay = kind;
                spec.lengths = mode == ForwardMode::decode   ? std::vector<int64_t>{1, 1}
                               : mode == ForwardMode::extend ? std::vector<int64_t>{130, 4, 0}
                                                             : std::vector<int64_t>{1, 70, 3};
                const uint64_t case_seed = rng();
                const Case c = random_case(spec, case_seed);
                const CaseResult r = run_case(test::backend(), c, default_tolerance(dt));
                INFO("kind " << int(kind) << " (seed " << case_seed << "): " << describe(c) << ": out " << r.out_rel_l2
                             << ", state " << r.state_rel_l2 << "; " << r.message);
                CHECK(r.finite);
                CHECK(r.passed);
            }
}
