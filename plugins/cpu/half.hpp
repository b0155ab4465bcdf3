// Conversions between the activation dtypes (bf16, f16) and f32, written out here because the
// plugin sees nothing of gdn but plugin.h. Both narrowing conversions round to nearest even, as
// the reference does; all are branch-light so that row loops over them vectorize.
#pragma once

#include <bit>
#include <cstdint>

namespace gdn_cpu::GDN_CPU_ISA {

inline float bf16_to_f32(uint16_t h) { return std::bit_cast<float>(uint32_t(h) << 16); }

inline uint16_t f32_to_bf16(float f) {
    uint32_t x = std::bit_cast<uint32_t>(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return uint16_t((x >> 16) | 0x40u);  // keep NaN quiet
    x += 0x7fffu + ((x >> 16) & 1u);
    return uint16_t(x >> 16);
}

inline float f16_to_f32(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000u) << 16;
    const uint32_t em = h & 0x7fffu;
    // Shifting exponent and mantissa into f32 position and scaling by 2^112 rebiases normal
    // numbers and turns subnormal ones into the right normal f32 in one multiply.
    uint32_t bits = std::bit_cast<uint32_t>(std::bit_cast<float>(em << 13) * 0x1p112f);
    if (em >= 0x7c00u) bits = (em << 13) | 0x7f800000u;  // inf and NaN keep their payload
    return std::bit_cast<float>(bits | sign);
}

inline uint16_t f32_to_f16(float f) {
    uint32_t x = std::bit_cast<uint32_t>(f);
    const uint32_t sign = (x >> 16) & 0x8000u;
    x &= 0x7fffffffu;
    if (x > 0x7f800000u) return uint16_t(sign | 0x7e00u);   // NaN
    if (x >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // >= 65520 rounds to inf
    if (x < 0x38800000u) {
        // Below 2^-14 the result is an f16 subnormal: adding 0.5 (whose ulp is 2^-24, the f16
        // subnormal step) lets the FPU do the round-to-nearest-even.
        const float t = std::bit_cast<float>(x) + 0.5f;
        return uint16_t(sign | (std::bit_cast<uint32_t>(t) - 0x3f000000u));
    }
    // Rebias the exponent (-112 << 23) and round the 13 dropped bits to nearest even.
    x += 0xc8000fffu + ((x >> 13) & 1u);
    return uint16_t(sign | (x >> 13));
}

// Storage type of an activation dtype, with its conversions, for templated row loops.
struct F32 {
    using storage = float;
    static float load(float v) { return v; }
    static float store(float v) { return v; }
};
struct BF16 {
    using storage = uint16_t;
    static float load(uint16_t v) { return bf16_to_f32(v); }
    static uint16_t store(float v) { return f32_to_bf16(v); }
};
struct F16 {
    using storage = uint16_t;
    static float load(uint16_t v) { return f16_to_f32(v); }
    static uint16_t store(float v) { return f32_to_f16(v); }
};

}  // namespace gdn_cpu::GDN_CPU_ISA
