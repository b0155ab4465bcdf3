// Helpers shared by the registry tests: where the plugins are, finding a report by file, and
// scoped changes of the environment and of the working directory.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include <unistd.h>

#include "gdn/registry.hpp"

namespace gdn_test {

namespace fs = std::filesystem;

inline fs::path test_plugin_dir() { return GDN_TEST_PLUGIN_DIR; }
inline fs::path real_plugin_dir() { return GDN_REAL_PLUGIN_DIR; }
inline fs::path test_plugin(const std::string& stem) { return test_plugin_dir() / ("libgdn_" + stem + ".so"); }

// The report of the file libgdn_<stem>.so; fails the test when there is none.
inline gdn::LoadReport report_of(const gdn::Registry& reg, const std::string& stem) {
    const std::string file = "libgdn_" + stem + ".so";
    for (const auto& r : reg.reports())
        if (fs::path(r.path).filename() == file) return r;
    throw std::runtime_error("no load report for " + file);
}

// A round trip through the backend's memory and default stream.
inline void exercise(const gdn::Backend& b) {
    void* p = b.allocate(256);
    b.default_stream().fill(p, 1, 256);
    b.default_stream().synchronize();
    b.deallocate(p);
}

class ScopedEnv {
public:
    ScopedEnv(const char* name, const char* value) : name_(name) {
        if (const char* old = std::getenv(name)) old_ = old;
        if (value)
            ::setenv(name, value, 1);
        else
            ::unsetenv(name);
    }
    ~ScopedEnv() {
        if (old_)
            ::setenv(name_.c_str(), old_->c_str(), 1);
        else
            ::unsetenv(name_.c_str());
    }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;

private:
    std::string name_;
    std::optional<std::string> old_;
};

class ScopedCwd {
public:
    explicit ScopedCwd(const fs::path& dir) : old_(fs::current_path()) { fs::current_path(dir); }
    ~ScopedCwd() { fs::current_path(old_); }
    ScopedCwd(const ScopedCwd&) = delete;
    ScopedCwd& operator=(const ScopedCwd&) = delete;

private:
    fs::path old_;
};

}  // namespace gdn_test
