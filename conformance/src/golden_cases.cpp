// Golden vectors: expected outputs and states computed outside this project. One case per file.
#include <algorithm>
#include <set>

#include "cases.hpp"
#include "gdn/error.hpp"

namespace gdn::conformance {

std::vector<std::filesystem::path> golden_files(const std::vector<std::filesystem::path>& dirs) {
    std::vector<std::filesystem::path> files;
    for (const auto& dir : dirs) {
        std::error_code ec;
        if (!std::filesystem::is_directory(dir, ec))
            throw Error(GDN_ERR_INVALID_ARGUMENT, "golden directory " + dir.string() + ": not a directory");
        std::vector<std::filesystem::path> here;
        for (const auto& entry : std::filesystem::directory_iterator(dir))
            if (entry.path().extension() == ".safetensors") here.push_back(entry.path());
        // Serving-state files (state dtype, checkpoints, verify + commit) sit in serving/; a
        // backend that does not declare those features gets UNSUPPORTED for them.
        if (std::filesystem::is_directory(dir / "serving", ec))
            for (const auto& entry : std::filesystem::directory_iterator(dir / "serving"))
                if (entry.path().extension() == ".safetensors") here.push_back(entry.path());
        std::sort(here.begin(), here.end());
        files.insert(files.end(), here.begin(), here.end());
    }
    return files;
}

namespace detail {

std::vector<CaseDef> golden_cases(const Options& options) {
    std::vector<CaseDef> cases;
    std::set<std::string> ids;
    for (const auto& file : golden_files(options.golden_dirs)) {
        // The id is the file's stem; the same stem in a second directory gets the directory too.
        std::string id = "golden-" + file.stem().string();
        if (!ids.insert(id).second)
            id = "golden-" + file.parent_path().filename().string() + "-" + file.stem().string();
        ids.insert(id);
        CaseDef d;
        d.id = id;
        d.category = "golden";
        d.description = file.filename().string();
        d.run = [file](const Context& ctx, CaseOutcome& out) {
            const Case c = load_golden(file);
            run_numeric(ctx, c, out);
            out.description += " (" + file.filename().string() + ")";
        };
        cases.push_back(std::move(d));
    }
    return cases;
}

}  // namespace detail
}  // namespace gdn::conformance
