#include "gdn/dtype.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "gdn/error.hpp"

namespace gdn {

std::size_t dtype_size(DType t) {
    switch (t) {
        case DType::f32: return 4;
        case DType::bf16: return 2;
        case DType::f16: return 2;
        case DType::i32: return 4;
        case DType::i64: return 8;
    }
    throw Error(GDN_ERR_INVALID_ARGUMENT, "dtype: unknown code " + std::to_string(int(t)));
}

const char* dtype_name(DType t) {
    switch (t) {
        case DType::f32: return "f32";
        case DType::bf16: return "bf16";
        case DType::f16: return "f16";
        case DType::i32: return "i32";
        case DType::i64: return "i64";
    }
    return "?";
}

DType dtype_from_name(std::string_view s) {
    std::string l(s);
    std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    if (l == "f32" || l == "float32" || l == "float") return DType::f32;
    if (l == "bf16" || l == "bfloat16") return DType::bf16;
    if (l == "f16" || l == "float16" || l == "half") return DType::f16;
    if (l == "i32" || l == "int32") return DType::i32;
    if (l == "i64" || l == "int64") return DType::i64;
    invalid_argument("dtype", "one of f32, bf16, f16, i32, i64, got '" + std::string(s) + "'");
}

bool is_activation_dtype(DType t) { return t == DType::f32 || t == DType::bf16 || t == DType::f16; }

uint16_t float_to_f16(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    const uint32_t sign = (x >> 16) & 0x8000u;
    const uint32_t abs = x & 0x7fffffffu;
    if (abs > 0x7f800000u) return uint16_t(sign | 0x7e00u);   // NaN
    if (abs >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // overflow -> inf
    if (abs < 0x38800000u) {                                  // subnormal or zero
        if (abs < 0x33000000u) return uint16_t(sign);         // below half the smallest
        const uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
        const int shift = 126 - int(abs >> 23);  // 14 + (113 - exp)
        const uint32_t halfway = 1u << (shift - 1 + 0);
        uint32_t r = mant >> shift;
        const uint32_t rem = mant & ((1u << shift) - 1);
        if (rem > halfway || (rem == halfway && (r & 1u))) ++r;
        return uint16_t(sign | r);
    }
    uint32_t r = abs - 0x38000000u;  // rebias exponent 127 -> 15
    r += 0xfffu + ((r >> 13) & 1u);  // round to nearest even on the 13 dropped bits
    return uint16_t(sign | (r >> 13));
}

float f16_to_float(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1fu;
    const uint32_t mant = h & 0x3ffu;
    uint32_t x;
    if (exp == 0) {
        if (mant == 0) {
            x = sign;
        } else {  // subnormal: value = mant * 2^-24
            float f = std::ldexp(float(mant), -24);
            std::memcpy(&x, &f, 4);
            x |= sign;
        }
    } else if (exp == 31) {
        x = sign | 0x7f800000u | (mant << 13);
    } else {
        x = sign | ((exp + 112u) << 23) | (mant << 13);
    }
    float f;
    std::memcpy(&f, &x, 4);
    return f;
}

double load_as_double(const void* data, DType t, std::size_t i) {
    switch (t) {
        case DType::f32: return static_cast<const float*>(data)[i];
        case DType::bf16: return bf16_to_float(static_cast<const uint16_t*>(data)[i]);
        case DType::f16: return f16_to_float(static_cast<const uint16_t*>(data)[i]);
        case DType::i32: return static_cast<const int32_t*>(data)[i];
        case DType::i64: return double(static_cast<const int64_t*>(data)[i]);
    }
    return 0.0;
}

void store_from_double(void* data, DType t, std::size_t i, double v) {
    switch (t) {
        case DType::f32: static_cast<float*>(data)[i] = float(v); break;
        case DType::bf16: static_cast<uint16_t*>(data)[i] = float_to_bf16(float(v)); break;
        case DType::f16: static_cast<uint16_t*>(data)[i] = float_to_f16(float(v)); break;
        case DType::i32: static_cast<int32_t*>(data)[i] = int32_t(v); break;
        case DType::i64: static_cast<int64_t*>(data)[i] = int64_t(v); break;
    }
}

double round_to(DType t, double v) {
    switch (t) {
        case DType::f32: return float(v);
        case DType::bf16: return bf16_to_float(float_to_bf16(float(v)));
        case DType::f16: return f16_to_float(float_to_f16(float(v)));
        case DType::i32:
        case DType::i64: return v;  // integers are indices, never rounded as activations
    }
    return v;
}

}  // namespace gdn
