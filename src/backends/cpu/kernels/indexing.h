// Shared helpers for CPU kernels: axis normalization, integer inputs, element-size dispatch,
// broadcast iteration and strided copies (transpose, slice, expand, tile, depth/space).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "backends/backend.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/kernels/dispatch.h"
#include "core/checked_math.h"
#include "core/error.h"

namespace kiln::cpu {

// Elements per parallel chunk for cheap pointwise work.
constexpr int64_t kPointwiseGrain = 1 << 14;

inline int64_t normAxis(int64_t axis, int64_t rank, const ir::Layer& layer) {
  int64_t a = axis < 0 ? axis + rank : axis;
  KILN_CHECK(a >= 0 && a < std::max<int64_t>(rank, 1), kInvalidArgument, layer.describe(), ": axis ", axis,
             " is out of range for rank ", rank);
  return a;
}

// A shape seen around `axis`: [outer dims' product, length along axis, bytes of the inner dims].
struct AxisSplit {
  int64_t outer = 1, length = 1, innerBytes = 0;
};
inline AxisSplit splitAt(const Dims& shape, int64_t axis, DataType type) {
  AxisSplit s;
  // Checked: beside a 0 dim, the other dims' product need not fit (the tensor is empty, the product is not).
  // (Short names: a std::string of up to 15 chars does not allocate.)
  for (int64_t i = 0; i < axis; ++i) s.outer = mulOrThrow(s.outer, shape[i], "dims product");
  s.length = shape[axis];
  int64_t inner = 1;
  for (size_t i = static_cast<size_t>(axis) + 1; i < shape.size(); ++i)
    inner = mulOrThrow(inner, shape[i], "dims product");
  s.innerBytes = mulOrThrow(inner, static_cast<int64_t>(dataTypeSize(type)), "dims bytes");
  return s;
}

inline int64_t prodDims(const Dims& d, size_t begin, size_t end) {
  int64_t n = 1;
  for (size_t i = begin; i < end && i < d.size(); ++i) n = mulOrThrow(n, d[i], "dims product");
  return n;
}

inline bool present(const KernelArgs& args, size_t i) {
  return i < args.inputs.size() && args.inputs[i].data != nullptr;
}

inline void checkInputs(const ir::Layer& layer, const KernelArgs& args, size_t minInputs, size_t minOutputs = 1) {
  KILN_CHECK(args.inputs.size() >= minInputs && args.outputs.size() >= minOutputs, kInternal, layer.describe(),
             ": expected ", minInputs, " inputs and ", minOutputs, " outputs, got ", args.inputs.size(), " and ",
             args.outputs.size());
  for (size_t i = 0; i < minInputs; ++i)
    KILN_CHECK(args.inputs[i].data != nullptr || args.inputs[i].count() == 0, kInvalidArgument, layer.describe(),
               ": input ", i, " is missing");
}

// Reads an integer tensor (any integer type) as int64 values.
inline std::vector<int64_t> readInts(const TensorView& v, const ir::Layer& layer) {
  int64_t n = v.count();
  std::vector<int64_t> out(static_cast<size_t>(std::max<int64_t>(n, 0)));
  if (n <= 0) return out;
  dispatchType<kSigned | kUnsigned>(v.type, layer, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* p = v.as<const T>();
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<int64_t>(p[i]);
  });
  return out;
}

inline int64_t readScalarInt(const TensorView& v, const ir::Layer& layer, const char* what) {
  KILN_CHECK(v.count() == 1, kInvalidArgument, layer.describe(), ": ", what, " must hold one value, got shape ",
             dimsToString(v.shape));
  return readInts(v, layer)[0];
}

// Unsigned integer types of 1, 2, 4, 8 bytes for moving elements without looking at them.
template <size_t N> struct BytesType;
template <> struct BytesType<1> { using type = uint8_t; };
template <> struct BytesType<2> { using type = uint16_t; };
template <> struct BytesType<4> { using type = uint32_t; };
template <> struct BytesType<8> { using type = uint64_t; };

// Calls f(TypeTag<uintN_t>) for the element size of `type` (strings are not supported).
template <class F>
decltype(auto) dispatchBytes(DataType type, const ir::Layer& layer, F&& f) {
  if (type == DataType::kString) unsupportedType(type, layer);
  switch (dataTypeSize(type)) {
    case 1: return f(TypeTag<uint8_t>{});
    case 2: return f(TypeTag<uint16_t>{});
    case 4: return f(TypeTag<uint32_t>{});
    case 8: return f(TypeTag<uint64_t>{});
    default: unsupportedType(type, layer);
  }
}

inline void checkSameType(const ir::Layer& layer, const TensorView& a, const TensorView& b) {
  KILN_CHECK(a.type == b.type, kInvalidArgument, layer.describe(), ": element types differ (", dataTypeName(a.type),
             " vs ", dataTypeName(b.type), ")");
}

inline void checkCount(const ir::Layer& layer, const TensorView& v, int64_t expected, const char* what) {
  KILN_CHECK(v.count() == expected, kInternal, layer.describe(), ": ", what, " has ", v.count(),
             " elements, expected ", expected);
}

// ---- broadcasting -----------------------------------------------------------------------------------

// Iteration over an output shape with N inputs broadcast to it (numpy rules). Adjacent dims are merged
// where every input allows it, so equal shapes become one flat run and row/scalar broadcasts become runs
// with an inner stride of 1 or 0.
template <int N>
struct BroadcastPlan {
  Dims shape;                 // merged output shape (at least rank 1)
  Dims strides[N];            // per input, element strides aligned to `shape` (0 where broadcast)
  int64_t total = 0;

  BroadcastPlan(const Dims& out, const Dims* ins[N], const ir::Layer& layer) {
    size_t rank = out.size();
    std::vector<Dims> full(N, Dims(rank, 0));
    for (int k = 0; k < N; ++k) {
      const Dims& in = *ins[k];
      KILN_CHECK(in.size() <= rank, kInvalidArgument, layer.describe(), ": input shape ", dimsToString(in),
                 " does not broadcast to ", dimsToString(out));
      Dims st = stridesOf(in);
      size_t off = rank - in.size();
      for (size_t d = 0; d < in.size(); ++d) {
        KILN_CHECK(in[d] == out[off + d] || in[d] == 1, kInvalidArgument, layer.describe(), ": input shape ",
                   dimsToString(in), " does not broadcast to ", dimsToString(out));
        full[k][off + d] = (in[d] == 1 && out[off + d] != 1) ? 0 : st[d];
      }
    }
    total = volume(out);
    // Merge dims, dropping size-1 dims.
    for (size_t d = 0; d < rank; ++d) {
      if (out[d] == 1) continue;
      bool merge = !shape.empty();
      for (int k = 0; k < N && merge; ++k) merge = strides[k].back() == mulOrThrow(full[k][d], out[d], "dims product");
      if (merge) {
        shape.back() = mulOrThrow(shape.back(), out[d], "dims product");  // may not fit beside a 0 dim
        for (int k = 0; k < N; ++k) strides[k].back() = full[k][d];
      } else {
        shape.push_back(out[d]);
        for (int k = 0; k < N; ++k) strides[k].push_back(full[k][d]);
      }
    }
    if (shape.empty()) {
      shape.push_back(1);
      for (int k = 0; k < N; ++k) strides[k].push_back(0);
    }
  }

  // Calls run(outOffset, inOffsets[N], count, innerStrides[N]) for contiguous runs of the output over
  // [begin, end). Runs are along the last merged dim.
  template <class F>
  void forRange(int64_t begin, int64_t end, F&& run) const {
    if (begin >= end) return;
    int r = static_cast<int>(shape.size());
    std::vector<int64_t> idx(r);
    int64_t rem = begin, offs[N] = {};
    for (int d = r - 1; d >= 0; --d) {
      idx[d] = rem % shape[d];
      rem /= shape[d];
      for (int k = 0; k < N; ++k) offs[k] += idx[d] * strides[k][d];
    }
    int64_t inner[N];
    for (int k = 0; k < N; ++k) inner[k] = strides[k][r - 1];
    int64_t pos = begin;
    while (pos < end) {
      int64_t count = std::min(shape[r - 1] - idx[r - 1], end - pos);
      run(pos, offs, count, inner);
      pos += count;
      for (int k = 0; k < N; ++k) offs[k] += count * inner[k];
      idx[r - 1] += count;
      for (int d = r - 1; d > 0 && idx[d] == shape[d]; --d) {
        for (int k = 0; k < N; ++k) offs[k] -= shape[d] * strides[k][d];
        idx[d] = 0;
        ++idx[d - 1];
        for (int k = 0; k < N; ++k) offs[k] += strides[k][d - 1];
      }
    }
  }

  // forRange over the whole output, in parallel chunks when large.
  template <class F>
  void forAll(F&& run, int64_t grain = kPointwiseGrain) const {
    if (total <= grain) {
      forRange(0, total, run);
      return;
    }
    parallelFor(total, grain, [&](int64_t b, int64_t e) { forRange(b, e, run); });
  }
};

// Strides (elements) of `in` broadcast to `out` (numpy rules), 0 on broadcast dims; rank of out.
inline Dims broadcastStridesTo(const Dims& in, const Dims& out, const ir::Layer& layer) {
  KILN_CHECK(in.size() <= out.size(), kInvalidArgument, layer.describe(), ": shape ", dimsToString(in),
             " does not broadcast to ", dimsToString(out));
  Dims st = stridesOf(in), res(out.size(), 0);
  size_t off = out.size() - in.size();
  for (size_t d = 0; d < in.size(); ++d) {
    KILN_CHECK(in[d] == out[off + d] || in[d] == 1, kInvalidArgument, layer.describe(), ": shape ",
               dimsToString(in), " does not broadcast to ", dimsToString(out));
    res[off + d] = in[d] == 1 ? 0 : st[d];
  }
  return res;
}

// ---- strided copies ---------------------------------------------------------------------------------

// dst (contiguous, shape `shape`) [i] = src[base + sum(i_d * srcStrides_d)] for elements of `elemSize`
// bytes. Strides may be 0 (broadcast) or negative (reversed slices).
inline void stridedCopy(void* dst, const void* src, const Dims& shapeIn, const Dims& stridesIn, int64_t base,
                        size_t elemSize, const ir::Layer& layer) {
  int64_t total = volume(shapeIn);
  if (total <= 0) return;
  // Merge dims whose source strides are contiguous with each other; drop size-1 dims.
  Dims shape, strides;
  for (size_t d = 0; d < shapeIn.size(); ++d) {
    if (shapeIn[d] == 1) continue;
    if (!shape.empty() && strides.back() == stridesIn[d] * shapeIn[d]) {
      shape.back() *= shapeIn[d];
      strides.back() = stridesIn[d];
    } else {
      shape.push_back(shapeIn[d]);
      strides.push_back(stridesIn[d]);
    }
  }
  if (shape.empty()) {
    shape.push_back(1);
    strides.push_back(0);
  }
  const int r = static_cast<int>(shape.size());
  const int64_t innerN = shape[r - 1], innerS = strides[r - 1];
  const int64_t rows = total / innerN;
  auto body = [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* out = static_cast<T*>(dst);
    const T* in = static_cast<const T*>(src) + base;
    // 2-D tile transposes when the inner source stride is large and some outer dim has stride 1.
    int tdim = -1;
    if (innerS != 1 && innerS != 0 && r >= 2 && strides[r - 2] == 1 && innerN >= 8 && shape[r - 2] >= 8) tdim = r - 2;
    auto rowsFn = [&](int64_t rb, int64_t re) {
      if (tdim >= 0) {
        // Work on whole [shape[r-2], shape[r-1]] planes.
        const int64_t rowsPerPlane = shape[r - 2], planeElems = rowsPerPlane * innerN;
        const int64_t colS = strides[r - 2];  // == 1
        for (int64_t p = rb; p < re; ++p) {
          int64_t rem = p, off = 0;
          for (int d = r - 3; d >= 0; --d) {
            off += (rem % shape[d]) * strides[d];
            rem /= shape[d];
          }
          T* o = out + p * planeElems;
          const T* s = in + off;
          constexpr int64_t B = 32;
          for (int64_t i0 = 0; i0 < rowsPerPlane; i0 += B)
            for (int64_t j0 = 0; j0 < innerN; j0 += B) {
              int64_t i1 = std::min(rowsPerPlane, i0 + B), j1 = std::min(innerN, j0 + B);
              for (int64_t i = i0; i < i1; ++i)
                for (int64_t j = j0; j < j1; ++j) o[i * innerN + j] = s[i * colS + j * innerS];
            }
        }
        return;
      }
      std::vector<int64_t> idx(r, 0);
      int64_t rem = rb, off = 0;
      for (int d = r - 2; d >= 0; --d) {
        idx[d] = rem % shape[d];
        rem /= shape[d];
        off += idx[d] * strides[d];
      }
      for (int64_t row = rb; row < re; ++row) {
        T* o = out + row * innerN;
        const T* s = in + off;
        if (innerS == 1) {
          std::memcpy(o, s, sizeof(T) * innerN);
        } else if (innerS == 0) {
          std::fill(o, o + innerN, *s);
        } else {
          for (int64_t j = 0; j < innerN; ++j) o[j] = s[j * innerS];
        }
        for (int d = r - 2; d >= 0; --d) {
          off += strides[d];
          if (++idx[d] < shape[d]) break;
          off -= shape[d] * strides[d];
          idx[d] = 0;
        }
      }
    };
    int64_t units = tdim >= 0 ? rows / shape[r - 2] : rows;
    int64_t perUnit = tdim >= 0 ? shape[r - 2] * innerN : innerN;
    int64_t grain = std::max<int64_t>(1, kPointwiseGrain / std::max<int64_t>(perUnit, 1));
    if (units * perUnit <= kPointwiseGrain) {
      rowsFn(0, units);
    } else {
      parallelFor(units, grain, rowsFn);
    }
  };
  switch (elemSize) {
    case 1: body(TypeTag<uint8_t>{}); break;
    case 2: body(TypeTag<uint16_t>{}); break;
    case 4: body(TypeTag<uint32_t>{}); break;
    case 8: body(TypeTag<uint64_t>{}); break;
    default: fail(ErrorCode::kUnsupported, concat(layer.describe(), ": unsupported element size ", elemSize));
  }
}

inline size_t elementSize(DataType type, const ir::Layer& layer) {
  if (type == DataType::kString) unsupportedType(type, layer);
  return dataTypeSize(type);
}

// Copies src into dst (same type and count); strings are std::string objects, copied by assignment.
inline void copyBytes(const ir::Layer& layer, const TensorView& dst, const TensorView& src) {
  KILN_CHECK(dst.bytes() == src.bytes(), kInternal, layer.describe(), ": output holds ", dst.bytes(),
             " bytes, input ", src.bytes());
  KILN_CHECK((src.type == DataType::kString) == (dst.type == DataType::kString), kInternal, layer.describe(),
             ": cannot copy ", dataTypeName(src.type), " into ", dataTypeName(dst.type));
  copyValues(dst.data, src.data, dst.bytes(), dst.type);
}

}  // namespace kiln::cpu

namespace kiln::cpu {

// Where the scale / zero point of element (outer, d, inner) of x viewed as [outer, D, inner] around
// `axis` lives, for per-tensor (one value), per-axis (1-D of D) and blocked (x's shape with
// ceil(D / blockSize) on the axis) quantization.
struct QuantLayout {
  int64_t outer = 1, dim = 1, inner = 1, blocks = 1, blockSize = 0;
  enum { kPerTensor, kPerAxis, kBlocked } kind = kPerTensor;

  QuantLayout(const Dims& x, const Dims& scale, int64_t axis, int64_t blockSize_, const ir::Layer& layer) {
    const int64_t rank = static_cast<int64_t>(x.size());
    if (volume(scale) == 1 && blockSize_ <= 0) return;
    axis = normAxis(axis, rank, layer);
    outer = prodDims(x, 0, axis);
    dim = x[axis];
    inner = prodDims(x, axis + 1, rank);
    if (blockSize_ > 0) {
      kind = kBlocked;
      blockSize = blockSize_;
      blocks = (dim + blockSize - 1) / blockSize;
      Dims expected = x;
      expected[axis] = blocks;
      KILN_CHECK(scale == expected, kInvalidArgument, layer.describe(), ": blocked scale shape ", dimsToString(scale),
                 ", expected ", dimsToString(expected));
    } else {
      kind = kPerAxis;
      KILN_CHECK(scale.size() == 1 && scale[0] == dim, kInvalidArgument, layer.describe(), ": scale shape ",
                 dimsToString(scale), " is neither one value nor [", dim, "] for axis ", axis);
    }
  }
  // Calls f(elementIndex, scaleIndex) for every element.
  template <class F>
  void forEach(int64_t total, F&& f) const {
    if (kind == kPerTensor) {
      for (int64_t i = 0; i < total; ++i) f(i, 0);
      return;
    }
    int64_t i = 0;
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t d = 0; d < dim; ++d) {
        int64_t s = kind == kPerAxis ? d : (o * blocks + d / blockSize) * inner;
        for (int64_t k = 0; k < inner; ++k, ++i) f(i, kind == kPerAxis ? s : s + k);
      }
  }
};

}  // namespace kiln::cpu
