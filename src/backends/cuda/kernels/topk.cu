// TopK along an axis: one block per line. Lines up to 2048 elements are bitonic-sorted in shared
// memory; longer lines use k rounds of a block-wide selection of the next best (value, index).
// Order: largest (or smallest) first, ties by lower index; NaN counts as larger than every number (as
// numpy's sort, torch.topk and the CPU kernel).
#include <cmath>

#include "backends/cuda/kernels/device_utils.cuh"
#include "backends/cuda/kernels/kernels.h"
#include "backends/cuda/kernels/supports.h"

namespace kiln::cuda {
namespace {

constexpr int kSortMax = 2048;
constexpr int kBlock = 256;

__device__ __forceinline__ bool better(float a, int64_t ia, float b, int64_t ib, bool largest) {
  if (ia < 0) return false;
  if (ib < 0) return true;
  const bool aNaN = isnan(a), bNaN = isnan(b);
  if (aNaN || bNaN) return aNaN && bNaN ? ia < ib : (largest ? aNaN : bNaN);
  if (a == b) return ia < ib;
  return largest ? a > b : a < b;
}

template <class T>
__global__ void topkSortKernel(const T* __restrict__ x, T* __restrict__ vals, int64_t* __restrict__ idx, int64_t lines,
                               int64_t len, int64_t inner, int64_t k, bool largest, int pow2) {
  __shared__ float sv[kSortMax];
  __shared__ int si[kSortMax];
  for (int64_t l = blockIdx.x; l < lines; l += gridDim.x) {
    int64_t base = (l / inner) * len * inner + l % inner;
    int64_t obase = (l / inner) * k * inner + l % inner;
    for (int i = threadIdx.x; i < pow2; i += blockDim.x) {
      sv[i] = i < len ? static_cast<float>(toCompute(x[base + i * inner])) : 0.f;
      si[i] = i < len ? i : -1;
    }
    __syncthreads();
    for (int size = 2; size <= pow2; size <<= 1) {
      for (int stride = size >> 1; stride > 0; stride >>= 1) {
        for (int i = threadIdx.x; i < pow2; i += blockDim.x) {
          int j = i ^ stride;
          if (j > i) {
            bool ascending = (i & size) == 0;  // "ascending" = best first
            bool swap = ascending ? better(sv[j], si[j], sv[i], si[i], largest)
                                  : better(sv[i], si[i], sv[j], si[j], largest);
            if (swap) {
              float tv = sv[i]; sv[i] = sv[j]; sv[j] = tv;
              int ti = si[i]; si[i] = si[j]; si[j] = ti;
            }
          }
        }
        __syncthreads();
      }
    }
    for (int64_t i = threadIdx.x; i < k; i += blockDim.x) {
      vals[obase + i * inner] = x[base + static_cast<int64_t>(si[i]) * inner];
      idx[obase + i * inner] = si[i];
    }
    __syncthreads();
  }
}

template <class T>
__global__ void topkSelectKernel(const T* __restrict__ x, T* __restrict__ vals, int64_t* __restrict__ idx,
                                 int64_t lines, int64_t len, int64_t inner, int64_t k, bool largest) {
  __shared__ float wv[32];
  __shared__ int64_t wi[32];
  for (int64_t l = blockIdx.x; l < lines; l += gridDim.x) {
    int64_t base = (l / inner) * len * inner + l % inner;
    int64_t obase = (l / inner) * k * inner + l % inner;
    float prevV = 0.f;
    int64_t prevI = -1;
    for (int64_t r = 0; r < k; ++r) {
      float bv = 0.f;
      int64_t bi = -1;
      for (int64_t i = threadIdx.x; i < len; i += blockDim.x) {
        float v = toCompute(x[base + i * inner]);
        bool after = prevI < 0 || better(prevV, prevI, v, i, largest);
        if (after && better(v, i, bv, bi, largest)) { bv = v; bi = i; }
      }
      for (int s = 16; s > 0; s >>= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, bv, s);
        int64_t oi = __shfl_xor_sync(0xffffffffu, bi, s);
        if (better(ov, oi, bv, bi, largest)) { bv = ov; bi = oi; }
      }
      int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
      if (lane == 0) { wv[warp] = bv; wi[warp] = bi; }
      __syncthreads();
      if (threadIdx.x == 0) {
        for (int w = 1; w < static_cast<int>(blockDim.x >> 5); ++w)
          if (better(wv[w], wi[w], wv[0], wi[0], largest)) { wv[0] = wv[w]; wi[0] = wi[w]; }
        vals[obase + r * inner] = wi[0] >= 0 ? x[base + wi[0] * inner] : T(0);
        idx[obase + r * inner] = wi[0];
      }
      __syncthreads();
      prevV = wv[0];
      prevI = wi[0];
      __syncthreads();
    }
  }
}

class TopKKernel final : public NamedKernel {
 public:
  TopKKernel(std::string name, const ir::Layer& layer) : NamedKernel(std::move(name)), layer_(&layer), p_(layer.as<TopKParams>()) {}
  void execute(const KernelArgs& args) const override {
    const TensorView& x = args.inputs[0];
    const TensorView& vals = args.outputs[0];
    if (vals.count() == 0) return;
    int64_t rank = static_cast<int64_t>(x.shape.size());
    int64_t a = normAxis(p_.axis, rank, *layer_);
    int64_t len = x.shape[a], inner = prodDims(x.shape, a + 1, rank), k = vals.shape[a];
    int64_t lines = x.count() / std::max<int64_t>(len, 1);
    unsigned grid = static_cast<unsigned>(std::min<int64_t>(lines, 1 << 16));
    dispatchNumeric(x.type, [&](auto tag) {
      using T = typename decltype(tag)::type;
      if (len <= kSortMax) {
        int pow2 = 1;
        while (pow2 < len) pow2 <<= 1;
        topkSortKernel<T><<<grid, kBlock, 0, streamOf(args)>>>(x.as<const T>(), vals.as<T>(),
                                                               args.outputs[1].as<int64_t>(), lines, len, inner, k,
                                                               p_.largest, pow2);
      } else {
        topkSelectKernel<T><<<grid, kBlock, 0, streamOf(args)>>>(x.as<const T>(), vals.as<T>(),
                                                                 args.outputs[1].as<int64_t>(), lines, len, inner, k,
                                                                 p_.largest);
      }
    });
    KILN_CUDA_CHECK_LAUNCH("topk");
  }

 private:
  const ir::Layer* layer_;
  TopKParams p_;
};

}  // namespace

std::string supportsTopK(const ir::Layer& layer) { return numericReason(inType(layer, 0)); }
std::unique_ptr<Kernel> createTopK(const std::shared_ptr<DeviceContext>&, const ir::Layer& layer, const Constants&,
                                   const TacticChoice& tactic) {
  return std::make_unique<TopKKernel>(tactic.name, layer);
}

}  // namespace kiln::cuda
