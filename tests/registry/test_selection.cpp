// Choosing a backend: by name (case-insensitive, with a device index), automatically by
// priority, from GDN_BACKEND; and the errors when the choice cannot be served.
#include <catch2/catch.hpp>

#include "registry_test_util.hpp"

using Catch::Matchers::Contains;
using gdn::LoadStage;
using namespace gdn_test;

namespace {
const gdn::Registry& test_registry() {
    static const gdn::Registry reg({test_plugin_dir()});
    return reg;
}

// The Error thrown by open(spec); fails the test when open succeeds.
gdn::Error open_error(const gdn::Registry& reg, const std::string& spec) {
    try {
        reg.open(spec);
    } catch (const gdn::Error& e) {
        return e;
    }
    FAIL("open(\"" << spec << "\") was expected to throw gdn::Error");
    throw std::logic_error("unreachable");
}
}  // namespace

TEST_CASE("open by name is case-insensitive") {
    for (const char* spec : {"fake", "FAKE", "Fake", " fake "}) {
        const gdn::Backend b = test_registry().open(spec);
        CHECK(b.valid());
        CHECK(b.plugin().name() == "fake");
        CHECK(b.device() == 0);
        CHECK(b.plugin().path() == test_plugin("fake").string());
    }
}

TEST_CASE("a device index after ':' selects the device") {
    const gdn::Backend b = test_registry().open("Fake:1");
    CHECK(b.device() == 1);
    CHECK(b.name() == "fake:1");
    CHECK(test_registry().open("fake:0").device() == 0);
}

TEST_CASE("a device index out of range names the valid range") {
    const auto e = open_error(test_registry(), "fake:2");
    CHECK(e.status() == GDN_ERR_INVALID_ARGUMENT);
    CHECK_THAT(e.what(), Contains("`fake` has 2 devices (indices 0..1)"));
}

TEST_CASE("malformed specs are rejected with the expected form") {
    for (const char* spec : {"fake:", "fake:x", "fake:-1", "fake:1x", ":1", "auto:0"}) {
        INFO("spec: " << spec);
        const auto e = open_error(test_registry(), spec);
        CHECK(e.status() == GDN_ERR_INVALID_ARGUMENT);
        CHECK_THAT(e.what(), Contains("expected <name>[:<device index>] or auto"));
    }
}

TEST_CASE("an explicit name of a broken plugin throws its load report, never falls back") {
    const gdn::Registry& reg = test_registry();
    // Plugins whose table was read are named by it; the others by their file name.
    for (const char* name : {"text", "no_entry", "entry_null", "wrong_major", "short_table", "missing_slot",
                             "init_fails", "no_device", "throws"}) {
        INFO("backend: " << name);
        const gdn::LoadReport report = report_of(reg, name);
        const auto e = open_error(reg, name);
        CHECK(e.status() == report.status);
        CHECK_THAT(e.what(), Contains(gdn::format_report(report)));
        CHECK_THAT(e.what(), Contains(std::string("backend `") + name + "` cannot be used here"));
    }
}

TEST_CASE("an explicit name of a broken plugin also fails with a device index") {
    const auto e = open_error(test_registry(), "NO_DEVICE:0");
    CHECK(e.status() == GDN_ERR_NO_DEVICE);
    CHECK_THAT(e.what(), Contains("no device (test)"));
}

TEST_CASE("an unknown name lists the known ones") {
    const auto e = open_error(test_registry(), "cuda");
    CHECK(e.status() == GDN_ERR_INVALID_ARGUMENT);
    CHECK_THAT(e.what(), Contains("unknown backend `cuda`"));
    CHECK_THAT(e.what(), Contains("fake"));
    CHECK_THAT(e.what(), Contains("fake_low"));
    CHECK_THAT(e.what(), Contains("init_fails (not usable)"));
}

TEST_CASE("auto picks the highest priority usable plugin, skipping broken and shadowed ones") {
    // init_fails, no_device, throws (priority 1000) cannot run; fake_twin (99) is shadowed;
    // fake (10) beats fake_low (1).
    for (const char* spec : {"auto", "AUTO", ""}) {
        const gdn::Backend b = test_registry().open(spec);
        CHECK(b.plugin().name() == "fake");
        CHECK(b.plugin().path() == test_plugin("fake").string());
        CHECK(b.device() == 0);
    }
}

TEST_CASE("available lists every device of every usable plugin, highest priority first") {
    const auto all = test_registry().available();
    REQUIRE(all.size() == 3);
    CHECK(all[0].name() == "fake");
    CHECK(all[1].name() == "fake:1");
    CHECK(all[2].name() == "fake_low");
}

TEST_CASE("open_default follows GDN_BACKEND, else auto") {
    {
        ScopedEnv env("GDN_BACKEND", nullptr);
        CHECK(test_registry().open_default().plugin().name() == "fake");
    }
    {
        ScopedEnv env("GDN_BACKEND", "Fake_Low");
        CHECK(test_registry().open_default().plugin().name() == "fake_low");
    }
    {
        ScopedEnv env("GDN_BACKEND", "init_fails");
        try {
            test_registry().open_default();
            FAIL("GDN_BACKEND=init_fails must not fall back to another backend");
        } catch (const gdn::Error& e) {
            CHECK(e.status() == GDN_ERR_DRIVER);
            CHECK_THAT(e.what(), Contains("GDN_BACKEND=init_fails"));
            CHECK_THAT(e.what(), Contains("driver too old (test)"));
        }
    }
}

TEST_CASE("auto with nothing usable says why") {
    SECTION("no plugin files at all") {
        const gdn::Registry empty(std::vector<fs::path>{});
        const auto e = open_error(empty, "auto");
        CHECK(e.status() == GDN_ERR_NO_DEVICE);
        CHECK_THAT(e.what(), Contains("no plugin files found"));
    }
    SECTION("only broken plugins") {
        const gdn::Registry broken({test_plugin("init_fails"), test_plugin("no_device")});
        const auto e = open_error(broken, "");
        CHECK(e.status() == GDN_ERR_NO_DEVICE);
        CHECK_THAT(e.what(), Contains(gdn::format_report(report_of(broken, "init_fails"))));
        CHECK_THAT(e.what(), Contains(gdn::format_report(report_of(broken, "no_device"))));
    }
}

TEST_CASE("a plugin that exists only as a file answers to its file name") {
    // libgdn_text.so has no table, so "text" can only match its file name; the error must still
    // be its report, not "unknown backend".
    const auto e = open_error(test_registry(), "TEXT");
    CHECK_THAT(e.what(), Contains("libgdn_text.so"));
    CHECK_THAT(e.what(), Contains("stopped after found"));
}

TEST_CASE("load_file adds a plugin that open can then choose") {
    gdn::Registry reg(std::vector<fs::path>{});
    const auto r = reg.load_file(test_plugin("fake_low"));
    CHECK(r.usable);
    CHECK(reg.open("fake_low").plugin().name() == "fake_low");
    // Loading the same file again is not a duplicate.
    CHECK(reg.load_file(test_plugin("fake_low")).usable);
    CHECK(reg.reports().size() == 1);
    // A broken file gives its report and changes nothing else.
    CHECK(reg.load_file(test_plugin("wrong_major")).stage == LoadStage::entry_found);
    CHECK(reg.open("auto").plugin().name() == "fake_low");
}
