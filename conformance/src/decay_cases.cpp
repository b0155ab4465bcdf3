// Extreme decay. Finite gate parameters at the ends of float's range (A_log = 89, whose exp
// overflows float; dt_bias = 1e30; A_log = 89 with a = -200, where float's inf * 0 stands for a
// decay of exactly 1) must give the decay the fp64 reference gives: exactly 0 or 1, never NaN.
// One case per kind and declared mode, on a shape the backend declares, checked against the
// reference like every numeric case (a NaN anywhere fails it).
#include "cases.hpp"

namespace gdn::conformance::detail {

namespace {

using Extreme = RandomCaseSpec::ExtremeDecay;

struct Kind {
    Extreme extreme;
    const char* id;
    const char* what;
};
constexpr Kind kKinds[] = {
    {Extreme::huge_rate, "huge-rate", "A_log = 89 (exp(A_log) overflows float): decay 0"},
    {Extreme::huge_softplus, "huge-softplus", "dt_bias = 1e30: decay 0"},
    {Extreme::rate_times_tiny, "rate-times-tiny", "A_log = 89 with a = -200 (float's inf * 0): decay 1"},
};

const char* const kModeNames[] = {"extend", "decode", "mixed"};

uint64_t seed_of(const std::string& id) {
    uint64_t h = 1469598103934665603ull;  // FNV-1a: a seed per id, stable across runs
    for (char ch : id) h = (h ^ uint8_t(ch)) * 1099511628211ull;
    return h;
}

}  // namespace

std::vector<CaseDef> decay_cases(const gdn_capabilities& caps) {
    RandomCaseSpec preferred;  // two key heads, four value heads: two extreme, two ordinary
    preferred.num_k_heads = 2;
    preferred.num_v_heads = 4;
    preferred.head_k_dim = preferred.head_v_dim = 32;
    preferred.activation_dtype = DType::f32;
    const std::optional<RandomCaseSpec> base = supported_spec(caps, preferred, nullptr);
    if (!base) return {};  // the capability cases say why nothing can run
    std::vector<CaseDef> cases;
    for (int m = GDN_MODE_EXTEND; m <= GDN_MODE_MIXED; ++m) {
        if (!(caps.modes & (1u << m))) continue;
        for (const Kind& k : kKinds) {
            RandomCaseSpec spec = *base;
            spec.mode = ForwardMode(m);
            spec.extreme_decay = k.extreme;
            // Long enough for a chunked prefill (several chunks), short requests, an empty one.
            spec.lengths = m == GDN_MODE_DECODE   ? std::vector<int64_t>{1, 1, 1}
                           : m == GDN_MODE_EXTEND ? std::vector<int64_t>{150, 3, 0}
                                                  : std::vector<int64_t>{1, 150, 0, 3};
            CaseDef d;
            d.id = std::string("decay-") + k.id + "-" + kModeNames[m];
            d.category = "decay";
            d.description = std::string(k.what) + ", " + kModeNames[m];
            d.run = [spec, id = d.id, what = std::string(k.what)](const Context& ctx, CaseOutcome& out) {
                Case c = random_case(spec, seed_of(id));
                c.name = id;
                run_numeric(ctx, c, out);
                out.description = what + ": " + out.description;
            };
            cases.push_back(std::move(d));
        }
    }
    return cases;
}

}  // namespace gdn::conformance::detail
