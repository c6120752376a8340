// Normalizations with fp32 statistics, float32/float16/bfloat16 data. Batch: pointwise with per-channel
// mean/var/scale/bias. Instance, Layer, Group and RMS: one block per normalized row, two passes (mean, then
// centered variance) over the row, scale/bias index = (row % M) * A + (j / B) % S. Layer and RMS rows of at
// most 1024 elements whose scale/bias index is j % S take one warp each with the row in registers, moving
// 16 bytes per load when the row length, S and the pointers allow. Layer/RMS with a residual
// (addsResidual) normalize s = x + r, rounded to the data type, and write s when it is an output; x and r
// are read once. LRN: one thread per element.
#include <cmath>

#include "backends/cuda/kernels/device_utils.cuh"
#include "backends/cuda/kernels/kernels.h"
#include "backends/cuda/kernels/supports.h"

namespace kiln::cuda {
namespace {

__device__ __forceinline__ float blockSum(float v, float* shared) { return blockAllReduce(v, SumOp{}, 0.f, shared); }

// f(Tag<T>) for float32, float16 and bfloat16.
template <class F> void dispatchNormType(DataType t, F&& f) {
  switch (t) {
    case DataType::kFloat32: f(Tag<float>{}); break;
    case DataType::kFloat16: f(Tag<__half>{}); break;
    case DataType::kBFloat16: f(Tag<__nv_bfloat16>{}); break;
    default: fail(ErrorCode::kUnsupported, concat("the CUDA normalization has no kernel for ", dataTypeName(t)));
  }
}

struct ParamIndex {
  int64_t m, a, b, s;  // index = (row % m) * a + (j / b) % s
};

// The row's data: x, or with a residual s = x + r, written first to `sum` (the sum output, else y as
// scratch) and re-read from there by the later passes (each thread re-reads only what its block wrote
// before a barrier).
template <class T>
__global__ void rowNormKernel(const T* __restrict__ x, const T* __restrict__ residual, T* y, T* sumOut,
                              const T* __restrict__ scale, const T* __restrict__ bias, int64_t rows, int64_t len,
                              float eps, bool center, ParamIndex pi) {
  __shared__ float shared[32];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* xr = x + row * len;
    T* yr = y + row * len;
    const T* src = xr;
    float s = 0.f;
    if (residual) {
      const T* rr = residual + row * len;
      T* sr = (sumOut ? sumOut : y) + row * len;
      for (int64_t j = threadIdx.x; j < len; j += blockDim.x) {
        T v = fromCompute<T>(static_cast<float>(toCompute(xr[j])) + static_cast<float>(toCompute(rr[j])));
        sr[j] = v;
        s += static_cast<float>(toCompute(v));
      }
      src = sr;
    } else if (center) {
      for (int64_t j = threadIdx.x; j < len; j += blockDim.x) s += toCompute(xr[j]);
    }
    // blockSum's barriers also make the sum written above visible to the whole block.
    float total = blockSum(s, shared);
    float mean = center ? total / static_cast<float>(len) : 0.f;
    float q = 0.f;
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x) {
      float d = static_cast<float>(toCompute(src[j])) - mean;
      q += d * d;
    }
    float inv = rsqrtf(blockSum(q, shared) / static_cast<float>(len) + eps);
    int64_t rowBase = (row % pi.m) * pi.a;
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x) {
      int64_t p = rowBase + (j / pi.b) % pi.s;
      float v = (static_cast<float>(toCompute(src[j])) - mean) * inv;
      if (scale) v *= static_cast<float>(toCompute(scale[p]));
      if (bias) v += static_cast<float>(toCompute(bias[p]));
      yr[j] = fromCompute<T>(v);
    }
  }
}

// kWidth consecutive elements, loaded and stored as one access (16 bytes for the vector rows).
template <class T, int kWidth>
struct alignas(sizeof(T) * kWidth) Vec {
  T v[kWidth];
};

// One warp per row of len <= 32 * kVecsPerLane * kWidth elements kept in registers as floats. Lane l holds
// the vectors l, l + 32, ... of kWidth elements (len and paramCount multiples of kWidth, pointers aligned
// to the vector size). scale/bias index j % paramCount. x and r are read once; with a residual the
// rounded sum is what the statistics see, and it is stored to sumOut when that is given.
template <class T, int kWidth, int kVecsPerLane>
__global__ void warpRowNormKernel(const T* __restrict__ x, const T* __restrict__ residual, T* __restrict__ y,
                                  T* __restrict__ sumOut, const T* __restrict__ scale, const T* __restrict__ bias,
                                  int64_t rows, int len, float eps, bool center, int paramCount) {
  using V = Vec<T, kWidth>;
  const int lane = threadIdx.x & 31;
  const int vecs = len / kWidth;
  const int64_t warps = (static_cast<int64_t>(gridDim.x) * blockDim.x) >> 5;
  for (int64_t row = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) >> 5; row < rows; row += warps) {
    const V* xr = reinterpret_cast<const V*>(x + row * len);
    float v[kVecsPerLane][kWidth];
    float s = 0.f;
#pragma unroll
    for (int k = 0; k < kVecsPerLane; ++k) {
      const int i = lane + 32 * k;
      if (i >= vecs) {
#pragma unroll
        for (int e = 0; e < kWidth; ++e) v[k][e] = 0.f;
        continue;
      }
      V a = xr[i];
      if (residual) {
        V b = reinterpret_cast<const V*>(residual + row * len)[i];
        V sum;
#pragma unroll
        for (int e = 0; e < kWidth; ++e) {
          sum.v[e] = fromCompute<T>(static_cast<float>(toCompute(a.v[e])) + static_cast<float>(toCompute(b.v[e])));
          v[k][e] = static_cast<float>(toCompute(sum.v[e]));
        }
        if (sumOut) reinterpret_cast<V*>(sumOut + row * len)[i] = sum;
      } else {
#pragma unroll
        for (int e = 0; e < kWidth; ++e) v[k][e] = static_cast<float>(toCompute(a.v[e]));
      }
#pragma unroll
      for (int e = 0; e < kWidth; ++e) s += v[k][e];
    }
    const float mean = center ? warpAllReduce(s, SumOp{}) / static_cast<float>(len) : 0.f;
    float q = 0.f;
#pragma unroll
    for (int k = 0; k < kVecsPerLane; ++k) {
      if (lane + 32 * k >= vecs) continue;
#pragma unroll
      for (int e = 0; e < kWidth; ++e) {
        const float d = v[k][e] - mean;
        q += d * d;
      }
    }
    const float inv = rsqrtf(warpAllReduce(q, SumOp{}) / static_cast<float>(len) + eps);
    V* yr = reinterpret_cast<V*>(y + row * len);
#pragma unroll
    for (int k = 0; k < kVecsPerLane; ++k) {
      const int i = lane + 32 * k;
      if (i >= vecs) continue;
      const int p = (i * kWidth) % paramCount;  // a multiple of kWidth: the vector stays inside the params
      V sc, bi, out;
      if (scale) sc = *reinterpret_cast<const V*>(scale + p);
      if (bias) bi = *reinterpret_cast<const V*>(bias + p);
#pragma unroll
      for (int e = 0; e < kWidth; ++e) {
        float o = (v[k][e] - mean) * inv;
        if (scale) o *= static_cast<float>(toCompute(sc.v[e]));
        if (bias) o += static_cast<float>(toCompute(bi.v[e]));
        out.v[e] = fromCompute<T>(o);
      }
      yr[i] = out;
    }
  }
}

// Launches warpRowNormKernel with the fewest vectors per lane that hold the row: kWidth 16-byte vectors
// (1, 2, 4 or 8 per lane), or single elements (4, 16 or 32 per lane). len <= kMaxWarpRow.
template <class T>
void launchWarpRowNorm(bool vectorized, const T* x, const T* residual, T* y, T* sumOut, const T* scale,
                       const T* bias, int64_t rows, int len, float eps, bool center, int paramCount,
                       cudaStream_t stream) {
  auto launch = [&](auto width, auto perLane) {
    warpRowNormKernel<T, decltype(width)::value, decltype(perLane)::value><<<warpRowGrid(rows), 256, 0, stream>>>(
        x, residual, y, sumOut, scale, bias, rows, len, eps, center, paramCount);
  };
  if (vectorized) {
    constexpr int W = 16 / sizeof(T);
    std::integral_constant<int, W> width;
    const int perLane = (len / W + 31) / 32;
    if (perLane <= 1) launch(width, std::integral_constant<int, 1>{});
    else if (perLane <= 2) launch(width, std::integral_constant<int, 2>{});
    else if (perLane <= 4) launch(width, std::integral_constant<int, 4>{});
    else launch(width, std::integral_constant<int, 8>{});
    return;
  }
  withElementsPerLane(len, [&](auto perLane) { launch(std::integral_constant<int, 1>{}, perLane); });
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
    dispatchNormType(x.type, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* scale = static_cast<const T*>(in(1));
      const T* bias = static_cast<const T*>(in(2));
      T* y = args.outputs[0].as<T>();
      // addsResidual: r is input 3, the sum output (when wanted) output 1
      const T* residual = p_.addsResidual ? static_cast<const T*>(in(3)) : nullptr;
      T* sumOut = p_.addsResidual && args.outputs.size() > 1 ? static_cast<T*>(args.outputs[1].data) : nullptr;
      if (p_.addsResidual && residual == nullptr)
        fail(ErrorCode::kInvalidArgument, concat(layer_->describe(), ": the residual input (3) is missing"));
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
        constexpr int W = 16 / sizeof(T);
        const bool vectorized = len % W == 0 && (!scale || pi.s % W == 0) && isAligned16(x.data) &&
                                isAligned16(y) && isAligned16(residual) && isAligned16(sumOut) &&
                                isAligned16(scale) && isAligned16(bias);
        launchWarpRowNorm<T>(vectorized, x.as<const T>(), residual, y, sumOut, scale, bias, rows,
                             static_cast<int>(len), p_.epsilon, center, static_cast<int>(pi.s), streamOf(args));
      } else {
        unsigned grid = static_cast<unsigned>(std::min<int64_t>(rows, 1 << 20));
        int block = len >= 1024 ? 512 : (len >= 256 ? 256 : 128);
        rowNormKernel<T><<<grid, block, 0, streamOf(args)>>>(x.as<const T>(), residual, y, sumOut, scale, bias, rows,
                                                             len, p_.epsilon, center, pi);
      }
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
  if (!isFloat(t) && t != DataType::kBFloat16) return typeReason(t, "float32, float16, bfloat16");
  for (size_t i = 1; i < layer.inputs.size(); ++i)
    if (layer.inputs[i] && layer.inputs[i]->type() != t) return "parameters of another type than the input";
  const auto& p = layer.as<NormalizationParams>();
  if (p.addsResidual) {
    if (p.type != NormalizationType::kLayer && p.type != NormalizationType::kRMS)
      return "only layer and RMS normalizations add a residual";
    if (layer.inputs.size() != 4 || !layer.inputs[3]) return "the residual input (3) is missing";
    return layer.outputs.size() <= 2 ? "" : "a residual normalization has at most two outputs (y, the sum)";
  }
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
