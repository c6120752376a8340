// Data movement: one strided-copy kernel (with optional modulo for Tile) serves Transpose, Slice,
// Expand, Tile, Concatenation, Split and Depth/Space; Padding has its own kernel for the four modes;
// small fill kernels for Constant, Shape, ConstantOfShape, Range, and Trilu. Kernels move bytes by
// element size (1, 2, 4, 8) so each is instantiated four times at most.
#include <cmath>
#include <limits>

#include "backends/cuda/kernels/device_utils.cuh"
#include "backends/cuda/kernels/kernels.h"
#include "backends/cuda/kernels/supports.h"

namespace kiln::cuda {
namespace {

template <class I>
struct CopyShape {
  int rank;
  I dims[kMaxRank];
  I in[kMaxRank];
  I out[kMaxRank];
  I mod[kMaxRank];  // Tile: input coordinate = output coordinate % mod
};

template <class T, bool kMod, class I>
__global__ void stridedCopyKernel(const T* __restrict__ in, T* __restrict__ out, I n, CopyShape<I> s) {
  KILN_GRID_STRIDE_I(I, i, n) {
    I r = i, oi = 0, oo = 0;
    for (int d = s.rank - 1; d >= 0; --d) {
      I q = r / s.dims[d];
      I c = r - q * s.dims[d];
      r = q;
      oo += c * s.out[d];
      if constexpr (kMod) c %= s.mod[d];
      oi += c * s.in[d];
    }
    out[oo] = in[oi];
  }
}

void stridedCopy(const void* in, void* out, size_t elemSize, std::vector<int64_t> dims, std::vector<int64_t> inStrides,
                 std::vector<int64_t> outStrides, int64_t inOffset, int64_t outOffset, cudaStream_t stream,
                 const std::vector<int64_t>* mod = nullptr) {
  int64_t n = 1;
  for (auto d : dims) n *= d;
  if (n == 0) return;
  if (!mod) {
    coalesceDims(dims, {&inStrides, &outStrides});
    if (dims.empty()) {
      dims = {1};
      inStrides = {1};
      outStrides = {1};
    }
    // a plain contiguous copy
    if (dims.size() == 1 && inStrides[0] == 1 && outStrides[0] == 1) {
      KILN_CUDA_CHECK(cudaMemcpyAsync(static_cast<char*>(out) + outOffset * elemSize,
                                      static_cast<const char*>(in) + inOffset * elemSize, n * elemSize,
                                      cudaMemcpyDeviceToDevice, stream));
      return;
    }
    // Runs contiguous on both sides (attention's [B,S,H,D] -> [B,H,S,D]) move as wider elements, up to 16
    // bytes, when sizes, strides and addresses allow: one thread then moves a whole chunk of the run.
    if (inStrides.back() == 1 && outStrides.back() == 1) {
      const char* src = static_cast<const char*>(in) + inOffset * static_cast<int64_t>(elemSize);
      char* dst = static_cast<char*>(out) + outOffset * static_cast<int64_t>(elemSize);
      for (int64_t wide = 16; wide > static_cast<int64_t>(elemSize); wide /= 2) {
        int64_t factor = wide / static_cast<int64_t>(elemSize);
        bool fits = dims.back() % factor == 0 && reinterpret_cast<uintptr_t>(src) % wide == 0 &&
                    reinterpret_cast<uintptr_t>(dst) % wide == 0;
        for (size_t d = 0; d + 1 < dims.size(); ++d) fits = fits && inStrides[d] % factor == 0 && outStrides[d] % factor == 0;
        if (!fits) continue;
        for (size_t d = 0; d + 1 < dims.size(); ++d) {
          inStrides[d] /= factor;
          outStrides[d] /= factor;
        }
        dims.back() /= factor;
        n /= factor;
        elemSize = static_cast<size_t>(wide);
        in = src;
        out = dst;
        inOffset = outOffset = 0;
        break;
      }
    }
  }
  KILN_CHECK(dims.size() <= static_cast<size_t>(kMaxRank), kUnsupported, "the CUDA backend supports rank <= ", kMaxRank);
  // 32-bit index math when every offset fits (and no stride is negative: Slice with negative steps).
  int64_t span = n;
  bool negative = false;
  for (size_t d = 0; d < dims.size(); ++d) {
    negative = negative || inStrides[d] < 0 || outStrides[d] < 0;
    span += (dims[d] - 1) * std::max(std::abs(inStrides[d]), std::abs(outStrides[d]));
  }
  withIndexType(negative ? std::numeric_limits<int64_t>::max() : span, [&](auto indexTag) {
    using I = typename decltype(indexTag)::type;
    CopyShape<I> s{};
    s.rank = static_cast<int>(dims.size());
    for (int d = 0; d < s.rank; ++d) {
      s.dims[d] = static_cast<I>(dims[d]);
      s.in[d] = static_cast<I>(inStrides[d]);
      s.out[d] = static_cast<I>(outStrides[d]);
      s.mod[d] = static_cast<I>(mod ? (*mod)[d] : dims[d]);
    }
    auto launch = [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* src = static_cast<const T*>(in) + inOffset;
      T* dst = static_cast<T*>(out) + outOffset;
      if (mod) stridedCopyKernel<T, true, I><<<gridFor(n), 256, 0, stream>>>(src, dst, static_cast<I>(n), s);
      else stridedCopyKernel<T, false, I><<<gridFor(n), 256, 0, stream>>>(src, dst, static_cast<I>(n), s);
    };
    if (elemSize == 16) launch(Tag<uint4>{});
    else dispatchBySize(elemSize, launch);
  });
  KILN_CUDA_CHECK_LAUNCH("strided copy");
}

// ---- padding ------------------------------------------------------------------------------------

struct PadShape {
  int rank;
  int64_t out[kMaxRank];
  int64_t in[kMaxRank];
  int64_t begin[kMaxRank];
};

template <class T>
__global__ void padKernel(const T* __restrict__ x, T* __restrict__ y, int64_t n, PadShape s, PadMode mode,
                          const T* __restrict__ value) {
  KILN_GRID_STRIDE(i, n) {
    int64_t r = i, off = 0, stride = 1;
    bool inside = true;
    for (int d = s.rank - 1; d >= 0; --d) {
      int64_t q = r / s.out[d];
      int64_t c = r - q * s.out[d] - s.begin[d];
      r = q;
      int64_t len = s.in[d];
      if (c < 0 || c >= len) {
        switch (mode) {
          case PadMode::kConstant: inside = false; break;
          case PadMode::kEdge: c = c < 0 ? 0 : len - 1; break;
          case PadMode::kWrap: c = ((c % len) + len) % len; break;
          case PadMode::kReflect: {
            if (len == 1) { c = 0; break; }
            int64_t period = 2 * (len - 1);
            c = ((c % period) + period) % period;
            if (c >= len) c = period - c;
            break;
          }
        }
      }
      off += c * stride;
      stride *= len;
    }
    if (inside) y[i] = x[off];
    else y[i] = value ? value[0] : T(0);
  }
}

void launchPad(const void* in, void* out, size_t elemSize, const Dims& inDims, const std::vector<int64_t>& begin,
               const Dims& outDims, PadMode mode, const void* value, cudaStream_t stream) {
  int64_t n = volume(outDims);
  if (n == 0) return;
  KILN_CHECK(outDims.size() <= static_cast<size_t>(kMaxRank), kUnsupported, "the CUDA backend supports rank <= ",
             kMaxRank);
  PadShape s{};
  s.rank = static_cast<int>(outDims.size());
  for (int d = 0; d < s.rank; ++d) {
    s.out[d] = outDims[d];
    s.in[d] = inDims[d];
    s.begin[d] = begin[d];
  }
  if (volume(inDims) == 0) mode = PadMode::kConstant;
  dispatchBySize(elemSize, [&](auto tag) {
    using T = typename decltype(tag)::type;
    padKernel<T><<<gridFor(n), 256, 0, stream>>>(static_cast<const T*>(in), static_cast<T*>(out), n, s, mode,
                                                 static_cast<const T*>(value));
  });
  KILN_CUDA_CHECK_LAUNCH("pad");
}

// ---- bias ---------------------------------------------------------------------------------------

// y = clamp(y + bias[channel], lo, hi), bias optional; I: 32-bit indices when they fit (cheaper division).
template <class T, class I>
__global__ void channelBiasClampKernel(T* __restrict__ y, const T* __restrict__ bias, I n, I c, I inner, float lo,
                                       float hi) {
  for (I i = blockIdx.x * static_cast<I>(blockDim.x) + threadIdx.x; i < n; i += static_cast<I>(gridDim.x) * blockDim.x) {
    float v = static_cast<float>(toCompute(y[i]));
    if (bias) v += static_cast<float>(toCompute(bias[(i / inner) % c]));
    y[i] = fromCompute<T>(v < lo ? lo : (v > hi ? hi : v));  // NaN stays NaN
  }
}

// ---- fills --------------------------------------------------------------------------------------

template <class T>
__global__ void fillKernel(T* __restrict__ y, int64_t n, T value) {
  KILN_GRID_STRIDE(i, n) { y[i] = value; }
}

__global__ void writeInt64Kernel(int64_t* __restrict__ y, int n, Int64Array values) {
  int i = threadIdx.x;
  if (i < n) y[i] = values.v[i];
}

template <class T>
__global__ void rangeKernel(T* __restrict__ y, int64_t n, double start, double delta) {
  KILN_GRID_STRIDE(i, n) {
    if constexpr (kIsFloat<T>) y[i] = fromCompute<T>(static_cast<float>(start + static_cast<double>(i) * delta));
    else y[i] = static_cast<T>(static_cast<int64_t>(start) + static_cast<int64_t>(i) * static_cast<int64_t>(delta));
  }
}

template <class T>
__global__ void triluKernel(const T* __restrict__ x, T* __restrict__ y, int64_t n, int64_t rows, int64_t cols,
                            int64_t k, bool upper) {
  KILN_GRID_STRIDE(i, n) {
    int64_t j = i % cols;
    int64_t r = (i / cols) % rows;
    bool keep = upper ? (j - r >= k) : (j - r <= k);
    y[i] = keep ? x[i] : T(0);
  }
}

// ---- kernels ------------------------------------------------------------------------------------

class CopyKernel final : public NamedKernel {
 public:
  explicit CopyKernel(std::string name) : NamedKernel(std::move(name)) {}
  void execute(const KernelArgs& args) const override {
    const TensorView& x = args.inputs[0];
    const TensorView& y = args.outputs[0];
    if (x.data == y.data || y.bytes() == 0) return;
    KILN_CUDA_CHECK(cudaMemcpyAsync(y.data, x.data, y.bytes(), cudaMemcpyDeviceToDevice, streamOf(args)));
  }
};

class ConstantKernel final : public NamedKernel {
 public:
  ConstantKernel(std::string name, const Weights& w)
      : NamedKernel(std::move(name)),
        buffer_(std::make_shared<DeviceBuffer>(w.data(), static_cast<size_t>(w.count()) * dataTypeSize(w.type))) {}
  void execute(const KernelArgs& args) const override {
    const TensorView& y = args.outputs[0];
    if (y.bytes() == 0) return;
    KILN_CUDA_CHECK(cudaMemcpyAsync(y.data, buffer_->get(), std::min(y.bytes(), buffer_->bytes()),
                                    cudaMemcpyDeviceToDevice, streamOf(args)));
  }

 private:
  std::shared_ptr<DeviceBuffer> buffer_;
};

class TransposeKernel final : public NamedKernel {
 public:
  TransposeKernel(std::string name, Dims perm) : NamedKernel(std::move(name)), perm_(std::move(perm)) {}
  void execute(const KernelArgs& args) const override {
    const TensorView& x = args.inputs[0];
    const TensorView& y = args.outputs[0];
    size_t rank = x.shape.size();
    Dims perm = perm_;
    if (perm.empty())
      for (size_t d = 0; d < rank; ++d) perm.push_back(static_cast<int64_t>(rank - 1 - d));
    Dims inStrides = stridesOf(x.shape);
    std::vector<int64_t> dims(rank), in(rank);
    for (size_t d = 0; d < rank; ++d) {
      int64_t p = perm[d] < 0 ? perm[d] + static_cast<int64_t>(rank) : perm[d];
      dims[d] = x.shape[p];
      in[d] = inStrides[p];
    }
    stridedCopy(x.data, y.data, dataTypeSize(x.type), dims, in, stridesOf(y.shape), 0, 0, streamOf(args));
  }

 private:
  Dims perm_;
};

class ConcatKernel final : public NamedKernel {
 public:
  ConcatKernel(std::string name, int64_t axis, const ir::Layer& layer)
      : NamedKernel(std::move(name)), axis_(axis), layer_(&layer) {}
  void execute(const KernelArgs& args) const override {
    const TensorView& y = args.outputs[0];
    if (y.count() == 0) return;
    int64_t rank = static_cast<int64_t>(y.shape.size());
    int64_t axis = normAxis(axis_, rank, *layer_);
    int64_t outer = prodDims(y.shape, 0, axis), inner = prodDims(y.shape, axis + 1, rank);
    int64_t offset = 0;
    size_t es = dataTypeSize(y.type);
    for (const TensorView& x : args.inputs) {
      if (!x.data && x.count() != 0) continue;
      int64_t len = x.shape.empty() ? 1 : x.shape[axis];
      if (x.count() > 0)
        stridedCopy(x.data, y.data, es, {outer, len * inner}, {len * inner, 1}, {y.shape[axis] * inner, 1}, 0,
                    offset * inner, streamOf(args));
      offset += len;
    }
  }

 private:
  int64_t axis_;
  const ir::Layer* layer_;
};

class SplitKernel final : public NamedKernel {
 public:
  SplitKernel(std::string name, int64_t axis, const ir::Layer& layer)
      : NamedKernel(std::move(name)), axis_(axis), layer_(&layer) {}
  void execute(const KernelArgs& args) const override {
    const TensorView& x = args.inputs[0];
    int64_t rank = static_cast<int64_t>(x.shape.size());
    int64_t axis = normAxis(axis_, rank, *layer_);
    int64_t outer = prodDims(x.shape, 0, axis), inner = prodDims(x.shape, axis + 1, rank);
    int64_t offset = 0;
    size_t es = dataTypeSize(x.type);
    for (const TensorView& y : args.outputs) {
      int64_t len = y.shape[axis];
      if (y.count() > 0)
        stridedCopy(x.data, y.data, es, {outer, len * inner}, {x.shape[axis] * inner, 1}, {len * inner, 1},
                    offset * inner, 0, streamOf(args));
      offset += len;
    }
  }

 private:
  int64_t axis_;
  const ir::Layer* layer_;
};

class SliceKernel final : public NamedKernel {
 public:
  SliceKernel(std::string name, const ir::Layer& layer, Constants constants)
      : NamedKernel(std::move(name)), layer_(&layer), constants_(std::move(constants)) {}
  void execute(const KernelArgs& args) const override {
    const TensorView& x = args.inputs[0];
    const TensorView& y = args.outputs[0];
    if (y.count() == 0) return;
    int64_t rank = static_cast<int64_t>(x.shape.size());
    auto starts = shapeInputValues(*layer_, args, constants_, 1);
    std::vector<int64_t> axes, steps;
    if (present(args, 3) || (constants_.size() > 3 && constants_[3])) axes = shapeInputValues(*layer_, args, constants_, 3);
    if (present(args, 4) || (constants_.size() > 4 && constants_[4])) steps = shapeInputValues(*layer_, args, constants_, 4);
    if (axes.empty())
      for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
    Dims xs = stridesOf(x.shape);
    std::vector<int64_t> inStrides(xs.begin(), xs.end());
    int64_t offset = 0;
    for (size_t i = 0; i < axes.size(); ++i) {
      int64_t a = normAxis(axes[i], rank, *layer_);
      int64_t step = i < steps.size() ? steps[i] : 1;
      int64_t dim = x.shape[a];
      int64_t s = starts[i];
      if (s < 0) s += dim;
      if (step > 0) s = std::clamp<int64_t>(s, 0, dim);
      else s = std::clamp<int64_t>(s, 0, dim - 1);
      offset += s * xs[a];
      inStrides[a] = xs[a] * step;
    }
    std::vector<int64_t> dims(y.shape.begin(), y.shape.end());
    stridedCopy(x.data, y.data, dataTypeSize(x.type), dims, inStrides, stridesOf(y.shape), offset, 0, streamOf(args));
  }

 private:
  const ir::Layer* layer_;
  Constants constants_;
};

class ExpandTileKernel final : public NamedKernel {
 public:
  ExpandTileKernel(std::string name, bool tile) : NamedKernel(std::move(name)), tile_(tile) {}
  void execute(const KernelArgs& args) const override {
    const TensorView& x = args.inputs[0];
    const TensorView& y = args.outputs[0];
    if (y.count() == 0) return;
    std::vector<int64_t> dims(y.shape.begin(), y.shape.end());
    if (tile_) {
      Dims xs = stridesOf(x.shape);
      std::vector<int64_t> in(xs.begin(), xs.end()), mod(x.shape.begin(), x.shape.end());
      stridedCopy(x.data, y.data, dataTypeSize(x.type), dims, in, stridesOf(y.shape), 0, 0, streamOf(args), &mod);
    } else {
      stridedCopy(x.data, y.data, dataTypeSize(x.type), dims, broadcastStrides(x.shape, y.shape), stridesOf(y.shape),
                  0, 0, streamOf(args));
    }
  }

 private:
  bool tile_;
};

class SpaceDepthKernel final : public NamedKernel {
 public:
  SpaceDepthKernel(std::string name, SpaceDepthParams p) : NamedKernel(std::move(name)), p_(p) {}
  void execute(const KernelArgs& args) const override {
    const TensorView& x = args.inputs[0];
    const TensorView& y = args.outputs[0];
    if (y.count() == 0) return;
    int64_t n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3], b = p_.blockSize;
    Dims view, perm;
    if (p_.toDepth) {
      view = {n, c, h / b, b, w / b, b};
      perm = {0, 3, 5, 1, 2, 4};
    } else if (p_.crd) {
      view = {n, c / (b * b), b, b, h, w};
      perm = {0, 1, 4, 2, 5, 3};
    } else {
      view = {n, b, b, c / (b * b), h, w};
      perm = {0, 3, 4, 1, 5, 2};
    }
    Dims vs = stridesOf(view);
    std::vector<int64_t> dims(6), in(6);
    for (int d = 0; d < 6; ++d) {
      dims[d] = view[perm[d]];
      in[d] = vs[perm[d]];
    }
    stridedCopy(x.data, y.data, dataTypeSize(x.type), dims, in, stridesOf(Dims(dims.begin(), dims.end())), 0, 0,
                streamOf(args));
  }

 private:
  SpaceDepthParams p_;
};

class PaddingKernel final : public NamedKernel {
 public:
  PaddingKernel(std::string name, const ir::Layer& layer, Constants constants)
      : NamedKernel(std::move(name)), layer_(&layer), mode_(layer.as<PaddingParams>().mode), constants_(std::move(constants)) {}
  void execute(const KernelArgs& args) const override {
    const TensorView& x = args.inputs[0];
    const TensorView& y = args.outputs[0];
    if (y.count() == 0) return;
    int64_t rank = static_cast<int64_t>(x.shape.size());
    auto pads = shapeInputValues(*layer_, args, constants_, 1);
    std::vector<int64_t> axes;
    if (present(args, 3) || (constants_.size() > 3 && constants_[3])) axes = shapeInputValues(*layer_, args, constants_, 3);
    if (axes.empty())
      for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
    size_t na = axes.size();
    KILN_CHECK(pads.size() == 2 * na, kInvalidArgument, layer_->describe(), ": pads must hold 2 values per axis");
    std::vector<int64_t> begin(rank, 0);
    for (size_t i = 0; i < na; ++i) begin[normAxis(axes[i], rank, *layer_)] = pads[i];
    const void* value = present(args, 2) && args.inputs[2].count() > 0 ? args.inputs[2].data : nullptr;
    launchPad(x.data, y.data, dataTypeSize(x.type), x.shape, begin, y.shape, mode_, value, streamOf(args));
  }

 private:
  const ir::Layer* layer_;
  PadMode mode_;
  Constants constants_;
};

class ShapeKernel final : public NamedKernel {
 public:
  ShapeKernel(std::string name, ShapeParams p) : NamedKernel(std::move(name)), p_(p) {}
  void execute(const KernelArgs& args) const override {
    const Dims& s = args.inputs[0].shape;
    int64_t rank = static_cast<int64_t>(s.size());
    int64_t start = p_.start < 0 ? p_.start + rank : p_.start;
    int64_t end = p_.end < 0 ? p_.end + rank : std::min(p_.end, rank);
    start = std::clamp<int64_t>(start, 0, rank);
    end = std::clamp<int64_t>(end, 0, rank);
    int n = static_cast<int>(std::max<int64_t>(end - start, 0));
    n = std::min<int>(n, static_cast<int>(args.outputs[0].count()));
    if (n == 0) return;
    Int64Array v{};
    for (int i = 0; i < n; ++i) v.v[i] = s[start + i];
    writeInt64Kernel<<<1, 32, 0, streamOf(args)>>>(args.outputs[0].as<int64_t>(), n, v);
    KILN_CUDA_CHECK_LAUNCH("shape");
  }

 private:
  ShapeParams p_;
};

class ConstantOfShapeKernel final : public NamedKernel {
 public:
  ConstantOfShapeKernel(std::string name, const Weights& value) : NamedKernel(std::move(name)) {
    if (value.data() && value.count() > 0) {
      size_t es = dataTypeSize(value.type);
      std::memcpy(&bits_, value.data(), std::min<size_t>(es, 8));
    }
  }
  void execute(const KernelArgs& args) const override {
    const TensorView& y = args.outputs[0];
    int64_t n = y.count();
    if (n == 0) return;
    dispatchBySize(dataTypeSize(y.type), [&](auto tag) {
      using T = typename decltype(tag)::type;
      T v;
      std::memcpy(&v, &bits_, sizeof(T));
      fillKernel<T><<<gridFor(n), 256, 0, streamOf(args)>>>(y.as<T>(), n, v);
    });
    KILN_CUDA_CHECK_LAUNCH("fill");
  }

 private:
  uint64_t bits_ = 0;
};

class RangeKernel final : public NamedKernel {
 public:
  RangeKernel(std::string name, const ir::Layer& layer, Constants constants)
      : NamedKernel(std::move(name)), layer_(&layer), constants_(std::move(constants)) {}
  void execute(const KernelArgs& args) const override {
    const TensorView& y = args.outputs[0];
    int64_t n = y.count();
    if (n == 0) return;
    double start = hostInputValuesAsDouble(*layer_, args, constants_, 0).at(0);
    double delta = hostInputValuesAsDouble(*layer_, args, constants_, 2).at(0);
    dispatchNumeric(y.type, [&](auto tag) {
      using T = typename decltype(tag)::type;
      rangeKernel<T><<<gridFor(n), 256, 0, streamOf(args)>>>(y.as<T>(), n, start, delta);
    });
    KILN_CUDA_CHECK_LAUNCH("range");
  }

 private:
  const ir::Layer* layer_;
  Constants constants_;
};

class TriluKernel final : public NamedKernel {
 public:
  TriluKernel(std::string name, const ir::Layer& layer, Constants constants)
      : NamedKernel(std::move(name)), layer_(&layer), upper_(layer.as<TriluParams>().upper), constants_(std::move(constants)) {}
  void execute(const KernelArgs& args) const override {
    const TensorView& x = args.inputs[0];
    int64_t n = x.count();
    if (n == 0) return;
    int64_t k = 0;
    if (present(args, 1) || (constants_.size() > 1 && constants_[1])) k = shapeInputValues(*layer_, args, constants_, 1).at(0);
    int64_t rows = x.shape[x.shape.size() - 2], cols = x.shape.back();
    dispatchBySize(dataTypeSize(x.type), [&](auto tag) {
      using T = typename decltype(tag)::type;
      triluKernel<T><<<gridFor(n), 256, 0, streamOf(args)>>>(x.as<const T>(), args.outputs[0].as<T>(), n, rows, cols,
                                                             k, upper_);
    });
    KILN_CUDA_CHECK_LAUNCH("trilu");
  }

 private:
  const ir::Layer* layer_;
  bool upper_;
  Constants constants_;
};

}  // namespace

void launchStridedCopy(const void* in, void* out, size_t elemSize, const std::vector<int64_t>& dims,
                       const std::vector<int64_t>& inStrides, const std::vector<int64_t>& outStrides, int64_t inOffset,
                       int64_t outOffset, cudaStream_t stream) {
  stridedCopy(in, out, elemSize, dims, inStrides, outStrides, inOffset, outOffset, stream);
}

void launchZeroPad(const void* in, void* out, size_t elemSize, const Dims& inDims, const Dims& padsBegin,
                   const Dims& outDims, cudaStream_t stream) {
  std::vector<int64_t> begin(padsBegin.begin(), padsBegin.end());
  launchPad(in, out, elemSize, inDims, begin, outDims, PadMode::kConstant, nullptr, stream);
}

void launchChannelBiasClamp(void* y, const void* bias, DataType type, int64_t n, int64_t c, int64_t inner, float lo,
                            float hi, cudaStream_t stream) {
  int64_t total = n * c * inner;
  if (total == 0) return;
  dispatchFloat(type, [&](auto tag) {
    using T = typename decltype(tag)::type;
    auto* yt = static_cast<T*>(y);
    const auto* bt = static_cast<const T*>(bias);
    if (total < (int64_t(1) << 31))
      channelBiasClampKernel<T, uint32_t><<<gridFor(total), 256, 0, stream>>>(
          yt, bt, static_cast<uint32_t>(total), static_cast<uint32_t>(c), static_cast<uint32_t>(inner), lo, hi);
    else
      channelBiasClampKernel<T, int64_t><<<gridFor(total), 256, 0, stream>>>(yt, bt, total, c, inner, lo, hi);
  });
  KILN_CUDA_CHECK_LAUNCH("channel bias and clamp");
}

// ---- rows -----------------------------------------------------------------------------------------

std::string supportsConstant(const ir::Layer& layer) {
  return layer.as<ConstantParams>().weights.type == DataType::kString ? "string constants stay on the host" : "";
}
std::unique_ptr<Kernel> createConstant(const std::shared_ptr<DeviceContext>&, const ir::Layer& layer, const Constants&,
                                       const TacticChoice& tactic) {
  return std::make_unique<ConstantKernel>(tactic.name, layer.as<ConstantParams>().weights);
}

std::string supportsIdentity(const ir::Layer& layer) { return movableReason(inType(layer, 0)); }
std::unique_ptr<Kernel> createIdentity(const std::shared_ptr<DeviceContext>&, const ir::Layer&, const Constants&,
                                       const TacticChoice& tactic) {
  return std::make_unique<CopyKernel>(tactic.name);
}

// Reshape does not change the data: a copy (none at all when the runtime makes the output a view).
std::string supportsReshape(const ir::Layer& layer) { return movableReason(inType(layer, 0)); }
std::unique_ptr<Kernel> createReshape(const std::shared_ptr<DeviceContext>&, const ir::Layer&, const Constants&,
                                      const TacticChoice& tactic) {
  return std::make_unique<CopyKernel>(tactic.name);
}

std::string supportsTranspose(const ir::Layer& layer) { return movableReason(inType(layer, 0)); }
std::unique_ptr<Kernel> createTranspose(const std::shared_ptr<DeviceContext>&, const ir::Layer& layer, const Constants&,
                                        const TacticChoice& tactic) {
  return std::make_unique<TransposeKernel>(tactic.name, layer.as<TransposeParams>().perm);
}

std::string supportsConcatenation(const ir::Layer& layer) { return movableReason(inType(layer, 0)); }
std::unique_ptr<Kernel> createConcatenation(const std::shared_ptr<DeviceContext>&, const ir::Layer& layer,
                                            const Constants&, const TacticChoice& tactic) {
  return std::make_unique<ConcatKernel>(tactic.name, layer.as<ConcatenationParams>().axis, layer);
}

std::string supportsSplit(const ir::Layer& layer) { return movableReason(inType(layer, 0)); }
std::unique_ptr<Kernel> createSplit(const std::shared_ptr<DeviceContext>&, const ir::Layer& layer, const Constants&,
                                    const TacticChoice& tactic) {
  return std::make_unique<SplitKernel>(tactic.name, layer.as<SplitParams>().axis, layer);
}

std::string supportsSlice(const ir::Layer& layer) { return movableReason(inType(layer, 0)); }
std::unique_ptr<Kernel> createSlice(const std::shared_ptr<DeviceContext>&, const ir::Layer& layer,
                                    const Constants& constants, const TacticChoice& tactic) {
  return std::make_unique<SliceKernel>(tactic.name, layer, constants);
}

std::string supportsExpand(const ir::Layer& layer) { return movableReason(inType(layer, 0)); }
std::unique_ptr<Kernel> createExpand(const std::shared_ptr<DeviceContext>&, const ir::Layer&, const Constants&,
                                     const TacticChoice& tactic) {
  return std::make_unique<ExpandTileKernel>(tactic.name, false);
}

std::string supportsTile(const ir::Layer& layer) { return movableReason(inType(layer, 0)); }
std::unique_ptr<Kernel> createTile(const std::shared_ptr<DeviceContext>&, const ir::Layer&, const Constants&,
                                   const TacticChoice& tactic) {
  return std::make_unique<ExpandTileKernel>(tactic.name, true);
}

std::string supportsSpaceDepth(const ir::Layer& layer) {
  return inRank(layer) == 4 && isMovable(inType(layer, 0)) ? "" : "DepthToSpace/SpaceToDepth need a 4-D input";
}
std::unique_ptr<Kernel> createSpaceDepth(const std::shared_ptr<DeviceContext>&, const ir::Layer& layer,
                                         const Constants&, const TacticChoice& tactic) {
  return std::make_unique<SpaceDepthKernel>(tactic.name, layer.as<SpaceDepthParams>());
}

std::string supportsPadding(const ir::Layer& layer) { return movableReason(inType(layer, 0)); }
std::unique_ptr<Kernel> createPadding(const std::shared_ptr<DeviceContext>&, const ir::Layer& layer,
                                      const Constants& constants, const TacticChoice& tactic) {
  return std::make_unique<PaddingKernel>(tactic.name, layer, constants);
}

std::string supportsShape(const ir::Layer&) { return ""; }
std::unique_ptr<Kernel> createShape(const std::shared_ptr<DeviceContext>&, const ir::Layer& layer, const Constants&,
                                    const TacticChoice& tactic) {
  return std::make_unique<ShapeKernel>(tactic.name, layer.as<ShapeParams>());
}

std::string supportsConstantOfShape(const ir::Layer& layer) { return movableReason(outType(layer)); }
std::unique_ptr<Kernel> createConstantOfShape(const std::shared_ptr<DeviceContext>&, const ir::Layer& layer,
                                              const Constants&, const TacticChoice& tactic) {
  return std::make_unique<ConstantOfShapeKernel>(tactic.name, layer.as<ConstantOfShapeParams>().value);
}

std::string supportsRange(const ir::Layer& layer) {
  return isNumeric(outType(layer)) ? "" : typeReason(inType(layer, 0), "float32, float16, int32, int64");
}
std::unique_ptr<Kernel> createRange(const std::shared_ptr<DeviceContext>&, const ir::Layer& layer,
                                    const Constants& constants, const TacticChoice& tactic) {
  return std::make_unique<RangeKernel>(tactic.name, layer, constants);
}

std::string supportsTrilu(const ir::Layer& layer) { return movableReason(inType(layer, 0)); }
std::unique_ptr<Kernel> createTrilu(const std::shared_ptr<DeviceContext>&, const ir::Layer& layer,
                                    const Constants& constants, const TacticChoice& tactic) {
  return std::make_unique<TriluKernel>(tactic.name, layer, constants);
}

}  // namespace kiln::cuda
