// Pointwise kernels: binary ElementWise with numpy broadcasting (strided operands, dims coalesced),
// Unary, Activation, Cast (runtime type switch), Select, Quantize/Dequantize. Grid-stride loops;
// half types compute in float.
#include <cmath>

#include "backends/cuda/kernels/device_utils.cuh"
#include "backends/cuda/kernels/kernels.h"
#include "backends/cuda/kernels/supports.h"

namespace kiln::cuda {
namespace {

// How each operand of a broadcasting pointwise kernel finds its element for output index i. The mode is
// the same across the grid (a uniform branch): most operands have the output's own shape, are a scalar,
// a row broadcast over leading dims (i % size), or a channel broadcast ((i / inner) % size); the rest
// use the general strided walk. I is uint32_t whenever the output has fewer than 2^31 elements: 32-bit
// division costs a fraction of 64-bit division.
enum class Reach : uint8_t { kSame, kScalar, kRow, kChannel, kStrided };

template <class I>
struct Operands3 {
  int rank;
  I dims[kMaxRank];
  I strides[3][kMaxRank];
  Reach reach[3];
  I inner[3], size[3];
  bool unitLast[3];  // the operand moves along the last dim (stride 1); else it stays put there (stride 0)
  bool packable;     // every Pack of the output reads whole Packs or single elements of each operand
};

// Coalesced broadcast description for up to 3 inputs into `out`.
template <class I>
Operands3<I> describeOperands(const std::vector<const Dims*>& ins, const Dims& out) {
  std::vector<int64_t> dims(out.begin(), out.end());
  std::vector<std::vector<int64_t>> st;
  for (auto* in : ins) st.push_back(broadcastStrides(*in, out));
  std::vector<std::vector<int64_t>*> ptrs;
  for (auto& v : st) ptrs.push_back(&v);
  int rank = coalesceDims(dims, ptrs);
  KILN_CHECK(rank <= kMaxRank, kUnsupported, "the CUDA backend supports rank <= ", kMaxRank);
  Operands3<I> b{};
  b.rank = rank;
  for (int d = 0; d < rank; ++d) b.dims[d] = static_cast<I>(dims[d]);
  for (size_t k = 0; k < st.size(); ++k) {
    for (int d = 0; d < rank; ++d) b.strides[k][d] = static_cast<I>(st[k][d]);
    // The span [first, last] of dims the operand moves along; contiguous there means a simple reach.
    int first = -1, last = -1;
    for (int d = 0; d < rank; ++d)
      if (dims[d] > 1 && st[k][d] != 0) {
        if (first < 0) first = d;
        last = d;
      }
    if (first < 0) {
      b.reach[k] = Reach::kScalar;
      continue;
    }
    int64_t expected = 1;
    bool contiguous = true;
    for (int d = last; d >= first; --d) {
      if (dims[d] == 1) continue;
      contiguous = contiguous && st[k][d] == expected;
      expected *= dims[d];
    }
    int64_t inner = 1;
    for (int d = last + 1; d < rank; ++d) inner *= dims[d];
    b.inner[k] = static_cast<I>(inner);
    b.size[k] = static_cast<I>(expected);
    if (!contiguous) b.reach[k] = Reach::kStrided;
    else if (inner == 1) b.reach[k] = expected == volume(out) ? Reach::kSame : Reach::kRow;
    else b.reach[k] = Reach::kChannel;
  }
  return b;
}

// Whether output Packs of `elemSize`-byte elements can be computed whole: the last dim holds whole Packs,
// and each operand either moves along it with Pack-aligned offsets (16-byte aligned base, other strides
// multiples of the Pack) or stays put along it (one element broadcast to the Pack).
template <class I>
void decidePacking(Operands3<I>& b, const std::vector<const void*>& bases, const void* out, size_t elemSize) {
  const int64_t V = static_cast<int64_t>(16 / elemSize);
  b.packable = b.rank >= 1 && b.dims[b.rank - 1] % V == 0 && isAligned16(out);
  for (size_t k = 0; k < bases.size(); ++k) {
    b.unitLast[k] = b.rank >= 1 && b.dims[b.rank - 1] > 1 && b.strides[k][b.rank - 1] == 1;
    if (b.rank >= 1 && b.dims[b.rank - 1] > 1 && b.strides[k][b.rank - 1] > 1) b.packable = false;
    if (!b.unitLast[k]) continue;
    if (!isAligned16(bases[k])) b.packable = false;
    for (int d = 0; d + 1 < b.rank; ++d)
      if (static_cast<int64_t>(b.strides[k][d]) % V != 0) b.packable = false;
  }
}

// The Pack of operand k that output Pack `first` (its first element index) reads.
template <class T, class I>
__device__ __forceinline__ Pack<T> loadPack(const T* __restrict__ p, I first, const Operands3<I>& b, int k) {
  I off = offsetOf(first, b, k);
  if (b.unitLast[k]) return *reinterpret_cast<const Pack<T>*>(p + off);
  Pack<T> v;
#pragma unroll
  for (int j = 0; j < Pack<T>::kSize; ++j) v.v[j] = p[off];
  return v;
}

template <class I>
__device__ __forceinline__ I offsetOf(I i, const Operands3<I>& b, int k) {
  switch (b.reach[k]) {
    case Reach::kSame: return i;
    case Reach::kScalar: return 0;
    case Reach::kRow: return i % b.size[k];
    case Reach::kChannel: return (i / b.inner[k]) % b.size[k];
    default: {
      I off = 0;
      for (int d = b.rank - 1; d >= 0; --d) {
        I q = i / b.dims[d];
        off += (i - q * b.dims[d]) * b.strides[k][d];
        i = q;
      }
      return off;
    }
  }
}

// ---- binary -------------------------------------------------------------------------------------

template <class C>
__device__ __forceinline__ C binaryOp(ElementWiseOp op, C x, C y) {
  if constexpr (std::is_floating_point_v<C>) {
    switch (op) {
      case ElementWiseOp::kAdd: return x + y;
      case ElementWiseOp::kSub: return x - y;
      case ElementWiseOp::kMul: return x * y;
      case ElementWiseOp::kDiv: return x / y;
      case ElementWiseOp::kPow: return powf(x, y);
      case ElementWiseOp::kMax: return (isnan(x) || isnan(y)) ? NAN : fmaxf(x, y);
      case ElementWiseOp::kMin: return (isnan(x) || isnan(y)) ? NAN : fminf(x, y);
      case ElementWiseOp::kMod: {
        C r = fmodf(x, y);
        if (r != 0 && ((r < 0) != (y < 0))) r += y;
        return r;
      }
      case ElementWiseOp::kFMod: return fmodf(x, y);
      case ElementWiseOp::kPRelu: return x < 0 ? x * y : x;
      default: return 0;
    }
  } else {
    switch (op) {
      case ElementWiseOp::kAdd: return x + y;
      case ElementWiseOp::kSub: return x - y;
      case ElementWiseOp::kMul: return x * y;
      case ElementWiseOp::kDiv: return y == 0 ? C(0) : C(x / y);
      case ElementWiseOp::kPow: return static_cast<C>(pow(static_cast<double>(x), static_cast<double>(y)));
      case ElementWiseOp::kMax: return x > y ? x : y;
      case ElementWiseOp::kMin: return x < y ? x : y;
      case ElementWiseOp::kMod: {
        if (y == 0) return 0;
        C r = x % y;
        if (r != 0 && ((r < 0) != (y < 0))) r += y;
        return r;
      }
      case ElementWiseOp::kFMod: return y == 0 ? C(0) : C(x % y);
      case ElementWiseOp::kAnd: return (x != 0) && (y != 0);
      case ElementWiseOp::kOr: return (x != 0) || (y != 0);
      case ElementWiseOp::kXor: return (x != 0) != (y != 0);
      case ElementWiseOp::kBitShiftLeft: return y >= C(sizeof(C) * 8) || y < 0 ? C(0) : C(x << y);
      case ElementWiseOp::kBitShiftRight: return y >= C(sizeof(C) * 8) || y < 0 ? C(0) : C(x >> y);
      case ElementWiseOp::kBitwiseAnd: return x & y;
      case ElementWiseOp::kBitwiseOr: return x | y;
      case ElementWiseOp::kBitwiseXor: return x ^ y;
      case ElementWiseOp::kPRelu: return x < 0 ? x * y : x;
      default: return 0;
    }
  }
}

template <class C>
__device__ __forceinline__ bool compareOp(ElementWiseOp op, C x, C y) {
  switch (op) {
    case ElementWiseOp::kEqual: return x == y;
    case ElementWiseOp::kLess: return x < y;
    case ElementWiseOp::kGreater: return x > y;
    case ElementWiseOp::kLessOrEqual: return x <= y;
    case ElementWiseOp::kGreaterOrEqual: return x >= y;
    case ElementWiseOp::kAnd: return (x != 0) && (y != 0);
    case ElementWiseOp::kOr: return (x != 0) || (y != 0);
    case ElementWiseOp::kXor: return (x != 0) != (y != 0);
    default: return false;
  }
}

template <class T, bool kCompare, class I>
__global__ void binaryKernel(const T* __restrict__ a, const T* __restrict__ b, void* __restrict__ out, I n,
                             Operands3<I> bc, ElementWiseOp op) {
  KILN_GRID_STRIDE_I(I, i, n) {
    Compute<T> x = toCompute(a[offsetOf(i, bc, 0)]), y = toCompute(b[offsetOf(i, bc, 1)]);
    if constexpr (kCompare) static_cast<uint8_t*>(out)[i] = compareOp(op, x, y) ? 1 : 0;
    else static_cast<T*>(out)[i] = fromCompute<T>(binaryOp(op, x, y));
  }
}

// Arithmetic with broadcasting, one output Pack per thread (decidePacking said so).
template <class T, class I>
__global__ void binaryPackedKernel(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ out, I packs,
                                   Operands3<I> bc, ElementWiseOp op) {
  KILN_GRID_STRIDE_I(I, p, packs) {
    I first = p * static_cast<I>(Pack<T>::kSize);
    Pack<T> x = loadPack(a, first, bc, 0), y = loadPack(b, first, bc, 1), r;
#pragma unroll
    for (int j = 0; j < Pack<T>::kSize; ++j) r.v[j] = fromCompute<T>(binaryOp(op, toCompute(x.v[j]), toCompute(y.v[j])));
    reinterpret_cast<Pack<T>*>(out)[p] = r;
  }
}

class ElementWiseKernel final : public NamedKernel {
 public:
  ElementWiseKernel(std::string name, ElementWiseOp op) : NamedKernel(std::move(name)), op_(op) {}
  void execute(const KernelArgs& args) const override {
    const TensorView& a = args.inputs[0];
    const TensorView& b = args.inputs[1];
    const TensorView& y = args.outputs[0];
    int64_t n = y.count();
    if (n == 0) return;
    bool cmp = y.type == DataType::kBool && a.type != DataType::kBool;
    bool logic = a.type == DataType::kBool;
    auto launch = [&](auto tag) {
      using T = typename decltype(tag)::type;
      withIndexType(n, [&](auto indexTag) {
        using I = typename decltype(indexTag)::type;
        auto bc = describeOperands<I>({&a.shape, &b.shape}, y.shape);
        decidePacking(bc, {a.data, b.data}, y.data, sizeof(T));
        if (!cmp && !logic && bc.packable) {
          int64_t packs = n / Pack<T>::kSize;
          binaryPackedKernel<T, I><<<gridFor(packs), 256, 0, streamOf(args)>>>(a.as<const T>(), b.as<const T>(),
                                                                              y.as<T>(), static_cast<I>(packs), bc, op_);
        } else if (cmp || logic)
          binaryKernel<T, true, I><<<gridFor(n), 256, 0, streamOf(args)>>>(a.as<const T>(), b.as<const T>(), y.data,
                                                                           static_cast<I>(n), bc, op_);
        else
          binaryKernel<T, false, I><<<gridFor(n), 256, 0, streamOf(args)>>>(a.as<const T>(), b.as<const T>(), y.data,
                                                                            static_cast<I>(n), bc, op_);
      });
    };
    if (a.type == DataType::kBool) launch(Tag<uint8_t>{});
    else dispatchNumeric(a.type, launch);
    KILN_CUDA_CHECK_LAUNCH("elementwise");
  }

 private:
  ElementWiseOp op_;
};

// ---- unary --------------------------------------------------------------------------------------

template <class C>
__device__ __forceinline__ C unaryOp(UnaryOp op, C x) {
  if constexpr (std::is_floating_point_v<C>) {
    switch (op) {
      case UnaryOp::kAbs: return fabsf(x);
      case UnaryOp::kNeg: return -x;
      case UnaryOp::kExp: return expf(x);
      case UnaryOp::kLog: return logf(x);
      case UnaryOp::kSqrt: return sqrtf(x);
      case UnaryOp::kReciprocal: return 1.f / x;
      case UnaryOp::kFloor: return floorf(x);
      case UnaryOp::kCeil: return ceilf(x);
      case UnaryOp::kRound: return rintf(x);
      case UnaryOp::kSin: return sinf(x);
      case UnaryOp::kCos: return cosf(x);
      case UnaryOp::kTan: return tanf(x);
      case UnaryOp::kAsin: return asinf(x);
      case UnaryOp::kAcos: return acosf(x);
      case UnaryOp::kAtan: return atanf(x);
      case UnaryOp::kSinh: return sinhf(x);
      case UnaryOp::kCosh: return coshf(x);
      case UnaryOp::kAsinh: return asinhf(x);
      case UnaryOp::kAcosh: return acoshf(x);
      case UnaryOp::kAtanh: return atanhf(x);
      case UnaryOp::kErf: return erff(x);
      case UnaryOp::kSign: return x > 0 ? 1.f : (x < 0 ? -1.f : 0.f);
      default: return x;
    }
  } else {
    switch (op) {
      case UnaryOp::kAbs: return x < 0 ? C(-x) : x;
      case UnaryOp::kNeg: return C(-x);
      case UnaryOp::kSign: return x > 0 ? C(1) : (x < 0 ? C(-1) : C(0));
      case UnaryOp::kNot: return x ? C(0) : C(1);
      case UnaryOp::kBitwiseNot: return C(~x);
      case UnaryOp::kFloor: case UnaryOp::kCeil: case UnaryOp::kRound: return x;
      default: return x;
    }
  }
}

template <class C>
__device__ __forceinline__ bool unaryPredicate(UnaryOp op, C x) {
  switch (op) {
    case UnaryOp::kIsNaN: return isnan(x);
    case UnaryOp::kIsInf: return isinf(x);
    case UnaryOp::kIsInfPositive: return isinf(x) && x > 0;
    case UnaryOp::kIsInfNegative: return isinf(x) && x < 0;
    default: return false;
  }
}

template <class T>
__global__ void unaryPredicateKernel(const T* __restrict__ x, uint8_t* __restrict__ y, int64_t n, UnaryOp op) {
  KILN_GRID_STRIDE(i, n) { y[i] = unaryPredicate(op, toCompute(x[i])) ? 1 : 0; }
}

template <class T>
struct UnaryFn {
  UnaryOp op;
  __device__ __forceinline__ T operator()(T v) const { return fromCompute<T>(unaryOp(op, toCompute(v))); }
};

bool isPredicate(UnaryOp op) {
  return op == UnaryOp::kIsNaN || op == UnaryOp::kIsInf || op == UnaryOp::kIsInfPositive ||
         op == UnaryOp::kIsInfNegative;
}

class UnaryKernel final : public NamedKernel {
 public:
  UnaryKernel(std::string name, UnaryOp op) : NamedKernel(std::move(name)), op_(op) {}
  void execute(const KernelArgs& args) const override {
    const TensorView& x = args.inputs[0];
    int64_t n = x.count();
    if (n == 0) return;
    auto s = streamOf(args);
    if (isPredicate(op_)) {
      dispatchFloat(x.type, [&](auto tag) {
        using T = typename decltype(tag)::type;
        unaryPredicateKernel<T><<<gridFor(n), 256, 0, s>>>(x.as<const T>(), args.outputs[0].as<uint8_t>(), n, op_);
      });
    } else if (x.type == DataType::kBool) {
      launchMap(x.as<const uint8_t>(), args.outputs[0].as<uint8_t>(), n, UnaryFn<uint8_t>{op_}, s);
    } else {
      dispatchNumeric(x.type, [&](auto tag) {
        using T = typename decltype(tag)::type;
        launchMap(x.as<const T>(), args.outputs[0].as<T>(), n, UnaryFn<T>{op_}, s);
      });
    }
    KILN_CUDA_CHECK_LAUNCH("unary");
  }

 private:
  UnaryOp op_;
};

// ---- activation ---------------------------------------------------------------------------------

// NaN stays NaN (as the CPU kernels and ONNX Runtime): clamps are comparisons that let NaN through, not
// fminf/fmaxf, which return the other operand.
__device__ __forceinline__ float clampTo(float x, float lo, float hi) { return x < lo ? lo : (x > hi ? hi : x); }

__device__ __forceinline__ float activate(ActivationType t, float x, float alpha, float beta) {
  switch (t) {
    case ActivationType::kRelu: return x < 0.f ? 0.f : x;
    case ActivationType::kSigmoid: return 1.f / (1.f + expf(-x));
    case ActivationType::kTanh: return tanhf(x);
    case ActivationType::kLeakyRelu: return x >= 0.f ? x : alpha * x;
    case ActivationType::kElu: return x >= 0.f ? x : alpha * (expf(x) - 1.f);
    case ActivationType::kSelu: return x > 0.f ? beta * x : beta * alpha * (expf(x) - 1.f);
    case ActivationType::kClip: return clampTo(x, alpha, beta);
    case ActivationType::kHardSigmoid: return clampTo(alpha * x + beta, 0.f, 1.f);
    case ActivationType::kHardSwish: return x * fmaxf(0.f, fminf(1.f, x / 6.f + 0.5f));
    case ActivationType::kSoftplus: return x > 20.f ? x : log1pf(expf(x));
    case ActivationType::kSoftsign: return x / (1.f + fabsf(x));
    case ActivationType::kThresholdedRelu: return x > alpha ? x : 0.f;
    case ActivationType::kGelu:
      if (alpha == 0.f) return 0.5f * x * (1.f + erff(x * 0.70710678118654752f));
      return 0.5f * x * (1.f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
    case ActivationType::kMish: {
      float sp = x > 20.f ? x : log1pf(expf(x));
      return x * tanhf(sp);
    }
    case ActivationType::kCelu: return x > 0.f ? x : alpha * expm1f(x / alpha);  // one term of max(0, x) + min(0, ...) is 0
    default: return x;
  }
}

template <class T>
struct ActivationFn {
  ActivationType type;
  float alpha, beta;
  __device__ __forceinline__ T operator()(T v) const {
    return fromCompute<T>(activate(type, static_cast<float>(toCompute(v)), alpha, beta));
  }
};

class ActivationKernel final : public NamedKernel {
 public:
  ActivationKernel(std::string name, const ActivationParams& p) : NamedKernel(std::move(name)), p_(p) {}
  void execute(const KernelArgs& args) const override {
    const TensorView& x = args.inputs[0];
    int64_t n = x.count();
    if (n == 0) return;
    dispatchFloat(x.type, [&](auto tag) {
      using T = typename decltype(tag)::type;
      launchMap(x.as<const T>(), args.outputs[0].as<T>(), n, ActivationFn<T>{p_.type, p_.alpha, p_.beta},
                streamOf(args));
    });
    KILN_CUDA_CHECK_LAUNCH("activation");
  }

 private:
  ActivationParams p_;
};

// ---- cast ---------------------------------------------------------------------------------------

// Types are switched at run time inside the kernel (uniform across the grid): one instantiation.
struct Scalar {
  bool isFloat;
  double f;
  int64_t i;
};

__device__ __forceinline__ Scalar loadAny(const void* p, int64_t k, DataType t) {
  switch (t) {
    case DataType::kFloat32: return {true, static_cast<const float*>(p)[k], 0};
    case DataType::kFloat16: return {true, __half2float(static_cast<const __half*>(p)[k]), 0};
    case DataType::kBFloat16: return {true, __bfloat162float(static_cast<const __nv_bfloat16*>(p)[k]), 0};
    case DataType::kFloat64: return {true, static_cast<const double*>(p)[k], 0};
    case DataType::kInt8: return {false, 0, static_cast<const int8_t*>(p)[k]};
    case DataType::kUInt8: return {false, 0, static_cast<const uint8_t*>(p)[k]};
    case DataType::kInt16: return {false, 0, static_cast<const int16_t*>(p)[k]};
    case DataType::kUInt16: return {false, 0, static_cast<const uint16_t*>(p)[k]};
    case DataType::kInt32: return {false, 0, static_cast<const int32_t*>(p)[k]};
    case DataType::kUInt32: return {false, 0, static_cast<const uint32_t*>(p)[k]};
    case DataType::kInt64: return {false, 0, static_cast<const int64_t*>(p)[k]};
    case DataType::kUInt64: return {false, 0, static_cast<int64_t>(static_cast<const uint64_t*>(p)[k])};
    case DataType::kBool: return {false, 0, static_cast<const uint8_t*>(p)[k] ? 1 : 0};
    default: return {false, 0, 0};
  }
}

template <class I>
__device__ __forceinline__ I toInt(const Scalar& s) {
  if (!s.isFloat) return static_cast<I>(s.i);
  if (isnan(s.f)) return I(0);
  return static_cast<I>(static_cast<int64_t>(s.f));  // truncation toward zero
}

__device__ __forceinline__ void storeAny(void* p, int64_t k, DataType t, const Scalar& s) {
  double f = s.isFloat ? s.f : static_cast<double>(s.i);
  switch (t) {
    case DataType::kFloat32: static_cast<float*>(p)[k] = s.isFloat ? static_cast<float>(s.f) : static_cast<float>(s.i); break;
    case DataType::kFloat16: static_cast<__half*>(p)[k] = __float2half_rn(static_cast<float>(f)); break;
    case DataType::kBFloat16: static_cast<__nv_bfloat16*>(p)[k] = __float2bfloat16_rn(static_cast<float>(f)); break;
    case DataType::kFloat64: static_cast<double*>(p)[k] = f; break;
    case DataType::kInt8: static_cast<int8_t*>(p)[k] = toInt<int8_t>(s); break;
    case DataType::kUInt8: static_cast<uint8_t*>(p)[k] = toInt<uint8_t>(s); break;
    case DataType::kInt16: static_cast<int16_t*>(p)[k] = toInt<int16_t>(s); break;
    case DataType::kUInt16: static_cast<uint16_t*>(p)[k] = toInt<uint16_t>(s); break;
    case DataType::kInt32: static_cast<int32_t*>(p)[k] = toInt<int32_t>(s); break;
    case DataType::kUInt32: static_cast<uint32_t*>(p)[k] = toInt<uint32_t>(s); break;
    case DataType::kInt64: static_cast<int64_t*>(p)[k] = toInt<int64_t>(s); break;
    case DataType::kUInt64: static_cast<uint64_t*>(p)[k] = static_cast<uint64_t>(toInt<int64_t>(s)); break;
    case DataType::kBool: static_cast<uint8_t*>(p)[k] = (s.isFloat ? s.f != 0.0 : s.i != 0) ? 1 : 0; break;
    default: break;
  }
}

__global__ void castKernel(const void* __restrict__ x, void* __restrict__ y, int64_t n, DataType from, DataType to) {
  KILN_GRID_STRIDE(i, n) { storeAny(y, i, to, loadAny(x, i, from)); }
}

template <class A, class B>
__global__ void castTyped(const A* __restrict__ x, B* __restrict__ y, int64_t n) {
  KILN_GRID_STRIDE(i, n) { y[i] = fromCompute<B>(static_cast<Compute<B>>(toCompute(x[i]))); }
}

class CastKernel final : public NamedKernel {
 public:
  explicit CastKernel(std::string name) : NamedKernel(std::move(name)) {}
  void execute(const KernelArgs& args) const override {
    const TensorView& x = args.inputs[0];
    const TensorView& y = args.outputs[0];
    launchCast(x.data, x.type, y.data, y.type, x.count(), streamOf(args));
  }
};

// ---- select -------------------------------------------------------------------------------------

template <class T, class I>
__global__ void selectKernel(const uint8_t* __restrict__ c, const T* __restrict__ a, const T* __restrict__ b,
                             T* __restrict__ y, I n, Operands3<I> bc) {
  KILN_GRID_STRIDE_I(I, i, n) { y[i] = c[offsetOf(i, bc, 0)] ? a[offsetOf(i, bc, 1)] : b[offsetOf(i, bc, 2)]; }
}

template <class T, class I>
__global__ void selectPackedKernel(const uint8_t* __restrict__ c, const T* __restrict__ a, const T* __restrict__ b,
                                   T* __restrict__ y, I packs, Operands3<I> bc) {
  KILN_GRID_STRIDE_I(I, p, packs) {
    I first = p * static_cast<I>(Pack<T>::kSize);
    I oc = offsetOf(first, bc, 0);
    Pack<T> x = loadPack(a, first, bc, 1), z = loadPack(b, first, bc, 2), r;
#pragma unroll
    for (int j = 0; j < Pack<T>::kSize; ++j) r.v[j] = c[bc.unitLast[0] ? oc + j : oc] ? x.v[j] : z.v[j];
    reinterpret_cast<Pack<T>*>(y)[p] = r;
  }
}

class SelectKernel final : public NamedKernel {
 public:
  explicit SelectKernel(std::string name) : NamedKernel(std::move(name)) {}
  void execute(const KernelArgs& args) const override {
    const TensorView& y = args.outputs[0];
    int64_t n = y.count();
    if (n == 0) return;
    dispatchBySize(dataTypeSize(y.type), [&](auto tag) {
      using T = typename decltype(tag)::type;
      withIndexType(n, [&](auto indexTag) {
        using I = typename decltype(indexTag)::type;
        auto bc = describeOperands<I>({&args.inputs[0].shape, &args.inputs[1].shape, &args.inputs[2].shape}, y.shape);
        // The condition is read element by element: only its offsets matter (a 1-byte base is fine).
        decidePacking(bc, {nullptr, args.inputs[1].data, args.inputs[2].data}, y.data, sizeof(T));
        if (bc.packable) {
          int64_t packs = n / Pack<T>::kSize;
          selectPackedKernel<T, I><<<gridFor(packs), 256, 0, streamOf(args)>>>(
              args.inputs[0].as<const uint8_t>(), args.inputs[1].as<const T>(), args.inputs[2].as<const T>(), y.as<T>(),
              static_cast<I>(packs), bc);
          return;
        }
        selectKernel<T, I><<<gridFor(n), 256, 0, streamOf(args)>>>(args.inputs[0].as<const uint8_t>(),
                                                                   args.inputs[1].as<const T>(),
                                                                   args.inputs[2].as<const T>(), y.as<T>(),
                                                                   static_cast<I>(n), bc);
      });
    });
    KILN_CUDA_CHECK_LAUNCH("select");
  }
};

// ---- quantize / dequantize (per tensor or per axis) ---------------------------------------------

__device__ __forceinline__ float loadFloat(const void* p, int64_t k, DataType t) {
  Scalar s = loadAny(p, k, t);
  return s.isFloat ? static_cast<float>(s.f) : static_cast<float>(s.i);
}

__global__ void quantizeKernel(const void* __restrict__ x, DataType xt, const void* __restrict__ scale, DataType st,
                               const void* __restrict__ zp, void* __restrict__ y, DataType yt, int64_t n,
                               int64_t axisLen, int64_t inner, bool saturate) {
  KILN_GRID_STRIDE(i, n) {
    int64_t c = axisLen > 1 ? (i / inner) % axisLen : 0;
    float v = rintf(loadFloat(x, i, xt) / loadFloat(scale, c, st));
    if (zp) v += loadFloat(zp, c, yt);
    float lo = 0.f, hi = 255.f;
    switch (yt) {
      case DataType::kInt8: lo = -128.f; hi = 127.f; break;
      case DataType::kUInt8: lo = 0.f; hi = 255.f; break;
      case DataType::kInt16: lo = -32768.f; hi = 32767.f; break;
      case DataType::kUInt16: lo = 0.f; hi = 65535.f; break;
      case DataType::kInt32: lo = -2147483648.f; hi = 2147483520.f; break;
      default: break;
    }
    v = fminf(fmaxf(v, lo), hi);
    storeAny(y, i, yt, Scalar{false, 0, static_cast<int64_t>(v)});
  }
}

__global__ void dequantizeKernel(const void* __restrict__ x, DataType xt, const void* __restrict__ scale, DataType st,
                                 const void* __restrict__ zp, void* __restrict__ y, DataType yt, int64_t n,
                                 int64_t axisLen, int64_t inner) {
  KILN_GRID_STRIDE(i, n) {
    int64_t c = axisLen > 1 ? (i / inner) % axisLen : 0;
    Scalar q = loadAny(x, i, xt);
    Scalar z = zp ? loadAny(zp, c, xt) : Scalar{false, 0, 0};
    float v = static_cast<float>(q.i - z.i) * loadFloat(scale, c, st);
    storeAny(y, i, yt, Scalar{true, v, 0});
  }
}

class QuantizeKernel final : public NamedKernel {
 public:
  QuantizeKernel(std::string name, bool quantize, int64_t axis, bool saturate, const ir::Layer& layer)
      : NamedKernel(std::move(name)),
        quantize_(quantize), axis_(axis), saturate_(saturate), layer_(&layer) {}
  void execute(const KernelArgs& args) const override {
    const TensorView& x = args.inputs[0];
    const TensorView& scale = args.inputs[1];
    const TensorView& y = args.outputs[0];
    int64_t n = x.count();
    if (n == 0) return;
    int64_t axisLen = 1, inner = 1;
    if (scale.count() > 1) {
      int64_t a = normAxis(axis_, static_cast<int64_t>(x.shape.size()), *layer_);
      axisLen = x.shape[a];
      inner = prodDims(x.shape, a + 1, x.shape.size());
    }
    const void* zp = present(args, 2) ? args.inputs[2].data : nullptr;
    if (quantize_)
      quantizeKernel<<<gridFor(n), 256, 0, streamOf(args)>>>(x.data, x.type, scale.data, scale.type, zp, y.data,
                                                             y.type, n, axisLen, inner, saturate_);
    else
      dequantizeKernel<<<gridFor(n), 256, 0, streamOf(args)>>>(x.data, x.type, scale.data, scale.type, zp, y.data,
                                                               y.type, n, axisLen, inner);
    KILN_CUDA_CHECK_LAUNCH("quantize");
  }

 private:
  bool quantize_;
  int64_t axis_;
  bool saturate_;
  const ir::Layer* layer_;
};

}  // namespace

void launchCast(const void* x, DataType from, void* y, DataType to, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  if (from == to) {
    KILN_CUDA_CHECK(cudaMemcpyAsync(y, x, static_cast<size_t>(n) * dataTypeSize(from), cudaMemcpyDeviceToDevice, stream));
    return;
  }
  // fast paths for the precision casts the builder inserts
  if (from == DataType::kFloat32 && to == DataType::kFloat16)
    castTyped<float, __half><<<gridFor(n), 256, 0, stream>>>(static_cast<const float*>(x), static_cast<__half*>(y), n);
  else if (from == DataType::kFloat16 && to == DataType::kFloat32)
    castTyped<__half, float><<<gridFor(n), 256, 0, stream>>>(static_cast<const __half*>(x), static_cast<float*>(y), n);
  else
    castKernel<<<gridFor(n), 256, 0, stream>>>(x, y, n, from, to);
  KILN_CUDA_CHECK_LAUNCH("cast");
}

// ---- rows -----------------------------------------------------------------------------------------

namespace {
bool isBitwise(ElementWiseOp op) {
  switch (op) {
    case ElementWiseOp::kBitShiftLeft: case ElementWiseOp::kBitShiftRight: case ElementWiseOp::kBitwiseAnd:
    case ElementWiseOp::kBitwiseOr: case ElementWiseOp::kBitwiseXor:
      return true;
    default:
      return false;
  }
}
bool isLogic(ElementWiseOp op) {
  return op == ElementWiseOp::kAnd || op == ElementWiseOp::kOr || op == ElementWiseOp::kXor;
}
}  // namespace

std::string supportsElementWise(const ir::Layer& layer) {
  auto op = layer.as<ElementWiseParams>().op;
  DataType t = inType(layer, 0);
  if (inType(layer, 1) != t) return "mixed input types";
  if (isBitwise(op)) return isInt(t) ? "" : typeReason(t, "int32, int64 for bitwise ops");
  if (isLogic(op)) return t == DataType::kBool ? "" : typeReason(t, "bool for logic ops");
  if (t == DataType::kBool) return op == ElementWiseOp::kEqual ? "" : typeReason(t, "float32, float16, int32, int64");
  if (op == ElementWiseOp::kPRelu) return floatReason(t);
  return numericReason(t);
}
std::unique_ptr<Kernel> createElementWise(const std::shared_ptr<DeviceContext>&, const ir::Layer& layer,
                                          const Constants&, const TacticChoice& tactic) {
  return std::make_unique<ElementWiseKernel>(tactic.name, layer.as<ElementWiseParams>().op);
}

std::string supportsUnary(const ir::Layer& layer) {
  auto op = layer.as<UnaryParams>().op;
  DataType t = inType(layer, 0);
  if (op == UnaryOp::kNot) return t == DataType::kBool ? "" : typeReason(t, "bool");
  if (op == UnaryOp::kBitwiseNot) return isInt(t) ? "" : typeReason(t, "int32, int64");
  if (op == UnaryOp::kAbs || op == UnaryOp::kNeg || op == UnaryOp::kSign || op == UnaryOp::kFloor ||
      op == UnaryOp::kCeil || op == UnaryOp::kRound)
    return numericReason(t);
  return floatReason(t);
}
std::unique_ptr<Kernel> createUnary(const std::shared_ptr<DeviceContext>&, const ir::Layer& layer, const Constants&,
                                    const TacticChoice& tactic) {
  return std::make_unique<UnaryKernel>(tactic.name, layer.as<UnaryParams>().op);
}

std::string supportsActivation(const ir::Layer& layer) { return floatReason(inType(layer, 0)); }
std::unique_ptr<Kernel> createActivation(const std::shared_ptr<DeviceContext>&, const ir::Layer& layer,
                                         const Constants&, const TacticChoice& tactic) {
  return std::make_unique<ActivationKernel>(tactic.name, layer.as<ActivationParams>());
}

std::string supportsCast(const ir::Layer& layer) {
  return isCastable(inType(layer, 0)) && isCastable(layer.as<CastParams>().to) ? "" : "no CUDA cast from/to string or fp8";
}
std::unique_ptr<Kernel> createCast(const std::shared_ptr<DeviceContext>&, const ir::Layer&, const Constants&,
                                   const TacticChoice& tactic) {
  return std::make_unique<CastKernel>(tactic.name);
}

std::string supportsSelect(const ir::Layer& layer) {
  return inType(layer, 0) == DataType::kBool && isMovable(inType(layer, 1)) ? "" : "Select needs a bool condition";
}
std::unique_ptr<Kernel> createSelect(const std::shared_ptr<DeviceContext>&, const ir::Layer&, const Constants&,
                                     const TacticChoice& tactic) {
  return std::make_unique<SelectKernel>(tactic.name);
}

namespace {
bool isQuantized(DataType t) {
  return t == DataType::kInt8 || t == DataType::kUInt8 || t == DataType::kInt16 || t == DataType::kUInt16 ||
         t == DataType::kInt32;
}
}  // namespace

std::string supportsQuantize(const ir::Layer& layer) {
  if (layer.as<QuantizeParams>().blockSize > 0) return "blocked quantization";
  DataType t = inType(layer, 0);
  if (!isFloat(t)) return typeReason(t, "float32, float16 inputs");
  DataType o = outType(layer);
  return isQuantized(o) ? "" : typeReason(o, "int8, uint8, int16, uint16, int32 outputs");
}
std::unique_ptr<Kernel> createQuantize(const std::shared_ptr<DeviceContext>&, const ir::Layer& layer, const Constants&,
                                       const TacticChoice& tactic) {
  const auto& p = layer.as<QuantizeParams>();
  return std::make_unique<QuantizeKernel>(tactic.name, true, p.axis, p.saturate, layer);
}

std::string supportsDequantize(const ir::Layer& layer) {
  if (layer.as<DequantizeParams>().blockSize > 0) return "blocked dequantization";
  DataType t = inType(layer, 0);
  if (!isQuantized(t)) return typeReason(t, "int8, uint8, int16, uint16, int32 inputs");
  return isFloat(outType(layer)) ? "" : typeReason(outType(layer), "float32, float16 outputs");
}
std::unique_ptr<Kernel> createDequantize(const std::shared_ptr<DeviceContext>&, const ir::Layer& layer,
                                         const Constants&, const TacticChoice& tactic) {
  return std::make_unique<QuantizeKernel>(tactic.name, false, layer.as<DequantizeParams>().axis, true, layer);
}

}  // namespace kiln::cuda
