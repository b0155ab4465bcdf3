// The three activation dtypes as float, element by element. bf16 is the upper half of an f32;
// f16 is IEEE binary16. Both round to nearest even when stored.
#pragma once

#include <cstdint>
#include <cstring>

#include "gdn/plugin.h"

namespace myvendor {

inline float bf16_to_float(uint16_t h) {
    const uint32_t u = uint32_t(h) << 16;
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}

inline uint16_t float_to_bf16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40u);  // NaN stays NaN
    u += 0x7fffu + ((u >> 16) & 1u);
    return uint16_t(u >> 16);
}

inline float f16_to_float(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000u) << 16;
    const uint32_t exponent = (h >> 10) & 0x1fu;
    uint32_t mantissa = h & 0x3ffu;
    uint32_t u;
    if (exponent == 0x1f) {
        u = sign | 0x7f800000u | (mantissa << 13);  // Inf, NaN
    } else if (exponent != 0) {
        u = sign | ((exponent + 112) << 23) | (mantissa << 13);  // normal: rebias 15 -> 127
    } else if (mantissa == 0) {
        u = sign;  // zero
    } else {
        int e = 113;  // subnormal: normalize
        while (!(mantissa & 0x400u)) {
            mantissa <<= 1;
            --e;
        }
        u = sign | (uint32_t(e) << 23) | ((mantissa & 0x3ffu) << 13);
    }
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}

inline uint16_t float_to_f16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    const uint16_t sign = uint16_t((u >> 16) & 0x8000u);
    const uint32_t abs = u & 0x7fffffffu;
    if (abs > 0x7f800000u) return uint16_t(sign | 0x7e00u);   // NaN
    if (abs >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // rounds to >= 65520: Inf
    if (abs < 0x38800000u) {
        // Subnormal or zero in f16: the value in units of 2^-24, rounded to nearest even.
        if (abs < 0x33000000u) return sign;  // below half the smallest subnormal
        const uint32_t mantissa = (abs & 0x7fffffu) | 0x800000u;
        const int shift = 126 - int(abs >> 23);  // 14..24
        const uint32_t q = mantissa >> shift, rem = mantissa & ((1u << shift) - 1), half = 1u << (shift - 1);
        return uint16_t(sign | (q + (rem > half || (rem == half && (q & 1u)))));
    }
    // Normal: rebias 127 -> 15, round the 13 dropped bits to nearest even (a carry may bump the
    // exponent, which is exactly right).
    const uint32_t rebased = abs - 0x38000000u;
    const uint32_t q = rebased >> 13, rem = rebased & 0x1fffu;
    return uint16_t(sign | (q + (rem > 0x1000u || (rem == 0x1000u && (q & 1u)))));
}

// Element i of a buffer of activation dtype `dtype` (f32, bf16 or f16). Every gdn_dtype is named,
// so that a new one is a compiler warning here; the integer dtypes are never activations
// (check_forward refuses them before any element is read).
inline float load(const void* data, int32_t dtype, int64_t i) {
    switch (static_cast<gdn_dtype>(dtype)) {
        case GDN_DTYPE_F32: return static_cast<const float*>(data)[i];
        case GDN_DTYPE_BF16: return bf16_to_float(static_cast<const uint16_t*>(data)[i]);
        case GDN_DTYPE_F16: return f16_to_float(static_cast<const uint16_t*>(data)[i]);
        case GDN_DTYPE_I32:
        case GDN_DTYPE_I64: break;
    }
    return 0.0f;
}

inline void store(void* data, int32_t dtype, int64_t i, float v) {
    switch (static_cast<gdn_dtype>(dtype)) {
        case GDN_DTYPE_F32: static_cast<float*>(data)[i] = v; break;
        case GDN_DTYPE_BF16: static_cast<uint16_t*>(data)[i] = float_to_bf16(v); break;
        case GDN_DTYPE_F16: static_cast<uint16_t*>(data)[i] = float_to_f16(v); break;
        case GDN_DTYPE_I32:
        case GDN_DTYPE_I64: break;
    }
}

}  // namespace myvendor
