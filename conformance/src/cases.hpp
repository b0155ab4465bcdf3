// The pieces every family of cases is built from: what a case is, what it runs against, and the
// shared ways to turn a run into an outcome.
#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "gdn/conformance.hpp"

namespace gdn::conformance::detail {

// ---- the declared capability space (declared_space.cpp) --------------------------------------

// The values of each axis a backend declares that the random cases must run: every activation
// dtype, mode, conv width and GVA ratio it declares, and of each head-dim range its ends and the
// typical sizes 48, 64, 100 and 128 where they fall inside (rounded down to the range's steps).
struct DeclaredSpace {
    std::vector<DType> dtypes;
    std::vector<ForwardMode> modes;
    std::vector<int> conv_kernels, gva_ratios, head_k_dims, head_v_dims;
    bool empty() const;
};
DeclaredSpace declared_space(const gdn_capabilities& caps);
// How many random cases cover `space`: the number of values of its longest axis, at least 24.
int random_cases_needed(const DeclaredSpace& space);
// Options::random_cases, or random_cases_needed() when that is automatic (negative).
int random_case_count(const Options& options, const DeclaredSpace& space);

// What the random cases ran (the plugin computed a result), filled as they run.
struct Coverage {
    std::set<DType> dtypes;
    std::set<ForwardMode> modes;
    std::set<int> conv_kernels, gva_ratios, head_k_dims, head_v_dims;
    bool strong_decay = false;
    int cases_ran = 0;
    void add(const RandomCaseSpec& spec);
    // "activation dtype f16; conv width 3; strong decay" for what `space` has and this lacks.
    std::vector<std::string> missing(const DeclaredSpace& space) const;
};

// What a case runs against.
struct Context {
    const Backend& backend;
    const Options& options;
    std::string plugin_name;  // for the tolerance table
    Coverage* coverage;       // what the random cases ran

    ToleranceTable::Entry tolerance(DType dtype) const { return options.tolerances.lookup(plugin_name, dtype); }
    const gdn_capabilities& caps() const { return backend.capabilities(); }
};

struct CaseDef {
    std::string id, category, description;
    // Fills status, message and what it measured; id, category, timing and the reproduction
    // command are filled by the suite. May throw: an exception is a FAIL naming it.
    std::function<void(const Context&, CaseOutcome&)> run;
};

// The families, in the order they run.
std::vector<CaseDef> golden_cases(const Options& options);
std::vector<CaseDef> random_cases(const Options& options, const gdn_capabilities& caps);
std::vector<CaseDef> capability_cases(const gdn_capabilities& caps);
std::vector<CaseDef> invariant_cases();
std::vector<CaseDef> stream_cases();
std::vector<CaseDef> guard_cases(const gdn_capabilities& caps);
std::vector<CaseDef> determinism_cases();
std::vector<CaseDef> coverage_cases(const Options& options, const gdn_capabilities& caps);
std::vector<CaseDef> serving_cases(const gdn_capabilities& caps);
std::vector<CaseDef> decay_cases(const gdn_capabilities& caps);

// ---- verdicts (verdict.cpp) -------------------------------------------------------------------

// Why `c` is outside what the backend declares ("head_k_dim 300 is outside 8..256"), or nothing.
std::optional<std::string> outside_capabilities(const gdn_capabilities& caps, const Case& c);
bool in_range(const gdn_size_range& r, int v);

// ---- shapes a backend declares (supported_shape.cpp) ---------------------------------------------

// The declared size closest to `preferred` (rounded down to the range's steps); -1 when the range
// is empty or malformed.
int nearest_supported(const gdn_size_range& r, int preferred);
// `preferred` moved into what the backend declares, dimension by dimension; nothing when some
// dimension declares nothing at all (the reason in `why`).
std::optional<RandomCaseSpec> supported_spec(const gdn_capabilities& caps, RandomCaseSpec preferred, std::string* why);

// Runs `c` through the layer and the pool (gdn::run_case) with the table's tolerance and turns
// the result, or the error, into the outcome: a refusal outside the declared capabilities is
// UNSUPPORTED, inside them a FAIL.
void run_numeric(const Context& ctx, const Case& c, CaseOutcome& out);

struct DirectResult;
// Holds a direct call (direct_call.hpp) against the fp64 reference: live requests within the
// tolerance, padding rows exactly zero, no NaN/Inf, no all-zero output, nothing written outside
// the named slots and the output. Fills metrics, status and message.
void judge_direct(const Context& ctx, const Case& c, const std::vector<bool>& padding, const DirectResult& r,
                  CaseOutcome& out);

}  // namespace gdn::conformance::detail
