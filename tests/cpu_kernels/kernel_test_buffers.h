// Host buffers for CPU kernel tests: a tensor over std::vector storage, constructors for typed
// values, poisoned outputs, KernelArgs from buffers, seeded random floats.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "backends/cpu/cpu_backend.h"

namespace kiln::cpu {

struct Buf {
  DataType type = DataType::kFloat32;
  Dims shape;
  std::vector<uint8_t> bytes;
  TensorView view() {
    TensorView v;
    v.type = type;
    v.shape = shape;
    v.data = bytes.empty() ? static_cast<void*>(this) : bytes.data();
    return v;
  }
  template <class T> std::vector<T> get() const {
    std::vector<T> out(bytes.size() / sizeof(T));
    if (!out.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
    return out;
  }
};

template <class T>
inline Buf make(DataType type, const Dims& shape, const std::vector<T>& values) {
  Buf b{type, shape, {}};
  EXPECT_EQ(static_cast<int64_t>(values.size()), volume(shape));
  b.bytes.resize(values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(b.bytes.data(), values.data(), b.bytes.size());
  return b;
}
inline Buf f32(const Dims& shape, const std::vector<float>& v) { return make(DataType::kFloat32, shape, v); }
inline Buf i64(const Dims& shape, const std::vector<int64_t>& v) { return make(DataType::kInt64, shape, v); }
inline Buf i32(const Dims& shape, const std::vector<int32_t>& v) { return make(DataType::kInt32, shape, v); }
inline Buf boolean(const Dims& shape, const std::vector<uint8_t>& v) { return make(DataType::kBool, shape, v); }
// An output buffer filled with garbage (not zeros), so a kernel that skips an element is caught.
inline Buf outBuf(DataType type, const Dims& shape) {
  Buf b{type, shape, {}};
  b.bytes.assign(static_cast<size_t>(volume(shape)) * dataTypeSize(type), 0xCD);
  return b;
}

inline KernelArgs argsOf(std::vector<Buf*> ins, std::vector<Buf*> outs) {
  KernelArgs a;
  for (Buf* b : ins) a.inputs.push_back(b ? b->view() : TensorView{});
  for (Buf* b : outs) a.outputs.push_back(b->view());
  return a;
}

inline std::vector<float> randomFloats(size_t n, uint32_t seed, float lo = -4.f, float hi = 4.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

}  // namespace kiln::cpu
