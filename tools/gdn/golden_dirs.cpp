#include "golden_dirs.hpp"

#include <cstdlib>
#include <set>
#include <sstream>

namespace fs = std::filesystem;

namespace gdn::cli {

namespace {

void append_list(std::vector<fs::path>& out, const std::string& list) {
    std::stringstream ss(list);
    std::string item;
    while (std::getline(ss, item, ':'))
        if (!item.empty()) out.emplace_back(item);
}

}  // namespace

std::vector<fs::path> own_golden_dirs() {
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        const fs::path installed = exe.parent_path().parent_path() / "share" / "gdn" / "golden";
        if (fs::is_directory(installed, ec)) return {installed};
    }
#ifdef GDN_GOLDEN_DIR
    if (fs::is_directory(GDN_GOLDEN_DIR, ec)) return {fs::path(GDN_GOLDEN_DIR)};
#endif
    return {};
}

std::vector<fs::path> golden_dirs(const std::string& option) {
    std::vector<fs::path> all = own_golden_dirs();
    if (const char* env = std::getenv("GDN_GOLDEN_PATH")) append_list(all, env);
    append_list(all, option);
    // The same directory named twice (a user adding gdn's own) would run its files twice.
    std::vector<fs::path> unique;
    std::set<fs::path> seen;
    for (const fs::path& d : all) {
        std::error_code ec;
        const fs::path key = fs::weakly_canonical(d, ec);
        if (seen.insert(ec ? d : key).second) unique.push_back(d);
    }
    return unique;
}

}  // namespace gdn::cli
