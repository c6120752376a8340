// Element conversions shared by Cast, Quantize and Dequantize: numpy-like value casts between all
// dispatched types, and float8 e4m3 (E4M3FN: no infinities, NaN = S.1111.111, max 448).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "backends/cpu/kernels/dispatch.h"

namespace kiln::cpu {

template <class T> constexpr bool kIsHalf = std::is_same_v<T, Half> || std::is_same_v<T, BHalf>;
template <class T> constexpr bool kIsFloat = std::is_floating_point_v<T> || kIsHalf<T>;

// Casts one value like numpy's astype: float -> int truncates toward zero (NaN -> 0, values beyond
// int64 saturate, then wrap to the target width), int -> int wraps, anything -> bool is != 0.
template <class U, class T>
inline U convertValue(T v) {
  using CT = ComputeType<T>;
  using CU = ComputeType<U>;
  CT x = static_cast<CT>(v);
  if constexpr (std::is_same_v<U, bool>) {
    return x != CT(0);
  } else if constexpr (std::is_same_v<T, bool>) {
    return U(static_cast<CU>(x ? 1 : 0));
  } else if constexpr (kIsFloat<U>) {
    if constexpr (kIsHalf<U> && std::is_same_v<CT, double>) {
      return U(static_cast<float>(x));
    } else {
      return U(static_cast<CU>(x));
    }
  } else if constexpr (kIsFloat<T>) {  // float -> integer
    double d = static_cast<double>(x);
    if (std::isnan(d)) return U(0);
    d = std::trunc(d);
    if constexpr (std::is_same_v<U, uint64_t>) {
      if (d >= 9223372036854775808.0)
        return d >= 18446744073709551616.0 ? std::numeric_limits<uint64_t>::max() : static_cast<uint64_t>(d);
    }
    int64_t i;
    if (d >= 9223372036854775808.0) i = std::numeric_limits<int64_t>::max();
    else if (d < -9223372036854775808.0) i = std::numeric_limits<int64_t>::min();
    else i = static_cast<int64_t>(d);
    return static_cast<U>(i);
  } else {
    return static_cast<U>(x);
  }
}

inline float fp8e4m3ToFloat(uint8_t v) {
  uint32_t sign = v & 0x80u, exponent = (v >> 3) & 0xfu, mantissa = v & 0x7u;
  float r;
  if (exponent == 0xf && mantissa == 0x7) {
    r = std::numeric_limits<float>::quiet_NaN();
  } else if (exponent == 0) {
    r = std::ldexp(static_cast<float>(mantissa), -9);
  } else {
    r = std::ldexp(static_cast<float>(8 + mantissa), static_cast<int>(exponent) - 10);
  }
  return sign ? -r : r;
}

// Round to nearest even. saturate: out-of-range values and infinities become +-448; else NaN.
inline uint8_t floatToFp8e4m3(float f, bool saturate) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint8_t sign = static_cast<uint8_t>((x >> 24) & 0x80u);
  uint32_t absx = x & 0x7fffffffu;
  if (absx > 0x7f800000u) return sign | 0x7f;
  if (absx == 0x7f800000u) return sign | (saturate ? 0x7e : 0x7f);
  float a = std::fabs(f);
  if (a < 0.015625f) {  // below 2^-6: subnormal steps of 2^-9 (value 8 is the smallest normal, code 0x08)
    float q = std::nearbyint(a * 512.f);
    return sign | static_cast<uint8_t>(q);
  }
  int e = static_cast<int>(absx >> 23) - 127;
  if (e > 8) return sign | (saturate ? 0x7e : 0x7f);
  uint32_t mant = absx & 0x7fffffu;
  uint32_t value = (static_cast<uint32_t>(e + 7) << 3) | (mant >> 20);
  uint32_t rest = mant & 0xfffffu;
  if (rest > 0x80000u || (rest == 0x80000u && (value & 1))) ++value;
  if (value > 0x7e) return sign | (saturate ? 0x7e : 0x7f);
  return sign | static_cast<uint8_t>(value);
}

}  // namespace kiln::cpu
