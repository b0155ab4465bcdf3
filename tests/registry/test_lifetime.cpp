// Lifetime of loaded plugins: init once per process, shutdown before unload and only after the
// last Backend is gone, and loading and unloading over and over without a crash.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "registry_test_util.hpp"

using Catch::Matchers::Contains;
using namespace gdn_test;

namespace {
// The lifecycle plugin appends "init" / "shutdown" lines to $GDN_TEST_PLUGIN_LOG.
class LifecycleLog {
public:
    LifecycleLog()
        : file_(fs::temp_directory_path() / ("gdn_lifecycle_" + std::to_string(::getpid()) + ".log")),
          env_("GDN_TEST_PLUGIN_LOG", file_.c_str()) {
        fs::remove(file_);
    }
    ~LifecycleLog() { fs::remove(file_); }
    std::string text() const {
        std::ifstream in(file_);
        std::stringstream s;
        s << in.rdbuf();
        return s.str();
    }

private:
    fs::path file_;
    ScopedEnv env_;
};

fs::path lifecycle_plugin() { return test_plugin_dir() / "lifecycle" / "libgdn_lifecycle.so"; }
}  // namespace

TEST_CASE("init runs once however many registries load a file, shutdown after the last user") {
    LifecycleLog log;
    gdn::Backend kept;
    {
        const gdn::Registry a({lifecycle_plugin()});
        const gdn::Registry b({lifecycle_plugin()});
        REQUIRE(a.reports().at(0).usable);
        REQUIRE(b.reports().at(0).usable);
        kept = b.open("lifecycle");
        CHECK(a.open("lifecycle").plugin_ptr() == kept.plugin_ptr());
    }
    CHECK(log.text() == "init\n");  // both registries are gone; the Backend holds the plugin
    exercise(kept);
    kept = gdn::Backend();
    CHECK(log.text() == "init\nshutdown\n");
    {
        const gdn::Registry again({lifecycle_plugin()});
        CHECK(again.reports().at(0).usable);
    }
    CHECK(log.text() == "init\nshutdown\ninit\nshutdown\n");
}

TEST_CASE("a shadowed plugin is never initialized") {
    LifecycleLog log;
    {
        // The lifecycle plugin is loaded twice under different paths (a symlink would be the
        // same file): the second claims a taken name.
        const fs::path copy =
            fs::temp_directory_path() / ("libgdn_lifecycle_copy_" + std::to_string(::getpid()) + ".so");
        fs::copy_file(lifecycle_plugin(), copy, fs::copy_options::overwrite_existing);
        fs::permissions(copy, fs::perms(0755));
        {
            const gdn::Registry reg({lifecycle_plugin(), copy});
            CHECK(reg.reports().at(1).reason == "shadowed by " + lifecycle_plugin().string());
        }
        fs::remove(copy);
    }
    CHECK(log.text() == "init\nshutdown\n");
}

TEST_CASE("a Backend keeps its plugin usable after the registry is gone") {
    gdn::Backend b;
    {
        const gdn::Registry reg({test_plugin_dir()});
        b = reg.open("fake:1");
    }
    void* p = b.allocate(1000);
    REQUIRE(p != nullptr);
    b.default_stream().fill(p, 0x5a, 1000);
    b.default_stream().synchronize();
    CHECK(static_cast<unsigned char*>(p)[999] == 0x5a);
    b.deallocate(p);
    // The fake plugin computes nothing and says so.
    char text[256] = {0};
    const gdn_errbuf err{text, sizeof text};
    gdn_forward_args args{};
    args.struct_size = sizeof args;
    CHECK(b.table().forward_gdn(b.default_stream().handle(), &args, err) == GDN_ERR_UNSUPPORTED);
    CHECK_THAT(std::string(text), Contains("runs nothing"));
}

TEST_CASE("registries are created and destroyed 50 times without a crash") {
    for (int i = 0; i < 50; ++i) {
        gdn::Backend kept;
        {
            const gdn::Registry reg({test_plugin_dir()});
            kept = reg.open("fake");
            exercise(reg.open("fake_low"));
        }
        exercise(kept);  // the registry is gone, the plugin is not
    }
    SUCCEED();
}

TEST_CASE("the real CPU plugin is loaded and unloaded 50 times without a crash") {
    const fs::path cpu = real_plugin_dir() / "libgdn_cpu.so";
    if (!fs::exists(cpu)) {
        WARN("skipped: " << cpu << " was not built");
        return;
    }
    for (int i = 0; i < 50; ++i) {
        const gdn::Registry reg({cpu});
        const gdn::Backend b = reg.open("cpu");
        exercise(b);
    }
    SUCCEED();
}
