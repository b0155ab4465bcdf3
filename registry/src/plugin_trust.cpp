#include "plugin_trust.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <set>
#include <string_view>
#include <system_error>
#include <vector>

#include "elf_check.hpp"

namespace fs = std::filesystem;

namespace gdn::detail {

namespace {

std::string octal(mode_t mode) {
    char text[8];
    std::snprintf(text, sizeof text, "%04o", unsigned(mode & 07777));
    return text;
}

// The file or directory itself, then each directory above it up to the root.
std::vector<fs::path> chain(const fs::path& file) {
    std::vector<fs::path> out{file};
    for (fs::path p = file.parent_path(); !p.empty(); p = p.parent_path()) {
        out.push_back(p);
        if (p == p.root_path()) break;
    }
    return out;
}

}  // namespace

bool insecure_plugins_allowed() {
    const char* env = std::getenv("GDN_ALLOW_INSECURE_PLUGINS");
    return env && *env && std::string_view(env) != "0";
}

std::string ownership_problem(bool is_directory, uid_t owner, mode_t mode, uid_t self) {
    if (owner != 0 && owner != self)
        return "owned by uid " + std::to_string(owner) + " (neither root nor the current user, uid " +
               std::to_string(self) + ")";
    const bool group = (mode & S_IWGRP) != 0, others = (mode & S_IWOTH) != 0;
    if (!group && !others) return {};
    if (is_directory && (mode & S_ISVTX)) return {};
    const std::string who = group && others ? "group and others" : group ? "its group" : "others";
    return "writable by " + who + " (mode " + octal(mode) + (is_directory ? ", no sticky bit)" : ")");
}

std::string untrusted_plugin_reason(const fs::path& file) {
    if (insecure_plugins_allowed()) return {};
    const std::string way_out = "; fix the permissions, or set GDN_ALLOW_INSECURE_PLUGINS=1 to load it anyway";
    std::error_code ec;
    const fs::path given = fs::absolute(file, ec).lexically_normal();
    const fs::path canonical = fs::canonical(file, ec);
    std::vector<fs::path> paths = chain(given);
    if (!ec && canonical != given)
        for (const fs::path& p : chain(canonical)) paths.push_back(p);
    const uid_t self = ::geteuid();
    std::set<fs::path> seen;
    for (const fs::path& p : paths) {
        if (!seen.insert(p).second) continue;
        struct stat st {};
        if (::stat(p.c_str(), &st) != 0) continue;  // the loader says what is missing
        const bool dir = S_ISDIR(st.st_mode);
        if (std::string problem = ownership_problem(dir, st.st_uid, st.st_mode, self); !problem.empty()) {
            const std::string what =
                p == given || p == canonical ? "the plugin file " + p.string() : "the directory " + p.string();
            return "refusing a plugin that other users can replace: " + what + " is " + problem + way_out;
        }
    }
    const ElfSearchPaths sp = elf_search_paths(canonical.empty() ? given : canonical);
    std::vector<std::string> problems;
    if (sp.has_rpath) problems = search_path_problems("RPATH", sp.rpath);
    if (problems.empty() && sp.has_runpath) problems = search_path_problems("RUNPATH", sp.runpath);
    if (!problems.empty())
        return "refusing a plugin whose libraries would be searched in the current directory: its " + problems.front() +
               "; rebuild it with absolute or $ORIGIN entries only, or set GDN_ALLOW_INSECURE_PLUGINS=1 to load it "
               "anyway";
    return {};
}

}  // namespace gdn::detail
