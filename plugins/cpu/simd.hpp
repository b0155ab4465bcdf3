// SIMD vectors through the GCC/Clang vector extension: explicit SIMD that stays portable C++
// (no intrinsics). The kernel sources are compiled twice, for x86-64-v3 (AVX2: 8 lanes) and
// x86-64-v4 (AVX-512: 16 lanes), each into its own namespace gdn_cpu::GDN_CPU_ISA; the width
// follows the target. Every kernel sums in a fixed order, so results do not depend on threads
// or data alignment (they may differ in the last bits between the two ISAs).
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <utility>

#ifndef GDN_CPU_ISA
#error "kernel sources are compiled with GDN_CPU_ISA set (v3 or v4)"
#endif

namespace gdn_cpu::GDN_CPU_ISA {

#if defined(__AVX512F__)
inline constexpr int kLanes = 16;
#else
inline constexpr int kLanes = 8;
#endif

typedef float vf __attribute__((vector_size(kLanes * 4)));
typedef int32_t vi __attribute__((vector_size(kLanes * 4)));

inline vf vload(const float* p) {
    vf v;
    std::memcpy(&v, p, sizeof v);  // an unaligned vector load
    return v;
}
inline void vstore(float* p, vf v) { std::memcpy(p, &v, sizeof v); }
// A store that bypasses the caches (no read for ownership of the line first), for data written
// once and not read again soon: checkpoint snapshots. Where p is not aligned to the vector it is
// an ordinary store. A task ends its streaming stores with stream_fence().
inline void vstore_stream(float* p, vf v) {
    if (reinterpret_cast<uintptr_t>(p) % sizeof(vf) != 0) return vstore(p, v);
#if defined(__AVX512F__)
    _mm512_stream_ps(p, (__m512)v);
#else
    _mm256_stream_ps(p, (__m256)v);
#endif
}
inline void stream_fence() { _mm_sfence(); }
// Every lane x. Written as an initializer list: `vf{} + x` would make the compiler add 0.0f first
// (it must keep -0.0f), costing a scalar add before every broadcast in the hot loops.
template <std::size_t... I>
inline vf splat_lanes(float x, std::index_sequence<I...>) {
    return vf{((void)I, x)...};
}
inline vf splat(float x) { return splat_lanes(x, std::make_index_sequence<kLanes>{}); }

// Lane sum in a fixed order: halves folded onto each other (16 -> 8 -> 4 -> 2 -> 1 lanes).
inline float hsum(vf v) {
    typedef float v8 __attribute__((vector_size(32)));
    typedef float v4 __attribute__((vector_size(16)));
#if defined(__AVX512F__)
    const v8 h = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
                 __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
#else
    const v8 h = v;
#endif
    v4 q = __builtin_shufflevector(h, h, 0, 1, 2, 3) + __builtin_shufflevector(h, h, 4, 5, 6, 7);
    q = q + __builtin_shufflevector(q, q, 2, 3, 0, 1);
    q = q + __builtin_shufflevector(q, q, 1, 0, 3, 2);
    return q[0];
}

// exp(x) for every lane, relative error ~2e-7; x <= 88. Results below 2^-126 are flushed to 0,
// which is what every caller wants (a decay that small is no decay at all).
inline vf vexp(vf x) {
    const vi tiny = x < splat(-87.0f);
    x = x < splat(-87.0f) ? splat(-87.0f) : x;
    x = x > splat(88.0f) ? splat(88.0f) : x;
    // n = round(x / ln2) by the 1.5 * 2^23 trick; its integer sits in the low mantissa bits.
    const vf magic = splat(12582912.0f);
    const vf t = x * 1.44269504088896341f + magic;
    const vf n = t - magic;
    // r = x - n ln2 in two steps (Cody-Waite) so that r keeps full precision.
    vf r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    vf p = splat(1.0f / 720.0f);
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const vi ni = (vi)t - (vi)magic;
    const vf scale = (vf)((ni + 127) << 23);
    const vf y = p * scale;
    return (vf)((vi)y & ~tiny);
}

// In place over n floats; n must be a multiple of kLanes (the buffers are padded for it).
inline void exp_inplace(float* x, int n) {
    for (int i = 0; i < n; i += kLanes) vstore(x + i, vexp(vload(x + i)));
}

inline int round_up(int x, int m) { return (x + m - 1) / m * m; }

}  // namespace gdn_cpu::GDN_CPU_ISA
