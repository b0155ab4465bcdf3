// Element types of tensors and their conversions to and from float on the host.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "gdn/export.hpp"
#include "gdn/plugin.h"

namespace gdn {

enum class DType : int32_t {
    f32 = GDN_DTYPE_F32,
    bf16 = GDN_DTYPE_BF16,
    f16 = GDN_DTYPE_F16,
    i32 = GDN_DTYPE_I32,
    i64 = GDN_DTYPE_I64,
};

// How many dtypes there are, and the activation dtypes in code order. Every table that lists
// dtypes checks itself against these (static_assert), so adding a dtype fails the build until each
// table has it (docs/extending.md lists them).
inline constexpr int kDTypeCount = 5;
inline constexpr DType kActivationDTypes[] = {DType::f32, DType::bf16, DType::f16};
inline constexpr int kActivationDTypeCount = int(sizeof(kActivationDTypes) / sizeof(kActivationDTypes[0]));
static_assert(GDN_DTYPE_I64 + 1 == kDTypeCount, "DType mirrors gdn_dtype: one enumerator per value");

GDN_API std::size_t dtype_size(DType t);
GDN_API const char* dtype_name(DType t);            // "f32", "bf16", ...
GDN_API DType dtype_from_name(std::string_view s);  // accepts "f32"/"float32"/"F32" ...; throws Error
GDN_API bool is_activation_dtype(DType t);          // f32, bf16, f16

// bf16: the upper 16 bits of an f32; rounding to nearest even, NaN kept quiet.
inline uint16_t float_to_bf16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return static_cast<uint16_t>(u >> 16);
}
inline float bf16_to_float(uint16_t h) {
    uint32_t u = static_cast<uint32_t>(h) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
GDN_API uint16_t float_to_f16(float f);  // IEEE binary16, round to nearest even, with subnormals
GDN_API float f16_to_float(uint16_t h);

// Reads element i of a buffer of type t as double (any dtype, integers included).
GDN_API double load_as_double(const void* data, DType t, std::size_t i);
// Writes v, rounded to t, as element i.
GDN_API void store_from_double(void* data, DType t, std::size_t i, double v);
// Rounds v to the precision of t and back (identity for f32 up to f32 rounding).
GDN_API double round_to(DType t, double v);

}  // namespace gdn
