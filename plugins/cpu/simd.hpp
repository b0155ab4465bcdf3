// 8-wide f32 vectors through the GCC/Clang vector extension: explicit SIMD that stays portable
// C++ (no intrinsics), compiled for AVX2 + FMA by the plugin's -march=x86-64-v3. Every kernel
// that uses these sums in a fixed order, so results do not depend on threads or data alignment.
#pragma once

#include <cstdint>
#include <cstring>

namespace gdn_cpu {

typedef float f8 __attribute__((vector_size(32)));
typedef int32_t i8 __attribute__((vector_size(32)));

inline f8 load8(const float* p) {
    f8 v;
    std::memcpy(&v, p, sizeof v);  // an unaligned vector load
    return v;
}
inline void store8(float* p, f8 v) { std::memcpy(p, &v, sizeof v); }
inline f8 splat(float x) { return f8{} + x; }

// Lane sum in a fixed pairwise order.
inline float hsum(f8 v) {
    return ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));
}

// exp(x) for every lane, relative error ~2e-7; x <= 88. Results below 2^-126 are flushed to 0,
// which is what every caller wants (a decay that small is no decay at all).
inline f8 exp8(f8 x) {
    const i8 tiny = x < splat(-87.0f);
    x = x < splat(-87.0f) ? splat(-87.0f) : x;
    x = x > splat(88.0f) ? splat(88.0f) : x;
    // n = round(x / ln2) by the 1.5 * 2^23 trick; its integer sits in the low mantissa bits.
    const f8 magic = splat(12582912.0f);
    const f8 t = x * 1.44269504088896341f + magic;
    const f8 n = t - magic;
    // r = x - n ln2 in two steps (Cody-Waite) so that r keeps full precision.
    f8 r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    f8 p = splat(1.0f / 720.0f);
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const i8 ni = (i8)t - (i8)magic;
    const f8 scale = (f8)((ni + 127) << 23);
    const f8 y = p * scale;
    return (f8)((i8)y & ~tiny);
}

// In place over n floats; n must be padded to a multiple of 8 by the caller's buffer layout.
inline void exp_inplace(float* x, int n) {
    for (int i = 0; i < n; i += 8) store8(x + i, exp8(load8(x + i)));
}

inline int round_up(int x, int m) { return (x + m - 1) / m * m; }

}  // namespace gdn_cpu
