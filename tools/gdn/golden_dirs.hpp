// Where the gdn program finds golden-vector files: gdn's own copy, plus directories the user adds.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace gdn::cli {

// gdn's own golden vectors: an install's <prefix>/share/gdn/golden (next to bin/gdn), else the
// repository's golden/ this build was configured with. Empty only when neither exists.
std::vector<std::filesystem::path> own_golden_dirs();

// gdn's own directories, then those of GDN_GOLDEN_PATH, then those of `option` (both
// ':'-separated), each directory once.
std::vector<std::filesystem::path> golden_dirs(const std::string& option);

}  // namespace gdn::cli
