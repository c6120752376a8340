// The quantized convolution and MatMul kernels (cpu.qconv.*, cpu.qgemm.*) against a float64 evaluation of
// the composite they replace, DequantizeLinear -> Conv/MatMul -> bias -> activation/clamp ->
// QuantizeLinear, on seeded random int8/uint8 data with awkward shapes: per-tensor and per-channel weight
// scales, int8 and uint8 inputs with nonzero zero points, quantized and real outputs, Relu/Clip/SiLU.
// The reference kernels must match exactly (integer outputs) or to float32 rounding (real outputs): they
// compute the same float64 expression. oneDNN's may differ by one quantization step: it multiplies the
// int32 accumulator by a float32 scale product (inScale * wScale / outScale) and adds the bias pre-divided
// in float32, so a value within ~1e-7 relative of a rounding boundary can round the other way.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "backends/cpu/cpu_backend.h"
#include "cpu_kernels/kernel_test_buffers.h"
#include "ir/network.h"

namespace kiln::cpu {
namespace {

bool oneDnnBuiltIn() { return backendFor("cpu")->deviceSignature().find("no oneDNN") == std::string::npos; }

void executeWithWorkspace(const Kernel& kernel, KernelArgs args) {
  args.workspaceBytes = kernel.workspaceSize(args);
  std::vector<uint64_t> storage((args.workspaceBytes + 7) / 8 + 8);
  args.workspace = storage.data() + (8 - reinterpret_cast<uintptr_t>(storage.data()) % 64 / 8) % 8;
  kernel.execute(args);
}

// Random integers of `type` (int8: [-128, 127], uint8: [0, 255]) as their values.
std::vector<int> randomInts(DataType type, int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(type == DataType::kUInt8 ? 0 : -128, type == DataType::kUInt8 ? 255 : 127);
  std::vector<int> v(static_cast<size_t>(n));
  for (int& x : v) x = d(rng);
  return v;
}

Buf quantizedBuf(DataType type, const Dims& shape, const std::vector<int>& values) {
  Buf b{type, shape, std::vector<uint8_t>(values.size())};
  for (size_t i = 0; i < values.size(); ++i) b.bytes[i] = static_cast<uint8_t>(static_cast<int8_t>(values[i]));
  return b;
}

Weights int8Weights(const Dims& shape, const std::vector<int>& values) {
  std::vector<int8_t> v(values.begin(), values.end());
  return Weights::copyOf(DataType::kInt8, shape, v.data());
}

// The output element as a double: the integer it holds, or the float.
std::vector<double> outputValues(const Buf& y) {
  std::vector<double> v(static_cast<size_t>(volume(y.shape)));
  for (size_t i = 0; i < v.size(); ++i) {
    if (y.type == DataType::kInt8) v[i] = static_cast<int8_t>(y.bytes[i]);
    else if (y.type == DataType::kUInt8) v[i] = y.bytes[i];
    else v[i] = y.get<float>()[i];
  }
  return v;
}

// ONNX QuantizeLinear of a float64 value, or the value itself for a real output.
double quantizeOrKeep(double real, DataType type, double scale, int64_t zeroPoint) {
  if (type != DataType::kInt8 && type != DataType::kUInt8) return static_cast<float>(real);
  double q = std::nearbyint(real / scale) + static_cast<double>(zeroPoint);
  return std::clamp(q, type == DataType::kInt8 ? -128.0 : 0.0, type == DataType::kInt8 ? 127.0 : 255.0);
}

double activate(ConvActivation a, double v) {
  switch (a) {
    case ConvActivation::kNone: return v;
    case ConvActivation::kSilu: return v / (1 + std::exp(-v));
    case ConvActivation::kHardSwish: return v * std::min(std::max(v + 3, 0.0), 6.0) / 6;
    case ConvActivation::kSigmoid: return 1 / (1 + std::exp(-v));
    case ConvActivation::kGelu: return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
  }
  return v;
}

// Compares `got` with `want`: integer outputs within `steps` quantization steps, real ones to float32
// rounding (relative 1e-5 of the output's range).
void expectMatches(const std::vector<double>& got, const std::vector<double>& want, DataType type, int steps,
                   const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double range = 1e-30;
  for (double w : want) range = std::max(range, std::abs(w));
  int off = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (type == DataType::kInt8 || type == DataType::kUInt8) {
      ASSERT_LE(std::abs(got[i] - want[i]), steps) << what << " at " << i << ": " << got[i] << " vs " << want[i];
      off += got[i] != want[i];
    } else {
      ASSERT_NEAR(got[i], want[i], 1e-5 * range) << what << " at " << i;
    }
  }
  // A step off is a rounding-boundary case: rare, never systematic.
  EXPECT_LE(off, static_cast<int>(got.size() / 50 + 1)) << what;
}

// ---- convolution ----

struct QConvCase {
  Dims x, w;
  ConvolutionParams conv;
  DataType xType, yType;
  bool perChannel, bias;
};

std::vector<QConvCase> qconvCases() {
  std::vector<QConvCase> cases;
  ConvolutionParams p;
  p.padsBegin = p.padsEnd = {1, 1};
  cases.push_back({{1, 3, 7, 9}, {5, 3, 3, 3}, p, DataType::kInt8, DataType::kInt8, false, true});
  ConvolutionParams g;  // grouped, strided, dilated, asymmetric pads, Relu
  g.groups = 2;
  g.strides = {2, 1};
  g.dilations = {1, 2};
  g.padsBegin = {0, 2};
  g.padsEnd = {1, 1};
  g.outputMin = 0.f;
  cases.push_back({{2, 8, 6, 5}, {6, 4, 3, 2}, g, DataType::kUInt8, DataType::kUInt8, true, true});
  ConvolutionParams dw;  // depthwise, real output
  dw.groups = 6;
  dw.padsBegin = dw.padsEnd = {1, 1};
  cases.push_back({{1, 6, 5, 5}, {6, 1, 3, 3}, dw, DataType::kInt8, DataType::kFloat32, true, false});
  ConvolutionParams pw;  // 1x1 with Clip
  pw.outputMin = -0.5f;
  pw.outputMax = 2.f;
  cases.push_back({{1, 16, 4, 3}, {12, 16, 1, 1}, pw, DataType::kUInt8, DataType::kInt8, true, true});
  ConvolutionParams silu;  // SiLU, then requantized
  silu.activation = ConvActivation::kSilu;
  silu.strides = {2, 2};
  cases.push_back({{1, 5, 9, 8}, {7, 5, 3, 3}, silu, DataType::kInt8, DataType::kInt8, false, true});
  ConvolutionParams conv1d;
  conv1d.padsBegin = {2};
  conv1d.padsEnd = {0};
  cases.push_back({{2, 4, 11}, {3, 4, 5}, conv1d, DataType::kUInt8, DataType::kFloat32, false, true});
  ConvolutionParams conv3d;
  conv3d.paddingMode = PaddingMode::kSameUpper;
  cases.push_back({{1, 2, 3, 4, 5}, {3, 2, 2, 2, 2}, conv3d, DataType::kInt8, DataType::kUInt8, true, false});
  return cases;
}

struct QConvRun {
  ir::Network net;
  ir::Layer* layer = nullptr;
  Buf x, w, b;
  HostTensor weights, bias;
  std::vector<double> want;
};

// Builds the layer for `c` with random data and computes the float64 composite.
void prepare(QConvRun& r, const QConvCase& c, uint32_t seed) {
  const int64_t M = c.w[0];
  std::vector<int> xv = randomInts(c.xType, volume(c.x), seed), wv = randomInts(DataType::kInt8, volume(c.w), seed + 1);
  std::vector<float> bv = randomFloats(static_cast<size_t>(M), seed + 2, -2.f, 2.f);
  QuantizedConvolutionParams q;
  q.conv = c.conv;
  q.inputScale = 0.0173f;
  q.inputZeroPoint = c.xType == DataType::kInt8 ? -7 : 131;
  q.weightScales = c.perChannel ? randomFloats(static_cast<size_t>(M), seed + 3, 0.001f, 0.01f) : std::vector<float>{0.0042f};
  q.outputType = c.yType;
  r.x = quantizedBuf(c.xType, c.x, xv);
  r.w = quantizedBuf(DataType::kInt8, c.w, wv);
  r.b = f32({M}, bv);
  r.weights = int8Weights(c.w, wv);
  r.bias = Weights::copyOf(DataType::kFloat32, {M}, bv.data());
  ITensor* x = r.net.addInput("x", c.xType, c.x);
  std::vector<ITensor*> inputs{x, r.net.addConstant(r.weights)};
  if (c.bias) inputs.push_back(r.net.addConstant(r.bias));
  // The real values first (float64), then the output scale from their range.
  const size_t n = c.x.size() - 2;
  QuantizedConvolutionParams probe = q;
  ILayer* layer = r.net.addLayer(probe, inputs);
  r.layer = static_cast<ir::Layer*>(layer);
  const Dims ys = r.layer->outputs[0]->dims();
  const int64_t C = c.x[1], G = c.conv.groups, Cg = C / G, Mg = M / G;
  std::vector<int64_t> I(3, 1), O(3, 1), K(3, 1), S(3, 1), D(3, 1), P(3, 0);
  for (size_t i = 0; i < n; ++i) {
    size_t j = 3 - n + i;
    I[j] = c.x[i + 2], O[j] = ys[i + 2], K[j] = c.w[i + 2];
    S[j] = i < c.conv.strides.size() ? c.conv.strides[i] : 1;
    D[j] = i < c.conv.dilations.size() ? c.conv.dilations[i] : 1;
    if (c.conv.paddingMode == PaddingMode::kSameUpper) {
      int64_t total = std::max<int64_t>(0, (O[j] - 1) * S[j] + (K[j] - 1) * D[j] + 1 - I[j]);
      P[j] = total / 2;
    } else {
      P[j] = i < c.conv.padsBegin.size() ? c.conv.padsBegin[i] : 0;
    }
  }
  std::vector<double> real(static_cast<size_t>(volume(ys)));
  size_t at = 0;
  for (int64_t b = 0; b < c.x[0]; ++b)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t od = 0; od < O[0]; ++od)
        for (int64_t oh = 0; oh < O[1]; ++oh)
          for (int64_t ow = 0; ow < O[2]; ++ow) {
            double sum = 0;
            const int64_t g = m / Mg;
            for (int64_t ci = 0; ci < Cg; ++ci)
              for (int64_t kd = 0; kd < K[0]; ++kd)
                for (int64_t kh = 0; kh < K[1]; ++kh)
                  for (int64_t kw = 0; kw < K[2]; ++kw) {
                    int64_t id = od * S[0] - P[0] + kd * D[0], ih = oh * S[1] - P[1] + kh * D[1],
                            iw = ow * S[2] - P[2] + kw * D[2];
                    if (id < 0 || id >= I[0] || ih < 0 || ih >= I[1] || iw < 0 || iw >= I[2]) continue;
                    int64_t xi = (((b * C + g * Cg + ci) * I[0] + id) * I[1] + ih) * I[2] + iw;
                    int64_t wi = (((m * Cg + ci) * K[0] + kd) * K[1] + kh) * K[2] + kw;
                    double xr = (xv[xi] - q.inputZeroPoint) * static_cast<double>(q.inputScale);
                    double wr = wv[wi] * static_cast<double>(q.weightScales[c.perChannel ? m : 0]);
                    sum += xr * wr;
                  }
            double v = activate(c.conv.activation, sum + (c.bias ? bv[m] : 0.0));
            real[at++] = std::min(std::max(v, static_cast<double>(c.conv.outputMin)), static_cast<double>(c.conv.outputMax));
          }
  double range = 0;
  for (double v : real) range = std::max(range, std::abs(v));
  // Not range / 90: a clamp bound would then fall on a rounding tie (-0.5 / (2 / 90) = -22.5), where oneDNN,
  // adding the zero point before rounding, is one step off everywhere the clamp holds.
  q.outputScale = static_cast<float>(range / 90.7);
  q.outputZeroPoint = c.yType == DataType::kInt8 ? 5 : (c.yType == DataType::kUInt8 ? 100 : 0);
  if (c.yType == DataType::kFloat32) q.outputScale = 1.f;
  r.layer->mutableParams() = q;
  for (double v : real) r.want.push_back(quantizeOrKeep(v, c.yType, q.outputScale, q.outputZeroPoint));
}

std::vector<double> runQConv(const std::string& tactic, QConvRun& r, const QConvCase& c) {
  auto backend = backendFor("cpu");
  Constants constants{nullptr, &r.weights, c.bias ? &r.bias : nullptr};
  auto kernel = backend->createKernel(*r.layer, constants, tactic);
  EXPECT_EQ(kernel->name(), tactic);
  Buf y = outBuf(c.yType, r.layer->outputs[0]->dims());
  executeWithWorkspace(*kernel, argsOf({&r.x, &r.w, c.bias ? &r.b : nullptr}, {&y}));
  return outputValues(y);
}

TEST(CpuQuantized, ReferenceConvolutionMatchesTheFloat64Composite) {
  uint32_t seed = 10;
  for (const QConvCase& c : qconvCases()) {
    SCOPED_TRACE(concat("x ", dimsToString(c.x), " ", dataTypeName(c.xType), " w ", dimsToString(c.w), " -> ",
                        dataTypeName(c.yType)));
    QConvRun r;
    prepare(r, c, seed += 7);
    expectMatches(runQConv("cpu.qconv.reference", r, c), r.want, c.yType, 0, "reference");
  }
}

TEST(CpuQuantized, OneDnnConvolutionMatchesTheFloat64CompositeWithinOneStep) {
  if (!oneDnnBuiltIn()) GTEST_SKIP() << "oneDNN is not built in (KILN_HAVE_DNNL unset)";
  uint32_t seed = 10;
  for (const QConvCase& c : qconvCases()) {
    SCOPED_TRACE(concat("x ", dimsToString(c.x), " ", dataTypeName(c.xType), " w ", dimsToString(c.w), " -> ",
                        dataTypeName(c.yType)));
    QConvRun r;
    prepare(r, c, seed += 7);
    expectMatches(runQConv("cpu.qconv.onednn", r, c), r.want, c.yType, 1, "oneDNN");
  }
}

// ---- matrix multiply ----

struct QGemmCase {
  Dims a, b;
  DataType aType, yType;
  bool perChannel, bias;
  float outputMin = -std::numeric_limits<float>::infinity(), outputMax = std::numeric_limits<float>::infinity();
};

std::vector<QGemmCase> qgemmCases() {
  return {
      {{3, 5, 17}, {17, 11}, DataType::kInt8, DataType::kInt8, false, true},
      {{1, 64}, {64, 10}, DataType::kUInt8, DataType::kFloat32, true, true},
      {{7, 33}, {33, 19}, DataType::kInt8, DataType::kUInt8, true, false, 0.f},
      {{2, 3, 9}, {9, 4}, DataType::kUInt8, DataType::kInt8, false, true, -1.f, 1.5f},
  };
}

void runQGemmCase(const std::string& tactic, const QGemmCase& c, uint32_t seed, int steps) {
  SCOPED_TRACE(concat("a ", dimsToString(c.a), " ", dataTypeName(c.aType), " b ", dimsToString(c.b), " -> ",
                      dataTypeName(c.yType)));
  const int64_t K = c.b[0], N = c.b[1], rows = volume(c.a) / K;
  std::vector<int> av = randomInts(c.aType, volume(c.a), seed), bv = randomInts(DataType::kInt8, volume(c.b), seed + 1);
  std::vector<float> biasv = randomFloats(static_cast<size_t>(N), seed + 2, -2.f, 2.f);
  QuantizedMatrixMultiplyParams q;
  q.inputScale = 0.021f;
  q.inputZeroPoint = c.aType == DataType::kInt8 ? 3 : 120;
  q.weightScales = c.perChannel ? randomFloats(static_cast<size_t>(N), seed + 3, 0.001f, 0.01f) : std::vector<float>{0.0037f};
  q.outputMin = c.outputMin;
  q.outputMax = c.outputMax;
  q.outputType = c.yType;
  std::vector<double> real(static_cast<size_t>(rows * N));
  double range = 0;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < N; ++j) {
      double sum = c.bias ? biasv[j] : 0.0;
      for (int64_t k = 0; k < K; ++k)
        sum += (av[r * K + k] - q.inputZeroPoint) * static_cast<double>(q.inputScale) * bv[k * N + j] *
               static_cast<double>(q.weightScales[c.perChannel ? j : 0]);
      real[r * N + j] = std::min(std::max(sum, static_cast<double>(c.outputMin)), static_cast<double>(c.outputMax));
      range = std::max(range, std::abs(real[r * N + j]));
    }
  if (c.yType != DataType::kFloat32) {
    q.outputScale = static_cast<float>(range / 100);
    q.outputZeroPoint = c.yType == DataType::kInt8 ? -4 : 90;
  }
  std::vector<double> want;
  for (double v : real) want.push_back(quantizeOrKeep(v, c.yType, q.outputScale, q.outputZeroPoint));
  ir::Network net;
  HostTensor weights = int8Weights(c.b, bv), bias = Weights::copyOf(DataType::kFloat32, {N}, biasv.data());
  std::vector<ITensor*> inputs{net.addInput("a", c.aType, c.a), net.addConstant(weights)};
  if (c.bias) inputs.push_back(net.addConstant(bias));
  const auto* layer = static_cast<const ir::Layer*>(net.addLayer(q, inputs));
  Dims ys = c.a;
  ys.back() = N;
  EXPECT_EQ(layer->outputs[0]->dims(), ys);
  auto kernel = backendFor("cpu")->createKernel(*layer, {nullptr, &weights, c.bias ? &bias : nullptr}, tactic);
  Buf a = quantizedBuf(c.aType, c.a, av), b = quantizedBuf(DataType::kInt8, c.b, bv), bb = f32({N}, biasv);
  Buf y = outBuf(c.yType, ys);
  executeWithWorkspace(*kernel, argsOf({&a, &b, c.bias ? &bb : nullptr}, {&y}));
  expectMatches(outputValues(y), want, c.yType, steps, tactic);
}

TEST(CpuQuantized, ReferenceMatrixMultiplyMatchesTheFloat64Composite) {
  uint32_t seed = 300;
  for (const QGemmCase& c : qgemmCases()) runQGemmCase("cpu.qgemm.reference", c, seed += 5, 0);
}

TEST(CpuQuantized, OneDnnMatrixMultiplyMatchesTheFloat64CompositeWithinOneStep) {
  if (!oneDnnBuiltIn()) GTEST_SKIP() << "oneDNN is not built in (KILN_HAVE_DNNL unset)";
  uint32_t seed = 300;
  for (const QGemmCase& c : qgemmCases()) runQGemmCase("cpu.qgemm.onednn", c, seed += 5, 1);
}

// The per-tensor float32 fast path of cpu.quantize against ONNX QuantizeLinear: ties round half to even,
// saturation, NaN to 0, infinities saturate.
TEST(CpuQuantized, PerTensorQuantizeRoundsHalfToEvenAndSaturates) {
  for (DataType type : {DataType::kInt8, DataType::kUInt8}) {
    SCOPED_TRACE(dataTypeName(type));
    const float scale = 0.25f;
    const int zeroPoint = type == DataType::kInt8 ? -3 : 130;
    std::vector<float> x = randomFloats(5000, 91, -40.f, 40.f);
    for (int k = -60; k <= 60; ++k) x.push_back((k + 0.5f) * scale);  // exact ties
    x.insert(x.end(), {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                       -std::numeric_limits<float>::infinity(), 1e30f, -1e30f});
    const int64_t n = static_cast<int64_t>(x.size());
    ir::Network net;
    QuantizeParams q;
    q.outputType = type;
    std::vector<int8_t> zp8{static_cast<int8_t>(zeroPoint)};
    std::vector<uint8_t> zpu{static_cast<uint8_t>(zeroPoint)};
    HostTensor zpValue = type == DataType::kInt8 ? Weights::copyOf(type, {}, zp8.data()) : Weights::copyOf(type, {}, zpu.data());
    const auto* layer = static_cast<const ir::Layer*>(net.addLayer(
        q, {net.addInput("x", DataType::kFloat32, {n}), net.addConstant(Weights::copyOf(DataType::kFloat32, {}, &scale)),
            net.addConstant(zpValue)}));
    auto kernel = backendFor("cpu")->createKernel(*layer, {}, "cpu.quantize");
    Buf xb = f32({n}, x), sb = f32({}, {scale}), zb{type, {}, std::vector<uint8_t>{static_cast<uint8_t>(zeroPoint)}};
    Buf y = outBuf(type, {n});
    executeWithWorkspace(*kernel, argsOf({&xb, &sb, &zb}, {&y}));
    std::vector<double> got = outputValues(y);
    for (int64_t i = 0; i < n; ++i) {
      double want = std::isnan(x[i]) ? 0.0 : quantizeOrKeep(static_cast<double>(x[i] / scale) * scale, type, scale, zeroPoint);
      ASSERT_EQ(got[i], want) << "x = " << x[i];
    }
  }
}

TEST(CpuQuantized, BadScalesAndTypesAreClearErrors) {
  ir::Network net;
  HostTensor w = int8Weights({4, 3, 1, 1}, std::vector<int>(12, 1));
  ITensor* x = net.addInput("x", DataType::kInt8, {1, 3, 2, 2});
  ITensor* wc = net.addConstant(w);
  QuantizedConvolutionParams q;
  q.weightScales = {0.1f, 0.2f};  // neither 1 nor 4
  try {
    net.addLayer(q, {x, wc});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("weight scales must number 1 or 4"), std::string::npos) << e.what();
  }
  q.weightScales = {0.1f};
  q.inputZeroPoint = 200;  // out of int8's range
  EXPECT_THROW(net.addLayer(q, {x, wc}), Error);
  q.inputZeroPoint = 0;
  ITensor* xf = net.addInput("xf", DataType::kFloat32, {1, 3, 2, 2});
  EXPECT_THROW(net.addLayer(q, {xf, wc}), Error);
}

}  // namespace
}  // namespace kiln::cpu
