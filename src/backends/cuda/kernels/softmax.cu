// Softmax / LogSoftmax / Hardmax along one axis with fp32 accumulation. Innermost axis: rows of at most
// 1024 elements (Softmax, LogSoftmax) take one warp each with the row in registers (one read, one
// write, warp shuffles only); longer rows and Hardmax one block per row (block reductions). Other axes:
// one thread per (outer, inner) line.
#include <cmath>

#include "backends/cuda/kernels/device_utils.cuh"
#include "backends/cuda/kernels/kernels.h"
#include "backends/cuda/kernels/supports.h"

namespace kiln::cuda {
namespace {

constexpr int kBlock = 256;

template <bool kMax>
__device__ __forceinline__ float blockReduce(float v, float* shared) {
  if constexpr (kMax) return blockAllReduce(v, MaxOp{}, -INFINITY, shared);
  else return blockAllReduce(v, SumOp{}, 0.f, shared);
}

template <class T>
__global__ void softmaxRowKernel(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int64_t n, SoftmaxType type) {
  __shared__ float shared[32];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* xr = x + row * n;
    T* yr = y + row * n;
    float m = -INFINITY;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) m = fmaxf(m, toCompute(xr[i]));
    m = blockReduce<true>(m, shared);
    if (type == SoftmaxType::kHardmax) {
      // first index holding the max
      float first = INFINITY;
      for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
        if (static_cast<float>(toCompute(xr[i])) == m) { first = fminf(first, static_cast<float>(i)); }
      first = -blockReduce<true>(-first, shared);
      for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
        yr[i] = fromCompute<T>(static_cast<float>(i) == first ? 1.f : 0.f);
      continue;
    }
    float s = 0.f;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += expf(static_cast<float>(toCompute(xr[i])) - m);
    s = blockReduce<false>(s, shared);
    if (type == SoftmaxType::kLogSoftmax) {
      float ls = logf(s);
      for (int64_t i = threadIdx.x; i < n; i += blockDim.x) yr[i] = fromCompute<T>(static_cast<float>(toCompute(xr[i])) - m - ls);
    } else {
      float inv = 1.f / s;
      for (int64_t i = threadIdx.x; i < n; i += blockDim.x) yr[i] = fromCompute<T>(expf(static_cast<float>(toCompute(xr[i])) - m) * inv);
    }
  }
}

// One warp per row of n <= 32 * kPerLane elements, kept in registers.
template <class T, int kPerLane>
__global__ void softmaxWarpKernel(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int n, bool logSoftmax) {
  int lane = threadIdx.x & 31;
  int64_t warps = (static_cast<int64_t>(gridDim.x) * blockDim.x) >> 5;
  for (int64_t row = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) >> 5; row < rows; row += warps) {
    const T* xr = x + row * n;
    T* yr = y + row * n;
    float v[kPerLane];
    float m = -INFINITY;
#pragma unroll
    for (int k = 0; k < kPerLane; ++k) {
      int i = lane + 32 * k;
      v[k] = i < n ? static_cast<float>(toCompute(xr[i])) : -INFINITY;
      m = fmaxf(m, v[k]);
    }
    m = warpAllReduce(m, MaxOp{});
    float s = 0.f;
#pragma unroll
    for (int k = 0; k < kPerLane; ++k)
      if (lane + 32 * k < n) s += expf(v[k] - m);
    s = warpAllReduce(s, SumOp{});
    float ls = logf(s), inv = 1.f / s;
#pragma unroll
    for (int k = 0; k < kPerLane; ++k) {
      int i = lane + 32 * k;
      if (i < n) yr[i] = fromCompute<T>(logSoftmax ? v[k] - m - ls : expf(v[k] - m) * inv);
    }
  }
}

template <class T>
__global__ void softmaxStridedKernel(const T* __restrict__ x, T* __restrict__ y, int64_t lines, int64_t n,
                                     int64_t inner, SoftmaxType type) {
  KILN_GRID_STRIDE(l, lines) {
    int64_t base = (l / inner) * n * inner + l % inner;
    float m = -INFINITY;
    int64_t arg = 0;
    for (int64_t i = 0; i < n; ++i) {
      float v = toCompute(x[base + i * inner]);
      if (v > m) { m = v; arg = i; }
    }
    if (type == SoftmaxType::kHardmax) {
      for (int64_t i = 0; i < n; ++i) y[base + i * inner] = fromCompute<T>(i == arg ? 1.f : 0.f);
      continue;
    }
    float s = 0.f;
    for (int64_t i = 0; i < n; ++i) s += expf(static_cast<float>(toCompute(x[base + i * inner])) - m);
    float ls = logf(s), inv = 1.f / s;
    for (int64_t i = 0; i < n; ++i) {
      float v = static_cast<float>(toCompute(x[base + i * inner])) - m;
      y[base + i * inner] = fromCompute<T>(type == SoftmaxType::kLogSoftmax ? v - ls : expf(v) * inv);
    }
  }
}

class SoftmaxKernel final : public NamedKernel {
 public:
  SoftmaxKernel(std::string name, const ir::Layer& layer)
      : NamedKernel(std::move(name)), layer_(&layer),
        p_(layer.as<SoftmaxParams>()) {}
  void execute(const KernelArgs& args) const override {
    const TensorView& x = args.inputs[0];
    if (x.count() == 0) return;
    int64_t rank = static_cast<int64_t>(x.shape.size());
    if (rank == 0) {  // a scalar: softmax 1, log-softmax 0, hardmax 1
      launchScalar(args);
      return;
    }
    int64_t a = normAxis(p_.axis, rank, *layer_);
    int64_t outer = prodDims(x.shape, 0, a), n, inner;
    if (p_.coerce2d) { n = prodDims(x.shape, a, rank); inner = 1; }
    else { n = x.shape[a]; inner = prodDims(x.shape, a + 1, rank); }
    dispatchFloat(x.type, [&](auto tag) {
      using T = typename decltype(tag)::type;
      bool rowsFitWarps = n <= kMaxWarpRow && p_.type != SoftmaxType::kHardmax;
      if (inner == 1 && rowsFitWarps) {
        withElementsPerLane(n, [&](auto perLane) {
          softmaxWarpKernel<T, perLane.value><<<warpRowGrid(outer), 256, 0, streamOf(args)>>>(
              x.as<const T>(), args.outputs[0].as<T>(), outer, static_cast<int>(n), p_.type == SoftmaxType::kLogSoftmax);
        });
      } else if (inner == 1) {
        unsigned grid = static_cast<unsigned>(std::min<int64_t>(outer, 1 << 20));
        softmaxRowKernel<T><<<grid, kBlock, 0, streamOf(args)>>>(x.as<const T>(), args.outputs[0].as<T>(), outer, n, p_.type);
      } else {
        int64_t lines = outer * inner;
        softmaxStridedKernel<T><<<gridFor(lines), 256, 0, streamOf(args)>>>(x.as<const T>(), args.outputs[0].as<T>(),
                                                                            lines, n, inner, p_.type);
      }
    });
    KILN_CUDA_CHECK_LAUNCH("softmax");
  }

 private:
  void launchScalar(const KernelArgs& args) const {
    dispatchFloat(args.inputs[0].type, [&](auto tag) {
      using T = typename decltype(tag)::type;
      softmaxStridedKernel<T><<<1, 32, 0, streamOf(args)>>>(args.inputs[0].as<const T>(), args.outputs[0].as<T>(), 1,
                                                            1, 1, p_.type);
    });
    KILN_CUDA_CHECK_LAUNCH("softmax");
  }
  const ir::Layer* layer_;
  SoftmaxParams p_;
};

}  // namespace

std::string supportsSoftmax(const ir::Layer& layer) { return floatReason(inType(layer, 0)); }
std::unique_ptr<Kernel> createSoftmax(const std::shared_ptr<DeviceContext>&, const ir::Layer& layer, const Constants&,
                                      const TacticChoice& tactic) {
  return std::make_unique<SoftmaxKernel>(tactic.name, layer);
}

// Whether this build holds an image (SASS, or PTX the driver can compile) of its kernels for the current
// device; false when Kiln was compiled for other architectures (CMAKE_CUDA_ARCHITECTURES).
bool kernelImageAvailable() {
  cudaFuncAttributes attributes{};
  cudaError_t status = cudaFuncGetAttributes(&attributes, softmaxRowKernel<float>);
  if (status == cudaSuccess) return true;
  cudaGetLastError();
  return false;
}

}  // namespace kiln::cuda
