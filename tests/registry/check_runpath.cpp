// gdn_check_runpath [--if-exists] DIR_OR_FILE...: reads the dynamic section of every ELF file under the given
// directories (recursively) and fails when a DT_RPATH or DT_RUNPATH has an empty entry (the
// dynamic loader then searches the current working directory: a library planted where a program
// is started would run) or a relative one. Prints every file checked with its search path, and
// each problem. Exit 0: at least one binary with a dynamic section was checked and none had a
// problem; 1: a problem; 2: nothing to check or a bad argument. After --if-exists, paths that do
// not exist are skipped (parts of the build that are optional).
#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "elf_check.hpp"

namespace fs = std::filesystem;

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: gdn_check_runpath [--if-exists] DIR_OR_FILE...\n");
        return 2;
    }
    std::vector<fs::path> files;
    bool optional = false;
    for (int i = 1; i < argc; ++i) {
        std::error_code ec;
        if (std::string(argv[i]) == "--if-exists") {
            optional = true;
            continue;
        }
        const fs::path root = argv[i];
        if (optional && !fs::exists(root, ec)) {
            std::printf("%s: not there, skipped\n", argv[i]);
            continue;
        }
        if (fs::is_regular_file(root, ec)) {
            files.push_back(root);
            continue;
        }
        if (!fs::is_directory(root, ec)) {
            std::fprintf(stderr, "gdn_check_runpath: %s: no such file or directory\n", argv[i]);
            return 2;
        }
        for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
            std::error_code type_ec;
            if (it->is_regular_file(type_ec) && !it->is_symlink(type_ec)) files.push_back(it->path());
        }
    }
    int checked = 0, problems = 0;
    for (const fs::path& f : files) {
        const gdn::detail::ElfSearchPaths p = gdn::detail::elf_search_paths(f);
        if (!p.is_elf || !p.loadable) continue;
        if (!p.error.empty()) {
            std::printf("%s: malformed: %s\n", f.c_str(), p.error.c_str());
            ++problems;
            continue;
        }
        ++checked;
        std::vector<std::string> found;
        if (p.has_rpath) found = gdn::detail::search_path_problems("RPATH", p.rpath);
        if (p.has_runpath)
            for (auto& s : gdn::detail::search_path_problems("RUNPATH", p.runpath)) found.push_back(std::move(s));
        std::printf("%s: %s%s%s%s\n", f.c_str(), p.has_rpath ? "RPATH " : "", p.has_rpath ? p.rpath.c_str() : "",
                    p.has_runpath ? "RUNPATH " : "", p.has_runpath ? p.runpath.c_str() : "");
        if (!p.has_rpath && !p.has_runpath) std::printf("  (no search path)\n");
        for (const auto& s : found) std::printf("  UNSAFE: %s\n", s.c_str());
        problems += int(found.size());
    }
    std::printf("%d ELF files checked, %d unsafe search path entries\n", checked, problems);
    if (checked == 0) return 2;
    return problems ? 1 : 0;
}
