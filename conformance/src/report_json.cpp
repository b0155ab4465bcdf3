// The JSON report (schema "gdn-conformance/1"; docs/plugin-guide.md describes every field).
#include <ostream>

#include <nlohmann/json.hpp>

#include "gdn/conformance.hpp"

namespace gdn::conformance {

namespace {

using nlohmann::json;

json tolerance_json(const Tolerance& t) { return {{"out", t.out}, {"state", t.state}, {"conv_exact", t.conv_exact}}; }

json range_json(const gdn_size_range& r) { return {{"min", r.min}, {"max", r.max}, {"multiple", r.multiple}}; }

json bits_json(uint32_t mask, int lo, int hi) {
    json a = json::array();
    for (int b = lo; b <= hi; ++b)
        if (mask & (1u << unsigned(b))) a.push_back(b);
    return a;
}

json names_json(uint32_t mask, std::initializer_list<const char*> names) {
    json a = json::array();
    int b = 0;
    for (const char* n : names) {
        if (mask & (1u << unsigned(b))) a.push_back(n);
        ++b;
    }
    return a;
}

json capabilities_json(const gdn_capabilities& c) {
    return {{"activation_dtypes", names_json(c.activation_dtypes, {"f32", "bf16", "f16"})},
            {"head_k_dim", range_json(c.head_k_dim)},
            {"head_v_dim", range_json(c.head_v_dim)},
            {"conv_kernels", bits_json(c.conv_kernels, 0, 31)},
            {"gva_ratios", bits_json(c.gva_ratios, 0, 31)},
            {"modes", names_json(c.modes, {"extend", "decode", "mixed"})},
            {"deterministic", c.deterministic != 0}};
}

json summary_json(const std::vector<const BackendReport*>& reports) {
    json s = {{"cases", 0}, {"pass", 0}, {"fail", 0}, {"unsupported", 0}, {"skipped", 0}};
    for (const BackendReport* r : reports) {
        s["cases"] = s["cases"].get<int>() + int(r->cases.size());
        s["pass"] = s["pass"].get<int>() + r->count(Status::pass);
        s["fail"] = s["fail"].get<int>() + r->count(Status::fail);
        s["unsupported"] = s["unsupported"].get<int>() + r->count(Status::unsupported);
        s["skipped"] = s["skipped"].get<int>() + r->count(Status::skipped);
    }
    return s;
}

const char* status_key(Status s) {
    switch (s) {
        case Status::pass: return "pass";
        case Status::fail: return "fail";
        case Status::unsupported: return "unsupported";
        case Status::skipped: return "skipped";
    }
    return "?";
}

json case_json(const CaseOutcome& c) {
    json j = {{"id", c.id},
              {"category", c.category},
              {"description", c.description},
              {"status", status_key(c.status)},
              {"message", c.message},
              {"seconds", c.seconds},
              {"reproduce", c.reproduce}};
    if (c.metrics) {
        // Non-finite numbers (a NaN in the output makes the error infinite) are written as null.
        j["metrics"] = {{"out_rel_l2", c.metrics->out_rel_l2},
                        {"state_rel_l2", c.metrics->state_rel_l2},
                        {"out_max_abs", c.metrics->out_max_abs},
                        {"out_max_rel", c.metrics->out_max_rel},
                        {"conv_exact", c.metrics->conv_exact}};
    } else {
        j["metrics"] = nullptr;
    }
    j["tolerance"] = c.tolerance ? tolerance_json(*c.tolerance) : json(nullptr);
    j["tolerance_reason"] = c.tolerance_reason;
    return j;
}

json backend_json(const BackendReport& r) {
    json overrides = json::array();
    for (const auto& [dtype, e] : r.tolerance_overrides) {
        json o = tolerance_json(e.tolerance);
        o["dtype"] = dtype_name(dtype);
        o["reason"] = e.reason;
        overrides.push_back(o);
    }
    json cases = json::array(), failed = json::array();
    for (const auto& c : r.cases) {
        cases.push_back(case_json(c));
        if (c.status == Status::fail) failed.push_back(c.id);
    }
    return {{"backend", r.backend},
            {"plugin",
             {{"name", r.plugin_name},
              {"version", r.plugin_version},
              {"path", r.plugin_path},
              {"abi", std::to_string(r.abi_major) + "." + std::to_string(r.abi_minor)}}},
            {"device", r.device_name},
            {"capabilities", capabilities_json(r.capabilities)},
            {"seed", r.seed},
            {"seconds", r.seconds},
            {"passed", r.passed()},
            {"summary", summary_json({&r})},
            {"failed_cases", failed},
            {"tolerance_overrides", overrides},
            {"cases", cases}};
}

}  // namespace

void write_json(const std::vector<BackendReport>& reports, std::ostream& out) {
    std::vector<const BackendReport*> all;
    bool passed = true;
    json backends = json::array();
    for (const auto& r : reports) {
        all.push_back(&r);
        passed = passed && r.passed();
        backends.push_back(backend_json(r));
    }
    const json doc = {{"schema", "gdn-conformance/1"},
                      {"gdn_version", GDN_VERSION_STRING},
                      {"host_abi", std::to_string(GDN_ABI_MAJOR) + "." + std::to_string(GDN_ABI_MINOR)},
                      {"passed", passed},
                      {"summary", summary_json(all)},
                      {"backends", backends}};
    // Plugin messages are foreign bytes: invalid UTF-8 is replaced, never a reason to fail.
    out << doc.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
}

}  // namespace gdn::conformance
