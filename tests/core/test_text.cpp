// detail::Text writes what an ostringstream writes for the values gdn's messages hold (strings,
// integers of every width, doubles as %g), without iostreams.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>

#include "gdn/detail/text.hpp"

using gdn::detail::Text;

namespace {
template <typename T>
void same_as_stream(T v) {
    std::ostringstream o;
    o << v;
    Text t;
    t << v;
    INFO("value " << o.str());
    REQUIRE(t.str() == o.str());
}
}  // namespace

TEST_CASE("Text formats integers, doubles and strings as a stream does", "[text]") {
    const char* fixed = std::getenv("GDN_TEST_SEED");
    const uint64_t seed = fixed ? std::strtoull(fixed, nullptr, 10) : std::random_device{}();
    std::printf("seed %llu (rerun: GDN_TEST_SEED=%llu test_core '[text]')\n", (unsigned long long)seed,
                (unsigned long long)seed);
    std::mt19937_64 rng(seed);
    for (int i = 0; i < 2000; ++i) {
        const uint64_t bits = rng();
        same_as_stream(int64_t(bits));
        same_as_stream(int32_t(bits));
        same_as_stream(uint32_t(bits));
        same_as_stream(bits);
        same_as_stream(int(bits % 2001) - 1000);
        double d;
        std::memcpy(&d, &bits, sizeof d);
        if (std::isfinite(d)) same_as_stream(d);
        same_as_stream(std::ldexp(double(int64_t(bits % 2000001) - 1000000), int(bits % 81) - 40));
        same_as_stream(float(int64_t(bits % 20001) - 10000) / 64.0f);
    }
    for (double d : {0.0, -0.0, 1.0, 1e-300, 5e-3, 2e-5, 123456789.0, std::numeric_limits<double>::max()})
        same_as_stream(d);
    same_as_stream(std::numeric_limits<int64_t>::min());
    same_as_stream(std::numeric_limits<uint64_t>::max());
    Text t;
    t << "out " << std::string("rel L2 ") << 'x' << ' ' << static_cast<const char*>(nullptr);
    CHECK(t.str() == "out rel L2 x (null)");
}
