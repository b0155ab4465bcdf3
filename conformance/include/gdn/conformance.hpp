// The conformance suite: one set of cases that holds any backend — ours or a third party's, in
// any plugin file — to the same function, the same invariants and its own declared capabilities.
// `gdn conformance` is a front end to this; an engine or a vendor's CI can call it directly.
//
//   gdn::conformance::Options opt;
//   opt.golden_dirs = {"/path/to/golden"};
//   gdn::conformance::Suite suite(opt);
//   gdn::conformance::BackendReport r = suite.run(gdn::Registry::global().open("myvendor"));
//   gdn::conformance::write_json({r}, std::cout);   // r.passed(): nothing failed
//
// Every case has a stable id ("golden-tiny_f32_extend", "random-17", "invariant-padding-slot",
// ...). Random cases are drawn from what the backend declares: a function of (seed, id) and the
// declaration alone, so `--case random-17 --seed 123` reruns exactly one, on any backend that
// declares the same capabilities. The last case, coverage-declared, fails with "insufficient
// coverage: never ran ..." when some declared dtype, mode, conv width, GVA ratio, head dim or
// strong decay was never run by a random case.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gdn/backend.hpp"
#include "gdn/dtype.hpp"
#include "gdn/export.hpp"
#include "gdn/harness.hpp"

namespace gdn::conformance {

// ---- outcomes ---------------------------------------------------------------------------------

enum class Status {
    pass,         // ran and met every check
    fail,         // ran and broke a check, or failed a call it declared it supports
    unsupported,  // outside the backend's declared capabilities: refused, as it should be
    skipped,      // not applicable (e.g. determinism the backend does not claim)
};
GDN_API const char* status_name(Status s);  // "PASS", "FAIL", "UNSUPPORTED", "SKIP"

// Numbers of a numeric comparison against the fp64 reference or a golden file.
struct Metrics {
    double out_rel_l2 = 0, state_rel_l2 = 0;  // ‖got − want‖ / ‖want‖
    double out_max_abs = 0;                   // max |got − want|
    double out_max_rel = 0;                   // max |got − want| / max |want|
    bool conv_exact = true;
};

// ---- tolerances (data, not code) --------------------------------------------------------------

// Per activation dtype, with optional per-backend overrides that carry a reason (printed with
// every report that uses them). Defaults: the golden README's table (default_tolerance()).
class GDN_API ToleranceTable {
public:
    ToleranceTable();

    struct Entry {
        Tolerance tolerance;
        std::string reason;  // empty for a default entry
    };
    // The tolerance for `backend` (plugin name, e.g. "cuda") at `dtype`.
    Entry lookup(const std::string& backend, DType dtype) const;

    void set_default(DType dtype, const Tolerance& tol);
    void set_override(const std::string& backend, DType dtype, const Tolerance& tol, const std::string& reason);

    // Overrides of one backend, for reports: dtype -> entry.
    std::map<DType, Entry> overrides(const std::string& backend) const;
    const std::map<DType, Tolerance>& defaults() const { return defaults_; }

    // Reads a JSON file:
    //   { "defaults":  { "bf16": { "out": 5e-3, "state": 5e-3, "conv_exact": true } },
    //     "backends":  { "myvendor": { "reason": "fp16 accumulation in the output GEMV",
    //                                  "f16": { "out": 1e-2, "state": 5e-3 } } } }
    // Fields left out keep their current values. Throws Error naming what is malformed.
    void merge_json_file(const std::filesystem::path& file);

private:
    std::map<DType, Tolerance> defaults_;
    std::map<std::string, std::map<DType, Entry>> overrides_;
};

// ---- the suite --------------------------------------------------------------------------------

struct Options {
    std::vector<std::filesystem::path> golden_dirs;  // every *.safetensors in each (sorted)
    uint64_t seed = 1;                               // random cases are a function of (seed, id)
    // random-0 .. random-(N-1), drawn from the backend's declared capabilities; negative: as many
    // as it takes to run every declared value once (at least 24).
    int random_cases = -1;
    std::vector<std::string> case_patterns;  // shell patterns over ids; empty: every case
    std::vector<std::string> skip_patterns;  // shell patterns over ids left out (after case_patterns)
    ToleranceTable tolerances;
    // How a user reruns a case: this prefix, then " --case ID --seed N" is appended, e.g.
    // "gdn conformance --backend cpu". Empty: no reproduction commands in the reports.
    std::string reproduce_prefix;
};

struct CaseOutcome {
    std::string id;           // "random-17"
    std::string category;     // golden, random, invariant, capability, guard, determinism
    std::string description;  // shape and what is checked
    Status status = Status::pass;
    std::string message;  // why it failed / was unsupported / skipped; notes on a pass
    std::optional<Metrics> metrics;
    std::optional<Tolerance> tolerance;
    std::string tolerance_reason;  // set when a per-backend override was used
    double seconds = 0;
    std::string reproduce;  // one command line that reruns this case alone
};

struct GDN_API BackendReport {
    std::string backend;  // "cpu", "cuda:1"
    std::string plugin_name, plugin_version, plugin_path, device_name;
    unsigned abi_major = 0, abi_minor = 0;
    gdn_capabilities capabilities{};
    uint64_t seed = 0;
    std::map<DType, ToleranceTable::Entry> tolerance_overrides;
    std::vector<CaseOutcome> cases;
    double seconds = 0;

    int count(Status s) const;
    bool passed() const { return count(Status::fail) == 0; }
};

// Called after each case: (index of the case, number of cases, its outcome).
using ProgressFn = std::function<void(std::size_t, std::size_t, const CaseOutcome&)>;

class GDN_API Suite {
public:
    explicit Suite(Options options);

    const Options& options() const { return options_; }
    // The ids this suite runs on `backend` (the capability probes depend on what it declares),
    // after the case patterns.
    std::vector<std::string> case_ids(const Backend& backend) const;
    // The number of random cases it runs on `backend` (Options::random_cases, or as many as its
    // declaration needs).
    int random_case_count(const Backend& backend) const;
    // Runs every selected case. Never throws for a backend's failure: that is an outcome.
    BackendReport run(const Backend& backend, const ProgressFn& progress = {}) const;

private:
    Options options_;
};

// The files a set of golden directories contributes (sorted, *.safetensors, with those of each
// directory's serving/ subdirectory). Throws Error when a
// directory does not exist.
GDN_API std::vector<std::filesystem::path> golden_files(const std::vector<std::filesystem::path>& dirs);

// ---- reports ----------------------------------------------------------------------------------

// One JSON document for one or more backends (schema "gdn-conformance/1", see docs/plugin-guide.md).
GDN_API void write_json(const std::vector<BackendReport>& reports, std::ostream& out);
// JUnit XML: one <testsuite> per backend, one <testcase> per case; FAIL is <failure>,
// UNSUPPORTED and SKIP are <skipped>.
GDN_API void write_junit(const std::vector<BackendReport>& reports, std::ostream& out);

}  // namespace gdn::conformance
