#include "fixture.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <random>

#include "gdn/registry.hpp"

namespace gdn::test {

const Backend& backend() {
    static const Backend b = [] {
        const char* name = std::getenv("GDN_TEST_BACKEND");
        return Registry::global().open(name && *name ? name : "cpu");
    }();
    return b;
}

uint64_t seed(const std::string& test_name) {
    const char* fixed = std::getenv("GDN_TEST_SEED");
    const uint64_t s =
        fixed ? std::strtoull(fixed, nullptr, 10) : std::random_device{}() * 2654435761ull + std::random_device{}();
    std::printf("seed %llu (rerun: GDN_TEST_BACKEND=%s GDN_TEST_SEED=%llu test_backend \"%s\")\n",
                (unsigned long long)s, backend().plugin().name().c_str(), (unsigned long long)s, test_name.c_str());
    return s;
}

void expect_error(const std::string& fragment, const std::function<void()>& call, gdn_status status) {
    try {
        call();
        FAIL("accepted; expected an error mentioning '" << fragment << "'");
    } catch (const Error& e) {
        INFO("message: " << e.what());
        CHECK(e.status() == status);
        CHECK(std::string(e.what()).find(fragment) != std::string::npos);
    }
}

}  // namespace gdn::test
