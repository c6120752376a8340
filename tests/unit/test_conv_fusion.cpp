// The fused convolution epilogue y = clamp(act(conv(x, w) + bias + z)): the fuse_conv_residual and
// fuse_conv_activation passes as before -> after networks, and every CPU convolution tactic against a
// naive reference for each epilogue activation, with and without a residual, float32 and float16.
// Channels-last: the choose_channels_last pass as before -> after networks, and the CPU's channels-last
// convolution and pooling against channels-first.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "backends/backend.h"
#include "backends/host_eval.h"
#include "builder/passes/passes.h"
#include "core/error.h"
#include "core/half.h"
#include "ir/network.h"
#include "test_helpers.h"
#include "unit/cpu_wrapping_backend.h"

using namespace kiln;
using kiln::testing::floats;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

Weights randomWeights(const Dims& shape, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(static_cast<size_t>(volume(shape)));
  for (float& x : v) x = d(rng);
  return floats(shape, v);
}

bool runPass(bool (*pass)(passes::PassContext&), ir::Network& net) {
  std::vector<std::string> log;
  passes::PassContext context{net, log};
  bool changed = pass(context);
  net.inferShapes();
  return changed;
}

// Runs the network on the host; the first output as floats.
std::vector<float> evaluate(const ir::Network& net, const std::vector<HostTensor>& inputs) {
  std::vector<const HostTensor*> bound;
  for (const HostTensor& t : inputs) bound.push_back(&t);
  ir::Layer owner("test", IdentityParams{});
  std::vector<HostTensor> out = host::evaluateNetwork(net, bound, owner);
  return std::vector<float>(out[0].as<float>(), out[0].as<float>() + out[0].count());
}

void expectClose(const std::vector<float>& got, const std::vector<float>& want, float tol = 1e-5f) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], tol * std::max(1.f, std::abs(want[i]))) << i;
}

int count(const ir::Network& net, LayerType type) {
  int n = 0;
  for (auto& l : net.layers()) n += l->type() == type;
  return n;
}

ConvolutionParams padded(int64_t pad) {
  ConvolutionParams p;
  p.padsBegin = {pad, pad};
  p.padsEnd = {pad, pad};
  return p;
}

// x [1,4,5,6] -> conv 3x3 (4 -> 4, bias) -> Add(conv, x) -> optional activation -> y.
struct ResidualBlock {
  ir::Network net;
  ITensor* x = nullptr;
  ITensor* conv = nullptr;
  ITensor* sum = nullptr;
};

void residualBlock(ResidualBlock& b, bool convFirst, bool withAdd = true) {
  b.x = b.net.addInput("x", DataType::kFloat32, {1, 4, 5, 6});
  b.conv = b.net.addConvolution(b.x, randomWeights({4, 4, 3, 3}, 1), randomWeights({4}, 2), padded(1));
  if (!withAdd) return;
  b.sum = convFirst ? b.net.addElementWise(b.conv, b.x, ElementWiseOp::kAdd)
                    : b.net.addElementWise(b.x, b.conv, ElementWiseOp::kAdd);
}

const ir::Layer* producer(const ir::Network& net) { return net.outputs()[0]->producerLayer; }

}  // namespace

TEST(ConvFusion, ResidualAddAndReluBecomeOneConvolution) {
  std::vector<HostTensor> input = {randomWeights({1, 4, 5, 6}, 9, -2.f, 2.f)};
  for (bool convFirst : {true, false}) {
    SCOPED_TRACE(convFirst ? "Add(conv, x)" : "Add(x, conv)");
    ResidualBlock b;
    residualBlock(b, convFirst);
    ITensor* y = b.net.addActivation(b.sum, ActivationType::kRelu);
    y->setName("y");
    b.net.markOutput(y);
    b.net.inferShapes();
    std::vector<float> before = evaluate(b.net, input);
    EXPECT_FALSE(runPass(passes::fuseConvActivation, b.net));  // the Add sits between them
    EXPECT_TRUE(runPass(passes::fuseConvResidual, b.net));
    EXPECT_TRUE(runPass(passes::fuseConvActivation, b.net));
    runPass(passes::eliminateDeadLayers, b.net);
    EXPECT_EQ(count(b.net, LayerType::kElementWise), 0);
    EXPECT_EQ(count(b.net, LayerType::kActivation), 0);
    const ir::Layer* conv = producer(b.net);
    ASSERT_EQ(conv->type(), LayerType::kConvolution);
    EXPECT_EQ(b.net.outputs()[0]->name(), "y");
    ASSERT_EQ(conv->inputs.size(), 4u);
    EXPECT_EQ(conv->inputs[3], b.x);
    EXPECT_EQ(conv->as<ConvolutionParams>().outputMin, 0.f);
    EXPECT_EQ(conv->as<ConvolutionParams>().outputMax, kInf);
    expectClose(evaluate(b.net, input), before);
    EXPECT_FALSE(runPass(passes::fuseConvResidual, b.net));
  }
}

TEST(ConvFusion, ResidualOfTwoConvolutionsGoesIntoTheLaterOne) {
  // ResNet's projection shortcut: Add(main conv, shortcut conv), the shortcut computed second.
  ir::Network net;
  ITensor* x = net.addInput("x", DataType::kFloat32, {2, 3, 6, 6});
  ITensor* main = net.addConvolution(x, randomWeights({5, 3, 3, 3}, 1), randomWeights({5}, 2), padded(1));
  ITensor* shortcut = net.addConvolution(x, randomWeights({5, 3, 1, 1}, 3), Weights{}, ConvolutionParams{});
  ITensor* y = net.addActivation(net.addElementWise(main, shortcut, ElementWiseOp::kAdd), ActivationType::kRelu);
  net.markOutput(y);
  net.inferShapes();
  std::vector<HostTensor> input = {randomWeights({2, 3, 6, 6}, 9, -2.f, 2.f)};
  std::vector<float> before = evaluate(net, input);
  EXPECT_TRUE(runPass(passes::fuseConvResidual, net));
  EXPECT_TRUE(runPass(passes::fuseConvActivation, net));
  runPass(passes::eliminateDeadLayers, net);
  const ir::Layer* fused = producer(net);
  ASSERT_EQ(fused->type(), LayerType::kConvolution);
  ASSERT_EQ(fused->inputs.size(), 4u);
  EXPECT_EQ(fused->inputs[2], nullptr);  // the shortcut has no bias: the residual follows an omitted one
  EXPECT_EQ(fused->inputs[3], main);
  expectClose(evaluate(net, input), before);
}

TEST(ConvFusion, ResidualSkipsBroadcastSharedOrAlreadyActivatedConvolutions) {
  {  // a broadcast operand [1,4,1,1]
    ir::Network net;
    ITensor* x = net.addInput("x", DataType::kFloat32, {1, 4, 5, 6});
    ITensor* c = net.addConvolution(x, randomWeights({4, 4, 3, 3}, 1), Weights{}, padded(1));
    net.markOutput(net.addElementWise(c, net.addConstant(randomWeights({1, 4, 1, 1}, 2)), ElementWiseOp::kAdd));
    net.inferShapes();
    EXPECT_FALSE(runPass(passes::fuseConvResidual, net));
  }
  {  // the convolution's output is read twice
    ResidualBlock b;
    residualBlock(b, true);
    b.net.markOutput(b.sum);
    b.net.markOutput(b.net.addUnary(b.conv, UnaryOp::kNeg));
    b.net.inferShapes();
    EXPECT_FALSE(runPass(passes::fuseConvResidual, b.net));
  }
  {  // Conv -> Relu -> Add: the activation came first, the Add cannot join the epilogue
    ir::Network net;
    ITensor* x = net.addInput("x", DataType::kFloat32, {1, 4, 5, 6});
    ITensor* c = net.addConvolution(x, randomWeights({4, 4, 3, 3}, 1), Weights{}, padded(1));
    net.markOutput(net.addElementWise(net.addActivation(c, ActivationType::kRelu), x, ElementWiseOp::kAdd));
    net.inferShapes();
    EXPECT_TRUE(runPass(passes::fuseConvActivation, net));
    EXPECT_FALSE(runPass(passes::fuseConvResidual, net));
  }
  {  // dynamic batches of two different inputs: equal at run time is not proven (z may broadcast)
    ir::Network net;
    ITensor* x = net.addInput("x", DataType::kFloat32, {-1, 4, 5, 6});
    ITensor* z = net.addInput("z", DataType::kFloat32, {-1, 4, 5, 6});
    ITensor* c = net.addConvolution(x, randomWeights({4, 4, 3, 3}, 1), Weights{}, padded(1));
    net.markOutput(net.addElementWise(c, z, ElementWiseOp::kAdd));
    net.inferShapes();
    EXPECT_FALSE(runPass(passes::fuseConvResidual, net));
  }
}

TEST(ConvFusion, ResidualWithADynamicBatchOfOneOriginIsFused) {
  // ResNet exported with a dynamic batch: the residual and the convolution output both carry the input's
  // batch (through Relu, MaxPool, another convolution, a broadcast bias Add), so they are equal at run time.
  ir::Network net;
  ITensor* x = net.addInput("x", DataType::kFloat32, {-1, 4, 6, 6});
  ITensor* stem = net.addActivation(net.addConvolution(x, randomWeights({4, 4, 3, 3}, 1), Weights{}, padded(1)),
                                    ActivationType::kRelu);
  PoolingParams pool;
  pool.kernelShape = {1, 1};
  ITensor* pooled = net.addLayer(pool, {stem})->output(0);
  ITensor* biased = net.addElementWise(pooled, net.addConstant(randomWeights({1, 4, 1, 1}, 5)), ElementWiseOp::kAdd);
  ITensor* branch = net.addConvolution(biased, randomWeights({4, 4, 3, 3}, 2), randomWeights({4}, 3), padded(1));
  ITensor* y = net.addActivation(net.addElementWise(branch, biased, ElementWiseOp::kAdd), ActivationType::kRelu);
  net.markOutput(y);
  net.inferShapes();
  ASSERT_EQ(branch->dims()[0], -1);
  std::vector<HostTensor> input = {randomWeights({3, 4, 6, 6}, 9, -2.f, 2.f)};
  std::vector<float> before = evaluate(net, input);
  EXPECT_TRUE(runPass(passes::fuseConvResidual, net));
  runPass(passes::eliminateDeadLayers, net);
  const ir::Layer* fused = producer(net)->inputs[0]->producerLayer;
  ASSERT_EQ(fused->type(), LayerType::kConvolution);
  ASSERT_EQ(fused->inputs.size(), 4u);
  EXPECT_EQ(fused->inputs[3], biased);
  expectClose(evaluate(net, input), before);
}

TEST(ConvFusion, EpilogueActivationsAreFused) {
  std::vector<HostTensor> input = {randomWeights({1, 4, 5, 6}, 9, -3.f, 3.f)};
  struct Case {
    const char* name;
    ConvActivation want;
  };
  for (Case c : {Case{"silu", ConvActivation::kSilu}, Case{"hardswish", ConvActivation::kHardSwish},
                 Case{"sigmoid", ConvActivation::kSigmoid}, Case{"gelu", ConvActivation::kGelu}}) {
    for (bool residual : {false, true}) {
      SCOPED_TRACE(std::string(c.name) + (residual ? " with residual" : ""));
      ResidualBlock b;
      residualBlock(b, true, residual);
      ITensor* pre = residual ? b.sum : b.conv;
      ITensor* y = nullptr;
      if (c.want == ConvActivation::kSilu)
        y = b.net.addElementWise(pre, b.net.addActivation(pre, ActivationType::kSigmoid), ElementWiseOp::kMul);
      else if (c.want == ConvActivation::kHardSwish)
        y = b.net.addActivation(pre, ActivationType::kHardSwish);
      else if (c.want == ConvActivation::kSigmoid)
        y = b.net.addActivation(pre, ActivationType::kSigmoid);
      else
        y = b.net.addActivation(pre, ActivationType::kGelu);
      // A Clip after the activation joins too: the epilogue clamps after its activation.
      y = b.net.addActivation(y, ActivationType::kClip, -0.1f, 1.5f);
      y->setName("y");
      b.net.markOutput(y);
      b.net.inferShapes();
      std::vector<float> before = evaluate(b.net, input);
      EXPECT_EQ(runPass(passes::fuseConvResidual, b.net), residual);
      EXPECT_TRUE(runPass(passes::fuseConvActivation, b.net));
      runPass(passes::fuseConvActivation, b.net);
      runPass(passes::eliminateDeadLayers, b.net);
      EXPECT_EQ(count(b.net, LayerType::kActivation), 0);
      EXPECT_EQ(count(b.net, LayerType::kElementWise), 0);
      const ir::Layer* fused = nullptr;
      for (auto& l : b.net.layers())
        if (l->type() == LayerType::kConvolution) fused = l.get();
      ASSERT_NE(fused, nullptr);
      EXPECT_EQ(fused->as<ConvolutionParams>().activation, c.want);
      EXPECT_EQ(fused->as<ConvolutionParams>().outputMin, -0.1f);
      EXPECT_EQ(fused->as<ConvolutionParams>().outputMax, 1.5f);
      expectClose(evaluate(b.net, input), before, 1e-5f);
    }
  }
}

TEST(ConvFusion, ActivationFusionLeavesWhatTheEpilogueCannotDo) {
  auto single = [](ActivationType type, float alpha) {
    auto net = std::make_unique<ir::Network>();
    ITensor* x = net->addInput("x", DataType::kFloat32, {1, 2, 3, 3});
    ITensor* c = net->addConvolution(x, randomWeights({2, 2, 1, 1}, 1), Weights{}, ConvolutionParams{});
    net->markOutput(net->addActivation(c, type, alpha));
    net->inferShapes();
    return net;
  };
  auto tanh = single(ActivationType::kTanh, 0.f);
  EXPECT_FALSE(runPass(passes::fuseConvActivation, *tanh));
  auto geluTanh = single(ActivationType::kGelu, 1.f);  // the tanh approximation
  EXPECT_FALSE(runPass(passes::fuseConvActivation, *geluTanh));
  {  // Relu then Sigmoid: the epilogue applies its activation before the clamp, not after
    ir::Network net;
    ITensor* x = net.addInput("x", DataType::kFloat32, {1, 2, 3, 3});
    ITensor* c = net.addConvolution(x, randomWeights({2, 2, 1, 1}, 1), Weights{}, ConvolutionParams{});
    net.markOutput(net.addActivation(net.addActivation(c, ActivationType::kRelu), ActivationType::kSigmoid));
    net.inferShapes();
    EXPECT_TRUE(runPass(passes::fuseConvActivation, net));
    runPass(passes::eliminateDeadLayers, net);
    EXPECT_EQ(count(net, LayerType::kActivation), 1);
    EXPECT_FALSE(runPass(passes::fuseConvActivation, net));
  }
  {  // SiLU whose Sigmoid output is read elsewhere too
    ir::Network net;
    ITensor* x = net.addInput("x", DataType::kFloat32, {1, 2, 3, 3});
    ITensor* c = net.addConvolution(x, randomWeights({2, 2, 1, 1}, 1), Weights{}, ConvolutionParams{});
    ITensor* s = net.addActivation(c, ActivationType::kSigmoid);
    net.markOutput(net.addElementWise(c, s, ElementWiseOp::kMul));
    net.markOutput(s);
    net.inferShapes();
    EXPECT_FALSE(runPass(passes::fuseConvActivation, net));
  }
}

TEST(ConvFusion, BatchNormDoesNotFoldIntoAFusedEpilogue) {
  ir::Network net;
  ITensor* x = net.addInput("x", DataType::kFloat32, {1, 2, 3, 3});
  ITensor* c = net.addConvolution(x, randomWeights({2, 2, 1, 1}, 1), Weights{}, ConvolutionParams{});
  NormalizationParams bn;
  bn.type = NormalizationType::kBatch;
  ITensor* ones = net.addConstant(floats({2}, {1.f, 1.f}));
  ITensor* halves = net.addConstant(floats({2}, {0.5f, 0.5f}));
  net.markOutput(net.addLayer(bn, {net.addActivation(c, ActivationType::kRelu), ones, halves, halves, ones})->output(0));
  net.inferShapes();
  EXPECT_TRUE(runPass(passes::fuseConvActivation, net));  // Conv -> Relu, then BatchNorm reads the fused output
  EXPECT_FALSE(runPass(passes::foldBatchNormIntoConv, net));
}

// ---- CPU kernels --------------------------------------------------------------------------------

namespace {

struct Geometry2d {
  Dims x, w;  // NCHW, [M, C/groups, kh, kw]
  int64_t groups = 1;
  Dims strides, dilations, padsBegin, padsEnd;
};

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

// Naive 2-D convolution with the epilogue, in double; NCHW. yShape is filled.
std::vector<float> naiveConvEpilogue(const Geometry2d& g, const std::vector<float>& x, const std::vector<float>& w,
                                     const std::vector<float>* bias, const std::vector<float>* z,
                                     const ConvolutionParams& p, Dims& yShape) {
  auto at = [](const Dims& d, size_t i, int64_t def) { return d.empty() ? def : d[i]; };
  const int64_t N = g.x[0], C = g.x[1], H = g.x[2], W = g.x[3], M = g.w[0], Cg = C / g.groups, Mg = M / g.groups;
  const int64_t KH = g.w[2], KW = g.w[3];
  const int64_t sh = at(g.strides, 0, 1), sw = at(g.strides, 1, 1), dh = at(g.dilations, 0, 1),
                dw = at(g.dilations, 1, 1), ph = at(g.padsBegin, 0, 0), pw = at(g.padsBegin, 1, 0);
  const int64_t OH = (H + ph + at(g.padsEnd, 0, 0) - (KH - 1) * dh - 1) / sh + 1;
  const int64_t OW = (W + pw + at(g.padsEnd, 1, 0) - (KW - 1) * dw - 1) / sw + 1;
  yShape = {N, M, OH, OW};
  std::vector<float> y(static_cast<size_t>(N * M * OH * OW));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double acc = bias ? (*bias)[m] : 0.0;
          const int64_t group = m / Mg;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t kh = 0; kh < KH; ++kh)
              for (int64_t kw = 0; kw < KW; ++kw) {
                const int64_t ih = oh * sh - ph + kh * dh, iw = ow * sw - pw + kw * dw;
                if (ih < 0 || iw < 0 || ih >= H || iw >= W) continue;
                acc += double(x[((n * C + group * Cg + c) * H + ih) * W + iw]) * w[((m * Cg + c) * KH + kh) * KW + kw];
              }
          const size_t i = static_cast<size_t>(((n * M + m) * OH + oh) * OW + ow);
          if (z) acc += (*z)[i];
          double v = activate(p.activation, acc);
          v = std::min(std::max(v, double(p.outputMin)), double(p.outputMax));
          y[i] = static_cast<float>(v);
        }
  return y;
}

std::vector<float> random(size_t n, uint32_t seed, float lo = -1.5f, float hi = 1.5f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

std::vector<float> roundedToHalf(std::vector<float> v) {
  for (float& x : v) x = halfToFloat(floatToHalf(x));
  return v;
}

// A host tensor of `values` in `type` (float32 or float16).
HostTensor tensorOf(DataType type, const Dims& shape, const std::vector<float>& values) {
  if (type == DataType::kFloat32) return Weights::copyOf(type, shape, values.data());
  std::vector<uint16_t> h(values.size());
  for (size_t i = 0; i < values.size(); ++i) h[i] = floatToHalf(values[i]);
  return Weights::copyOf(type, shape, h.data());
}

std::vector<float> floatsOf(const HostTensor& t) {
  std::vector<float> out(static_cast<size_t>(t.count()));
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = t.type == DataType::kFloat32 ? t.as<float>()[i] : halfToFloat(t.as<uint16_t>()[i]);
  return out;
}

// NCHW -> NHWC (and [M, C, kh, kw] -> [M, kh, kw, C]).
std::vector<float> toChannelsLast(const std::vector<float>& v, const Dims& s) {
  std::vector<float> out(v.size());
  const int64_t N = s[0], C = s[1], HW = s[2] * s[3];
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < HW; ++i) out[(n * HW + i) * C + c] = v[(n * C + c) * HW + i];
  return out;
}
Dims channelsLastDims(const Dims& s) { return {s[0], s[2], s[3], s[1]}; }

// Every CPU tactic of the convolution with `p`'s epilogue (and channelsLast) against the naive reference.
void checkCpuConvolution(const Geometry2d& g, ConvolutionParams p, DataType type, bool bias, bool residual,
                         uint32_t seed) {
  p.groups = g.groups;
  p.strides = g.strides;
  p.dilations = g.dilations;
  p.padsBegin = g.padsBegin;
  p.padsEnd = g.padsEnd;
  const bool half = type == DataType::kFloat16;
  auto round = [&](std::vector<float> v) { return half ? roundedToHalf(std::move(v)) : v; };
  std::vector<float> x = round(random(volume(g.x), seed)), w = round(random(volume(g.w), seed + 1, -0.5f, 0.5f));
  std::vector<float> b = round(random(g.w[0], seed + 2));
  Dims yShape;
  naiveConvEpilogue(g, x, w, nullptr, nullptr, ConvolutionParams{}, yShape);
  std::vector<float> z = round(random(volume(yShape), seed + 3));
  std::vector<float> want =
      naiveConvEpilogue(g, x, w, bias ? &b : nullptr, residual ? &z : nullptr, p, yShape);
  Dims xs = g.x, ws = g.w, ys = yShape;
  if (p.channelsLast) {
    x = toChannelsLast(x, g.x);
    w = toChannelsLast(w, g.w);
    z = toChannelsLast(z, yShape);
    want = toChannelsLast(want, yShape);
    xs = channelsLastDims(g.x);
    ws = channelsLastDims(g.w);
    ys = channelsLastDims(yShape);
  }
  HostTensor hx = tensorOf(type, xs, x), hw = tensorOf(type, ws, w), hb = tensorOf(type, {g.w[0]}, b),
             hz = tensorOf(type, ys, z);
  ir::Network net;
  std::vector<ITensor*> inputs = {net.addInput("x", type, xs), net.addInput("w", type, ws),
                                  bias ? net.addInput("b", type, {g.w[0]}) : nullptr,
                                  residual ? net.addInput("z", type, ys) : nullptr};
  if (!residual) inputs.pop_back();
  if (!residual && !bias) inputs.pop_back();
  const ir::Layer& layer = *static_cast<ir::Layer*>(net.addLayer(p, inputs, 1, "conv"));
  ASSERT_EQ(layer.outputs[0]->dims(), ys);
  auto cpu = backendFor("cpu");
  std::vector<std::string> tactics = cpu->tactics(layer, kMaxBuilderEffort);
  ASSERT_FALSE(tactics.empty());
  for (const std::string& tactic : tactics) {
    for (bool constantWeights : {false, true}) {
      SCOPED_TRACE(tactic + (constantWeights ? " (constant weights)" : ""));
      std::vector<const HostTensor*> constants = {nullptr, constantWeights ? &hw : nullptr,
                                                  constantWeights && bias ? &hb : nullptr, nullptr};
      constants.resize(inputs.size());
      auto kernel = cpu->createKernel(layer, constants, tactic);
      KernelArgs args;
      for (const HostTensor* t : {&hx, &hw, bias ? &hb : nullptr, residual ? &hz : nullptr}) {
        if (args.inputs.size() == inputs.size()) break;
        TensorView v;
        if (t) v = TensorView{const_cast<void*>(t->data()), t->type, t->shape};
        args.inputs.push_back(v);
      }
      HostTensor y = tensorOf(type, ys, std::vector<float>(want.size(), 77.f));
      args.outputs.push_back(TensorView{const_cast<void*>(y.data()), type, ys});
      args.workspaceBytes = kernel->workspaceSize(args);
      std::vector<uint64_t> workspace(args.workspaceBytes / 8 + 16);
      args.workspace = workspace.data() + (8 - reinterpret_cast<uintptr_t>(workspace.data()) % 64 / 8) % 8;
      kernel->execute(args);
      std::vector<float> got = floatsOf(y);
      const float tol = half ? 1e-2f : 2e-5f;
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < got.size(); ++i)
        ASSERT_NEAR(got[i], want[i], tol * std::max(1.f, std::abs(want[i]))) << "element " << i;
    }
  }
}

const std::vector<Geometry2d>& awkwardGeometries() {
  static const std::vector<Geometry2d> cases = {
      {{1, 3, 7, 9}, {5, 3, 3, 3}, 1, {}, {}, {1, 1}, {1, 1}},                 // odd channels, padded
      {{2, 6, 11, 8}, {9, 2, 3, 2}, 3, {2, 1}, {}, {1, 0}, {0, 1}},            // groups, strides, asymmetric pads
      {{1, 5, 9, 10}, {7, 5, 3, 3}, 1, {1, 2}, {2, 1}, {2, 1}, {1, 2}},        // dilations
      {{2, 7, 6, 5}, {7, 1, 3, 3}, 7, {2, 2}, {}, {1, 1}, {1, 1}},             // depthwise, stride 2
      {{1, 8, 5, 7}, {11, 8, 1, 1}, 1, {}, {}, {}, {}},                        // pointwise
  };
  return cases;
}

const ConvActivation kActivations[] = {ConvActivation::kNone, ConvActivation::kSilu, ConvActivation::kHardSwish,
                                       ConvActivation::kSigmoid, ConvActivation::kGelu};

}  // namespace

TEST(ConvFusionCpu, EveryEpilogueOnAwkwardShapes) {
  uint32_t seed = 10;
  for (DataType type : {DataType::kFloat32, DataType::kFloat16}) {
    for (const Geometry2d& g : awkwardGeometries()) {
      for (ConvActivation a : kActivations) {
        for (bool residual : {false, true}) {
          SCOPED_TRACE(concat(dataTypeName(type), " x ", dimsToString(g.x), " w ", dimsToString(g.w), " activation ",
                              static_cast<int>(a), residual ? " residual" : ""));
          ConvolutionParams p;
          p.activation = a;
          if (a == ConvActivation::kNone) p.outputMin = 0.f;  // Relu
          if (a == ConvActivation::kHardSwish) p.outputMax = 0.75f;
          checkCpuConvolution(g, p, type, /*bias=*/(seed % 3) != 0, residual, seed += 5);
        }
      }
    }
  }
}

TEST(ConvFusionCpu, ResidualWithoutBiasAndNaNThroughTheClamp) {
  const Geometry2d g{{1, 3, 4, 4}, {2, 3, 3, 3}, 1, {}, {}, {1, 1}, {1, 1}};
  ConvolutionParams p;
  p.outputMin = 0.f;
  p.outputMax = 6.f;
  checkCpuConvolution(g, p, DataType::kFloat32, false, true, 3);
  // A NaN residual gives NaN outputs, not a clamp bound.
  ir::Network net;
  p.padsBegin = {1, 1};
  p.padsEnd = {1, 1};
  std::vector<ITensor*> in = {net.addInput("x", DataType::kFloat32, {1, 3, 4, 4}),
                              net.addInput("w", DataType::kFloat32, {2, 3, 3, 3}), nullptr,
                              net.addInput("z", DataType::kFloat32, {1, 2, 4, 4})};
  const ir::Layer& layer = *static_cast<ir::Layer*>(net.addLayer(p, in, 1, "conv"));
  HostTensor x = tensorOf(DataType::kFloat32, {1, 3, 4, 4}, random(48, 1));
  HostTensor w = tensorOf(DataType::kFloat32, {2, 3, 3, 3}, random(54, 2));
  std::vector<float> zv = random(32, 3);
  zv[5] = std::nanf("");
  HostTensor z = tensorOf(DataType::kFloat32, {1, 2, 4, 4}, zv);
  std::vector<HostTensor> y = host::evaluateLayer(layer, {&x, &w, nullptr, &z});
  EXPECT_TRUE(std::isnan(y[0].as<float>()[5]));
  EXPECT_FALSE(std::isnan(y[0].as<float>()[4]));
  // Every CPU tactic (oneDNN's clip post-op would turn the NaN into the lower bound).
  auto cpu = backendFor("cpu");
  for (const std::string& tactic : cpu->tactics(layer, kMaxBuilderEffort)) {
    SCOPED_TRACE(tactic);
    auto kernel = cpu->createKernel(layer, {nullptr, nullptr, nullptr, nullptr}, tactic);
    HostTensor out = tensorOf(DataType::kFloat32, {1, 2, 4, 4}, std::vector<float>(32, 77.f));
    KernelArgs args;
    for (const HostTensor* t : std::initializer_list<const HostTensor*>{&x, &w, nullptr, &z})
      args.inputs.push_back(t ? TensorView{const_cast<void*>(t->data()), t->type, t->shape} : TensorView{});
    args.outputs.push_back(TensorView{const_cast<void*>(out.data()), DataType::kFloat32, out.shape});
    args.workspaceBytes = kernel->workspaceSize(args);
    std::vector<uint64_t> workspace(args.workspaceBytes / 8 + 16);
    args.workspace = workspace.data() + (8 - reinterpret_cast<uintptr_t>(workspace.data()) % 64 / 8) % 8;
    kernel->execute(args);
    EXPECT_TRUE(std::isnan(out.as<float>()[5]));
    EXPECT_FALSE(std::isnan(out.as<float>()[4]));
  }
}

TEST(ConvFusionCpu, ChannelsLastMatchesChannelsFirst) {
  uint32_t seed = 200;
  for (DataType type : {DataType::kFloat32, DataType::kFloat16}) {
    for (const Geometry2d& g : awkwardGeometries()) {
      for (bool residual : {false, true}) {
        SCOPED_TRACE(concat(dataTypeName(type), " x ", dimsToString(g.x), " w ", dimsToString(g.w),
                            residual ? " residual" : ""));
        ConvolutionParams p;
        p.channelsLast = true;
        p.activation = residual ? ConvActivation::kSilu : ConvActivation::kNone;
        p.outputMin = residual ? -kInf : 0.f;
        checkCpuConvolution(g, p, type, true, residual, seed += 7);
      }
    }
  }
}

TEST(ConvFusionCpu, ResidualShapeIsChecked) {
  ir::Network net;
  ITensor* x = net.addInput("x", DataType::kFloat32, {1, 3, 4, 4});
  ITensor* z = net.addInput("z", DataType::kFloat32, {1, 2, 4, 1});  // would broadcast: refused
  ITensor* w = net.addConstant(randomWeights({2, 3, 3, 3}, 1));
  EXPECT_THROW(net.addLayer(padded(1), {x, w, nullptr, z}), Error);
}

// ---- choose_channels_last -----------------------------------------------------------------------

namespace {

// The CPU backend posing as a device (memory not the host's), so that choose_channels_last acts.
class DeviceLikeBackend final : public kiln::testing::CpuWrappingBackend {
 public:
  bool isHostMemory() const override { return false; }
};

bool runChannelsLast(ir::Network& net, const Backend* target) {
  std::vector<std::string> log;
  passes::PassContext context{net, log, target};
  bool changed = passes::chooseChannelsLast(context);
  net.inferShapes();
  return changed;
}

Weights halfWeights(const Dims& shape, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  Weights f = randomWeights(shape, seed, lo, hi);
  std::vector<uint16_t> h(static_cast<size_t>(f.count()));
  for (size_t i = 0; i < h.size(); ++i) h[i] = floatToHalf(f.as<float>()[i]);
  return Weights::copyOf(DataType::kFloat16, shape, h.data());
}

// Runs the network on the host; the first output as floats (float16 converted).
std::vector<float> evaluateHalf(const ir::Network& net, const std::vector<HostTensor>& inputs) {
  std::vector<const HostTensor*> bound;
  for (const HostTensor& t : inputs) bound.push_back(&t);
  ir::Layer owner("test", IdentityParams{});
  std::vector<HostTensor> out = host::evaluateNetwork(net, bound, owner);
  return floatsOf(out[0]);
}

// x fp16 [2,5,9,8] -> conv 3x3 (+bias) relu -> maxpool 3x3/2 -> conv 1x1 -> Add [1,7,1,1] -> Add(.., .)
// -> mean over H, W (keepDims) -> y [2,7,1,1]; and the pooled tensor is a second network output.
struct HalfChain {
  ir::Network net;
  ITensor* pooled = nullptr;
};

void halfChain(HalfChain& c) {
  ir::Network& net = c.net;
  ITensor* x = net.addInput("x", DataType::kFloat16, {2, 5, 9, 8});
  ConvolutionParams p = padded(1);
  p.outputMin = 0.f;
  ITensor* a = net.addConvolution(x, halfWeights({6, 5, 3, 3}, 1, -0.4f, 0.4f), halfWeights({6}, 2), p);
  PoolingParams pool;
  pool.kernelShape = {3, 3};
  pool.strides = {2, 2};
  pool.padsBegin = {1, 1};
  pool.padsEnd = {1, 1};
  c.pooled = net.addPooling(a, pool);
  ITensor* b = net.addConvolution(c.pooled, halfWeights({7, 6, 1, 1}, 3), Weights{}, ConvolutionParams{});
  ITensor* shifted = net.addElementWise(b, net.addConstant(halfWeights({1, 7, 1, 1}, 4)), ElementWiseOp::kAdd);
  ITensor* doubled = net.addElementWise(shifted, shifted, ElementWiseOp::kAdd);
  ReduceParams mean;
  mean.op = ReduceOp::kMean;
  mean.axes = {2, -1};
  ITensor* y = net.addLayer(mean, {doubled})->output(0);
  y->setName("y");
  net.markOutput(y);
  c.pooled->setName("pooled");
  net.markOutput(c.pooled);
  net.inferShapes();
}

}  // namespace

TEST(ChannelsLast, ChainRunsInNhwcWithTransposesAtItsEdges) {
  HalfChain c;
  halfChain(c);
  std::vector<HostTensor> input = {halfWeights({2, 5, 9, 8}, 9, -2.f, 2.f)};
  std::vector<float> before = evaluateHalf(c.net, input);
  DeviceLikeBackend device;
  EXPECT_TRUE(runChannelsLast(c.net, &device));
  int convs = 0, pools = 0, transposes = 0;
  for (auto& l : c.net.layers()) {
    if (l->type() == LayerType::kConvolution) {
      ++convs;
      EXPECT_TRUE(l->as<ConvolutionParams>().channelsLast);
      EXPECT_EQ(l->inputs[0]->dims().back(), l->as<ConvolutionParams>().groups * l->inputs[1]->dims().back());
    }
    if (l->type() == LayerType::kPooling) {
      ++pools;
      EXPECT_TRUE(l->as<PoolingParams>().channelsLast);
    }
    if (l->type() == LayerType::kReduce) EXPECT_EQ(l->as<ReduceParams>().axes, (Dims{1, 2}));
    transposes += l->type() == LayerType::kTranspose;
  }
  EXPECT_EQ(convs, 2);
  EXPECT_EQ(pools, 1);
  // In: x, the two weights, the [1,7,1,1] constant (folded later); out: pooled (a network output) and y.
  EXPECT_EQ(transposes, 6);
  ASSERT_EQ(c.net.outputs().size(), 2u);
  EXPECT_EQ(c.net.outputs()[0]->name(), "y");
  EXPECT_EQ(c.net.outputs()[0]->dims(), (Dims{2, 7, 1, 1}));
  EXPECT_EQ(c.net.outputs()[1]->name(), "pooled");
  EXPECT_EQ(c.net.outputs()[1]->dims(), (Dims{2, 6, 5, 4}));
  EXPECT_EQ(c.net.outputs()[0]->producerLayer->type(), LayerType::kTranspose);
  expectClose(evaluateHalf(c.net, input), before, 2e-3f);
  EXPECT_FALSE(runChannelsLast(c.net, &device));  // nothing left to convert
}

TEST(ChannelsLast, LeavesHostTargetsFloat32AndChainsWithoutConvolutions) {
  {  // the CPU target
    HalfChain c;
    halfChain(c);
    EXPECT_FALSE(runChannelsLast(c.net, backendFor("cpu").get()));
  }
  DeviceLikeBackend device;
  {  // float32 convolution
    ir::Network net;
    ITensor* x = net.addInput("x", DataType::kFloat32, {1, 4, 5, 6});
    net.markOutput(net.addConvolution(x, randomWeights({4, 4, 3, 3}, 1), Weights{}, padded(1)));
    net.inferShapes();
    EXPECT_FALSE(runChannelsLast(net, &device));
  }
  {  // pooling and activation alone
    ir::Network net;
    ITensor* x = net.addInput("x", DataType::kFloat16, {1, 4, 6, 6});
    PoolingParams pool;
    pool.kernelShape = {2, 2};
    net.markOutput(net.addActivation(net.addPooling(x, pool), ActivationType::kRelu));
    net.inferShapes();
    EXPECT_FALSE(runChannelsLast(net, &device));
  }
  {  // a 1-D operand broadcasts over W in NCHW: the Add stays out of the chain
    ir::Network net;
    ITensor* x = net.addInput("x", DataType::kFloat16, {1, 4, 5, 6});
    ITensor* c = net.addConvolution(x, halfWeights({4, 4, 3, 3}, 1), Weights{}, padded(1));
    ITensor* y = net.addElementWise(c, net.addConstant(halfWeights({6}, 2)), ElementWiseOp::kAdd);
    net.markOutput(y);
    net.inferShapes();
    EXPECT_TRUE(runChannelsLast(net, &device));
    EXPECT_EQ(y->producer()->type(), LayerType::kElementWise);
    EXPECT_EQ(static_cast<ir::Tensor*>(y)->producerLayer->inputs[0]->producerLayer->type(), LayerType::kTranspose);
  }
}

TEST(ChannelsLast, CancellingTransposePairsAreRemoved) {
  ir::Network net;
  ITensor* x = net.addInput("x", DataType::kFloat32, {1, 4, 5, 6});
  ITensor* there = net.addTranspose(x, {0, 2, 3, 1});
  ITensor* back = net.addTranspose(there, {0, 3, 1, 2});
  ITensor* y = net.addActivation(back, ActivationType::kRelu);
  net.markOutput(y);
  ITensor* other = net.addTranspose(net.addTranspose(x, {0, 2, 3, 1}), {0, 2, 3, 1});  // does not cancel
  net.markOutput(other);
  net.inferShapes();
  EXPECT_TRUE(runChannelsLast(net, nullptr));
  EXPECT_EQ(static_cast<ir::Tensor*>(y)->producerLayer->inputs[0], x);
  runPass(passes::eliminateDeadLayers, net);
  EXPECT_EQ(count(net, LayerType::kTranspose), 2);
  EXPECT_FALSE(runChannelsLast(net, nullptr));
}

TEST(ChannelsLastCpu, PoolingMatchesChannelsFirst) {
  for (PoolingType type : {PoolingType::kMax, PoolingType::kAverage, PoolingType::kLp}) {
    for (DataType dt : {DataType::kFloat32, DataType::kFloat16}) {
      SCOPED_TRACE(concat(static_cast<int>(type), " ", dataTypeName(dt)));
      PoolingParams p;
      p.type = type;
      p.kernelShape = {3, 2};
      p.strides = {2, 1};
      p.padsBegin = {1, 0};
      p.padsEnd = {0, 1};
      p.ceilMode = true;
      const Dims xs = {2, 5, 7, 6};
      std::vector<float> xv = random(volume(xs), 3, 0.1f, 2.f);
      if (dt == DataType::kFloat16) xv = roundedToHalf(xv);
      HostTensor first = tensorOf(dt, xs, xv);
      HostTensor last = tensorOf(dt, channelsLastDims(xs), toChannelsLast(xv, xs));
      ir::Network net;
      std::vector<HostTensor> want = host::evaluateLayer(
          *static_cast<ir::Layer*>(net.addLayer(p, {net.addInput("a", dt, xs)}, 1, "first")), {&first});
      p.channelsLast = true;
      const ir::Layer& flagged =
          *static_cast<ir::Layer*>(net.addLayer(p, {net.addInput("b", dt, channelsLastDims(xs))}, 1, "last"));
      EXPECT_EQ(backendFor("cpu")->tactics(flagged, 0), std::vector<std::string>{"cpu.pooling.channels_last"});
      std::vector<HostTensor> got = host::evaluateLayer(flagged, {&last});
      ASSERT_EQ(got[0].shape, channelsLastDims(want[0].shape));
      expectClose(floatsOf(got[0]), toChannelsLast(floatsOf(want[0]), want[0].shape), 1e-6f);
    }
  }
}

TEST(ConvFusion, FusedResidualBlockSurvivesThePlanAndMatchesUnfused) {
  // A projection-shortcut block built through the Builder: the Add and the Relu fuse into the shortcut
  // convolution (no bias before its residual: an omitted input in the middle), written to a plan, loaded,
  // run; the same network with the fusion passes disabled is the reference.
  auto makeNet = [] {
    auto net = Builder().createNetwork();
    ITensor* x = net->addInput("x", DataType::kFloat32, {2, 3, 7, 6});
    ITensor* main = net->addConvolution(x, randomWeights({5, 3, 3, 3}, 1), randomWeights({5}, 2), padded(1));
    ITensor* shortcut = net->addConvolution(x, randomWeights({5, 3, 1, 1}, 3), Weights{}, ConvolutionParams{});
    ITensor* sum = net->addElementWise(main, shortcut, ElementWiseOp::kAdd);
    ITensor* y = net->addElementWise(sum, net->addActivation(sum, ActivationType::kSigmoid), ElementWiseOp::kMul);
    y->setName("y");
    net->markOutput(y);
    return net;
  };
  std::vector<float> x = random(2 * 3 * 7 * 6, 4, -2.f, 2.f);
  auto runWith = [&](const std::vector<std::string>& disabled, std::string* layers) {
    auto net = makeNet();
    BuilderConfig config;
    config.disabledPasses = disabled;
    auto engine = kiln::testing::buildEngine(*net, config);
    *layers = engine->layerInformation();
    auto context = engine->createExecutionContext();
    std::vector<float> y(2 * 5 * 7 * 6, NAN);
    context->setTensorAddress("x", x.data());
    context->setTensorAddress("y", y.data());
    context->execute();
    return y;
  };
  std::string fusedLayers, plainLayers;
  std::vector<float> fused = runWith({}, &fusedLayers);
  std::vector<float> plain = runWith({"fuse_conv_residual", "fuse_conv_activation"}, &plainLayers);
  EXPECT_EQ(fusedLayers.find("ElementWise"), std::string::npos) << fusedLayers;
  EXPECT_EQ(fusedLayers.find("Activation"), std::string::npos) << fusedLayers;
  EXPECT_NE(plainLayers.find("ElementWise"), std::string::npos) << plainLayers;
  expectClose(fused, plain, 1e-5f);
}
