// The pieces every family of cases is built from: what a case is, what it runs against, and the
// shared ways to turn a run into an outcome.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "gdn/conformance.hpp"

namespace gdn::conformance::detail {

// What a case runs against.
struct Context {
    const Backend& backend;
    const Options& options;
    std::string plugin_name;  // for the tolerance table

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
std::vector<CaseDef> random_cases(const Options& options);
std::vector<CaseDef> capability_cases(const gdn_capabilities& caps);
std::vector<CaseDef> invariant_cases();
std::vector<CaseDef> guard_cases(const gdn_capabilities& caps);
std::vector<CaseDef> determinism_cases();

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
