// ABI compatibility as a host sees it: a plugin built against the frozen ABI 1.0 header loads
// and works; a plugin of a newer minor (a longer table) loads and the host reads the prefix it
// knows; a plugin of another major is refused, with a reason that says so, before any of its
// table beyond the version is trusted.
#include <catch2/catch.hpp>

#include <string>

#include "gdn/registry.hpp"

using namespace gdn;

namespace {
const std::string abi_dir = GDN_ABI_PLUGIN_DIR;
const std::string test_dir = GDN_TEST_PLUGIN_DIR;

LoadReport load(Registry& reg, const std::string& file) { return reg.load_file(file); }
}  // namespace

TEST_CASE("a plugin built against the frozen ABI 1.0 header loads and runs in this host") {
    Registry reg(std::vector<std::filesystem::path>{});
    const LoadReport r = load(reg, abi_dir + "/libgdn_abi_v1_0.so");
    INFO(format_report(r));
    REQUIRE(r.usable);
    CHECK(r.abi_major == 1u);
    CHECK(r.abi_minor == 0u);
    CHECK(r.name == "abi_v1_0");
    const Backend be = reg.open("abi_v1_0");
    CHECK(std::string(be.properties().name) == "ABI 1.0 test device");
    // Calls through the table work: memory round trip on its default stream.
    DeviceBuffer buf(be, 64);
    const char text[] = "written through an ABI 1.0 table";
    buf.upload(text, sizeof text);
    char back[sizeof text] = {0};
    buf.download(back, sizeof back);
    CHECK(std::string(back) == text);
}

TEST_CASE("a plugin of a newer minor loads; the host reads the prefix it knows") {
    Registry reg(std::vector<std::filesystem::path>{});
    const LoadReport r = load(reg, abi_dir + "/libgdn_abi_newer_minor.so");
    INFO(format_report(r));
    REQUIRE(r.usable);
    CHECK(r.abi_major == unsigned(GDN_ABI_MAJOR));
    CHECK(r.abi_minor == unsigned(GDN_ABI_MINOR) + 1);
    const Backend be = reg.open("abi_newer_minor");
    CHECK(be.table().forward_gdn != nullptr);
}

TEST_CASE("a plugin of another ABI major is refused with a reason naming both majors") {
    Registry reg(std::vector<std::filesystem::path>{});
    const LoadReport r = load(reg, test_dir + "/libgdn_wrong_major.so");
    INFO(format_report(r));
    CHECK_FALSE(r.usable);
    CHECK(r.stage == LoadStage::entry_found);
    CHECK(r.status == GDN_ERR_UNSUPPORTED);
    CHECK(r.abi_major == 99u);
    CHECK(r.reason.find("ABI major 99") != std::string::npos);
    CHECK(r.reason.find("host " + std::to_string(GDN_ABI_MAJOR)) != std::string::npos);
    CHECK_THROWS_WITH(reg.open("wrong_major"), Catch::Contains("ABI major 99"));
}
