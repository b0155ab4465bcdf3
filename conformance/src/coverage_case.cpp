// Coverage: after the random cases, every declared dtype, mode, conv width, GVA ratio and the
// representative head dims (declared_space.cpp) must have run at least once, strong decay
// included. A backend whose declaration the random cases never reached has not been tested,
// whatever else passed.
#include <sstream>

#include "cases.hpp"

namespace gdn::conformance::detail {

void Coverage::add(const RandomCaseSpec& s) {
    dtypes.insert(s.activation_dtype);
    modes.insert(s.mode);
    conv_kernels.insert(s.conv_kernel);
    gva_ratios.insert(s.num_v_heads / s.num_k_heads);
    head_k_dims.insert(s.head_k_dim);
    head_v_dims.insert(s.head_v_dim);
    strong_decay = strong_decay || s.strong_decay;
    ++cases_ran;
}

std::vector<std::string> Coverage::missing(const DeclaredSpace& space) const {
    std::vector<std::string> out;
    for (DType t : space.dtypes)
        if (!dtypes.count(t)) out.push_back(std::string("activation dtype ") + dtype_name(t));
    for (ForwardMode m : space.modes)
        if (!modes.count(m)) out.push_back(std::string("mode ") + mode_name(m));
    auto ints = [&](const char* what, const std::vector<int>& want, const std::set<int>& got) {
        for (int v : want)
            if (!got.count(v)) out.push_back(std::string(what) + " " + std::to_string(v));
    };
    ints("conv width", space.conv_kernels, conv_kernels);
    ints("GVA ratio", space.gva_ratios, gva_ratios);
    ints("head_k_dim", space.head_k_dims, head_k_dims);
    ints("head_v_dim", space.head_v_dims, head_v_dims);
    if (!strong_decay) out.push_back("strong decay");
    return out;
}

std::vector<CaseDef> coverage_cases(const Options& options, const gdn_capabilities& caps) {
    CaseDef d;
    d.id = "coverage-declared";
    d.category = "coverage";
    d.description =
        "the random cases ran every declared dtype, mode, conv width, GVA ratio, the head-dim range ends "
        "and typical sizes, and strong decay";
    const DeclaredSpace space = declared_space(caps);
    const int planned = random_case_count(options, space);
    d.run = [space, planned](const Context& ctx, CaseOutcome& out) {
        if (space.empty()) {
            out.status = Status::skipped;
            out.message = "the backend declares an empty capability space (see capability-declared)";
            return;
        }
        const std::vector<std::string> missing = ctx.coverage->missing(space);
        std::ostringstream msg;
        msg << ctx.coverage->cases_ran << " random case(s) ran";
        if (missing.empty()) {
            out.status = Status::pass;
            out.message = msg.str();
            return;
        }
        std::ostringstream why;
        why << "insufficient coverage: never ran ";
        for (std::size_t i = 0; i < missing.size(); ++i) why << (i ? ", " : "") << missing[i];
        why << " (" << msg.str() << " of " << planned << " planned";
        const int needed = random_cases_needed(space);
        if (planned < needed) why << "; the declaration needs at least " << needed << ": --random " << needed;
        why << ")";
        out.status = Status::fail;
        out.message = why.str();
    };
    return {d};
}

}  // namespace gdn::conformance::detail
