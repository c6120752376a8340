// The fused convolution epilogue and the channels-last layers on CUDA against the CPU reference: every
// epilogue activation with and without a residual (awkward shapes, float32 and float16, the fused cuDNN
// call and the epilogue kernel), channels-last convolutions and pooling, and a small ResNet-like network
// built for CUDA float16 (channels-last chains chosen) against the CPU float32 build.
#include <cmath>
#include <random>

#include "core/error.h"
#include "cuda/cuda_kernel_check.h"
#include "unit/test_helpers.h"

using namespace kiln;
using namespace kiln::cuda_test;

namespace {

struct ConvShape {
  Dims x, w;  // NCHW, [M, C/groups, kh, kw]
  int64_t groups = 1;
  Dims strides, dilations, padsBegin, padsEnd;
};

const std::vector<ConvShape>& awkwardShapes() {
  static const std::vector<ConvShape> shapes = {
      {{1, 3, 7, 9}, {5, 3, 3, 3}, 1, {}, {}, {1, 1}, {1, 1}},           // odd channels, padded
      {{2, 6, 11, 8}, {9, 2, 3, 2}, 3, {2, 1}, {}, {1, 0}, {0, 1}},      // groups, strides, asymmetric pads
      {{1, 5, 9, 10}, {7, 5, 3, 3}, 1, {1, 2}, {2, 1}, {2, 1}, {1, 2}},  // dilations
      {{2, 8, 6, 5}, {8, 1, 3, 3}, 8, {2, 2}, {}, {1, 1}, {1, 1}},       // depthwise, stride 2
      {{2, 16, 7, 7}, {24, 16, 1, 1}, 1, {}, {}, {}, {}},                // pointwise
  };
  return shapes;
}

// The output dims (NCHW) of a shape.
Dims outputOf(const ConvShape& s) {
  auto at = [](const Dims& d, size_t i, int64_t def) { return d.empty() ? def : d[i]; };
  Dims out = {s.x[0], s.w[0]};
  for (size_t i = 0; i < 2; ++i) {
    int64_t extent = (s.w[2 + i] - 1) * at(s.dilations, i, 1) + 1;
    out.push_back((s.x[2 + i] + at(s.padsBegin, i, 0) + at(s.padsEnd, i, 0) - extent) / at(s.strides, i, 1) + 1);
  }
  return out;
}

Dims nhwc(const Dims& d) { return {d[0], d[2], d[3], d[1]}; }

ConvolutionParams paramsOf(const ConvShape& s) {
  ConvolutionParams p;
  p.groups = s.groups;
  p.strides = s.strides;
  p.dilations = s.dilations;
  p.padsBegin = s.padsBegin;
  p.padsEnd = s.padsEnd;
  return p;
}

const ConvActivation kActivations[] = {ConvActivation::kNone, ConvActivation::kSilu, ConvActivation::kHardSwish,
                                       ConvActivation::kSigmoid, ConvActivation::kGelu};

// The CUDA convolution of `p` (its flags, epilogue) on the shape against the CPU reference.
void checkConvolution(const ConvShape& s, ConvolutionParams p, DataType type, bool bias, bool residual) {
  const bool last = p.channelsLast;
  const Dims out = outputOf(s);
  std::vector<In> ins = {data(type, last ? nhwc(s.x) : s.x), cdata(type, last ? nhwc(s.w) : s.w, -0.5, 0.5),
                         bias ? cdata(type, {s.w[0]}) : none()};
  if (residual) ins.push_back(data(type, last ? nhwc(out) : out));
  // float16: inputs and weights are exact in both; the CPU reference accumulates in float32, cuDNN too.
  check(p, ins, 1, Tol{1e-4, 1e-4}, Tol{3e-2, 2e-2});
}

}  // namespace

TEST(CudaConvFusion, EveryEpilogueOnAwkwardShapes) {
  REQUIRE_GPU();
  int variant = 0;
  for (DataType type : {F32, F16}) {
    for (const ConvShape& s : awkwardShapes()) {
      for (ConvActivation a : kActivations) {
        for (bool residual : {false, true}) {
          SCOPED_TRACE(concat(dataTypeName(type), " x ", dimsToString(s.x), " w ", dimsToString(s.w), " activation ",
                              static_cast<int>(a), residual ? " residual" : ""));
          ConvolutionParams p = paramsOf(s);
          p.activation = a;
          if (a == ConvActivation::kHardSwish) p.outputMax = 0.75f;
          checkConvolution(s, p, type, /*bias=*/(++variant % 3) != 0, residual);
        }
      }
    }
  }
}

TEST(CudaConvFusion, ReluAndIdentityEpiloguesThroughTheFusedCudnnCall) {
  // A bias and ReLU (or nothing) after it: cudnnConvolutionBiasActivationForward, with and without z.
  REQUIRE_GPU();
  for (DataType type : {F32, F16}) {
    for (const ConvShape& s : awkwardShapes()) {
      for (bool relu : {false, true}) {
        for (bool residual : {false, true}) {
          SCOPED_TRACE(concat(dataTypeName(type), " x ", dimsToString(s.x), relu ? " relu" : " identity",
                              residual ? " residual" : ""));
          ConvolutionParams p = paramsOf(s);
          if (relu) p.outputMin = 0.f;
          checkConvolution(s, p, type, true, residual);
          p.outputMax = 6.f;  // ReLU6: a clamp cuDNN's fused call cannot do, the epilogue kernel's
          checkConvolution(s, p, type, true, residual);
        }
      }
    }
  }
}

TEST(CudaConvFusion, ChannelsLastConvolutions) {
  REQUIRE_GPU();
  for (DataType type : {F16, F32}) {
    for (const ConvShape& s : awkwardShapes()) {
      for (bool residual : {false, true}) {
        SCOPED_TRACE(concat(dataTypeName(type), " x ", dimsToString(s.x), " w ", dimsToString(s.w),
                            residual ? " residual" : ""));
        ConvolutionParams p = paramsOf(s);
        p.channelsLast = true;
        p.outputMin = 0.f;
        checkConvolution(s, p, type, true, residual);
        p.outputMin = -INFINITY;
        p.activation = ConvActivation::kSilu;
        checkConvolution(s, p, type, residual, residual);
      }
    }
  }
}

TEST(CudaConvFusion, ChannelsLastPooling) {
  REQUIRE_GPU();
  struct Case {
    PoolingType type;
    Dims kernel, strides, padsBegin, padsEnd, dilations;
    bool ceil, includePad;
  };
  const Case cases[] = {
      {PoolingType::kMax, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {}, false, false},    // ResNet's stem pool
      {PoolingType::kMax, {2, 3}, {1, 2}, {0, 1}, {1, 0}, {2, 1}, true, false},  // dilated, ceil mode
      {PoolingType::kAverage, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {}, false, true},
      {PoolingType::kAverage, {3, 2}, {2, 1}, {1, 0}, {0, 1}, {}, true, false},
      {PoolingType::kLp, {2, 2}, {2, 2}, {}, {}, {}, false, false},
  };
  for (DataType type : {F32, F16}) {
    for (const Case& c : cases) {
      SCOPED_TRACE(concat(dataTypeName(type), " pooling ", static_cast<int>(c.type), " kernel ", dimsToString(c.kernel)));
      PoolingParams p;
      p.type = c.type;
      p.kernelShape = c.kernel;
      p.strides = c.strides;
      p.padsBegin = c.padsBegin;
      p.padsEnd = c.padsEnd;
      p.dilations = c.dilations;
      p.ceilMode = c.ceil;
      p.countIncludePad = c.includePad;
      p.channelsLast = true;
      check(p, {data(type, {2, 9, 11, 13})});
    }
  }
}

TEST(CudaConvFusion, ChannelsLastMaxPoolingPropagatesNaN) {
  REQUIRE_GPU();
  PoolingParams p;
  p.kernelShape = {2, 2};
  p.strides = {2, 2};
  p.channelsLast = true;
  std::vector<double> values(2 * 4 * 4 * 3);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<double>(i % 7) - 3;
  // NaN first in window (0, 0) of channel 2 (n 0, h 0, w 0, c 2) and last in window (1, 1) of channel 0
  // (n 1, h 3, w 3, c 0); the CPU reference propagates both once max pooling's NaN fix (h-kern) is in.
  values[2] = NAN;
  values[values.size() - 3] = NAN;
  In x{F32, {2, 4, 4, 3}, true, values};
  check(p, {x});
}

namespace {

// x [N,3,16,16] -> conv 3x3 -> BN -> relu -> conv 3x3 -> BN -> + x' -> relu -> maxpool -> global average
// pool -> flatten -> gemm; x' = conv 1x1 of x (the projection shortcut).
std::unique_ptr<NetworkDefinition> residualNetwork() {
  std::mt19937 rng(5);
  auto weights = [&](Dims shape, float scale) {
    std::normal_distribution<float> d(0.f, scale);
    std::vector<float> v(static_cast<size_t>(volume(shape)));
    for (float& x : v) x = d(rng);
    return kiln::testing::floats(shape, v);
  };
  auto batchNorm = [&](NetworkDefinition& net, ITensor* x, int64_t c) {
    NormalizationParams bn;
    bn.type = NormalizationType::kBatch;
    std::uniform_real_distribution<float> u(0.5f, 1.5f);
    std::vector<float> scale(c), bias(c), mean(c), var(c);
    for (int64_t i = 0; i < c; ++i) {
      scale[i] = u(rng);
      bias[i] = u(rng) - 1.f;
      mean[i] = (u(rng) - 1.f) * 0.2f;
      var[i] = u(rng);
    }
    return net.addLayer(bn, {x, net.addConstant(kiln::testing::floats({c}, scale)), net.addConstant(kiln::testing::floats({c}, bias)),
                             net.addConstant(kiln::testing::floats({c}, mean)), net.addConstant(kiln::testing::floats({c}, var))})
        ->output(0);
  };
  auto conv = [&](NetworkDefinition& net, ITensor* x, int64_t in, int64_t out, int64_t k) {
    ConvolutionParams p;
    p.padsBegin = {k / 2, k / 2};
    p.padsEnd = {k / 2, k / 2};
    return net.addConvolution(x, weights({out, in, k, k}, 1.f / std::sqrt(float(in * k * k))), Weights{}, p);
  };
  auto net = Builder().createNetwork();
  ITensor* x = net->addInput("x", DataType::kFloat32, {4, 3, 16, 16});
  ITensor* a = net->addActivation(batchNorm(*net, conv(*net, x, 3, 16, 3), 16), ActivationType::kRelu);
  ITensor* b = batchNorm(*net, conv(*net, a, 16, 16, 3), 16);
  ITensor* shortcut = conv(*net, x, 3, 16, 1);
  ITensor* sum = net->addActivation(net->addElementWise(b, shortcut, ElementWiseOp::kAdd), ActivationType::kRelu);
  PoolingParams pool;
  pool.kernelShape = {3, 3};
  pool.strides = {2, 2};
  pool.padsBegin = {1, 1};
  pool.padsEnd = {1, 1};
  ReduceParams mean;
  mean.op = ReduceOp::kMean;
  mean.axes = {2, 3};
  ITensor* pooled = net->addLayer(mean, {net->addPooling(sum, pool)})->output(0);
  ReshapeParams flatten;
  ITensor* flat = net->addLayer(flatten, {pooled, net->addConstant(kiln::testing::int64s({2}, {4, 16}))})->output(0);
  ITensor* y = net->addMatrixMultiply(flat, false, net->addConstant(weights({16, 10}, 0.25f)), false);
  y->setName("y");
  net->markOutput(y);
  return net;
}

std::vector<float> run(const Engine& engine, const std::vector<float>& x) {
  auto context = engine.createExecutionContext();
  context->setTensorAddress("x", const_cast<float*>(x.data()));
  std::vector<float> y(40, -12345.f);
  context->setTensorAddress("y", y.data());
  context->execute();
  return y;
}

}  // namespace

TEST(CudaConvFusion, ResidualNetworkInFloat16ChannelsLastMatchesTheCpuInFloat32) {
  REQUIRE_GPU();
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> x(4 * 3 * 16 * 16);
  for (float& v : x) v = u(rng);

  auto cpuNet = residualNetwork();
  BuilderConfig cpuConfig;
  cpuConfig.device = "cpu";
  auto cpu = kiln::testing::buildEngine(*cpuNet, cpuConfig);
  std::vector<float> want = run(*cpu, x);

  auto gpuNet = residualNetwork();
  BuilderConfig gpuConfig;
  gpuConfig.device = "cuda";
  gpuConfig.fp16 = true;
  BuildSummary summary;
  auto gpu = kiln::testing::buildEngine(*gpuNet, gpuConfig, &summary);
  std::vector<float> got = run(*gpu, x);

  // The layout and the fusions are visible per layer: three NHWC convolutions (the residual Add and the
  // ReLUs in their epilogues), the NHWC max pool, Transposes only at the chain's edges.
  const std::string table = summary.layerTable();
  int nhwcConvs = 0, transposes = 0, adds = 0;
  for (const LayerTactic& t : summary.tactics) {
    nhwcConvs += t.tactic.rfind("cuda.conv.cudnn_nhwc", 0) == 0;
    transposes += t.layerType == "Transpose";
    adds += t.layerType == "ElementWise";
  }
  EXPECT_EQ(nhwcConvs, 3) << table;
  EXPECT_NE(table.find("cuda.pool.nhwc_thread_per_output"), std::string::npos) << table;
  EXPECT_EQ(adds, 0) << table;
  EXPECT_LE(transposes, 2) << table;  // into NHWC after the input's Cast, back before the Reshape

  float scale = 0.f;
  for (float v : want) scale = std::max(scale, std::abs(v));
  ASSERT_GT(scale, 0.f);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 2e-2f * scale) << "element " << i;
}
