// Reductions: one warp per output element walks the reduced index space (strided), fp32 accumulation
// for float types (int64 for integers); ArgMin/ArgMax the same way; CumSum one thread per line.
#include <cmath>

#include "backends/cuda/kernels/device_utils.cuh"
#include "backends/cuda/kernels/kernels.h"
#include "backends/cuda/kernels/supports.h"

namespace kiln::cuda {
namespace {

struct ReduceShape {
  int outRank;            // kept (non-reduced) dims
  int64_t outDims[kMaxRank];
  int64_t outStrides[kMaxRank];  // input strides of the kept dims
  int redRank;
  int64_t redDims[kMaxRank];
  int64_t redStrides[kMaxRank];
  int64_t redCount;
};

template <class A>
__device__ __forceinline__ A reduceInit(ReduceOp op) {
  switch (op) {
    case ReduceOp::kMax: if constexpr (std::is_floating_point_v<A>) return -INFINITY; else return std::numeric_limits<A>::lowest();
    case ReduceOp::kMin: if constexpr (std::is_floating_point_v<A>) return INFINITY; else return std::numeric_limits<A>::max();
    case ReduceOp::kProd: return A(1);
    default: return A(0);
  }
}
template <class A>
__device__ __forceinline__ A reduceMap(ReduceOp op, A x) {
  switch (op) {
    case ReduceOp::kL1: return x < 0 ? A(-x) : x;
    case ReduceOp::kL2: case ReduceOp::kSumSquare: return x * x;
    default: return x;
  }
}
template <class A>
__device__ __forceinline__ A reduceCombine(ReduceOp op, A a, A b) {
  switch (op) {
    case ReduceOp::kMax:
      if constexpr (std::is_floating_point_v<A>) { if (isnan(a) || isnan(b)) return NAN; }
      return a > b ? a : b;
    case ReduceOp::kMin:
      if constexpr (std::is_floating_point_v<A>) { if (isnan(a) || isnan(b)) return NAN; }
      return a < b ? a : b;
    case ReduceOp::kProd: return a * b;
    default: return a + b;
  }
}

template <class T>
__global__ void reduceKernel(const T* __restrict__ x, T* __restrict__ y, int64_t nOut, ReduceShape s, ReduceOp op) {
  using A = std::conditional_t<kIsFloat<T>, float, int64_t>;
  int lane = threadIdx.x & 31;
  int64_t warp = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) >> 5;
  int64_t warps = (static_cast<int64_t>(gridDim.x) * blockDim.x) >> 5;
  for (int64_t o = warp; o < nOut; o += warps) {
    int64_t base = stridedOffset(o, s.outRank, s.outDims, s.outStrides);
    A acc = reduceInit<A>(op);
    if (op == ReduceOp::kLogSumExp) {
      // max first for stability; NaN-propagating, so a NaN gives NaN even next to an infinity
      A m = reduceInit<A>(ReduceOp::kMax);
      for (int64_t r = lane; r < s.redCount; r += 32) {
        A v = static_cast<A>(toCompute(x[base + stridedOffset(r, s.redRank, s.redDims, s.redStrides)]));
        m = reduceCombine(ReduceOp::kMax, m, v);
      }
      m = warpAllReduce(m, [](A mine, A other) { return reduceCombine(ReduceOp::kMax, mine, other); });
      if constexpr (std::is_floating_point_v<A>) {
        for (int64_t r = lane; r < s.redCount; r += 32)
          acc += expf(static_cast<float>(toCompute(x[base + stridedOffset(r, s.redRank, s.redDims, s.redStrides)])) - m);
        acc = warpAllReduce(acc, SumOp{});
        if (lane == 0) y[o] = fromCompute<T>(isinf(m) ? m : logf(acc) + m);
      }
      continue;
    }
    for (int64_t r = lane; r < s.redCount; r += 32) {
      A v = static_cast<A>(toCompute(x[base + stridedOffset(r, s.redRank, s.redDims, s.redStrides)]));
      acc = reduceCombine(op, acc, reduceMap(op, v));
    }
    acc = warpAllReduce(acc, [op](A mine, A other) { return reduceCombine(op, mine, other); });
    if (lane == 0) {
      A r = acc;
      if constexpr (std::is_floating_point_v<A>) {
        if (op == ReduceOp::kMean) r = acc / static_cast<float>(s.redCount);
        else if (op == ReduceOp::kL2) r = sqrtf(acc);
        else if (op == ReduceOp::kLogSum) r = logf(acc);
      } else {
        if (op == ReduceOp::kMean) r = s.redCount ? acc / s.redCount : 0;
        else if (op == ReduceOp::kL2) r = static_cast<A>(sqrt(static_cast<double>(acc)));
      }
      y[o] = fromCompute<T>(static_cast<Compute<T>>(r));
    }
  }
}

// Splits x's dims into kept / reduced ones (coalesced) for a reduction over `reduced`.
ReduceShape makeReduceShape(const Dims& xs, const std::vector<bool>& reduced) {
  Dims st = stridesOf(xs);
  std::vector<int64_t> od, os, rd, rs;
  for (size_t d = 0; d < xs.size(); ++d) {
    if (reduced[d]) { rd.push_back(xs[d]); rs.push_back(st[d]); }
    else { od.push_back(xs[d]); os.push_back(st[d]); }
  }
  coalesceDims(od, {&os});
  coalesceDims(rd, {&rs});
  ReduceShape s{};
  StridedShape a, b;
  fillStrided(a, od, os);
  fillStrided(b, rd, rs);
  s.outRank = a.rank;
  s.redRank = b.rank;
  std::copy(a.dims, a.dims + a.rank, s.outDims);
  std::copy(a.strides, a.strides + a.rank, s.outStrides);
  std::copy(b.dims, b.dims + b.rank, s.redDims);
  std::copy(b.strides, b.strides + b.rank, s.redStrides);
  s.redCount = 1;
  for (auto d : rd) s.redCount *= d;
  return s;
}

unsigned warpGrid(int64_t nOut) { return gridFor(nOut * 32, 256); }

class ReduceKernel final : public NamedKernel {
 public:
  ReduceKernel(std::string name, const ir::Layer& layer, Constants constants)
      : NamedKernel(std::move(name)), layer_(&layer),
        p_(layer.as<ReduceParams>()), constants_(std::move(constants)) {}
  void execute(const KernelArgs& args) const override {
    const TensorView& x = args.inputs[0];
    const TensorView& y = args.outputs[0];
    int64_t nOut = y.count();
    if (nOut == 0) return;
    int64_t rank = static_cast<int64_t>(x.shape.size());
    Dims axes = p_.axes;
    if (layer_->inputs.size() > 1 && layer_->inputs[1] && (present(args, 1) || (constants_.size() > 1 && constants_[1])))
      axes = shapeInputValues(*layer_, args, constants_, 1);
    std::vector<bool> reduced(rank, false);
    if (axes.empty()) {
      if (p_.noopWithEmptyAxes) {
        KILN_CUDA_CHECK(cudaMemcpyAsync(y.data, x.data, x.bytes(), cudaMemcpyDeviceToDevice, streamOf(args)));
        return;
      }
      reduced.assign(rank, true);
    }
    for (auto a : axes) reduced[normAxis(a, rank, *layer_)] = true;
    ReduceShape s = makeReduceShape(x.shape, reduced);
    dispatchNumeric(x.type, [&](auto tag) {
      using T = typename decltype(tag)::type;
      reduceKernel<T><<<warpGrid(nOut), 256, 0, streamOf(args)>>>(x.as<const T>(), y.as<T>(), nOut, s, p_.op);
    });
    KILN_CUDA_CHECK_LAUNCH("reduce");
  }

 private:
  const ir::Layer* layer_;
  ReduceParams p_;
  Constants constants_;
};

// ---- argmin / argmax ----------------------------------------------------------------------------

// Whether (v, i) replaces (best, bi) as the arg-min/max. NaN wins over every number (numpy: the first
// NaN's index; with select_last_index the last NaN's), as the CPU kernel; equal values go by index.
template <class A>
__device__ __forceinline__ bool argBetter(A v, int64_t i, A best, int64_t bi, bool isMax, bool last) {
  if (bi < 0) return true;
  if constexpr (std::is_floating_point_v<A>) {
    const bool vNaN = isnan(v), bestNaN = isnan(best);
    if (vNaN || bestNaN) return vNaN && bestNaN ? (last ? i > bi : i < bi) : vNaN;
  }
  if (v == best) return last ? i > bi : i < bi;
  return isMax ? v > best : v < best;
}

template <class T>
__global__ void argKernel(const T* __restrict__ x, int64_t* __restrict__ y, int64_t nOut, int64_t len, int64_t inner,
                          bool isMax, bool last) {
  using A = Compute<T>;
  int lane = threadIdx.x & 31;
  int64_t warp = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) >> 5;
  int64_t warps = (static_cast<int64_t>(gridDim.x) * blockDim.x) >> 5;
  for (int64_t o = warp; o < nOut; o += warps) {
    int64_t base = (o / inner) * len * inner + o % inner;
    A best = isMax ? lowestOf<T>() : highestOf<T>();
    int64_t bi = -1;
    for (int64_t r = lane; r < len; r += 32) {
      A v = toCompute(x[base + r * inner]);
      if (argBetter(v, r, best, bi, isMax, last)) { best = v; bi = r; }
    }
    for (int k = 16; k > 0; k >>= 1) {
      A ov = __shfl_xor_sync(0xffffffffu, best, k);
      int64_t oi = __shfl_xor_sync(0xffffffffu, bi, k);
      if (oi >= 0 && argBetter(ov, oi, best, bi, isMax, last)) { best = ov; bi = oi; }
    }
    if (lane == 0) y[o] = bi < 0 ? 0 : bi;
  }
}

class ArgMinMaxKernel final : public NamedKernel {
 public:
  ArgMinMaxKernel(std::string name, const ir::Layer& layer) : NamedKernel(std::move(name)), layer_(&layer), p_(layer.as<ArgMinMaxParams>()) {}
  void execute(const KernelArgs& args) const override {
    const TensorView& x = args.inputs[0];
    int64_t nOut = args.outputs[0].count();
    if (nOut == 0) return;
    int64_t rank = static_cast<int64_t>(x.shape.size());
    int64_t a = normAxis(p_.axis, rank, *layer_);
    int64_t len = x.shape[a], inner = prodDims(x.shape, a + 1, rank);
    dispatchNumeric(x.type, [&](auto tag) {
      using T = typename decltype(tag)::type;
      argKernel<T><<<warpGrid(nOut), 256, 0, streamOf(args)>>>(x.as<const T>(), args.outputs[0].as<int64_t>(), nOut,
                                                               len, inner, p_.max, p_.selectLastIndex);
    });
    KILN_CUDA_CHECK_LAUNCH("argminmax");
  }

 private:
  const ir::Layer* layer_;
  ArgMinMaxParams p_;
};

// ---- cumsum -------------------------------------------------------------------------------------

template <class T>
__global__ void cumsumKernel(const T* __restrict__ x, T* __restrict__ y, int64_t lines, int64_t len, int64_t inner,
                             bool exclusive, bool reverse) {
  using A = std::conditional_t<kIsFloat<T>, float, T>;
  KILN_GRID_STRIDE(l, lines) {
    int64_t base = (l / inner) * len * inner + l % inner;
    A acc = 0;
    for (int64_t k = 0; k < len; ++k) {
      int64_t r = reverse ? len - 1 - k : k;
      int64_t off = base + r * inner;
      A v = static_cast<A>(toCompute(x[off]));
      if (exclusive) { y[off] = fromCompute<T>(static_cast<Compute<T>>(acc)); acc += v; }
      else { acc += v; y[off] = fromCompute<T>(static_cast<Compute<T>>(acc)); }
    }
  }
}

class CumSumKernel final : public NamedKernel {
 public:
  CumSumKernel(std::string name, const ir::Layer& layer, Constants constants)
      : NamedKernel(std::move(name)), layer_(&layer), p_(layer.as<CumSumParams>()), constants_(std::move(constants)) {}
  void execute(const KernelArgs& args) const override {
    const TensorView& x = args.inputs[0];
    if (x.count() == 0) return;
    int64_t rank = static_cast<int64_t>(x.shape.size());
    int64_t a = normAxis(shapeInputValues(*layer_, args, constants_, 1).at(0), rank, *layer_);
    int64_t len = x.shape[a], inner = prodDims(x.shape, a + 1, rank);
    int64_t lines = x.count() / len;
    dispatchNumeric(x.type, [&](auto tag) {
      using T = typename decltype(tag)::type;
      cumsumKernel<T><<<gridFor(lines), 256, 0, streamOf(args)>>>(x.as<const T>(), args.outputs[0].as<T>(), lines, len,
                                                                  inner, p_.exclusive, p_.reverse);
    });
    KILN_CUDA_CHECK_LAUNCH("cumsum");
  }

 private:
  const ir::Layer* layer_;
  CumSumParams p_;
  Constants constants_;
};

}  // namespace

std::string supportsReduce(const ir::Layer& layer) { return numericReason(inType(layer, 0)); }
std::unique_ptr<Kernel> createReduce(const std::shared_ptr<DeviceContext>&, const ir::Layer& layer,
                                     const Constants& constants, const TacticChoice& tactic) {
  return std::make_unique<ReduceKernel>(tactic.name, layer, constants);
}

std::string supportsArgMinMax(const ir::Layer& layer) { return numericReason(inType(layer, 0)); }
std::unique_ptr<Kernel> createArgMinMax(const std::shared_ptr<DeviceContext>&, const ir::Layer& layer, const Constants&,
                                        const TacticChoice& tactic) {
  return std::make_unique<ArgMinMaxKernel>(tactic.name, layer);
}

std::string supportsCumSum(const ir::Layer& layer) { return numericReason(inType(layer, 0)); }
std::unique_ptr<Kernel> createCumSum(const std::shared_ptr<DeviceContext>&, const ir::Layer& layer,
                                     const Constants& constants, const TacticChoice& tactic) {
  return std::make_unique<CumSumKernel>(tactic.name, layer, constants);
}

}  // namespace kiln::cuda
