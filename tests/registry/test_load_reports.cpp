// Each broken test plugin must stop at the stage where it breaks, with a reason that says what
// was expected; the good ones next to them must load normally.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>

#include "registry_test_util.hpp"

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using gdn::LoadStage;
using namespace gdn_test;

namespace {
const gdn::Registry& test_registry() {
    static const gdn::Registry reg({test_plugin_dir()});
    return reg;
}
}  // namespace

TEST_CASE("a text file named like a plugin stops at found with the loader's message") {
    const auto r = report_of(test_registry(), "text");
    CHECK(r.stage == LoadStage::found);
    CHECK_FALSE(r.usable);
    CHECK(r.status == GDN_ERR_RUNTIME);
    // dlerror() names the file and the problem ("invalid ELF header" or "file too short").
    CHECK_THAT(r.reason, Contains("libgdn_text.so"));
    CHECK(r.name.empty());
}

TEST_CASE("a library without gdn_plugin_entry stops at opened") {
    const auto r = report_of(test_registry(), "no_entry");
    CHECK(r.stage == LoadStage::opened);
    CHECK(r.status == GDN_ERR_INTERNAL);
    CHECK(r.reason == "missing symbol gdn_plugin_entry");
}

TEST_CASE("an entry that returns NULL stops at opened") {
    const auto r = report_of(test_registry(), "entry_null");
    CHECK(r.stage == LoadStage::opened);
    CHECK(r.reason == "entry returned NULL");
}

TEST_CASE("another ABI major stops at entry_found without trusting the rest of the table") {
    const auto r = report_of(test_registry(), "wrong_major");
    CHECK(r.stage == LoadStage::entry_found);
    CHECK(r.status == GDN_ERR_UNSUPPORTED);
    CHECK(r.reason.rfind("ABI major 99 != host " + std::to_string(GDN_ABI_MAJOR) + ": ", 0) == 0);
    CHECK(r.reason.find("rebuild it against this gdn's SDK") != std::string::npos);
    CHECK(r.abi_major == 99u);
    CHECK(r.name.empty());  // the name pointer of a foreign layout is not read
}

TEST_CASE("a table shorter than ABI 1.0 stops at entry_found") {
    const auto r = report_of(test_registry(), "short_table");
    CHECK(r.stage == LoadStage::entry_found);
    CHECK(r.status == GDN_ERR_UNSUPPORTED);
    CHECK_THAT(r.reason, StartsWith("table too small: " + std::to_string(offsetof(gdn_plugin, forward_gdn)) +
                                    " bytes < " + std::to_string(GDN_PLUGIN_MIN_SIZE_V1_0)));
}

TEST_CASE("a NULL required slot stops at entry_found and names the slot") {
    const auto r = report_of(test_registry(), "missing_slot");
    CHECK(r.stage == LoadStage::entry_found);
    CHECK(r.status == GDN_ERR_INTERNAL);
    CHECK(r.reason == "required slot `forward_gdn` is NULL");
    CHECK(r.name == "missing_slot");
}

TEST_CASE("a failing init stops at abi_ok with the plugin's status and message") {
    const auto r = report_of(test_registry(), "init_fails");
    CHECK(r.stage == LoadStage::abi_ok);
    CHECK(r.status == GDN_ERR_DRIVER);
    CHECK_THAT(r.reason, Contains("driver too old (test)"));
    CHECK(r.name == "init_fails");
    CHECK(r.priority == 1000);
}

TEST_CASE("a plugin without devices stops at initialized with its message") {
    const auto r = report_of(test_registry(), "no_device");
    CHECK(r.stage == LoadStage::initialized);
    CHECK(r.status == GDN_ERR_NO_DEVICE);
    CHECK(r.reason == "no device (test)");
    CHECK(r.device_count == 0);
}

TEST_CASE("a C++ exception thrown by a plugin call is caught at the boundary") {
    const auto r = report_of(test_registry(), "throws");
    CHECK(r.stage == LoadStage::initialized);
    CHECK(r.status == GDN_ERR_INTERNAL);
    CHECK_THAT(r.reason, Contains("device_count exploded (test)"));
}

TEST_CASE("the good test plugin loads fully") {
    const auto r = report_of(test_registry(), "fake");
    CHECK(r.stage == LoadStage::devices_probed);
    CHECK(r.usable);
    CHECK(r.status == GDN_OK);
    CHECK(r.reason.empty());
    CHECK(r.name == "fake");
    CHECK(r.version == "0.0.1-test");
    CHECK(r.priority == 10);
    CHECK(r.device_count == 2);
    CHECK(r.abi_major == GDN_ABI_MAJOR);
    CHECK(r.abi_minor == GDN_ABI_MINOR);
}

TEST_CASE("a later plugin with a taken name is shadowed, not initialized") {
    const auto r = report_of(test_registry(), "fake_twin");
    CHECK(r.name == "fake");
    CHECK(r.stage == LoadStage::abi_ok);
    CHECK_FALSE(r.usable);
    CHECK(r.reason == "shadowed by " + test_plugin("fake").string());
}

TEST_CASE("reports come in search order: a directory's plugin files sorted by name") {
    const auto reports = test_registry().reports();
    REQUIRE(reports.size() == 12);  // see tests/plugins/CMakeLists.txt
    CHECK(std::is_sorted(reports.begin(), reports.end(), [](const auto& a, const auto& b) {
        return fs::path(a.path).filename() < fs::path(b.path).filename();
    }));
    for (const auto& r : reports) {
        CHECK(fs::path(r.path).is_absolute());
        CHECK(r.usable == (r.stage == LoadStage::devices_probed));
    }
}

TEST_CASE("format_report names the file, the stages and the reason") {
    const auto r = report_of(test_registry(), "init_fails");
    const std::string text = gdn::format_report(r);
    CHECK_THAT(text, StartsWith("init_fails: not usable (stopped after abi_ok, before initialized)"));
    CHECK_THAT(text, Contains(r.path));
    CHECK_THAT(text, Contains("status:  driver error"));
    CHECK_THAT(text, Contains("driver too old (test)"));

    const std::string good = gdn::format_report(report_of(test_registry(), "fake"));
    CHECK_THAT(good, StartsWith("fake: usable, 2 devices"));
    CHECK_THAT(good, Contains("priority 10"));

    // A file whose table was never read is named after its file.
    CHECK_THAT(gdn::format_report(report_of(test_registry(), "no_entry")), StartsWith("no_entry: not usable"));
}

TEST_CASE("load_stage_name spells every stage") {
    CHECK(std::string(gdn::load_stage_name(LoadStage::found)) == "found");
    CHECK(std::string(gdn::load_stage_name(LoadStage::opened)) == "opened");
    CHECK(std::string(gdn::load_stage_name(LoadStage::entry_found)) == "entry_found");
    CHECK(std::string(gdn::load_stage_name(LoadStage::abi_ok)) == "abi_ok");
    CHECK(std::string(gdn::load_stage_name(LoadStage::initialized)) == "initialized");
    CHECK(std::string(gdn::load_stage_name(LoadStage::devices_probed)) == "devices_probed");
}

TEST_CASE("an explicitly listed file that does not exist gets a report") {
    const fs::path missing = test_plugin_dir() / "libgdn_absent.so";
    const gdn::Registry reg({missing});
    const auto reports = reg.reports();
    REQUIRE(reports.size() == 1);
    CHECK(reports[0].stage == LoadStage::found);
    CHECK_FALSE(reports[0].usable);
    CHECK_THAT(reports[0].reason, Contains("no such file"));
}
