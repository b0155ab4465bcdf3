// Where plugins are looked for: GDN_PLUGIN_PATH, then the directory next to the registry
// library (independent of the working directory); and the real CPU plugin when it was built.
#include <catch2/catch.hpp>

#include "registry_test_util.hpp"

using Catch::Matchers::Contains;
using gdn::LoadStage;
using namespace gdn_test;

namespace {
fs::path canonical_or_same(const fs::path& p) {
    std::error_code ec;
    const fs::path c = fs::weakly_canonical(p, ec);
    return ec ? p : c;
}
bool has_report_for(const gdn::Registry& reg, const fs::path& file) {
    for (const auto& r : reg.reports())
        if (fs::path(r.path) == file) return true;
    return false;
}
}  // namespace

TEST_CASE("plugin_directory is next to the registry library, not in the working directory") {
    const fs::path expected = canonical_or_same(real_plugin_dir());
    CHECK(canonical_or_same(gdn::Registry::plugin_directory()) == expected);
    {
        ScopedCwd cwd("/tmp");
        CHECK(canonical_or_same(gdn::Registry::plugin_directory()) == expected);
        CHECK(gdn::Registry::default_search_path().back() == gdn::Registry::plugin_directory());
    }
}

TEST_CASE("default_search_path is GDN_PLUGIN_PATH, then the plugin directory") {
    ScopedEnv env("GDN_PLUGIN_PATH", "/a/one::/b/two.so:");
    const auto path = gdn::Registry::default_search_path();
    REQUIRE(path.size() == 3);
    CHECK(path[0] == fs::path("/a/one"));
    CHECK(path[1] == fs::path("/b/two.so"));
    CHECK(path[2] == gdn::Registry::plugin_directory());
}

TEST_CASE("the default registry honors GDN_PLUGIN_PATH directories and files") {
    SECTION("a directory") {
        ScopedEnv env("GDN_PLUGIN_PATH", test_plugin_dir().c_str());
        const gdn::Registry reg;
        CHECK(report_of(reg, "fake").usable);
        CHECK(report_of(reg, "no_device").stage == LoadStage::initialized);
        CHECK(reg.open("fake_low").plugin().name() == "fake_low");
    }
    SECTION("single files, in the order given") {
        const std::string list = test_plugin("fake_low").string() + ":" + test_plugin("fake").string();
        ScopedEnv env("GDN_PLUGIN_PATH", list.c_str());
        const gdn::Registry reg;
        const auto reports = reg.reports();
        REQUIRE(reports.size() >= 2);
        CHECK(reports[0].path == test_plugin("fake_low").string());
        CHECK(reports[1].path == test_plugin("fake").string());
        CHECK_FALSE(has_report_for(reg, test_plugin("init_fails")));
    }
}

TEST_CASE("a file reached twice on the search path is loaded once") {
    const gdn::Registry reg({test_plugin_dir(), test_plugin("fake"), test_plugin_dir() / "."});
    int fakes = 0;
    for (const auto& r : reg.reports()) fakes += fs::path(r.path).filename() == "libgdn_fake.so";
    CHECK(fakes == 1);
    CHECK(report_of(reg, "fake").usable);
}

TEST_CASE("relative search path entries are made absolute at discovery") {
    ScopedCwd cwd(test_plugin_dir().parent_path());
    const gdn::Registry reg({fs::path(test_plugin_dir().filename())});
    const auto r = report_of(reg, "fake");
    CHECK(fs::path(r.path).is_absolute());
    CHECK(r.usable);
}

TEST_CASE("the test plugins are not in the real plugin directory") {
    CHECK_FALSE(fs::exists(real_plugin_dir() / "libgdn_fake.so"));
    CHECK_FALSE(fs::exists(real_plugin_dir() / "libgdn_init_fails.so"));
}

TEST_CASE("the real CPU plugin loads and opens, next to the broken ones") {
    const fs::path cpu = real_plugin_dir() / "libgdn_cpu.so";
    if (!fs::exists(cpu)) {
        WARN("skipped: " << cpu << " was not built");
        return;
    }
    // The CPU plugin file alone, not its directory: on a GPU machine the directory also holds
    // backends with a higher priority than either.
    const gdn::Registry reg({test_plugin_dir(), cpu});
    const auto r = report_of(reg, "cpu");
    INFO(gdn::format_report(r));
    REQUIRE(r.usable);
    CHECK(r.name == "cpu");
    CHECK(r.device_count >= 1);
    const gdn::Backend b = reg.open("CPU");
    CHECK(b.plugin().name() == "cpu");
    CHECK(b.host_accessible());
    // auto chooses between cpu and fake by priority alone.
    const std::string best = r.priority > 10 ? "cpu" : "fake";
    CHECK(reg.open("auto").plugin().name() == best);
}

TEST_CASE("the default registry finds the real CPU plugin from any working directory") {
    const fs::path cpu = real_plugin_dir() / "libgdn_cpu.so";
    if (!fs::exists(cpu)) {
        WARN("skipped: " << cpu << " was not built");
        return;
    }
    ScopedEnv env("GDN_PLUGIN_PATH", nullptr);
    ScopedCwd cwd("/tmp");
    const gdn::Registry reg;
    CHECK(report_of(reg, "cpu").usable);
    CHECK(reg.open("cpu").plugin().name() == "cpu");
}
