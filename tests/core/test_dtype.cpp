// Host conversions of bf16 and f16: exact on representable values, round to nearest even.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <random>

#include "gdn/dtype.hpp"

using namespace gdn;

TEST_CASE("f16 round-trips every finite half value and rounds halfway cases to even", "[dtype]") {
    for (uint32_t h = 0; h < 0x10000; ++h) {
        const uint16_t x = uint16_t(h);
        if ((x & 0x7c00) == 0x7c00 && (x & 0x3ff)) continue;  // NaN payloads need not round-trip
        REQUIRE(float_to_f16(f16_to_float(x)) == x);
    }
    CHECK(f16_to_float(float_to_f16(1.0f + 0x1.0p-11f)) == 1.0f);                  // tie -> even (down)
    CHECK(f16_to_float(float_to_f16(1.0f + 3 * 0x1.0p-11f)) == 1.0f + 0x1.0p-9f);  // tie -> even (up)
    CHECK(std::isinf(f16_to_float(float_to_f16(70000.f))));
    CHECK(std::isnan(f16_to_float(float_to_f16(NAN))));
    CHECK(f16_to_float(float_to_f16(0x1.0p-24f)) == 0x1.0p-24f);  // smallest subnormal
}

TEST_CASE("bf16 matches truncation of the exact value to 8 significant bits, ties to even", "[dtype]") {
    const uint64_t seed = std::random_device{}();
    INFO("seed " << seed);
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> n(0.f, 10.f);
    for (int i = 0; i < 100000; ++i) {
        const float f = n(rng);
        const float r = bf16_to_float(float_to_bf16(f));
        // The rounded value is within half an ulp of bf16 (2^-8 relative) and is a bf16 value.
        REQUIRE(std::abs(r - f) <= std::abs(f) * 0x1.0p-8f);
        uint32_t u;
        std::memcpy(&u, &r, 4);
        REQUIRE((u & 0xffffu) == 0);
    }
    CHECK(bf16_to_float(float_to_bf16(1.0f + 0x1.0p-8f)) == 1.0f);
    CHECK(std::isnan(bf16_to_float(float_to_bf16(NAN))));
}
