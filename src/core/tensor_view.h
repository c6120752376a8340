// A non-owning view of a dense, row-major tensor in some memory (host or device).
#pragma once

#include <algorithm>
#include <cstring>
#include <string>

#include "kiln/types.h"

namespace kiln {

// Host data of a tensor: constants, evaluated shape tensors, I/O files. Same type as public Weights.
using HostTensor = Weights;

// Copies `bytes` bytes of `type` elements from src to dst: memmove, except that strings (std::string
// objects constructed in both buffers) are assigned element by element. Every host copy of element
// data that may hold strings goes through here.
inline void copyValues(void* dst, const void* src, size_t bytes, DataType type) {
  if (bytes == 0 || dst == src) return;
  if (type == DataType::kString)
    std::copy_n(static_cast<const std::string*>(src), bytes / sizeof(std::string), static_cast<std::string*>(dst));
  else
    std::memmove(dst, src, bytes);
}

// For a sequence or optional (kind != kTensor), `type` and `shape` describe its elements (dims -1 where
// they differ or are unknown).
struct TensorDesc {
  DataType type = DataType::kFloat32;
  Dims shape;
  ValueKind kind = ValueKind::kTensor;
  bool operator==(const TensorDesc& other) const {
    return type == other.type && shape == other.shape && kind == other.kind;
  }
};

struct TensorView {
  void* data = nullptr;
  DataType type = DataType::kFloat32;
  Dims shape;

  int64_t count() const { return volume(shape); }
  size_t bytes() const { return static_cast<size_t>(count()) * dataTypeSize(type); }
  template <class T> T* as() const { return static_cast<T*>(data); }
  TensorDesc desc() const { return {type, shape}; }
};

// Row-major strides (in elements) of a shape.
inline Dims stridesOf(const Dims& shape) {
  Dims strides(shape.size(), 1);
  for (int i = static_cast<int>(shape.size()) - 2; i >= 0; --i) strides[i] = strides[i + 1] * shape[i + 1];
  return strides;
}

}  // namespace kiln
