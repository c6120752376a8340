// Normalizations with fp32 statistics. Batch: pointwise with per-channel mean/var/scale/bias.
// Instance, Layer, Group and RMS: one block per normalized row, two passes (mean, then centered
// variance) over the row, scale/bias index = (row % M) * A + (j / B) % S. Rows of at most 1024 elements
// whose scale/bias index is j % S (Layer, RMS) take one warp each with the row in registers. LRN: one thread per element.
#include <cmath>

#include "backends/cuda/kernels/device_utils.cuh"
#include "backends/cuda/kernels/kernels.h"
#include "backends/cuda/kernels/supports.h"

namespace kiln::cuda {
namespace {

__device__ __forceinline__ float blockSum(float v, float* shared) { return blockAllReduce(v, SumOp{}, 0.f, shared); }

struct ParamIndex {
  int64_t m, a, b, s;  // index = (row % m) * a + (j / b) % s
};

template <class T>
__global__ void rowNormKernel(const T* __restrict__ x, T* __restrict__ y, const T* __restrict__ scale,
                              const T* __restrict__ bias, int64_t rows, int64_t len, float eps, bool center,
                              ParamIndex pi) {
  __shared__ float shared[32];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* xr = x + row * len;
    T* yr = y + row * len;
    float mean = 0.f;
    if (center) {
      float s = 0.f;
      for (int64_t j = threadIdx.x; j < len; j += blockDim.x) s += toCompute(xr[j]);
      mean = blockSum(s, shared) / static_cast<float>(len);
    }
    float q = 0.f;
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x) {
      float d = static_cast<float>(toCompute(xr[j])) - mean;
      q += d * d;
    }
    float inv = rsqrtf(blockSum(q, shared) / static_cast<float>(len) + eps);
    int64_t rowBase = (row % pi.m) * pi.a;
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x) {
      int64_t p = rowBase + (j / pi.b) % pi.s;
      float v = (static_cast<float>(toCompute(xr[j])) - mean) * inv;
      if (scale) v *= static_cast<float>(toCompute(scale[p]));
      if (bias) v += static_cast<float>(toCompute(bias[p]));
      yr[j] = fromCompute<T>(v);
    }
  }
}

// One warp per row of len <= 32 * kPerLane elements kept in registers; scale/bias index j % paramCount.
template <class T, int kPerLane>
__global__ void rowNormWarpKernel(const T* __restrict__ x, T* __restrict__ y, const T* __restrict__ scale,
                                  const T* __restrict__ bias, int64_t rows, int len, float eps, bool center,
                                  int paramCount) {
  int lane = threadIdx.x & 31;
  int64_t warps = (static_cast<int64_t>(gridDim.x) * blockDim.x) >> 5;
  for (int64_t row = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) >> 5; row < rows; row += warps) {
    const T* xr = x + row * len;
    T* yr = y + row * len;
    float v[kPerLane];
    float s = 0.f;
#pragma unroll
    for (int k = 0; k < kPerLane; ++k) {
      int j = lane + 32 * k;
      v[k] = j < len ? static_cast<float>(toCompute(xr[j])) : 0.f;
      s += v[k];
    }
    float mean = center ? warpAllReduce(s, SumOp{}) / static_cast<float>(len) : 0.f;
    float q = 0.f;
#pragma unroll
    for (int k = 0; k < kPerLane; ++k) {
      float d = lane + 32 * k < len ? v[k] - mean : 0.f;
      q += d * d;
    }
    float inv = rsqrtf(warpAllReduce(q, SumOp{}) / static_cast<float>(len) + eps);
#pragma unroll
    for (int k = 0; k < kPerLane; ++k) {
      int j = lane + 32 * k;
      if (j >= len) continue;
      int p = paramCount == len ? j : j % paramCount;
      float o = (v[k] - mean) * inv;
      if (scale) o *= static_cast<float>(toCompute(scale[p]));
      if (bias) o += static_cast<float>(toCompute(bias[p]));
      yr[j] = fromCompute<T>(o);
    }
  }
}

template <class T>
__global__ void batchNormKernel(const T* __restrict__ x, T* __restrict__ y, const T* __restrict__ scale,
                                const T* __restrict__ bias, const T* __restrict__ mean, const T* __restrict__ var,
                                int64_t n, int64_t c, int64_t inner, float eps) {
  KILN_GRID_STRIDE(i, n) {
    int64_t ch = (i / inner) % c;
    float v = (static_cast<float>(toCompute(x[i])) - static_cast<float>(toCompute(mean[ch]))) *
              rsqrtf(static_cast<float>(toCompute(var[ch])) + eps);
    y[i] = fromCompute<T>(v * static_cast<float>(toCompute(scale[ch])) + static_cast<float>(toCompute(bias[ch])));
  }
}

class NormalizationKernel final : public NamedKernel {
 public:
  NormalizationKernel(std::string name, const ir::Layer& layer)
      : NamedKernel(std::move(name)), layer_(&layer),
        p_(layer.as<NormalizationParams>()) {}
  void execute(const KernelArgs& args) const override {
    const TensorView& x = args.inputs[0];
    int64_t total = x.count();
    if (total == 0) return;
    int64_t rank = static_cast<int64_t>(x.shape.size());
    auto in = [&](size_t i) { return present(args, i) ? args.inputs[i].data : nullptr; };
    dispatchFloat(x.type, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* scale = static_cast<const T*>(in(1));
      const T* bias = static_cast<const T*>(in(2));
      T* y = args.outputs[0].as<T>();
      if (p_.type == NormalizationType::kBatch) {
        int64_t c = rank > 1 ? x.shape[1] : 1, inner = prodDims(x.shape, 2, rank);
        batchNormKernel<T><<<gridFor(total), 256, 0, streamOf(args)>>>(x.as<const T>(), y, scale, bias,
                                                                       static_cast<const T*>(in(3)),
                                                                       static_cast<const T*>(in(4)), total, c, inner,
                                                                       p_.epsilon);
        return;
      }
      int64_t rows, len;
      ParamIndex pi{1, 0, 1, 1};
      bool center = true;
      int64_t c = rank > 1 ? x.shape[1] : 1, spatial = prodDims(x.shape, 2, rank);
      switch (p_.type) {
        case NormalizationType::kInstance:
          rows = x.shape[0] * c;
          len = spatial;
          pi = {c, 1, std::max<int64_t>(len, 1), 1};
          break;
        case NormalizationType::kGroup: {
          int64_t g = p_.numGroups;
          rows = x.shape[0] * g;
          len = total / std::max<int64_t>(rows, 1);
          int64_t cpg = c / g;
          // scale/bias per channel (ONNX opset 21); per group when they hold numGroups values
          int64_t count = present(args, 1) ? args.inputs[1].count() : c;
          if (count == g) pi = {g, 1, std::max<int64_t>(len, 1), 1};
          else pi = {g, cpg, std::max<int64_t>(spatial, 1), cpg};
          break;
        }
        case NormalizationType::kRMS:
          center = false;
          [[fallthrough]];
        default: {
          int64_t a = normAxis(p_.axis, rank, *layer_);
          rows = prodDims(x.shape, 0, a);
          len = prodDims(x.shape, a, rank);
          int64_t count = scale ? args.inputs[1].count() : 1;
          pi = {1, 0, 1, std::max<int64_t>(count == len ? len : 1, 1)};
          if (count != len && count != 1) {
            // scale broadcast over leading normalized dims: index by the trailing `count` elements
            pi.s = count;
          }
          if (bias && args.inputs[2].count() != count)
            fail(ErrorCode::kUnsupported, concat(layer_->describe(), ": the CUDA kernel needs scale and bias of the same shape"));
          break;
        }
      }
      if (rows == 0 || len == 0) return;
      if (len <= kMaxWarpRow && pi.m == 1 && pi.b == 1) {
        withElementsPerLane(len, [&](auto perLane) {
          rowNormWarpKernel<T, perLane.value><<<warpRowGrid(rows), 256, 0, streamOf(args)>>>(
              x.as<const T>(), y, scale, bias, rows, static_cast<int>(len), p_.epsilon, center, static_cast<int>(pi.s));
        });
        return;
      }
      unsigned grid = static_cast<unsigned>(std::min<int64_t>(rows, 1 << 20));
      int block = len >= 1024 ? 512 : (len >= 256 ? 256 : 128);
      rowNormKernel<T><<<grid, block, 0, streamOf(args)>>>(x.as<const T>(), y, scale, bias, rows, len, p_.epsilon,
                                                           center, pi);
    });
    KILN_CUDA_CHECK_LAUNCH("normalization");
  }

 private:
  const ir::Layer* layer_;
  NormalizationParams p_;
};

template <class T>
__global__ void lrnKernel(const T* __restrict__ x, T* __restrict__ y, int64_t n, int64_t c, int64_t inner,
                          int64_t size, float alpha, float beta, float bias) {
  KILN_GRID_STRIDE(i, n) {
    int64_t ch = (i / inner) % c;
    int64_t lo = ch - (size - 1) / 2, hi = ch + size / 2;
    if (lo < 0) lo = 0;
    if (hi > c - 1) hi = c - 1;
    float s = 0.f;
    for (int64_t k = lo; k <= hi; ++k) {
      float v = toCompute(x[i + (k - ch) * inner]);
      s += v * v;
    }
    y[i] = fromCompute<T>(static_cast<float>(toCompute(x[i])) / powf(bias + alpha / static_cast<float>(size) * s, beta));
  }
}

class LRNKernel final : public NamedKernel {
 public:
  LRNKernel(std::string name, LRNParams p) : NamedKernel(std::move(name)), p_(p) {}
  void execute(const KernelArgs& args) const override {
    const TensorView& x = args.inputs[0];
    int64_t n = x.count();
    if (n == 0) return;
    int64_t c = x.shape[1], inner = prodDims(x.shape, 2, x.shape.size());
    dispatchFloat(x.type, [&](auto tag) {
      using T = typename decltype(tag)::type;
      lrnKernel<T><<<gridFor(n), 256, 0, streamOf(args)>>>(x.as<const T>(), args.outputs[0].as<T>(), n, c, inner,
                                                           p_.size, p_.alpha, p_.beta, p_.bias);
    });
    KILN_CUDA_CHECK_LAUNCH("lrn");
  }

 private:
  LRNParams p_;
};

}  // namespace

std::string supportsNormalization(const ir::Layer& layer) {
  DataType t = inType(layer, 0);
  if (!isFloat(t)) return typeReason(t, "float32, float16");
  for (size_t i = 1; i < layer.inputs.size(); ++i)
    if (layer.inputs[i] && layer.inputs[i]->type() != t) return "parameters of another type than the input";
  if (layer.as<NormalizationParams>().addsResidual) return "residual LayerNorm has no CUDA kernel yet";
  if (layer.outputs.size() > 1) return "no CUDA kernel writes the Mean / InvStdDev statistics outputs yet";
  return "";
}
std::unique_ptr<Kernel> createNormalization(const std::shared_ptr<DeviceContext>&, const ir::Layer& layer,
                                            const Constants&, const TacticChoice& tactic) {
  return std::make_unique<NormalizationKernel>(tactic.name, layer);
}

std::string supportsLRN(const ir::Layer& layer) { return floatReason(inType(layer, 0)); }
std::unique_ptr<Kernel> createLRN(const std::shared_ptr<DeviceContext>&, const ir::Layer& layer, const Constants&,
                                  const TacticChoice& tactic) {
  return std::make_unique<LRNKernel>(tactic.name, layer.as<LRNParams>());
}

}  // namespace kiln::cuda
