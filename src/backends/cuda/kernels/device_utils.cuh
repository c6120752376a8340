// Device-side helpers shared by the CUDA kernel files: element types, conversions, index math.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "backends/cuda/cuda_common.h"

namespace kiln::cuda {

// Arithmetic type of an element type: float for the 16-bit floats.
template <class T> struct ComputeOf { using type = T; };
template <> struct ComputeOf<__half> { using type = float; };
template <> struct ComputeOf<__nv_bfloat16> { using type = float; };
template <class T> using Compute = typename ComputeOf<T>::type;

template <class T> __device__ __forceinline__ Compute<T> toCompute(T v) { return v; }
template <> __device__ __forceinline__ float toCompute<__half>(__half v) { return __half2float(v); }
template <> __device__ __forceinline__ float toCompute<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }

template <class T, class C> __device__ __forceinline__ T fromCompute(C v) { return static_cast<T>(v); }
template <> __device__ __forceinline__ __half fromCompute<__half, float>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 fromCompute<__nv_bfloat16, float>(float v) {
  return __float2bfloat16_rn(v);
}

template <class T> constexpr bool kIsFloat = std::is_floating_point_v<T> || std::is_same_v<T, __half> ||
                                             std::is_same_v<T, __nv_bfloat16>;

// Offset of flat index `i` (row-major over dims) in a strided operand.
__device__ __forceinline__ int64_t stridedOffset(int64_t i, int rank, const int64_t* dims, const int64_t* strides) {
  int64_t off = 0;
  for (int d = rank - 1; d >= 0; --d) {
    int64_t q = i / dims[d];
    off += (i - q * dims[d]) * strides[d];
    i = q;
  }
  return off;
}

// Element k of an int32 (is64 false) or int64 index tensor.
__device__ __forceinline__ int64_t loadIndex(const void* p, int64_t k, bool is64) {
  return is64 ? static_cast<const int64_t*>(p)[k] : static_cast<const int32_t*>(p)[k];
}

#define KILN_GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); i += static_cast<int64_t>(gridDim.x) * blockDim.x)

// 16 bytes of T. Pointwise kernels over contiguous data move one Pack per thread when the pointers are
// 16-byte aligned: far fewer instructions per byte than one element per thread.
template <class T>
struct alignas(16) Pack {
  static constexpr int kSize = 16 / sizeof(T);
  T v[kSize];
};
inline bool isAligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// y[i] = f(x[i]) for n elements: by Pack when `packed` (x and y 16-byte aligned), the tail one by one.
// Launch with gridFor(n / Pack<T>::kSize + 1) when packed, gridFor(n) otherwise.
template <class T, class F>
__global__ void mapKernel(const T* __restrict__ x, T* __restrict__ y, int64_t n, bool packed, F f) {
  constexpr int V = Pack<T>::kSize;
  const int64_t packs = packed ? n / V : 0;
  for (int64_t p = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; p < packs;
       p += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    Pack<T> v = reinterpret_cast<const Pack<T>*>(x)[p];
#pragma unroll
    for (int k = 0; k < V; ++k) v.v[k] = f(v.v[k]);
    reinterpret_cast<Pack<T>*>(y)[p] = v;
  }
  for (int64_t j = packs * V + blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; j < n;
       j += static_cast<int64_t>(gridDim.x) * blockDim.x)
    y[j] = f(x[j]);
}

// Launches mapKernel<T, F> on `stream`.
template <class T, class F>
void launchMap(const T* x, T* y, int64_t n, F f, cudaStream_t stream) {
  bool packed = isAligned16(x) && isAligned16(y);
  mapKernel<T, F><<<gridFor(packed ? n / Pack<T>::kSize + 1 : n), 256, 0, stream>>>(x, y, n, packed, f);
}

// Row kernels that keep a row of at most kMaxWarpRow elements in one warp's registers (Softmax,
// LayerNorm): f(std::integral_constant<int, kPerLane>) with the smallest of 4, 16 or 32 elements per
// lane that holds n, and the grid for `rows` rows at 8 warps (256 threads) per block.
constexpr int64_t kMaxWarpRow = 1024;
template <class F> void withElementsPerLane(int64_t n, F&& f) {
  if (n <= 128) f(std::integral_constant<int, 4>{});
  else if (n <= 512) f(std::integral_constant<int, 16>{});
  else f(std::integral_constant<int, 32>{});
}
inline unsigned warpRowGrid(int64_t rows) { return static_cast<unsigned>(std::min<int64_t>((rows + 7) / 8, 1 << 20)); }

// A grid-stride loop with index type I (see withIndexType).
#define KILN_GRID_STRIDE_I(I, i, n) \
  for (I i = blockIdx.x * static_cast<I>(blockDim.x) + threadIdx.x; i < (n); i += static_cast<I>(gridDim.x) * blockDim.x)

// Element-size carrier types for type-agnostic data movement.
template <size_t N> struct Bytes;
template <> struct Bytes<1> { using type = uint8_t; };
template <> struct Bytes<2> { using type = uint16_t; };
template <> struct Bytes<4> { using type = uint32_t; };
template <> struct Bytes<8> { using type = uint64_t; };

// A type carried as a value: f(Tag<T>{}) hands T to a generic lambda.
template <class T> struct Tag { using type = T; };

// f(Tag<I>) with the narrowest index type for n elements: uint32_t below 2^31 (32-bit division and
// multiplication cost a fraction of 64-bit ones), else int64_t.
template <class F> void withIndexType(int64_t n, F&& f) {
  if (n < (int64_t(1) << 31)) f(Tag<uint32_t>{});
  else f(Tag<int64_t>{});
}

// f(Tag<T>) for element sizes 1, 2, 4, 8.
template <class F> void dispatchBySize(size_t size, F&& f) {
  switch (size) {
    case 1: f(Tag<uint8_t>{}); break;
    case 2: f(Tag<uint16_t>{}); break;
    case 4: f(Tag<uint32_t>{}); break;
    case 8: f(Tag<uint64_t>{}); break;
    default: fail(ErrorCode::kUnsupported, concat("the CUDA backend has no copy kernel for ", size, "-byte elements"));
  }
}
// f(Tag<float>) / f(Tag<__half>).
template <class F> void dispatchFloat(DataType t, F&& f) {
  switch (t) {
    case DataType::kFloat32: f(Tag<float>{}); break;
    case DataType::kFloat16: f(Tag<__half>{}); break;
    default: fail(ErrorCode::kUnsupported, concat("the CUDA kernel does not support ", dataTypeName(t)));
  }
}
// floats, int32, int64
template <class F> void dispatchNumeric(DataType t, F&& f) {
  switch (t) {
    case DataType::kFloat32: f(Tag<float>{}); break;
    case DataType::kFloat16: f(Tag<__half>{}); break;
    case DataType::kInt32: f(Tag<int32_t>{}); break;
    case DataType::kInt64: f(Tag<int64_t>{}); break;
    default: fail(ErrorCode::kUnsupported, concat("the CUDA kernel does not support ", dataTypeName(t)));
  }
}

template <class T> __device__ __forceinline__ Compute<T> lowestOf() {
  if constexpr (kIsFloat<T>) return -INFINITY;
  else return std::numeric_limits<T>::lowest();
}
template <class T> __device__ __forceinline__ Compute<T> highestOf() {
  if constexpr (kIsFloat<T>) return INFINITY;
  else return std::numeric_limits<T>::max();
}

// ---- reductions across a warp or a block; every participating thread gets the result ----------

struct SumOp {
  template <class A> __device__ __forceinline__ A operator()(A a, A b) const { return a + b; }
};
struct MaxOp {  // fmaxf: a NaN operand yields the other one
  __device__ __forceinline__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

// Butterfly reduction over the 32 lanes of a full warp: combine(mine, other lane's).
template <class A, class Combine>
__device__ __forceinline__ A warpAllReduce(A v, Combine combine) {
  for (int k = 16; k > 0; k >>= 1) v = combine(v, static_cast<A>(__shfl_xor_sync(0xffffffffu, v, k)));
  return v;
}

// Reduction over the whole block: blockDim.x a multiple of 32 (at most 1024), every thread calls it,
// `shared` holds 32 values, `identity` stands in for absent warps. Safe to call repeatedly with one `shared`.
template <class A, class Combine>
__device__ __forceinline__ A blockAllReduce(A v, Combine combine, A identity, A* shared) {
  v = warpAllReduce(v, combine);
  int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  __syncthreads();  // a previous call's readers of shared[0] are done
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = warpAllReduce(lane < static_cast<int>(blockDim.x >> 5) ? shared[lane] : identity, combine);
    if (lane == 0) shared[0] = v;
  }
  __syncthreads();
  return shared[0];
}

inline void fillStrided(StridedShape& s, const std::vector<int64_t>& dims, const std::vector<int64_t>& strides) {
  KILN_CHECK(dims.size() <= static_cast<size_t>(kMaxRank), kUnsupported, "the CUDA backend supports rank <= ",
             kMaxRank, ", got ", dims.size());
  s.rank = static_cast<int>(dims.size());
  for (size_t d = 0; d < dims.size(); ++d) {
    s.dims[d] = dims[d];
    s.strides[d] = strides[d];
  }
}

// Strides of `shape` broadcast to `outShape` (right-aligned; 0 where broadcast).
inline std::vector<int64_t> broadcastStrides(const Dims& shape, const Dims& outShape) {
  std::vector<int64_t> st(outShape.size(), 0);
  Dims own = stridesOf(shape);
  size_t off = outShape.size() - shape.size();
  for (size_t d = 0; d < shape.size(); ++d) st[off + d] = shape[d] == 1 ? 0 : own[d];
  return st;
}

}  // namespace kiln::cuda
