// Gather (default, elements, ND), Scatter (elements, ND; none/add/mul/max/min with atomics) and
// OneHot. One thread per output (or update) element; indices int32 or int64, negative ones wrap;
// out-of-range indices read zeros / are skipped (the GPU cannot throw).
#include <cmath>

#include "backends/cuda/kernels/device_utils.cuh"
#include "backends/cuda/kernels/kernels.h"
#include "backends/cuda/kernels/supports.h"

namespace kiln::cuda {
namespace {

// ND: indices [B, q, k] (flattened), data [B, r..., slice] -> out [B, q, slice]
struct NDShape {
  int k;
  int64_t dims[kMaxRank];     // the indexed data dims
  int64_t strides[kMaxRank];  // in elements, within one batch
};

// GatherElements / ScatterElements: the data offset of element i of the indices (= updates) tensor,
// whose coordinate along `axis` comes from the indices; false when that index is out of range.
__device__ __forceinline__ bool elementsOffset(int64_t i, const void* ind, bool is64, const StridedShape& idxShape,
                                               const StridedShape& dataShape, int axis, int64_t& off) {
  int64_t r = i;
  bool ok = true;
  off = 0;
  for (int d = idxShape.rank - 1; d >= 0; --d) {
    int64_t c = r % idxShape.dims[d];
    r /= idxShape.dims[d];
    if (d == axis) {
      c = loadIndex(ind, i, is64);
      if (c < 0) c += dataShape.dims[d];
      if (c < 0 || c >= dataShape.dims[d]) ok = false;
    }
    off += c * dataShape.strides[d];
  }
  return ok;
}

// GatherND / ScatterND: the data offset addressed by index tuple t (k coordinates); false when out of range.
__device__ __forceinline__ bool ndOffset(int64_t t, const void* ind, bool is64, const NDShape& s, int64_t& off) {
  bool ok = true;
  for (int d = 0; d < s.k; ++d) {
    int64_t c = loadIndex(ind, t * s.k + d, is64);
    if (c < 0) c += s.dims[d];
    if (c < 0 || c >= s.dims[d]) ok = false;
    off += c * s.strides[d];
  }
  return ok;
}

// default: data [outer, axisLen, inner], indices count m -> out [outer, m, inner]
template <class T>
__global__ void gatherKernel(const T* __restrict__ x, const void* __restrict__ ind, bool is64, T* __restrict__ y,
                             int64_t n, int64_t axisLen, int64_t inner, int64_t m, int64_t batchInd) {
  KILN_GRID_STRIDE(i, n) {
    int64_t in = i % inner;
    int64_t r = i / inner;
    int64_t j = r % m;
    int64_t o = r / m;
    // with batchDims, indices are [batch, m]; o = batch * outerPerBatch + rest
    int64_t b = batchInd > 0 ? o / batchInd : 0;
    int64_t k = loadIndex(ind, b * m + j, is64);
    if (k < 0) k += axisLen;
    y[i] = (k >= 0 && k < axisLen) ? x[(o * axisLen + k) * inner + in] : T(0);
  }
}

template <class T>
__global__ void gatherElementsKernel(const T* __restrict__ x, const void* __restrict__ ind, bool is64,
                                     T* __restrict__ y, int64_t n, StridedShape idxShape, StridedShape dataShape,
                                     int axis) {
  KILN_GRID_STRIDE(i, n) {
    int64_t off;
    y[i] = elementsOffset(i, ind, is64, idxShape, dataShape, axis, off) ? x[off] : T(0);
  }
}

template <class T>
__global__ void gatherNDKernel(const T* __restrict__ x, const void* __restrict__ ind, bool is64, T* __restrict__ y,
                               int64_t n, int64_t q, int64_t slice, int64_t batchStride, NDShape s) {
  KILN_GRID_STRIDE(i, n) {
    int64_t e = i % slice;
    int64_t t = i / slice;  // b * q + j
    int64_t b = t / q;
    int64_t off = b * batchStride;
    y[i] = ndOffset(t, ind, is64, s, off) ? x[off + e] : T(0);
  }
}

template <class T>
__device__ __forceinline__ T applyReduction(ScatterReduction r, T old, T v) {
  using C = Compute<T>;
  C a = toCompute(old), b = toCompute(v);
  switch (r) {
    case ScatterReduction::kAdd: return fromCompute<T>(C(a + b));
    case ScatterReduction::kMul: return fromCompute<T>(C(a * b));
    case ScatterReduction::kMax: return fromCompute<T>(a > b ? a : b);
    case ScatterReduction::kMin: return fromCompute<T>(a < b ? a : b);
    default: return v;
  }
}

// Atomic read-modify-write through compare-and-swap on the element's word.
template <class T>
__device__ void atomicReduce(T* addr, T v, ScatterReduction r) {
  if (r == ScatterReduction::kNone) {
    *addr = v;
    return;
  }
  if constexpr (sizeof(T) == 4 || sizeof(T) == 8 || sizeof(T) == 2) {
    using W = std::conditional_t<sizeof(T) == 8, unsigned long long, std::conditional_t<sizeof(T) == 4, unsigned int, unsigned short>>;
    W* w = reinterpret_cast<W*>(addr);
    W old = *w, assumed;
    do {
      assumed = old;
      T cur;
      memcpy(&cur, &assumed, sizeof(T));
      T nv = applyReduction(r, cur, v);
      W nw;
      memcpy(&nw, &nv, sizeof(T));
      old = atomicCAS(w, assumed, nw);
    } while (old != assumed);
  } else {
    *addr = applyReduction(r, *addr, v);  // 1-byte types: not atomic
  }
}

template <class T>
__global__ void scatterElementsKernel(T* __restrict__ y, const void* __restrict__ ind, bool is64,
                                      const T* __restrict__ upd, int64_t n, StridedShape updShape,
                                      StridedShape dataShape, int axis, ScatterReduction red) {
  KILN_GRID_STRIDE(i, n) {
    int64_t off;
    if (elementsOffset(i, ind, is64, updShape, dataShape, axis, off)) atomicReduce(y + off, upd[i], red);
  }
}

template <class T>
__global__ void scatterNDKernel(T* __restrict__ y, const void* __restrict__ ind, bool is64, const T* __restrict__ upd,
                                int64_t n, int64_t slice, NDShape s, ScatterReduction red) {
  KILN_GRID_STRIDE(i, n) {
    int64_t e = i % slice;
    int64_t t = i / slice;
    int64_t off = 0;
    if (ndOffset(t, ind, is64, s, off)) atomicReduce(y + off + e, upd[i], red);
  }
}

StridedShape shapeOf(const Dims& dims) {
  StridedShape s{};
  Dims st = stridesOf(dims);
  fillStrided(s, std::vector<int64_t>(dims.begin(), dims.end()), std::vector<int64_t>(st.begin(), st.end()));
  return s;
}

class GatherKernel final : public NamedKernel {
 public:
  GatherKernel(std::string name, const ir::Layer& layer)
      : NamedKernel(std::move(name)), layer_(&layer), p_(layer.as<GatherParams>()) {}
  void execute(const KernelArgs& args) const override {
    const TensorView& x = args.inputs[0];
    const TensorView& ind = args.inputs[1];
    const TensorView& y = args.outputs[0];
    int64_t n = y.count();
    if (n == 0) return;
    bool is64 = ind.type == DataType::kInt64;
    int64_t rank = static_cast<int64_t>(x.shape.size());
    auto s = streamOf(args);
    dispatchBySize(dataTypeSize(x.type), [&](auto tag) {
      using T = typename decltype(tag)::type;
      if (p_.mode == GatherMode::kDefault) {
        int64_t a = normAxis(p_.axis, rank, *layer_);
        int64_t bd = p_.batchDims < 0 ? p_.batchDims + static_cast<int64_t>(ind.shape.size()) : p_.batchDims;
        int64_t batch = prodDims(x.shape, 0, bd);
        int64_t m = prodDims(ind.shape, bd, ind.shape.size());
        int64_t outer = prodDims(x.shape, 0, a);
        int64_t batchInd = bd > 0 ? outer / std::max<int64_t>(batch, 1) : 0;
        gatherKernel<T><<<gridFor(n), 256, 0, s>>>(x.as<const T>(), ind.data, is64, y.as<T>(), n, x.shape[a],
                                                   prodDims(x.shape, a + 1, rank), m, batchInd);
      } else if (p_.mode == GatherMode::kElements) {
        int a = static_cast<int>(normAxis(p_.axis, rank, *layer_));
        gatherElementsKernel<T><<<gridFor(n), 256, 0, s>>>(x.as<const T>(), ind.data, is64, y.as<T>(), n,
                                                           shapeOf(ind.shape), shapeOf(x.shape), a);
      } else {
        int64_t b = p_.batchDims;
        int64_t k = ind.shape.back();
        NDShape nd{};
        nd.k = static_cast<int>(k);
        Dims xs = stridesOf(x.shape);
        for (int64_t d = 0; d < k; ++d) {
          nd.dims[d] = x.shape[b + d];
          nd.strides[d] = xs[b + d];
        }
        int64_t slice = prodDims(x.shape, b + k, rank);
        int64_t q = prodDims(ind.shape, b, ind.shape.size() - 1);
        int64_t batchStride = b > 0 ? xs[b - 1] : 0;
        gatherNDKernel<T><<<gridFor(n), 256, 0, s>>>(x.as<const T>(), ind.data, is64, y.as<T>(), n, q, slice,
                                                     batchStride, nd);
      }
    });
    KILN_CUDA_CHECK_LAUNCH("gather");
  }

 private:
  const ir::Layer* layer_;
  GatherParams p_;
};

class ScatterKernel final : public NamedKernel {
 public:
  ScatterKernel(std::string name, const ir::Layer& layer)
      : NamedKernel(std::move(name)), layer_(&layer), p_(layer.as<ScatterParams>()) {}
  void execute(const KernelArgs& args) const override {
    const TensorView& x = args.inputs[0];
    const TensorView& ind = args.inputs[1];
    const TensorView& upd = args.inputs[2];
    const TensorView& y = args.outputs[0];
    auto s = streamOf(args);
    if (y.count() == 0) return;
    if (y.data != x.data) KILN_CUDA_CHECK(cudaMemcpyAsync(y.data, x.data, x.bytes(), cudaMemcpyDeviceToDevice, s));
    int64_t n = upd.count();
    if (n == 0) return;
    bool is64 = ind.type == DataType::kInt64;
    int64_t rank = static_cast<int64_t>(x.shape.size());
    auto launch = [&](auto tag) {
      using T = typename decltype(tag)::type;
      if (p_.mode == ScatterMode::kElements) {
        int a = static_cast<int>(normAxis(p_.axis, rank, *layer_));
        scatterElementsKernel<T><<<gridFor(n), 256, 0, s>>>(y.as<T>(), ind.data, is64, upd.as<const T>(), n,
                                                            shapeOf(upd.shape), shapeOf(x.shape), a, p_.reduction);
      } else {
        int64_t k = ind.shape.back();
        NDShape nd{};
        nd.k = static_cast<int>(k);
        Dims xs = stridesOf(x.shape);
        for (int64_t d = 0; d < k; ++d) {
          nd.dims[d] = x.shape[d];
          nd.strides[d] = xs[d];
        }
        scatterNDKernel<T><<<gridFor(n), 256, 0, s>>>(y.as<T>(), ind.data, is64, upd.as<const T>(), n,
                                                      prodDims(x.shape, k, rank), nd, p_.reduction);
      }
    };
    if (p_.reduction == ScatterReduction::kNone) dispatchBySize(dataTypeSize(x.type), launch);
    else dispatchNumeric(x.type, launch);
    KILN_CUDA_CHECK_LAUNCH("scatter");
  }

 private:
  const ir::Layer* layer_;
  ScatterParams p_;
};

// ---- one-hot ------------------------------------------------------------------------------------

template <class T>
__global__ void oneHotKernel(const void* __restrict__ ind, DataType it, const T* __restrict__ values,
                             T* __restrict__ y, int64_t n, int64_t depth, int64_t inner) {
  KILN_GRID_STRIDE(i, n) {
    int64_t in = i % inner;
    int64_t r = i / inner;
    int64_t d = r % depth;
    int64_t o = r / depth;
    int64_t k = o * inner + in;
    int64_t v;
    switch (it) {
      case DataType::kInt32: v = static_cast<const int32_t*>(ind)[k]; break;
      case DataType::kInt64: v = static_cast<const int64_t*>(ind)[k]; break;
      case DataType::kFloat32: v = static_cast<int64_t>(static_cast<const float*>(ind)[k]); break;
      default: v = -depth - 1;
    }
    if (v < 0) v += depth;
    y[i] = values[v == d ? 1 : 0];
  }
}

class OneHotKernel final : public NamedKernel {
 public:
  OneHotKernel(std::string name, const ir::Layer& layer) : NamedKernel(std::move(name)), layer_(&layer), axis_(layer.as<OneHotParams>().axis) {}
  void execute(const KernelArgs& args) const override {
    const TensorView& y = args.outputs[0];
    int64_t n = y.count();
    if (n == 0) return;
    int64_t rank = static_cast<int64_t>(y.shape.size());
    int64_t a = normAxis(axis_, rank, *layer_);
    int64_t depth = y.shape[a], inner = prodDims(y.shape, a + 1, rank);
    dispatchBySize(dataTypeSize(y.type), [&](auto tag) {
      using T = typename decltype(tag)::type;
      oneHotKernel<T><<<gridFor(n), 256, 0, streamOf(args)>>>(args.inputs[0].data, args.inputs[0].type,
                                                              args.inputs[2].as<const T>(), y.as<T>(), n, depth, inner);
    });
    KILN_CUDA_CHECK_LAUNCH("onehot");
  }

 private:
  const ir::Layer* layer_;
  int64_t axis_;
};

}  // namespace

std::string supportsGather(const ir::Layer& layer) {
  if (!isIndex(inType(layer, 1))) return typeReason(inType(layer, 1), "int32, int64 indices");
  if (layer.as<GatherParams>().mode == GatherMode::kND && layer.inputs[1]->dims().empty())
    return "GatherND with scalar indices";
  return movableReason(inType(layer, 0));
}
std::unique_ptr<Kernel> createGather(const std::shared_ptr<DeviceContext>&, const ir::Layer& layer, const Constants&,
                                     const TacticChoice& tactic) {
  return std::make_unique<GatherKernel>(tactic.name, layer);
}

std::string supportsScatter(const ir::Layer& layer) {
  if (!isIndex(inType(layer, 1))) return typeReason(inType(layer, 1), "int32, int64 indices");
  DataType t = inType(layer, 0);
  if (layer.as<ScatterParams>().reduction != ScatterReduction::kNone)
    return isNumeric(t) ? "" : typeReason(t, "float32, float16, int32, int64 for reductions");
  return movableReason(t);
}
std::unique_ptr<Kernel> createScatter(const std::shared_ptr<DeviceContext>&, const ir::Layer& layer, const Constants&,
                                      const TacticChoice& tactic) {
  return std::make_unique<ScatterKernel>(tactic.name, layer);
}

std::string supportsOneHot(const ir::Layer& layer) {
  DataType indices = inType(layer, 0);
  if (!(isIndex(indices) || indices == DataType::kFloat32)) return typeReason(indices, "int32, int64, float32 indices");
  return isMovable(outType(layer)) ? "" : "string output";
}
std::unique_ptr<Kernel> createOneHot(const std::shared_ptr<DeviceContext>&, const ir::Layer& layer, const Constants&,
                                     const TacticChoice& tactic) {
  return std::make_unique<OneHotKernel>(tactic.name, layer);
}

}  // namespace kiln::cuda
