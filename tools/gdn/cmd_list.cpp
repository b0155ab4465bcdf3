// gdn list: what the registry found, what each backend can do, and why the others cannot run.
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "args.hpp"
#include "commands.hpp"
#include "gdn/registry.hpp"

namespace gdn::cli {

namespace {

std::string dtypes(uint32_t mask) {
    std::string s;
    const char* names[] = {"f32", "bf16", "f16", "i32", "i64"};
    for (int i = 0; i < 5; ++i)
        if (mask & (1u << i)) s += (s.empty() ? "" : ",") + std::string(names[i]);
    return s;
}

std::string bits(uint32_t mask) {
    std::string s;
    for (int i = 0; i < 32; ++i)
        if (mask & (1u << i)) s += (s.empty() ? "" : ",") + std::to_string(i);
    return s;
}

// The ABI 1.2 serving features a backend declares (gdn_capabilities.features).
std::string features(uint32_t mask) {
    const std::pair<uint32_t, const char*> names[] = {{GDN_FEATURE_WRITE_SLOTS, "write-slots"},
                                                      {GDN_FEATURE_NO_OUTPUT, "no-output"},
                                                      {GDN_FEATURE_CHECKPOINTS, "checkpoints"},
                                                      {GDN_FEATURE_ACCEPTED, "accepted"},
                                                      {GDN_FEATURE_BATCH_INVARIANT, "batch-invariant"}};
    std::string s;
    for (const auto& [bit, name] : names)
        if (mask & bit) s += (s.empty() ? "" : ",") + std::string(name);
    return s.empty() ? "none" : s;
}

std::string range(const gdn_size_range& r) {
    return std::to_string(r.min) + ".." + std::to_string(r.max) +
           (r.multiple > 1 ? " step " + std::to_string(r.multiple) : "");
}

std::string modes(uint32_t mask) {
    std::string s;
    const char* names[] = {"extend", "decode", "mixed"};
    for (int i = 0; i < 3; ++i)
        if (mask & (1u << i)) s += (s.empty() ? "" : ",") + std::string(names[i]);
    return s;
}

}  // namespace

int cmd_list(int argc, char** argv) {
    Args args(
        "list",
        "Lists the backend plugins found, their devices and capabilities, and a load report for each\n"
        "plugin that cannot run here.",
        {{"verbose", "", "full load report of every candidate: those that cannot run, then the usable ones", ""}});
    if (!args.parse(argc, argv)) return 0;
    const bool verbose = args.flag("verbose");
    Registry& reg = Registry::global();

    std::printf("search path:");
    for (const auto& p : Registry::default_search_path()) std::printf(" %s", p.string().c_str());
    std::printf("\n\n");

    std::printf("available backends:\n");
    int shown = 0;
    for (const Backend& b : reg.available()) {
        ++shown;
        const auto& p = b.properties();
        const auto& c = b.capabilities();
        std::printf("  %-10s %s (plugin %s %s, priority %d)\n", b.name().c_str(), p.name, b.plugin().name().c_str(),
                    b.table().version ? b.table().version : "?", b.table().priority);
        std::printf("             %s, %d compute units, %.1f GiB, compute %d.%d, warp %d\n",
                    p.kind == GDN_DEVICE_CPU   ? "CPU"
                    : p.kind == GDN_DEVICE_GPU ? "GPU"
                                               : "device",
                    p.compute_units, double(p.memory_bytes) / (1024.0 * 1024 * 1024), p.compute_major, p.compute_minor,
                    p.warp_size);
        const bool native_streams = b.table().stream_wrap && b.table().stream_native;  // ABI 1.1
        std::printf("             dtypes %s; Dk %s; Dv %s; Kc {%s}; GVA {%s}; modes %s%s%s\n",
                    dtypes(c.activation_dtypes).c_str(), range(c.head_k_dim).c_str(), range(c.head_v_dim).c_str(),
                    bits(c.conv_kernels).c_str(), bits(c.gva_ratios).c_str(), modes(c.modes).c_str(),
                    c.deterministic ? "; deterministic" : "", native_streams ? "; native streams" : "");
        std::printf("             state dtypes %s; serving features %s\n", dtypes(c.state_dtypes | 1u).c_str(),
                    features(c.features).c_str());
        if (verbose) std::printf("             %s\n", b.plugin().path().c_str());
    }
    if (!shown) std::printf("  (none)\n");

    std::printf("\nplugins that cannot run here:\n");
    int failed = 0;
    const std::vector<LoadReport> reports = reg.reports();
    for (const LoadReport& r : reports) {
        if (r.usable) continue;
        ++failed;
        if (verbose) {
            std::printf("%s\n", format_report(r).c_str());
        } else {
            std::printf("  %-10s %s: stopped after '%s': %s\n", r.name.empty() ? "?" : r.name.c_str(), r.path.c_str(),
                        load_stage_name(r.stage), r.reason.c_str());
        }
    }
    if (!failed) std::printf("  (none)\n");
    if (verbose) {
        std::printf("\nload reports of the usable plugins:\n");
        int usable = 0;
        for (const LoadReport& r : reports)
            if (r.usable) ++usable, std::printf("%s\n", format_report(r).c_str());
        if (!usable) std::printf("  (none)\n");
    }
    return 0;
}

}  // namespace gdn::cli
