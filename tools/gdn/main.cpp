// gdn — run, check and inspect the Gated DeltaNet layer on any loaded backend.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "commands.hpp"
#include "gdn/error.hpp"
#include "gdn/registry.hpp"

namespace {

void usage() {
    std::printf(
        "usage: gdn <command> [options]\n\n"
        "commands:\n"
        "  list    plugins found, their devices, capabilities and load reports\n"
        "  run     the GDN layer on a serving-shaped workload (prefill, then decode) with timings\n"
        "          and the error against the fp64 reference\n"
        "  check   run golden-vector files through a backend and compare\n"
        "  conformance\n"
        "          hold a backend or a plugin file to the conformance suite (report as JSON, JUnit)\n\n"
        "  --version\n"
        "          gdn's version, the plugin ABI it loads, and each plugin found (name, version, file)\n\n"
        "Each command takes --help. Backends are chosen with --backend NAME (cpu, cuda, cuda:1, ...)\n"
        "or GDN_BACKEND; plugins are searched in GDN_PLUGIN_PATH, then gdn's plugin directory.\n");
}

// gdn, the plugin ABI, and what each plugin file on the search path is.
int version() {
    std::printf("gdn %s\nplugin ABI %d.%d\nplugins:\n", GDN_VERSION, GDN_ABI_MAJOR, GDN_ABI_MINOR);
    const auto reports = gdn::Registry::global().reports();
    for (const gdn::LoadReport& r : reports) {
        std::printf("  %-10s %-8s", r.name.empty() ? "?" : r.name.c_str(), r.version.empty() ? "?" : r.version.c_str());
        if (r.stage >= gdn::LoadStage::entry_found) std::printf(" ABI %u.%u", r.abi_major, r.abi_minor);
        std::printf("  %s%s\n", r.path.c_str(), r.usable ? "" : "  (not usable: see gdn list)");
    }
    if (reports.empty()) std::printf("  (none found; see gdn list)\n");
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
        usage();
        return argc < 2 ? 2 : 0;
    }
    const std::string cmd = argv[1];
    try {
        if (cmd == "--version" || cmd == "version") return version();
        if (cmd == "list") return gdn::cli::cmd_list(argc - 2, argv + 2);
        if (cmd == "run") return gdn::cli::cmd_run(argc - 2, argv + 2);
        if (cmd == "check") return gdn::cli::cmd_check(argc - 2, argv + 2);
        if (cmd == "conformance") return gdn::cli::cmd_conformance(argc - 2, argv + 2);
        std::fprintf(stderr, "gdn: unknown command '%s'\n\n", cmd.c_str());
        usage();
        return 2;
    } catch (const gdn::Error& e) {
        std::fprintf(stderr, "gdn %s: error (%s): %s\n", cmd.c_str(), gdn::status_name(e.status()), e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "gdn %s: error: %s\n", cmd.c_str(), e.what());
        return 2;
    }
}
