// Tolerances as data: a table per activation dtype, overridable per backend with a reason.
#include <fstream>

#include <nlohmann/json.hpp>

#include "gdn/conformance.hpp"
#include "gdn/error.hpp"

namespace gdn::conformance {

ToleranceTable::ToleranceTable() {
    for (DType t : kActivationDTypes) defaults_[t] = default_tolerance(t);
}

ToleranceTable::Entry ToleranceTable::lookup(const std::string& backend, DType dtype) const {
    if (auto b = overrides_.find(backend); b != overrides_.end())
        if (auto e = b->second.find(dtype); e != b->second.end()) return e->second;
    auto d = defaults_.find(dtype);
    return {d != defaults_.end() ? d->second : default_tolerance(dtype), ""};
}

void ToleranceTable::set_default(DType dtype, const Tolerance& tol) { defaults_[dtype] = tol; }

void ToleranceTable::set_override(const std::string& backend, DType dtype, const Tolerance& tol,
                                  const std::string& reason) {
    if (reason.empty())
        throw Error(GDN_ERR_INVALID_ARGUMENT, "tolerance override for " + backend + ": a reason is required");
    overrides_[backend][dtype] = {tol, reason};
}

std::map<DType, ToleranceTable::Entry> ToleranceTable::overrides(const std::string& backend) const {
    auto b = overrides_.find(backend);
    return b == overrides_.end() ? std::map<DType, Entry>{} : b->second;
}

namespace {

// Fields present in `j` replace those of `tol`.
Tolerance read_tolerance(const nlohmann::json& j, Tolerance tol, const std::string& where) {
    if (!j.is_object())
        throw Error(GDN_ERR_INVALID_ARGUMENT, where + ": an object {\"out\", \"state\", \"conv_exact\"} expected");
    for (const auto& [key, value] : j.items()) {
        if (key == "out" || key == "state") {
            if (!value.is_number() || value.get<double>() < 0)
                throw Error(GDN_ERR_INVALID_ARGUMENT, where + "." + key + ": a non-negative number expected");
            (key == "out" ? tol.out : tol.state) = value.get<double>();
        } else if (key == "conv_exact") {
            if (!value.is_boolean())
                throw Error(GDN_ERR_INVALID_ARGUMENT, where + ".conv_exact: true or false expected");
            tol.conv_exact = value.get<bool>();
        } else {
            throw Error(GDN_ERR_INVALID_ARGUMENT, where + ": unknown field '" + key + "' (out, state, conv_exact)");
        }
    }
    return tol;
}

DType activation_dtype(const std::string& name, const std::string& where) {
    const DType t = dtype_from_name(name);
    if (!is_activation_dtype(t))
        throw Error(GDN_ERR_INVALID_ARGUMENT, where + ": '" + name + "' is not an activation dtype");
    return t;
}

}  // namespace

void ToleranceTable::merge_json_file(const std::filesystem::path& file) {
    std::ifstream in(file);
    if (!in) throw Error(GDN_ERR_INVALID_ARGUMENT, "tolerance file " + file.string() + ": cannot be read");
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        throw Error(GDN_ERR_INVALID_ARGUMENT, "tolerance file " + file.string() + ": " + e.what());
    }
    const std::string f = file.string();
    if (!j.is_object()) throw Error(GDN_ERR_INVALID_ARGUMENT, f + ": a JSON object expected");
    for (const auto& [key, value] : j.items()) {
        if (key == "defaults") {
            for (const auto& [dt, tol] : value.items()) {
                const DType t = activation_dtype(dt, f + ": defaults");
                defaults_[t] = read_tolerance(tol, lookup("", t).tolerance, f + ": defaults." + dt);
            }
        } else if (key == "backends") {
            for (const auto& [backend, entry] : value.items()) {
                const std::string where = f + ": backends." + backend;
                if (!entry.is_object() || !entry.contains("reason") || !entry["reason"].is_string() ||
                    entry["reason"].get<std::string>().empty())
                    throw Error(GDN_ERR_INVALID_ARGUMENT,
                                where + ": a non-empty \"reason\" is required for an override");
                const std::string reason = entry["reason"].get<std::string>();
                for (const auto& [dt, tol] : entry.items()) {
                    if (dt == "reason") continue;
                    const DType t = activation_dtype(dt, where);
                    set_override(backend, t, read_tolerance(tol, lookup(backend, t).tolerance, where + "." + dt),
                                 reason);
                }
            }
        } else {
            throw Error(GDN_ERR_INVALID_ARGUMENT, f + ": unknown key '" + key + "' (defaults, backends)");
        }
    }
}

}  // namespace gdn::conformance
