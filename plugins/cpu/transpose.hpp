// Moves of a recurrent state between the pool's layout ([rows][Dk], Dk contiguous, in the state
// dtype) and the chunked form's transposed f32 copy in scratch (St[j * ldst + c]). Whole tiles of
// kLanes x kLanes go through registers: kLanes contiguous loads, an in-register transpose,
// kLanes contiguous stores; only the edges of a shape that is not a multiple of kLanes go element
// by element. Pure moves and conversions: the values are those of an element-wise copy.
#pragma once

#include <cstdint>
#include <utility>

#include "half.hpp"
#include "simd.hpp"

namespace gdn_cpu::GDN_CPU_ISA {

namespace transpose_detail {
// zip_lo(a, b) = a0 b0 a1 b1 ... (the low halves interleaved); zip_hi the high halves.
template <std::size_t... I>
inline vf zip_lo(vf a, vf b, std::index_sequence<I...>) {
    return __builtin_shufflevector(a, b, (I % 2 ? kLanes + I / 2 : I / 2)...);
}
template <std::size_t... I>
inline vf zip_hi(vf a, vf b, std::index_sequence<I...>) {
    return __builtin_shufflevector(a, b, (I % 2 ? kLanes + kLanes / 2 + I / 2 : kLanes / 2 + I / 2)...);
}
}  // namespace transpose_detail

// r[i][j] -> r[j][i] for a kLanes x kLanes tile: log2(kLanes) rounds, each interleaving row i with
// row i + kLanes / 2 into rows 2i and 2i + 1.
inline void transpose_tile(vf* r) {
    using namespace transpose_detail;
    constexpr auto lanes = std::make_index_sequence<kLanes>{};
    for (int round = 0; (1 << round) < kLanes; ++round) {
        vf o[kLanes];
#pragma GCC unroll 16
        for (int i = 0; i < kLanes / 2; ++i) {
            o[2 * i] = zip_lo(r[i], r[i + kLanes / 2], lanes);
            o[2 * i + 1] = zip_hi(r[i], r[i + kLanes / 2], lanes);
        }
#pragma GCC unroll 16
        for (int i = 0; i < kLanes; ++i) r[i] = o[i];
    }
}

// How one state dtype is read into and written from f32: a vector of kLanes elements, or one.
struct StateF32 {
    using T = float;
    static vf load(const float* p) { return vload(p); }
    static void store(float* p, vf v) { vstore(p, v); }
    static void store_stream(float* p, vf v) { vstore_stream(p, v); }
    static float get(float x) { return x; }
    static float put(float x) { return x; }
};
template <float (*ToF32)(uint16_t), uint16_t (*FromF32)(float)>
struct State16 {
    using T = uint16_t;
    static vf load(const uint16_t* p) {
        alignas(64) float t[kLanes];
        for (int i = 0; i < kLanes; ++i) t[i] = ToF32(p[i]);
        return vload(t);
    }
    static void store(uint16_t* p, vf v) {
        alignas(64) float t[kLanes];
        vstore(t, v);
        for (int i = 0; i < kLanes; ++i) p[i] = FromF32(t[i]);
    }
    static void store_stream(uint16_t* p, vf v) { store(p, v); }
    static float get(uint16_t x) { return ToF32(x); }
    static uint16_t put(float x) { return FromF32(x); }
};
inline uint16_t f32_to_bf16_truncated(float f) { return uint16_t(std::bit_cast<uint32_t>(f) >> 16); }
using StateBF16 = State16<bf16_to_f32, f32_to_bf16>;
using StateF16 = State16<f16_to_f32, f32_to_f16>;
using StateBF16Truncated = State16<bf16_to_f32, f32_to_bf16_truncated>;  // conformance mutants only

// St[j * ldst + c] = S[c * Dk + j] for c < rows, j < Dk.
template <class E>
void pool_to_transposed(const typename E::T* S, int rows, int Dk, float* St, int64_t ldst) {
    int c = 0;
    for (; c + kLanes <= rows; c += kLanes) {
        int j = 0;
        for (; j + kLanes <= Dk; j += kLanes) {
            vf t[kLanes];
#pragma GCC unroll 16
            for (int i = 0; i < kLanes; ++i) t[i] = E::load(S + int64_t(c + i) * Dk + j);
            transpose_tile(t);
#pragma GCC unroll 16
            for (int i = 0; i < kLanes; ++i) vstore(St + (j + i) * ldst + c, t[i]);
        }
        for (; j < Dk; ++j)
            for (int i = 0; i < kLanes; ++i) St[j * ldst + c + i] = E::get(S[int64_t(c + i) * Dk + j]);
    }
    for (; c < rows; ++c)
        for (int j = 0; j < Dk; ++j) St[j * ldst + c] = E::get(S[int64_t(c) * Dk + j]);
}

// S[c * Dk + j] = St[j * ldst + c] for c < rows, j < Dk (rounded to the state dtype). Streaming:
// whole tiles of an f32 state bypass the caches (vstore_stream; the caller fences).
template <class E, bool Streaming = false>
void transposed_to_pool(const float* St, int64_t ldst, int rows, int Dk, typename E::T* S) {
    int c = 0;
    for (; c + kLanes <= rows; c += kLanes) {
        int j = 0;
        for (; j + kLanes <= Dk; j += kLanes) {
            vf t[kLanes];
#pragma GCC unroll 16
            for (int i = 0; i < kLanes; ++i) t[i] = vload(St + (j + i) * ldst + c);
            transpose_tile(t);
#pragma GCC unroll 16
            for (int i = 0; i < kLanes; ++i) {
                if constexpr (Streaming)
                    E::store_stream(S + int64_t(c + i) * Dk + j, t[i]);
                else
                    E::store(S + int64_t(c + i) * Dk + j, t[i]);
            }
        }
        for (; j < Dk; ++j)
            for (int i = 0; i < kLanes; ++i) S[int64_t(c + i) * Dk + j] = E::put(St[j * ldst + c + i]);
    }
    for (; c < rows; ++c)
        for (int j = 0; j < Dk; ++j) S[int64_t(c) * Dk + j] = E::put(St[j * ldst + c]);
}

}  // namespace gdn_cpu::GDN_CPU_ISA
