// Runs the backend tests on GDN_TEST_BACKEND. When that backend cannot run here (no GPU, no
// driver) the program says why and exits 77, which ctest reports as skipped.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "fixture.hpp"
#include "gdn/registry.hpp"

int main(int argc, char** argv) {
    bool listing = false;
    for (int i = 1; i < argc; ++i)
        if (!std::strncmp(argv[i], "--list", 6)) listing = true;
    if (!listing) {
        try {
            (void)gdn::test::backend();
        } catch (const std::exception& e) {
            std::printf("SKIPPED: backend '%s' cannot run here:\n%s\n",
                        std::getenv("GDN_TEST_BACKEND") ? std::getenv("GDN_TEST_BACKEND") : "cpu", e.what());
            return 77;
        }
    }
    return Catch::Session().run(argc, argv);
}
