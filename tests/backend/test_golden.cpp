// Every golden file through the backend under test, states in scattered slots of a larger pool.
#include <catch2/catch.hpp>

#include <filesystem>

#include "fixture.hpp"

using namespace gdn;

TEST_CASE("golden vectors pass within the README tolerances", "[golden]") {
    int files = 0;
    for (const auto& e : std::filesystem::directory_iterator(GDN_GOLDEN_DIR)) {
        if (e.path().extension() != ".safetensors") continue;
        ++files;
        const Case c = load_golden(e.path());
        const CaseResult r = run_case(test::backend(), c, default_tolerance(c.activation_dtype));
        INFO(e.path().filename().string()
             << " " << describe(c) << ": out " << r.out_rel_l2 << ", state " << r.state_rel_l2 << "; " << r.message);
        CHECK(r.passed);
    }
    CHECK(files >= 7);
}
