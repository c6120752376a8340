// The vectorizable pieces of a softmax row shared by Softmax and Attention: exp of max-subtracted values,
// row max and row sum.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>

namespace kiln::cpu::detail {

// exp(x) for x <= 0 (max subtracted), vectorizable: 2^n * p(r), accurate to ~1 ulp in float. Below -87.3
// (where exp leaves the normal float range) it returns 0: denormal results would slow down the kernel and
// every kernel that reads them (masked attention scores are typically -10000 or -inf).
// NaN returns NaN (a row holding a NaN, or inf - inf, gives NaN outputs) and above 88 it returns inf:
// x is clamped to [-87.3, 88] first, so the exponent's conversion to int is always defined.
inline float fastExp(float in) {
  const bool underflows = in < -87.3f, overflows = in > 88.f, isNaN = in != in;
  const float x = isNaN ? 0.f : (in < -87.3f ? -87.3f : (in > 88.f ? 88.f : in));
  const float log2e = 1.44269504088896341f;
  const float magic = 12582912.f;  // 1.5 * 2^23: rounds to nearest
  float n = (x * log2e + magic) - magic;
  float r = x - n * 0.693145751953125f - n * 1.428606765330187045e-06f;
  float p = 1.9875691500E-4f;
  p = p * r + 1.3981999507E-3f;
  p = p * r + 8.3334519073E-3f;
  p = p * r + 4.1665795894E-2f;
  p = p * r + 1.6666665459E-1f;
  p = p * r + 5.0000001201E-1f;
  p = p * r * r + r + 1.0f;
  int32_t e = static_cast<int32_t>(n) + 127;
  uint32_t bits = static_cast<uint32_t>(e) << 23;
  float scale;
  std::memcpy(&scale, &bits, 4);
  const float special = isNaN ? in : (overflows ? std::numeric_limits<float>::infinity() : 0.f);
  return isNaN || overflows || underflows ? special : p * scale;  // selects, so loops stay vectorized
}

// max and sum with 8 independent lanes, so the loops vectorize without reassociation flags.
template <class CT>
CT rowMax(const CT* __restrict x, int64_t n) {
  CT lanes[8];
  for (int l = 0; l < 8; ++l) lanes[l] = x[0];
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) lanes[l] = x[i + l] > lanes[l] ? x[i + l] : lanes[l];
  CT mx = x[0];
  for (int l = 0; l < 8; ++l) mx = std::max(mx, lanes[l]);
  for (; i < n; ++i) mx = std::max(mx, x[i]);
  return mx;
}

template <class CT>
CT rowSum(const CT* __restrict x, int64_t n) {
  CT lanes[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) lanes[l] += x[i + l];
  CT sum = 0;
  for (int l = 0; l < 8; ++l) sum += lanes[l];
  for (; i < n; ++i) sum += x[i];
  return sum;
}

}  // namespace kiln::cpu::detail
