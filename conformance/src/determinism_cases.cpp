// Determinism: the same call twice, on identical memory, must give bitwise-equal output and
// states. Required where the backend declares `deterministic`; otherwise reported, not judged.
#include "cases.hpp"
#include "direct_call.hpp"

namespace gdn::conformance::detail {

std::vector<CaseDef> determinism_cases() {
    CaseDef d;
    d.id = "determinism";
    d.category = "determinism";
    d.description = "the same call twice gives bitwise-equal output and states";
    d.run = [](const Context& ctx, CaseOutcome& out) {
        RandomCaseSpec pref;
        pref.num_k_heads = 2;
        pref.num_v_heads = 4;
        pref.head_k_dim = pref.head_v_dim = 32;
        std::string why;
        std::optional<RandomCaseSpec> spec = supported_spec(ctx.caps(), pref, &why);
        if (!spec) {
            out.status = Status::skipped;
            out.message = "nothing to run: the backend " + why;
            return;
        }
        spec->lengths =
            spec->mode == ForwardMode::decode ? std::vector<int64_t>{1, 1, 1} : std::vector<int64_t>{33, 200, 1};
        const Case c = random_case(*spec, 0xBB67AE8584CAA73Bull);
        out.description = describe(c) + ", run twice";
        const DirectResult first = direct_call(ctx.backend, c, {});
        const DirectResult second = direct_call(ctx.backend, c, {});
        const bool claimed = ctx.caps().deterministic != 0;
        if (first.status != GDN_OK || second.status != GDN_OK) {
            out.status = Status::fail;
            out.message = std::string("forward_gdn failed (") +
                          gdn::status_name(first.status != GDN_OK ? first.status : second.status) +
                          "): " + (first.status != GDN_OK ? first.message : second.message);
            return;
        }
        const bool same_out = first.out_bytes == second.out_bytes, same_state = first.state_bytes == second.state_bytes;
        std::string seen = "gave bitwise-equal output and states";
        if (!same_out || !same_state)
            seen = std::string("differed in ") + (!same_out && !same_state ? "the output and the states"
                                                  : !same_out              ? "the output"
                                                                           : "the states");
        if (claimed) {
            out.status = same_out && same_state ? Status::pass : Status::fail;
            out.message = same_out && same_state ? "" : "declared deterministic, but two identical calls " + seen;
        } else {
            out.status = Status::skipped;
            out.message = "not declared deterministic (not required); two identical calls " + seen;
        }
    };
    return {d};
}

}  // namespace gdn::conformance::detail
