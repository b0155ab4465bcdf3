// gdn check: golden-vector files through a backend, states placed in scattered pool slots.
#include <cstdio>
#include <string>
#include <vector>

#include "args.hpp"
#include "commands.hpp"
#include "gdn/conformance.hpp"
#include "golden_dirs.hpp"
#include "gdn/error.hpp"
#include "gdn/harness.hpp"
#include "gdn/registry.hpp"

namespace gdn::cli {

int cmd_check(int argc, char** argv) {
    Args args(
        "check",
        "Runs each golden-vector file (safetensors: inputs, states before, expected output and states after)\n"
        "through a backend and compares with the tolerances of the golden README: relative L2 of out and\n"
        "recurrent state <= 2e-5 (f32) or 5e-3 (bf16, f16); conv state exact; NaN/Inf fails.\n"
        "Without files: gdn's own golden vectors, then those in the directories of GDN_GOLDEN_PATH.\n"
        "A file the backend refuses as unsupported (a dtype, shape or serving feature such as a 16-bit state,\n"
        "checkpoints or verify + commit that it does not declare) is reported UNSUPPORTED; gdn conformance\n"
        "checks that such refusals match the declaration. Exit code 0 when no file fails (with --strict,\n"
        "when every file passes).",
        {{"backend", "NAME",
          "backend to run on (cpu, cuda, cuda:1, ...; auto = best available; default: GDN_BACKEND, else auto)", ""},
         {"strict", "", "an UNSUPPORTED file fails too", ""}},
        "[FILE.safetensors...]");
    if (!args.parse(argc, argv)) return 0;
    std::vector<std::string> files = args.positional();
    if (files.empty()) {
        const auto dirs = golden_dirs("");
        for (const auto& f : conformance::golden_files(dirs)) files.push_back(f.string());
        if (files.empty())
            throw std::invalid_argument("no golden files given and none installed (see gdn check --help)");
        std::string shown;
        for (const auto& d : dirs) shown += (shown.empty() ? "" : ":") + d.string();
        std::printf("golden files: %s\n", shown.c_str());
    }
    const std::string backend_arg = args.str("backend");
    const Backend backend =
        backend_arg.empty() ? Registry::global().open_default() : Registry::global().open(backend_arg);
    std::printf("backend %s (%s)\n", backend.name().c_str(), backend.properties().name);
    std::printf("%-40s %-44s %10s %10s %6s %s\n", "file", "case", "out rel", "state rel", "conv", "result");
    int failures = 0, unsupported = 0;
    for (const std::string& file : files) {
        std::string result, desc = "-", serving;
        char out_rel[32] = "-", state_rel[32] = "-";
        const char* conv = "-";
        try {
            const Case c = load_golden(file);
            desc = describe(c);
            const CaseResult r = run_case(backend, c, default_tolerance(c.activation_dtype));
            std::snprintf(out_rel, sizeof out_rel, "%.2e", r.out_rel_l2);
            std::snprintf(state_rel, sizeof state_rel, "%.2e", r.state_rel_l2);
            conv = r.conv_exact ? "exact" : "DIFF";
            result = r.passed ? "PASS" : "FAIL: " + r.message;
            if (c.uses_serving_features()) {
                char line[256];
                std::snprintf(line, sizeof line, "    recurrent state %s", dtype_name(c.state_dtype));
                serving = line;
                if (c.state_dtype != DType::f32) {
                    std::snprintf(line, sizeof line, ", %.1f%% of stored elements rounded to nearest even",
                                  100 * r.state_rounding_match);
                    serving += line;
                }
                if (!c.checkpoint_pos.empty()) {
                    std::snprintf(line, sizeof line, ", %zu checkpoints: state rel %.2e, conv %s",
                                  c.checkpoint_pos.size(), r.checkpoint_rel_l2,
                                  r.checkpoint_conv_exact ? "exact" : "DIFF");
                    serving += line;
                }
                if (!c.accepted.empty())
                    serving += r.verify_untouched ? ", verify left the pool bit-identical, then commit"
                                                  : ", verify CHANGED the pool";
            }
        } catch (const Error& e) {
            result = std::string(e.status() == GDN_ERR_UNSUPPORTED ? "UNSUPPORTED: " : "ERROR: ") + e.what();
        }
        if (result.rfind("UNSUPPORTED", 0) == 0)
            ++unsupported;
        else if (result != "PASS")
            ++failures;
        const std::string name = std::filesystem::path(file).filename().string();
        std::printf("%-40s %-44s %10s %10s %6s %s\n", name.c_str(), desc.c_str(), out_rel, state_rel, conv,
                    result.c_str());
        if (!serving.empty()) std::printf("%s\n", serving.c_str());
    }
    const int passed = int(files.size()) - failures - unsupported;
    std::printf("%d of %zu files passed", passed, files.size());
    if (unsupported) std::printf(", %d unsupported by backend %s", unsupported, backend.name().c_str());
    if (failures) std::printf(", %d failed", failures);
    std::printf("\n");
    return failures || (unsupported && args.flag("strict")) ? 1 : 0;
}

}  // namespace gdn::cli
