// Turning a search path into the ordered list of candidate plugin files.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace gdn::detail {

// Splits a ':'-separated list (GDN_PLUGIN_PATH); empty components are dropped.
std::vector<std::filesystem::path> split_path_list(std::string_view list);

// Whether a file name has the shape of a gdn plugin: libgdn_<something>.so.
bool is_plugin_file_name(const std::string& file_name);

// Every candidate file of the search path, in order: a directory contributes its plugin-shaped
// files sorted by name, a file contributes itself whatever its name (the user named it). A file
// reached twice (a directory listed twice, a symlink) appears once, at its first position.
// Entries that do not exist are skipped, except explicitly named *.so files, which stay so that
// their load report says the file is missing instead of the plugin silently not being there.
std::vector<std::filesystem::path> discover(const std::vector<std::filesystem::path>& search_path);

// The backend name a plugin file would have by convention (libgdn_cuda.so -> "cuda"), used to
// match a requested name to a file whose table could not be read. Empty when the name does not
// follow the convention.
std::string name_from_file(const std::filesystem::path& file);

}  // namespace gdn::detail
