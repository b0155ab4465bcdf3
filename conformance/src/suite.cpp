// The suite: which cases run on a backend, in what order, and how each becomes an outcome.
#include <fnmatch.h>

#include <chrono>

#include "cases.hpp"
#include "gdn/error.hpp"

namespace gdn::conformance {

const char* status_name(Status s) {
    switch (s) {
        case Status::pass: return "PASS";
        case Status::fail: return "FAIL";
        case Status::unsupported: return "UNSUPPORTED";
        case Status::skipped: return "SKIP";
    }
    return "?";
}

int BackendReport::count(Status s) const {
    int n = 0;
    for (const auto& c : cases) n += c.status == s;
    return n;
}

namespace {

std::vector<detail::CaseDef> plan(const Options& o, const gdn_capabilities& caps) {
    std::vector<detail::CaseDef> all;
    auto add = [&](std::vector<detail::CaseDef> more) {
        for (auto& d : more) all.push_back(std::move(d));
    };
    add(detail::golden_cases(o));
    add(detail::random_cases(o, caps));
    add(detail::capability_cases(caps));
    add(detail::invariant_cases());
    add(detail::stream_cases());
    add(detail::guard_cases(caps));
    add(detail::determinism_cases());
    add(detail::serving_cases(caps));
    add(detail::decay_cases(caps));
    add(detail::coverage_cases(o, caps));  // last: it judges what the random cases ran
    const auto matches = [](const std::vector<std::string>& patterns, const std::string& id) {
        for (const auto& pattern : patterns)
            if (fnmatch(pattern.c_str(), id.c_str(), 0) == 0) return true;
        return false;
    };
    std::vector<detail::CaseDef> chosen;
    for (auto& d : all)
        if ((o.case_patterns.empty() || matches(o.case_patterns, d.id)) && !matches(o.skip_patterns, d.id))
            chosen.push_back(std::move(d));
    return chosen;
}

// "a; b; " -> "a; b"
std::string tidy(std::string s) {
    while (!s.empty() && (s.back() == ' ' || s.back() == ';')) s.pop_back();
    return s;
}

}  // namespace

Suite::Suite(Options options) : options_(std::move(options)) {}

int Suite::random_case_count(const Backend& backend) const {
    return detail::random_case_count(options_, detail::declared_space(backend.capabilities()));
}

std::vector<std::string> Suite::case_ids(const Backend& backend) const {
    std::vector<std::string> ids;
    for (const auto& d : plan(options_, backend.capabilities())) ids.push_back(d.id);
    return ids;
}

BackendReport Suite::run(const Backend& backend, const ProgressFn& progress) const {
    using clock = std::chrono::steady_clock;
    const auto start = clock::now();
    BackendReport report;
    report.backend = backend.name();
    report.plugin_name = backend.plugin().name();
    report.plugin_version = backend.table().version ? backend.table().version : "";
    report.plugin_path = backend.plugin().path();
    report.device_name = backend.properties().name;
    report.abi_major = backend.table().abi_major;
    report.abi_minor = backend.table().abi_minor;
    report.capabilities = backend.capabilities();
    report.seed = options_.seed;
    report.tolerance_overrides = options_.tolerances.overrides(report.plugin_name);

    detail::Coverage coverage;
    const detail::Context ctx{backend, options_, report.plugin_name, &coverage};
    std::vector<detail::CaseDef> cases = plan(options_, backend.capabilities());
    for (std::size_t i = 0; i < cases.size(); ++i) {
        const detail::CaseDef& d = cases[i];
        CaseOutcome o;
        o.id = d.id;
        o.category = d.category;
        o.description = d.description;
        const auto t0 = clock::now();
        try {
            d.run(ctx, o);
        } catch (const Error& e) {
            o.status = Status::fail;
            o.message = std::string("error (") + gdn::status_name(e.status()) + "): " + e.what();
        } catch (const std::exception& e) {
            o.status = Status::fail;
            o.message = std::string("error: ") + e.what();
        }
        o.seconds = std::chrono::duration<double>(clock::now() - t0).count();
        o.message = tidy(o.message);
        if (!options_.reproduce_prefix.empty())
            o.reproduce = options_.reproduce_prefix + " --case " + o.id + " --seed " + std::to_string(options_.seed);
        report.cases.push_back(o);
        if (progress) progress(i, cases.size(), report.cases.back());
    }
    report.seconds = std::chrono::duration<double>(clock::now() - start).count();
    return report;
}

}  // namespace gdn::conformance
