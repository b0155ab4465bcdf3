// Loading one plugin file: open, resolve the entry, check the ABI, initialize, probe devices.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "gdn/backend.hpp"
#include "gdn/registry.hpp"

namespace gdn::detail {

struct LoadResult {
    LoadReport report;
    std::shared_ptr<Plugin> plugin;  // set exactly when report.usable
};

// Called once the plugin's name is known (stage abi_ok), before it is initialized. Returns an
// empty string to go on, or the reason to stop (e.g. "shadowed by <path>"): a plugin that will
// not be used is never initialized, so it starts no runtime and no threads.
using ClaimName = std::function<std::string(const std::string& name)>;

// Never throws for anything a plugin does; every failure ends up in the report. Loading the same
// file again while a Plugin from it is alive (another Registry) shares that Plugin, so that init
// and shutdown run once per process and not once per registry.
LoadResult load_plugin(const std::filesystem::path& file, const ClaimName& claim);

}  // namespace gdn::detail
