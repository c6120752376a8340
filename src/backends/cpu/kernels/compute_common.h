// Helpers shared by the compute-heavy CPU kernels (conv, pooling, reduce, softmax, ...): axis
// normalization, float conversion of half types, window padding.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "backends/backend.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/kernels/dispatch.h"

namespace kiln::cpu::detail {

template <class T> inline constexpr bool kIsHalf = std::is_same_v<T, Half> || std::is_same_v<T, BHalf>;
template <class T> inline constexpr bool kIsFloating = kIsHalf<T> || std::is_floating_point_v<T>;

// NaN test on compute types; always false for integers (no self-comparison warning, no code). Written as
// v != v so loops over it vectorize.
template <class C>
inline bool isNaN(C v) {
  if constexpr (std::is_floating_point_v<C>) return v != v;
  else return false;
}

// erf in the type's compute precision. float: a rational approximation x * P(x^2) / Q(x^2) on [-4, 4]
// (Eigen's fast erf; |error| < 1e-6, the input saturates to +-1 outside, NaN stays NaN), branch-free
// so loops over it vectorize, unlike std::erf. double: std::erf.
template <class C>
inline C erfApprox(C v) {
  if constexpr (!std::is_same_v<C, float>) {
    return std::erf(v);
  } else {
    float x = v < -4.f ? -4.f : (v > 4.f ? 4.f : v);
    float x2 = x * x;
    float p = x2 * -2.72614225801306e-10f + 2.77068142495902e-08f;
    p = x2 * p + -2.10102402082508e-06f;
    p = x2 * p + -5.69250639462346e-05f;
    p = x2 * p + -7.34990630326855e-04f;
    p = x2 * p + -2.95459980854025e-03f;
    p = x2 * p + -1.60960333262415e-02f;
    p = x * p;
    float q = x2 * -1.45660718464996e-05f + -2.13374055278905e-04f;
    q = x2 * q + -1.68282697438203e-03f;
    q = x2 * q + -7.37332916720468e-03f;
    q = x2 * q + -1.42647390514189e-02f;
    return p / q;
  }
}

inline int64_t normAxis(int64_t axis, int64_t rank, const ir::Layer& layer) {
  int64_t a = axis < 0 ? axis + rank : axis;
  KILN_CHECK(a >= 0 && a < std::max<int64_t>(rank, 1), kInvalidArgument, layer.describe(), ": axis ", axis,
             " is out of range for rank ", rank);
  return a;
}

inline int64_t product(const Dims& d, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end && i < d.size(); ++i) p *= d[i];
  return p;
}

// Input `i` of the call, or nullptr data when it is omitted.
inline const TensorView* optionalInput(const KernelArgs& args, size_t i) {
  return i < args.inputs.size() && args.inputs[i].data != nullptr ? &args.inputs[i] : nullptr;
}

// Reads an int32/int64 tensor's values.
inline std::vector<int64_t> readInts(const TensorView& v, const ir::Layer& layer) {
  std::vector<int64_t> out(static_cast<size_t>(std::max<int64_t>(v.count(), 0)));
  if (v.type == DataType::kInt64) {
    for (size_t i = 0; i < out.size(); ++i) out[i] = v.as<const int64_t>()[i];
  } else if (v.type == DataType::kInt32) {
    for (size_t i = 0; i < out.size(); ++i) out[i] = v.as<const int32_t>()[i];
  } else {
    fail(ErrorCode::kInvalidArgument, concat(layer.describe(), ": expected an int32/int64 tensor, got ",
                                             dataTypeName(v.type)));
  }
  return out;
}

// Reads any float tensor (float32/64/16, bfloat16) as float values.
inline std::vector<float> readFloats(const TensorView& v, const ir::Layer& layer) {
  std::vector<float> out(static_cast<size_t>(std::max<int64_t>(v.count(), 0)));
  dispatchType<kNumeric>(v.type, layer, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* p = v.as<const T>();
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(p[i]);
  });
  return out;
}

// Converts `n` half values to float and back.
template <class H>
inline void halfToFloatN(const H* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(src[i]);
}
template <class H>
inline void floatToHalfN(const float* src, H* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = H(src[i]);
}

// Runs `fn` with a float version of a float-type kernel: half inputs listed in `floatInputs` are
// converted to float, outputs listed in `floatOutputs` computed in float then converted back.
// fn(const KernelArgs& floatArgs) sees float32 views for those indices.
template <class F>
inline void runInFloat(const KernelArgs& args, const std::vector<int>& floatInputs,
                       const std::vector<int>& floatOutputs, F&& fn) {
  KernelArgs fa = args;
  std::vector<std::vector<float>> inBuf(args.inputs.size()), outBuf(args.outputs.size());
  auto convertIn = [&](const TensorView& v, std::vector<float>& buf, TensorView& dst) {
    if (v.data == nullptr || (v.type != DataType::kFloat16 && v.type != DataType::kBFloat16)) return;
    buf.resize(static_cast<size_t>(v.count()));
    if (v.type == DataType::kFloat16) halfToFloatN(v.as<const Half>(), buf.data(), v.count());
    else halfToFloatN(v.as<const BHalf>(), buf.data(), v.count());
    dst.data = buf.data();
    dst.type = DataType::kFloat32;
  };
  for (int i : floatInputs)
    if (i < static_cast<int>(args.inputs.size())) convertIn(args.inputs[i], inBuf[i], fa.inputs[i]);
  for (int i : floatOutputs) {
    if (i >= static_cast<int>(args.outputs.size())) continue;
    const TensorView& v = args.outputs[i];
    if (v.type != DataType::kFloat16 && v.type != DataType::kBFloat16) continue;
    outBuf[i].resize(static_cast<size_t>(v.count()));
    fa.outputs[i].data = outBuf[i].data();
    fa.outputs[i].type = DataType::kFloat32;
  }
  fn(static_cast<const KernelArgs&>(fa));
  for (int i : floatOutputs) {
    if (i >= static_cast<int>(args.outputs.size()) || outBuf[i].empty()) continue;
    const TensorView& v = args.outputs[i];
    if (v.type == DataType::kFloat16) floatToHalfN(outBuf[i].data(), v.as<Half>(), v.count());
    else floatToHalfN(outBuf[i].data(), v.as<BHalf>(), v.count());
  }
}

// Beginning pads of a sliding window over spatial dims (convolution and pooling).
inline std::vector<int64_t> windowPadsBegin(PaddingMode mode, const Dims& padsBegin, const Dims& in, const Dims& out,
                                            const Dims& kernel, const Dims& strides, const Dims& dilations) {
  size_t n = in.size();
  std::vector<int64_t> pads(n, 0);
  for (size_t i = 0; i < n; ++i) {
    if (mode == PaddingMode::kExplicit) {
      pads[i] = i < padsBegin.size() ? padsBegin[i] : 0;
    } else if (mode == PaddingMode::kSameUpper || mode == PaddingMode::kSameLower) {
      int64_t s = i < strides.size() ? strides[i] : 1, d = i < dilations.size() ? dilations[i] : 1;
      int64_t total = std::max<int64_t>(0, (out[i] - 1) * s + (kernel[i] - 1) * d + 1 - in[i]);
      pads[i] = mode == PaddingMode::kSameUpper ? total / 2 : total - total / 2;
    }
  }
  return pads;
}

inline int64_t dimOr(const Dims& d, size_t i, int64_t fallback) { return i < d.size() ? d[i] : fallback; }

// A reusable per-thread scratch buffer of T (grows, never shrinks).
template <class T, int Slot = 0>
inline T* scratch(size_t count) {
  thread_local std::vector<T> buffer;
  if (buffer.size() < count) buffer.resize(count);
  return buffer.data();
}

}  // namespace kiln::cpu::detail
