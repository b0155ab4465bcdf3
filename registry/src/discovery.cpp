// Plugin discovery: the default search path, gdn's own plugin directory, and the expansion of a
// search path into candidate files.
#include "discovery.hpp"

#include <algorithm>
#include <cstdlib>
#include <set>
#include <system_error>

#include <boost/dll/runtime_symbol_info.hpp>

#include "gdn/registry.hpp"

namespace fs = std::filesystem;

namespace gdn {
namespace detail {

std::vector<fs::path> split_path_list(std::string_view list) {
    std::vector<fs::path> out;
    while (!list.empty()) {
        const auto colon = list.find(':');
        const auto item = list.substr(0, colon);
        if (!item.empty()) out.emplace_back(item);
        if (colon == std::string_view::npos) break;
        list.remove_prefix(colon + 1);
    }
    return out;
}

bool is_plugin_file_name(const std::string& n) {
    static constexpr std::string_view prefix = "libgdn_", suffix = ".so";
    return n.size() > prefix.size() + suffix.size() && n.compare(0, prefix.size(), prefix) == 0 &&
           n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string name_from_file(const fs::path& file) {
    const std::string n = file.filename().string();
    if (!is_plugin_file_name(n)) return {};
    return n.substr(7, n.size() - 7 - 3);
}

namespace {

// The identity of a file for de-duplication: its canonical path when it can be resolved.
fs::path identity(const fs::path& p) {
    std::error_code ec;
    fs::path c = fs::weakly_canonical(p, ec);
    return ec ? fs::absolute(p, ec).lexically_normal() : c;
}

std::vector<fs::path> plugin_files_in(const fs::path& dir) {
    std::vector<fs::path> files;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        // is_regular_file follows symlinks: a link to a plugin counts, a link to a dir does not.
        std::error_code type_ec;
        if (is_plugin_file_name(it->path().filename().string()) && it->is_regular_file(type_ec))
            files.push_back(it->path());
    }
    std::sort(files.begin(), files.end(),
              [](const fs::path& a, const fs::path& b) { return a.filename() < b.filename(); });
    return files;
}

}  // namespace

std::vector<fs::path> discover(const std::vector<fs::path>& search_path) {
    std::vector<fs::path> out;
    std::set<fs::path> seen;
    auto add = [&](const fs::path& file) {
        // Absolute, so that the dynamic loader never searches for it and a later chdir does not
        // change what the report's path names.
        std::error_code ec;
        fs::path abs = fs::absolute(file, ec).lexically_normal();
        if (ec) abs = file;
        if (seen.insert(identity(abs)).second) out.push_back(abs);
    };
    for (const fs::path& entry : search_path) {
        std::error_code ec;
        if (fs::is_directory(entry, ec)) {
            for (const fs::path& f : plugin_files_in(entry)) add(f);
        } else if (fs::exists(entry, ec) || entry.extension() == ".so") {
            add(entry);
        }
    }
    return out;
}

}  // namespace detail

fs::path Registry::plugin_directory() {
    // The registry library's own location, not the working directory or the executable's: the
    // same binaries then work from the build tree, from an install, and from any cwd.
    // this_line_location() resolves the object that holds this very function (dladdr).
    std::error_code ec;
    fs::path self = boost::dll::this_line_location(ec);
    if (ec || self.empty()) return {};
    if (self.is_relative()) self = fs::absolute(self, ec);
    return (self.parent_path() / "gdn" / "plugins").lexically_normal();
}

std::vector<fs::path> Registry::default_search_path() {
    std::vector<fs::path> path;
    if (const char* env = std::getenv("GDN_PLUGIN_PATH")) path = detail::split_path_list(env);
    const fs::path own = plugin_directory();
    if (!own.empty()) path.push_back(own);
    return path;
}

}  // namespace gdn
