// vlgraph/dtype.hpp — element types: the run-time tag `vl::dtype`, the 16-bit
// float storage types `vl::bf16` / `vl::f16`, and exact conversions.
//
// Conversions float -> bf16/f16 round to nearest, ties to even (as torch and
// CUDA's __float2bfloat16_rn do); NaN stays NaN, overflow goes to +-inf.
// Conversions bf16/f16 -> float are exact.
#pragma once

#include <vlgraph/config.hpp>
#include <vlgraph/error.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

namespace vl {

enum class dtype : std::uint8_t { f32, f64, bf16, f16, i32, i64, u8 };

constexpr std::size_t size_of(dtype t) {
    switch (t) {
        case dtype::f64: case dtype::i64: return 8;
        case dtype::f32: case dtype::i32: return 4;
        case dtype::bf16: case dtype::f16: return 2;
        case dtype::u8: return 1;
    }
    return 0;
}

// Names as safetensors spells them.
constexpr std::string_view name_of(dtype t) {
    switch (t) {
        case dtype::f32: return "F32";
        case dtype::f64: return "F64";
        case dtype::bf16: return "BF16";
        case dtype::f16: return "F16";
        case dtype::i32: return "I32";
        case dtype::i64: return "I64";
        case dtype::u8: return "U8";
    }
    return "?";
}

constexpr bool is_floating(dtype t) {
    return t == dtype::f32 || t == dtype::f64 || t == dtype::bf16 || t == dtype::f16;
}
constexpr bool is_integer(dtype t) { return !is_floating(t); }

// Parses a safetensors dtype name ("F32", "BF16", ...); throws vl::format_error otherwise.
inline dtype dtype_from_name(std::string_view s) {
    for (dtype t : {dtype::f32, dtype::f64, dtype::bf16, dtype::f16, dtype::i32, dtype::i64, dtype::u8})
        if (name_of(t) == s) return t;
    throw format_error("unknown dtype \"" + std::string(s) + "\" (expected F32, F64, BF16, F16, I32, I64 or U8)");
}

namespace detail {
VL_HOST_DEVICE std::uint32_t float_bits(float f) {
    std::uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}
VL_HOST_DEVICE float bits_float(std::uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
}  // namespace detail

// bfloat16: the top 16 bits of an IEEE float32.
struct bf16 {
    std::uint16_t bits = 0;

    static VL_HOST_DEVICE bf16 from_bits(std::uint16_t b) {
        bf16 r;
        r.bits = b;
        return r;
    }
    static VL_HOST_DEVICE bf16 from_float(float f) {
        std::uint32_t u = detail::float_bits(f);
        if ((u & 0x7fffffffu) > 0x7f800000u) return from_bits(static_cast<std::uint16_t>((u >> 16) | 0x40u));  // quiet NaN
        u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest, ties to even
        return from_bits(static_cast<std::uint16_t>(u >> 16));
    }
    VL_HOST_DEVICE float to_float() const { return detail::bits_float(static_cast<std::uint32_t>(bits) << 16); }
};

// IEEE binary16.
struct f16 {
    std::uint16_t bits = 0;

    static VL_HOST_DEVICE f16 from_bits(std::uint16_t b) {
        f16 r;
        r.bits = b;
        return r;
    }
    static VL_HOST_DEVICE f16 from_float(float f) {
        const std::uint32_t u = detail::float_bits(f);
        const std::uint32_t sign = (u >> 16) & 0x8000u;
        const std::uint32_t a = u & 0x7fffffffu;
        if (a > 0x7f800000u) return from_bits(static_cast<std::uint16_t>(sign | 0x7e00u));  // NaN
        if (a >= 0x477ff000u) return from_bits(static_cast<std::uint16_t>(sign | 0x7c00u));  // rounds to >= 65520: inf
        if (a < 0x38800000u) {
            // Result is subnormal (or zero): value = m * 2^-24 with m rounded to nearest even.
            if (a < 0x33000000u) return from_bits(static_cast<std::uint16_t>(sign));  // < 2^-25: rounds to 0
            const std::uint32_t e = a >> 23;                     // biased exponent, 102..112
            const std::uint32_t mant = (a & 0x7fffffu) | 0x800000u;  // 24-bit significand
            const std::uint32_t shift = 126u - e;                // 14..24: bits dropped
            std::uint32_t m = mant >> shift;
            const std::uint32_t rem = mant & ((1u << shift) - 1u);
            const std::uint32_t half = 1u << (shift - 1u);
            if (rem > half || (rem == half && (m & 1u))) ++m;
            return from_bits(static_cast<std::uint16_t>(sign | m));
        }
        // Normal: rebias exponent (127 -> 15) and round the 13 dropped bits to nearest even.
        std::uint32_t r = a - 0x38000000u;
        r += 0xfffu + ((r >> 13) & 1u);
        return from_bits(static_cast<std::uint16_t>(sign | (r >> 13)));
    }
    VL_HOST_DEVICE float to_float() const {
        const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000u) << 16;
        const std::uint32_t e = (bits >> 10) & 0x1fu;
        const std::uint32_t m = bits & 0x3ffu;
        if (e == 0) {
            // zero or subnormal: m * 2^-24, exact in float
            const float v = static_cast<float>(m) * 5.9604644775390625e-08f;
            return sign ? -v : v;
        }
        if (e == 31) return detail::bits_float(sign | 0x7f800000u | (m << 13));  // inf / NaN
        return detail::bits_float(sign | ((e + 112u) << 23) | (m << 13));
    }
};

// The dtype tag of a C++ element type.
template <class T> inline constexpr bool has_dtype_v = false;
template <class T> inline constexpr dtype dtype_of_v = dtype::f32;
#define VL_DTYPE_OF(T, tag)                              \
    template <> inline constexpr bool has_dtype_v<T> = true; \
    template <> inline constexpr dtype dtype_of_v<T> = dtype::tag;
VL_DTYPE_OF(float, f32)
VL_DTYPE_OF(double, f64)
VL_DTYPE_OF(bf16, bf16)
VL_DTYPE_OF(f16, f16)
VL_DTYPE_OF(std::int32_t, i32)
VL_DTYPE_OF(std::int64_t, i64)
VL_DTYPE_OF(std::uint8_t, u8)
#undef VL_DTYPE_OF

template <class T>
concept element = has_dtype_v<T>;

// Element <-> float, for code that computes in float whatever the storage type.
template <class T> VL_HOST_DEVICE float to_float(T v) {
    if constexpr (std::is_same_v<T, bf16> || std::is_same_v<T, f16>) return v.to_float();
    else return static_cast<float>(v);
}
template <class T> VL_HOST_DEVICE T from_float(float v) {
    if constexpr (std::is_same_v<T, bf16> || std::is_same_v<T, f16>) return T::from_float(v);
    else return static_cast<T>(v);
}

// Reads element i of a buffer of run-time dtype t as double (exact for every dtype but i64 beyond 2^53).
inline double load_as_double(const void* p, dtype t, std::size_t i) {
    switch (t) {
        case dtype::f32: return static_cast<const float*>(p)[i];
        case dtype::f64: return static_cast<const double*>(p)[i];
        case dtype::bf16: return static_cast<const bf16*>(p)[i].to_float();
        case dtype::f16: return static_cast<const f16*>(p)[i].to_float();
        case dtype::i32: return static_cast<const std::int32_t*>(p)[i];
        case dtype::i64: return static_cast<double>(static_cast<const std::int64_t*>(p)[i]);
        case dtype::u8: return static_cast<const std::uint8_t*>(p)[i];
    }
    return 0;
}

// Converts n elements between host buffers of any two dtypes (float targets round to nearest even).
inline void convert(const void* src, dtype from, void* dst, dtype to, std::size_t n) {
    if (from == to) {
        std::memcpy(dst, src, n * size_of(from));
        return;
    }
    for (std::size_t i = 0; i < n; ++i) {
        switch (to) {
            case dtype::f32:
                static_cast<float*>(dst)[i] = from == dtype::f64 ? static_cast<float>(static_cast<const double*>(src)[i])
                                                                 : static_cast<float>(load_as_double(src, from, i));
                break;
            case dtype::f64: static_cast<double*>(dst)[i] = load_as_double(src, from, i); break;
            case dtype::bf16:
                static_cast<bf16*>(dst)[i] = bf16::from_float(static_cast<float>(load_as_double(src, from, i)));
                break;
            case dtype::f16:
                static_cast<f16*>(dst)[i] = f16::from_float(static_cast<float>(load_as_double(src, from, i)));
                break;
            case dtype::i32: static_cast<std::int32_t*>(dst)[i] = static_cast<std::int32_t>(load_as_double(src, from, i)); break;
            case dtype::i64:
                static_cast<std::int64_t*>(dst)[i] = from == dtype::i32 ? static_cast<const std::int32_t*>(src)[i]
                                                    : from == dtype::u8 ? static_cast<const std::uint8_t*>(src)[i]
                                                                        : static_cast<std::int64_t>(load_as_double(src, from, i));
                break;
            case dtype::u8: static_cast<std::uint8_t*>(dst)[i] = static_cast<std::uint8_t>(load_as_double(src, from, i)); break;
        }
    }
}

}  // namespace vl
