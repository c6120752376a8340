// Pointwise: interprets a fused element-wise program (PointwiseParams) over chunks of 256 output
// elements, one float buffer per register, chunks in parallel. Each instruction computes exactly what
// the CPU kernel of the layer it replaces computes (float math, half types rounded after each step), so
// a fused chain gives the results of its layers run one by one.
#include <cmath>
#include <vector>

#include "backends/cpu/kernels/gelu.h"
#include "backends/cpu/kernels/compute_common.h"
#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"
#include "ir/pointwise_program.h"

namespace kiln::cpu {
namespace {

constexpr int64_t kChunk = 256;

// Where input k's elements lie for each output index: strides aligned to the output's dims (0 where it
// broadcasts). Same-shape and one-element inputs take the fast paths.
struct InputReach {
  enum Kind { kSame, kScalar, kStrided } kind = kStrided;
  Dims strides;
};

InputReach reachOf(const Dims& in, const Dims& out, const ir::Layer& layer) {
  InputReach r;
  if (volume(in) == 1) r.kind = InputReach::kScalar;
  else if (volume(in) == volume(out)) r.kind = InputReach::kSame;
  if (r.kind != InputReach::kStrided) return r;
  KILN_CHECK(in.size() <= out.size(), kInvalidArgument, layer.describe(), ": input shape ", dimsToString(in),
             " does not broadcast to ", dimsToString(out));
  Dims st = stridesOf(in);
  r.strides.assign(out.size(), 0);
  size_t off = out.size() - in.size();
  for (size_t d = 0; d < in.size(); ++d) {
    KILN_CHECK(in[d] == out[off + d] || in[d] == 1, kInvalidArgument, layer.describe(), ": input shape ",
               dimsToString(in), " does not broadcast to ", dimsToString(out));
    r.strides[off + d] = in[d] == 1 ? 0 : st[d];
  }
  return r;
}

template <class T>
void loadAs(const TensorView& v, const InputReach& reach, const Dims& out, int64_t begin, int64_t n, float* dst) {
  const T* src = v.as<const T>();
  auto value = [](T x) {
    if constexpr (std::is_same_v<T, bool>) return x ? 1.f : 0.f;
    else return static_cast<float>(static_cast<ComputeType<T>>(x));
  };
  if (reach.kind == InputReach::kSame) {
    for (int64_t i = 0; i < n; ++i) dst[i] = value(src[begin + i]);
    return;
  }
  if (reach.kind == InputReach::kScalar) {
    const float x = value(src[0]);
    for (int64_t i = 0; i < n; ++i) dst[i] = x;
    return;
  }
  // Walk the output's multi-index from `begin`, carrying the input offset.
  const int rank = static_cast<int>(out.size());
  int64_t idx[16] = {}, rem = begin, offset = 0;
  for (int d = rank - 1; d >= 0; --d) {
    idx[d] = rem % out[d];
    rem /= out[d];
    offset += idx[d] * reach.strides[d];
  }
  for (int64_t i = 0; i < n; ++i) {
    dst[i] = value(src[offset]);
    for (int d = rank - 1; d >= 0; --d) {
      offset += reach.strides[d];
      if (++idx[d] < out[d]) break;
      offset -= idx[d] * reach.strides[d];
      idx[d] = 0;
    }
  }
}

void load(const TensorView& v, const InputReach& reach, const Dims& out, int64_t begin, int64_t n, float* dst,
          const ir::Layer& layer) {
  switch (v.type) {
    case DataType::kFloat32: loadAs<float>(v, reach, out, begin, n, dst); break;
    case DataType::kFloat16: loadAs<Half>(v, reach, out, begin, n, dst); break;
    case DataType::kBFloat16: loadAs<BHalf>(v, reach, out, begin, n, dst); break;
    case DataType::kInt32: loadAs<int32_t>(v, reach, out, begin, n, dst); break;
    case DataType::kInt64: loadAs<int64_t>(v, reach, out, begin, n, dst); break;
    case DataType::kBool: loadAs<bool>(v, reach, out, begin, n, dst); break;
    default: unsupportedType(v.type, layer);
  }
}

// Rounds float values to `type`'s precision, as storing them into a tensor of that type and reading back.
void roundTo(DataType type, float* v, int64_t n) {
  if (type == DataType::kFloat16)
    for (int64_t i = 0; i < n; ++i) v[i] = static_cast<float>(Half(v[i]));
  else if (type == DataType::kBFloat16)
    for (int64_t i = 0; i < n; ++i) v[i] = static_cast<float>(BHalf(v[i]));
}

// The binary ops of elementwise.cpp on float compute values.
template <class F>
void binary(const float* x, const float* y, float* r, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) r[i] = f(x[i], y[i]);
}

void elementWise(ElementWiseOp op, const float* x, const float* y, float* r, int64_t n) {
  switch (op) {
    case ElementWiseOp::kAdd: binary(x, y, r, n, [](float a, float b) { return a + b; }); break;
    case ElementWiseOp::kSub: binary(x, y, r, n, [](float a, float b) { return a - b; }); break;
    case ElementWiseOp::kMul: binary(x, y, r, n, [](float a, float b) { return a * b; }); break;
    case ElementWiseOp::kDiv: binary(x, y, r, n, [](float a, float b) { return a / b; }); break;
    case ElementWiseOp::kPow: binary(x, y, r, n, [](float a, float b) { return std::pow(a, b); }); break;
    case ElementWiseOp::kMax:
      binary(x, y, r, n, [](float a, float b) { return (std::isnan(a) || std::isnan(b)) ? a + b : (a < b ? b : a); });
      break;
    case ElementWiseOp::kMin:
      binary(x, y, r, n, [](float a, float b) { return (std::isnan(a) || std::isnan(b)) ? a + b : (b < a ? b : a); });
      break;
    case ElementWiseOp::kMod:
      binary(x, y, r, n, [](float a, float b) {
        float m = std::fmod(a, b);
        if (m != 0 && ((m < 0) != (b < 0))) m += b;
        return m;
      });
      break;
    case ElementWiseOp::kFMod: binary(x, y, r, n, [](float a, float b) { return std::fmod(a, b); }); break;
    case ElementWiseOp::kPRelu: binary(x, y, r, n, [](float a, float b) { return a < 0 ? a * b : a; }); break;
    default: fail(ErrorCode::kInternal, concat("pointwise: element-wise op ", static_cast<int>(op), " in a program"));
  }
}

template <class F>
void map(const float* x, float* r, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) r[i] = f(x[i]);
}

// The float ops of unary.cpp.
void unary(UnaryOp op, const float* x, float* r, int64_t n) {
  switch (op) {
    case UnaryOp::kAbs: map(x, r, n, [](float v) { return std::fabs(v); }); break;
    case UnaryOp::kNeg: map(x, r, n, [](float v) { return -v; }); break;
    case UnaryOp::kSign:
      map(x, r, n, [](float v) { return std::isnan(v) ? v : static_cast<float>((0.f < v) - (v < 0.f)); });
      break;
    case UnaryOp::kExp: map(x, r, n, [](float v) { return std::exp(v); }); break;
    case UnaryOp::kLog: map(x, r, n, [](float v) { return std::log(v); }); break;
    case UnaryOp::kSqrt: map(x, r, n, [](float v) { return std::sqrt(v); }); break;
    case UnaryOp::kReciprocal: map(x, r, n, [](float v) { return 1.f / v; }); break;
    case UnaryOp::kFloor: map(x, r, n, [](float v) { return std::floor(v); }); break;
    case UnaryOp::kCeil: map(x, r, n, [](float v) { return std::ceil(v); }); break;
    case UnaryOp::kRound: map(x, r, n, [](float v) { return std::nearbyint(v); }); break;
    case UnaryOp::kSin: map(x, r, n, [](float v) { return std::sin(v); }); break;
    case UnaryOp::kCos: map(x, r, n, [](float v) { return std::cos(v); }); break;
    case UnaryOp::kTan: map(x, r, n, [](float v) { return std::tan(v); }); break;
    case UnaryOp::kAsin: map(x, r, n, [](float v) { return std::asin(v); }); break;
    case UnaryOp::kAcos: map(x, r, n, [](float v) { return std::acos(v); }); break;
    case UnaryOp::kAtan: map(x, r, n, [](float v) { return std::atan(v); }); break;
    case UnaryOp::kSinh: map(x, r, n, [](float v) { return std::sinh(v); }); break;
    case UnaryOp::kCosh: map(x, r, n, [](float v) { return std::cosh(v); }); break;
    case UnaryOp::kAsinh: map(x, r, n, [](float v) { return std::asinh(v); }); break;
    case UnaryOp::kAcosh: map(x, r, n, [](float v) { return std::acosh(v); }); break;
    case UnaryOp::kAtanh: map(x, r, n, [](float v) { return std::atanh(v); }); break;
    case UnaryOp::kErf: map(x, r, n, [](float v) { return detail::erfApprox(v); }); break;
    default: fail(ErrorCode::kInternal, concat("pointwise: unary op ", static_cast<int>(op), " in a program"));
  }
}

float softplus(float v) { return v > 0 ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v)); }

// The float activations of activation.cpp; `type` is the register's (float32 GELU takes its own loop there).
void activation(ActivationType type, float alpha, float beta, DataType registerType, const float* x, float* r,
                int64_t n) {
  switch (type) {
    case ActivationType::kRelu: map(x, r, n, [](float v) { return std::isnan(v) ? v : (v < 0.f ? 0.f : v); }); break;
    case ActivationType::kClip:
      map(x, r, n, [=](float v) { return std::isnan(v) ? v : (v < alpha ? alpha : (v > beta ? beta : v)); });
      break;
    case ActivationType::kSigmoid:
      map(x, r, n, [](float v) {
        if (v >= 0) return 1.f / (1.f + std::exp(-v));
        float e = std::exp(v);
        return e / (1.f + e);
      });
      break;
    case ActivationType::kTanh: map(x, r, n, [](float v) { return std::tanh(v); }); break;
    case ActivationType::kLeakyRelu: map(x, r, n, [=](float v) { return v < 0 ? alpha * v : v; }); break;
    case ActivationType::kElu: map(x, r, n, [=](float v) { return v < 0 ? alpha * std::expm1(v) : v; }); break;
    case ActivationType::kSelu:
      map(x, r, n, [=](float v) { return v <= 0 ? beta * alpha * std::expm1(v) : beta * v; });
      break;
    case ActivationType::kHardSigmoid:
      map(x, r, n, [=](float v) {
        float a = alpha * v + beta;
        return a < 0.f ? 0.f : (a > 1.f ? 1.f : a);
      });
      break;
    case ActivationType::kHardSwish:
      map(x, r, n, [](float v) { return v * std::max(0.f, std::min(1.f, v / 6.f + 0.5f)); });
      break;
    case ActivationType::kSoftplus: map(x, r, n, [](float v) { return softplus(v); }); break;
    case ActivationType::kSoftsign: map(x, r, n, [](float v) { return v / (1.f + std::fabs(v)); }); break;
    case ActivationType::kThresholdedRelu: map(x, r, n, [=](float v) { return v > alpha ? v : 0.f; }); break;
    case ActivationType::kGelu:
      if (alpha == 0.f && registerType == DataType::kFloat32) {
        geluErfFloat(x, r, n);
      } else if (alpha == 0.f) {
        map(x, r, n, [](float v) { return 0.5f * v * (1.f + detail::erfApprox(v * 0.70710678118654752440f)); });
      } else {
        map(x, r, n, [](float v) {
          const float k = 0.79788456080286535588f;  // sqrt(2/pi)
          return 0.5f * v * (1.f + std::tanh(k * (v + 0.044715f * v * v * v)));
        });
      }
      break;
    case ActivationType::kMish: map(x, r, n, [](float v) { return v * std::tanh(softplus(v)); }); break;
    case ActivationType::kCelu: map(x, r, n, [=](float v) { return v > 0.f ? v : alpha * std::expm1(v / alpha); }); break;
    default: fail(ErrorCode::kInternal, concat("pointwise: activation ", static_cast<int>(type), " in a program"));
  }
}

void store(const float* v, const TensorView& out, int64_t begin, int64_t n) {
  switch (out.type) {
    case DataType::kFloat32: std::copy(v, v + n, out.as<float>() + begin); break;
    case DataType::kFloat16: detail::floatToHalfN(v, out.as<Half>() + begin, n); break;
    default: detail::floatToHalfN(v, out.as<BHalf>() + begin, n); break;
  }
}

}  // namespace

std::string supportsPointwise(const ir::Layer& layer) {
  if (layer.outputs.size() != 1 || !layer.outputs[0]) return "a Pointwise layer has one output";
  std::vector<DataType> types;
  for (const ir::Tensor* t : layer.inputs) {
    if (!t) return "an input is omitted";
    types.push_back(t->type());
  }
  return ir::checkPointwiseLayer(layer.as<PointwiseParams>(), types, layer.outputs[0]->type());
}

void runPointwise(const ir::Layer& layer, const KernelArgs& args) {
  const auto& p = layer.as<PointwiseParams>();
  const TensorView& out = args.outputs[0];
  KILN_CHECK(args.inputs.size() == layer.inputs.size() && out.type == p.types[p.output], kInternal, layer.describe(),
             ": called with ", args.inputs.size(), " inputs and a ", dataTypeName(out.type), " output");
  const int64_t total = out.count();
  if (total == 0) return;
  KILN_CHECK(out.shape.size() <= 16, kUnsupported, layer.describe(), ": rank ", out.shape.size(), " above 16");
  std::vector<InputReach> reach;
  for (const TensorView& in : args.inputs) reach.push_back(reachOf(in.shape, out.shape, layer));
  const int64_t registers = ir::pointwiseLength(p);
  const int64_t chunks = (total + kChunk - 1) / kChunk;
  parallelFor(chunks, std::max<int64_t>(1, kPointwiseGrain / kChunk / 4), [&](int64_t cb, int64_t ce) {
    std::vector<float> buffer(static_cast<size_t>(registers * kChunk));
    auto reg = [&](int64_t r) { return buffer.data() + r * kChunk; };
    for (int64_t c = cb; c < ce; ++c) {
      const int64_t begin = c * kChunk, n = std::min(kChunk, total - begin);
      for (int64_t i = 0; i < registers; ++i) {
        float* r = reg(i);
        switch (p.kinds[i]) {
          case PointwiseOpKind::kInput:
            load(args.inputs[p.codes[i]], reach[p.codes[i]], out.shape, begin, n, r, layer);
            continue;  // loaded values are exact in float for float inputs; an integer is read by its cast
          case PointwiseOpKind::kConstant: std::fill(r, r + n, p.alpha[i]); break;
          case PointwiseOpKind::kElementWise:
            elementWise(static_cast<ElementWiseOp>(p.codes[i]), reg(p.a[i]), reg(p.b[i]), r, n);
            break;
          case PointwiseOpKind::kUnary: unary(static_cast<UnaryOp>(p.codes[i]), reg(p.a[i]), r, n); break;
          case PointwiseOpKind::kActivation:
            activation(static_cast<ActivationType>(p.codes[i]), p.alpha[i], p.beta[i], p.types[i], reg(p.a[i]), r, n);
            break;
          case PointwiseOpKind::kCast: std::copy(reg(p.a[i]), reg(p.a[i]) + n, r); break;
        }
        roundTo(p.types[i], r, n);
      }
      store(reg(p.output), out, begin, n);
    }
  });
}

}  // namespace kiln::cpu
