// Memory discipline, one case per declared dtype and mode, straight through the plugin's table
// (direct_call.hpp): guard bands around every buffer, gaps between state slots, wider input rows,
// a poisoned output, padding requests. Nothing may be written outside the output and the named
// slots; inputs stay as they were; padding rows are zeros and the padding slot is untouched;
// every output element is written (no NaN left from the poison); the results match.
#include "cases.hpp"
#include "direct_call.hpp"

namespace gdn::conformance::detail {

std::vector<CaseDef> guard_cases(const gdn_capabilities& caps) {
    const char* const dtype_names[] = {"f32", "bf16", "f16"};
    const char* const mode_names[] = {"extend", "decode", "mixed"};
    std::vector<CaseDef> cases;
    for (int m = GDN_MODE_EXTEND; m <= GDN_MODE_MIXED; ++m) {
        if (!(caps.modes & (1u << m))) continue;
        for (int t = GDN_DTYPE_F32; t <= GDN_DTYPE_F16; ++t) {
            if (!(caps.activation_dtypes & (1u << t))) continue;
            RandomCaseSpec pref;
            pref.num_k_heads = 2;
            pref.num_v_heads = 4;
            pref.head_k_dim = 32;
            pref.head_v_dim = 16;
            pref.conv_kernel = 4;
            pref.activation_dtype = DType(t);
            pref.mode = ForwardMode(m);
            const std::optional<RandomCaseSpec> spec_or = supported_spec(caps, pref, nullptr);
            if (!spec_or) continue;  // capability-declared reports why
            RandomCaseSpec spec = *spec_or;
            std::vector<bool> padding;
            switch (spec.mode) {
                case ForwardMode::extend:
                    spec.lengths = {5, 0, 33, 2, 70, 1};
                    padding = {false, false, false, true, false, false};
                    break;
                case ForwardMode::decode:
                    spec.lengths = {1, 1, 1, 1, 1};
                    padding = {false, true, false, true, false};
                    break;
                case ForwardMode::mixed:
                    spec.lengths = {1, 40, 1, 0, 3};
                    padding = {false, false, true, false, false};
                    break;
            }
            CaseDef d;
            d.id = std::string("guard-") + dtype_names[t] + "-" + mode_names[m];
            d.category = "guard";
            static const char* const kExercises =
                "exercises guard bands around every buffer, gaps between state slots, input rows wider than conv_dim "
                "(strided views), a NaN-poisoned output, padding requests";
            d.description = kExercises;
            d.run = [spec, padding](const Context& ctx, CaseOutcome& out) {
                const Case c = random_case(
                    spec, 0x6A09E667F3BCC908ull + uint64_t(spec.mode) * 3 + uint64_t(spec.activation_dtype));
                out.description = describe(c) + "; " + kExercises;
                judge_direct(ctx, c, padding, direct_call(ctx.backend, c, padding), out);
            };
            cases.push_back(std::move(d));
        }
    }
    return cases;
}

}  // namespace gdn::conformance::detail
