// The plugin registry: finds plugin files, loads them with Boost.DLL, checks their ABI, probes
// their devices, and hands out Backends by name, by GDN_BACKEND, or automatically.
//
// Search order: every entry of GDN_PLUGIN_PATH (':'-separated files or directories), then gdn's
// own plugin directory, found relative to the gdn_registry library itself (<libdir>/gdn/plugins),
// so the same binaries work from the build tree and from an install. In a directory, plugin
// files are those named libgdn_*.so. The first plugin to claim a name wins; later ones with the
// same name are reported as shadowed.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "gdn/backend.hpp"
#include "gdn/export.hpp"

namespace gdn {

// How far loading a plugin file got. Each stage implies the ones before it.
enum class LoadStage {
    found,           // the file exists
    opened,          // the dynamic loader mapped it
    entry_found,     // gdn_plugin_entry resolved and returned a table
    abi_ok,          // ABI major/minor, table size and required slots are fine
    initialized,     // the plugin's init succeeded
    devices_probed,  // at least one device answered: usable
};
GDN_API const char* load_stage_name(LoadStage s);

struct LoadReport {
    std::string path;
    std::string name;     // plugin name once the table was read, else empty
    std::string version;  // plugin version once the table was read
    std::string description;
    LoadStage stage = LoadStage::found;
    bool usable = false;         // stage == devices_probed
    gdn_status status = GDN_OK;  // why it stopped, when not usable
    std::string reason;          // dlerror text, missing symbol, ABI mismatch, no device, ...
    int priority = 0;
    int device_count = 0;
    unsigned abi_major = 0, abi_minor = 0;
};

class GDN_API Registry {
public:
    // Discovers and loads every plugin on the default search path.
    Registry();
    // Discovers and loads plugins from exactly these files or directories (tests, tools).
    explicit Registry(std::vector<std::filesystem::path> search_path);
    ~Registry();
    Registry(const Registry&) = delete;
    Registry& operator=(const Registry&) = delete;

    // The process-wide registry on the default search path, created on first use (thread-safe).
    static Registry& global();
    // GDN_PLUGIN_PATH entries followed by plugin_directory().
    static std::vector<std::filesystem::path> default_search_path();
    // <directory of the gdn_registry library>/gdn/plugins
    static std::filesystem::path plugin_directory();

    // One report per candidate file, in search order.
    std::vector<LoadReport> reports() const;
    // Every device of every usable plugin, highest priority first.
    std::vector<Backend> available() const;

    // "cpu", "CUDA", "cuda:1", a third-party name, or "auto"/"" for the best available.
    // Case-insensitive. An explicit name that cannot run throws Error carrying its load report;
    // there is never a fallback to another backend.
    Backend open(std::string_view spec) const;
    // GDN_BACKEND when set, else "auto".
    Backend open_default() const;

    // Loads one more plugin file (e.g. `gdn conformance --plugin FILE`) and returns its report;
    // when usable, its name becomes selectable with open().
    LoadReport load_file(const std::filesystem::path& file);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// A multi-line, human-readable rendering of one report (used in errors and `gdn list`).
GDN_API std::string format_report(const LoadReport& r);

}  // namespace gdn
