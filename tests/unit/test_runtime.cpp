// End to end on the CPU through the public API: build by hand, serialize, run, dynamic shapes, errors.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "test_helpers.h"

using namespace kiln;
using kiln::testing::buildEngine;
using kiln::testing::floats;

namespace {

// y = relu(x @ W + b), x: [batch, 3]
std::unique_ptr<NetworkDefinition> mlp() {
  auto net = Builder().createNetwork();
  ITensor* x = net->addInput("x", DataType::kFloat32, {-1, 3}, {"batch"});
  ITensor* w = net->addConstant(floats({3, 2}, {1, -1, 2, 0.5f, -3, 1}));
  ITensor* b = net->addConstant(floats({2}, {0.25f, -0.5f}));
  ITensor* y = net->addActivation(net->addElementWise(net->addMatrixMultiply(x, false, w, false), b, ElementWiseOp::kAdd),
                                  ActivationType::kRelu);
  y->setName("y");
  net->markOutput(y);
  return net;
}

std::vector<float> expectedMlp(const std::vector<float>& x) {
  const float w[3][2] = {{1, -1}, {2, 0.5f}, {-3, 1}}, b[2] = {0.25f, -0.5f};
  std::vector<float> y;
  for (size_t r = 0; r < x.size() / 3; ++r)
    for (int c = 0; c < 2; ++c) {
      float s = b[c];
      for (int k = 0; k < 3; ++k) s += x[r * 3 + k] * w[k][c];
      y.push_back(std::max(s, 0.f));
    }
  return y;
}

BuilderConfig dynamicBatch() {
  BuilderConfig config;
  config.profile.setDimensions("x", {1, 3}, {4, 3}, {16, 3});
  // The Relu stays a layer: these tests need the MatMul's output as an intermediate tensor to plan and profile.
  config.disabledPasses = {"fuse_matmul_activation"};
  return config;
}

}  // namespace

TEST(Runtime, RunsAtSeveralBatchSizesFromOneBuild) {
  auto net = mlp();
  BuildSummary summary;
  auto engine = buildEngine(*net, dynamicBatch(), &summary);
  EXPECT_GT(summary.activationBytesPlanned, 0);
  EXPECT_LE(summary.activationBytesPlanned, summary.activationBytesNaive);
  auto context = engine->createExecutionContext();
  for (int64_t batch : {1, 5, 16, 2}) {
    std::vector<float> x(batch * 3);
    for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.7f * i + batch);
    std::vector<float> y(batch * 2, NAN);
    context->setInputShape("x", {batch, 3});
    EXPECT_EQ(context->tensorShape("y"), (Dims{batch, 2}));
    context->setTensorAddress("x", x.data());
    context->setTensorAddress("y", y.data());
    context->execute();
    std::vector<float> expected = expectedMlp(x);
    for (size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y[i], expected[i], 1e-5) << "batch " << batch << " i " << i;
  }
}

TEST(Runtime, SerializedEngineGivesSameOutputs) {
  auto net = mlp();
  auto engine = buildEngine(*net, dynamicBatch());
  std::vector<uint8_t> bytes = engine->serialize();
  auto reloaded = Runtime().deserializeEngine(bytes.data(), bytes.size());
  std::vector<float> x = {0.5f, -1, 2, 3, 0.25f, -0.75f};
  std::vector<float> y1(4), y2(4);
  for (auto [e, y] : {std::pair{engine.get(), &y1}, std::pair{reloaded.get(), &y2}}) {
    auto context = e->createExecutionContext();
    context->setInputShape("x", {2, 3});
    context->setTensorAddress("x", x.data());
    context->setTensorAddress("y", y->data());
    context->execute();
  }
  EXPECT_EQ(y1, y2);
  EXPECT_EQ(y1, expectedMlp(x));
}

TEST(Runtime, UnboundOutputIsOwnedByTheContext) {
  auto net = mlp();
  auto engine = buildEngine(*net, dynamicBatch());
  auto context = engine->createExecutionContext();
  std::vector<float> x = {1, 2, 3};
  context->setInputShape("x", {1, 3});
  context->setTensorAddress("x", x.data());
  context->execute();
  auto* y = static_cast<float*>(context->tensorAddress("y"));
  ASSERT_NE(y, nullptr);
  EXPECT_NEAR(y[0], expectedMlp(x)[0], 1e-6);
}

TEST(Runtime, EngineIntrospection) {
  auto net = mlp();
  auto engine = buildEngine(*net, dynamicBatch());
  ASSERT_EQ(engine->numIOTensors(), 2);
  EXPECT_EQ(engine->ioTensorName(0), "x");
  EXPECT_EQ(engine->tensorIOMode("x"), TensorIOMode::kInput);
  EXPECT_EQ(engine->tensorIOMode("y"), TensorIOMode::kOutput);
  EXPECT_EQ(engine->tensorShape("x"), (Dims{-1, 3}));
  EXPECT_EQ(engine->profileShape("x").max, (Dims{16, 3}));
  EXPECT_EQ(engine->device(), "cpu");
  EXPECT_NE(engine->layerInformation().find("MatrixMultiply"), std::string::npos);
}

TEST(Runtime, BadInputsGiveClearErrors) {
  auto net = mlp();
  auto engine = buildEngine(*net, dynamicBatch());
  auto context = engine->createExecutionContext();
  auto expectMessage = [](auto&& call, const std::string& fragment) {
    try {
      call();
      ADD_FAILURE() << "expected an error containing '" << fragment << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  expectMessage([&] { context->setInputShape("nope", {1, 3}); }, "no input or output named 'nope'");
  expectMessage([&] { context->setInputShape("x", {1, 4}); }, "must have shape [?,3]");
  expectMessage([&] { context->setInputShape("x", {1, 3, 1}); }, "has rank 2");
  expectMessage([&] { context->setInputShape("x", {17, 3}); }, "outside the optimization profile");
  expectMessage([&] { context->execute(); }, "call setInputShape");
  context->setInputShape("x", {1, 3});
  expectMessage([&] { context->execute(); }, "call setTensorAddress");
}

TEST(Runtime, ConstantAndInputOutputsAreCopied) {
  auto net = Builder().createNetwork();
  ITensor* x = net->addInput("x", DataType::kFloat32, {2});
  net->markOutput(x);
  ITensor* c = net->addConstant(floats({2}, {7, 8}));
  c->setName("c");
  net->markOutput(c);
  auto engine = buildEngine(*net);
  auto context = engine->createExecutionContext();
  std::vector<float> in = {1, 2}, outX(2), outC(2);
  context->setTensorAddress("x", in.data());
  context->execute();
  auto* px = static_cast<float*>(context->tensorAddress("x"));
  EXPECT_EQ(px[1], 2.f);
  auto* pc = static_cast<float*>(context->tensorAddress("c"));
  EXPECT_EQ(pc[0], 7.f);
  EXPECT_EQ(pc[1], 8.f);
}

TEST(Runtime, NetworkWithoutOutputsIsRejected) {
  auto net = Builder().createNetwork();
  net->addInput("x", DataType::kFloat32, {2});
  EXPECT_THROW(buildEngine(*net), Error);
}

TEST(Runtime, ParsesAndRunsTheBundledSample) {
  std::string path = std::string(KILN_SOURCE_DIR) + "/samples/small_cnn.onnx";
  auto net = Builder().createNetwork();
  OnnxParser(*net).parseFromFile(path);
  BuilderConfig config;
  config.profile.setDimensions("input", {1, 3, 32, 32}, {2, 3, 32, 32}, {4, 3, 32, 32});
  BuildSummary summary;
  auto engine = buildEngine(*net, config, &summary);
  EXPECT_LT(summary.layersAfter, summary.layersBefore + 1);
  auto context = engine->createExecutionContext();
  std::vector<float> x(3 * 3 * 32 * 32);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::cos(0.01f * i);
  std::vector<float> y(3 * 10);
  context->setInputShape("input", {3, 3, 32, 32});
  context->setTensorAddress("input", x.data());
  context->setTensorAddress("probabilities", y.data());
  context->execute();
  for (int r = 0; r < 3; ++r) {
    float sum = 0;
    for (int c = 0; c < 10; ++c) sum += y[r * 10 + c];
    EXPECT_NEAR(sum, 1.f, 1e-5);  // softmax rows
  }
}

TEST(Runtime, ProfilerReportsEveryLayerOfEachRun) {
  struct Recorder final : Profiler {
    std::vector<std::pair<std::string, std::string>> calls;  // layer name, layer type
    void reportLayerTime(const std::string& name, const std::string& type, double ms) override {
      EXPECT_GE(ms, 0.0);
      calls.emplace_back(name, type);
    }
  } recorder;
  auto net = mlp();
  auto engine = buildEngine(*net, dynamicBatch());
  auto context = engine->createExecutionContext();
  std::vector<float> x = {1, 2, 3}, y(2);
  context->setInputShape("x", {1, 3});
  context->setTensorAddress("x", x.data());
  context->setTensorAddress("y", y.data());
  context->setProfiler(&recorder);
  context->execute();
  context->execute();
  context->setProfiler(nullptr);
  context->execute();
  ASSERT_EQ(recorder.calls.size(), 4u);  // MatMul (with the bias Add fused), Relu; twice
  EXPECT_EQ(recorder.calls[0].second, "MatrixMultiply");
  EXPECT_EQ(recorder.calls[1].second, "Activation");
  EXPECT_EQ(recorder.calls[0], recorder.calls[2]);
  EXPECT_EQ(y, expectedMlp(x));
}

TEST(Runtime, ConvBatchNormReluFusedMatchesUnfused) {
  // Conv -> BatchNorm -> Relu with constant weights: folded, fused and run with packed weights by
  // default; the same network with those passes disabled is the reference.
  auto makeNet = [] {
    auto net = Builder().createNetwork();
    ITensor* x = net->addInput("x", DataType::kFloat32, {1, 5, 9, 7});
    std::vector<float> w(6 * 5 * 9), b(6), scale(6), shift(6), mean(6), var(6);
    for (size_t i = 0; i < w.size(); ++i) w[i] = std::sin(0.37f * i);
    for (int c = 0; c < 6; ++c) {
      b[c] = 0.1f * c - 0.2f;
      scale[c] = 0.5f + 0.1f * c;
      shift[c] = 0.05f * c - 0.1f;
      mean[c] = 0.2f - 0.03f * c;
      var[c] = 0.6f + 0.2f * c;
    }
    ConvolutionParams p;
    p.padsBegin = {1, 1};
    p.padsEnd = {1, 1};
    ITensor* conv = net->addConvolution(x, floats({6, 5, 3, 3}, w), floats({6}, b), p);
    NormalizationParams bn;
    ITensor* y = net->addLayer(bn, {conv, net->addConstant(floats({6}, scale)), net->addConstant(floats({6}, shift)),
                                    net->addConstant(floats({6}, mean)), net->addConstant(floats({6}, var))})
                     ->output(0);
    y = net->addActivation(y, ActivationType::kRelu);
    y->setName("y");
    net->markOutput(y);
    return net;
  };
  std::vector<float> x(5 * 9 * 7);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::cos(0.11f * i);
  auto runWith = [&](const std::vector<std::string>& disabled, std::string* layers) {
    auto net = makeNet();
    BuilderConfig config;
    config.disabledPasses = disabled;
    auto engine = buildEngine(*net, config);
    *layers = engine->layerInformation();
    auto context = engine->createExecutionContext();
    std::vector<float> y(6 * 9 * 7, NAN);
    context->setTensorAddress("x", x.data());
    context->setTensorAddress("y", y.data());
    context->execute();
    return y;
  };
  std::string fusedLayers, plainLayers;
  std::vector<float> fused = runWith({}, &fusedLayers);
  std::vector<float> plain = runWith({"fold_batchnorm_into_conv", "fuse_conv_activation"}, &plainLayers);
  EXPECT_EQ(fusedLayers.find("Normalization"), std::string::npos) << fusedLayers;
  EXPECT_EQ(fusedLayers.find("Activation"), std::string::npos) << fusedLayers;
  EXPECT_NE(plainLayers.find("Normalization"), std::string::npos) << plainLayers;
  ASSERT_EQ(fused.size(), plain.size());
  for (size_t i = 0; i < fused.size(); ++i) {
    ASSERT_GE(fused[i], 0.f);
    ASSERT_NEAR(fused[i], plain[i], 1e-5f * std::max(1.f, std::abs(plain[i]))) << i;
  }
}

namespace {

// x [batch, 2, 5, 5] -> Conv 3x3 (3 out) -> LayerNorm over [C,H,W] -> Softmax -> ReduceMean(H,W) -> y [batch, 3]
std::unique_ptr<NetworkDefinition> convNormSoftmax() {
  auto net = Builder().createNetwork();
  ITensor* x = net->addInput("x", DataType::kFloat32, {-1, 2, 5, 5}, {"batch"});
  std::vector<float> w(3 * 2 * 3 * 3), scale(75), shift(75);
  for (size_t i = 0; i < w.size(); ++i) w[i] = std::cos(0.37f * i);
  for (size_t i = 0; i < scale.size(); ++i) scale[i] = 1.f + 0.01f * i, shift[i] = std::sin(0.1f * i);
  ConvolutionParams conv;
  conv.kernelShape = {3, 3};
  conv.padsBegin = conv.padsEnd = {1, 1};
  ITensor* c = net->addConvolution(x, floats({3, 2, 3, 3}, w), floats({3}, {0.1f, -0.2f, 0.3f}), conv);
  NormalizationParams norm;
  norm.type = NormalizationType::kLayer;
  norm.axis = 1;
  ITensor* n = net->addLayer(norm, {c, net->addConstant(floats({3, 5, 5}, scale)),
                                    net->addConstant(floats({3, 5, 5}, shift))})->output(0);
  ITensor* s = net->addSoftmax(n, 1);
  ReduceParams mean;
  mean.op = ReduceOp::kMean;
  mean.axes = {2, 3};
  mean.keepDims = false;
  ITensor* y = net->addLayer(mean, {s})->output(0);
  y->setName("y");
  net->markOutput(y);
  return net;
}

std::vector<float> runOnce(Engine& engine, const std::vector<float>& x, int64_t batch) {
  auto context = engine.createExecutionContext();
  std::vector<float> y(batch * 3, NAN);
  context->setInputShape("x", {batch, 2, 5, 5});
  context->setTensorAddress("x", const_cast<float*>(x.data()));
  context->setTensorAddress("y", y.data());
  context->execute();
  return y;
}

}  // namespace

TEST(Runtime, Fp16BuildMatchesFp32WithinHalfPrecision) {
  BuilderConfig config;
  config.profile.setDimensions("x", {1, 2, 5, 5}, {2, 2, 5, 5}, {4, 2, 5, 5});
  auto fp32 = buildEngine(*convNormSoftmax(), config);
  config.fp16 = true;
  BuildSummary summary;
  auto fp16 = buildEngine(*convNormSoftmax(), config, &summary);
  EXPECT_EQ(summary.precision, DataType::kFloat16);
  EXPECT_EQ(summary.reducedPrecisionLayers, 4);  // Conv, LayerNorm, Softmax, ReduceMean
  EXPECT_EQ(summary.castsInserted, 2);
  EXPECT_NE(summary.toString().find("4 layers in float16, 2 casts inserted"), std::string::npos) << summary.toString();
  // The I/O types are the declared ones; the plan (reloaded) keeps the float16 layers.
  EXPECT_EQ(fp16->tensorDataType("x"), DataType::kFloat32);
  EXPECT_EQ(fp16->tensorDataType("y"), DataType::kFloat32);
  std::vector<uint8_t> bytes = fp16->serialize();
  auto reloaded = Runtime().deserializeEngine(bytes.data(), bytes.size());
  EXPECT_LT(reloaded->weightsBytes(), fp32->weightsBytes());  // weights stored as float16
  const int64_t batch = 3;
  std::vector<float> x(batch * 50);
  for (size_t i = 0; i < x.size(); ++i) x[i] = 2.f * std::sin(0.91f * i + 0.3f);
  std::vector<float> want = runOnce(*fp32, x, batch), got = runOnce(*reloaded, x, batch);
  ASSERT_EQ(got.size(), want.size());
  double maxDiff = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i], want[i], 5e-3 + 5e-3 * std::fabs(want[i])) << i;
    maxDiff = std::max(maxDiff, std::fabs(static_cast<double>(got[i]) - want[i]));
  }
  EXPECT_GT(maxDiff, 0.0);  // it really ran in float16
}

TEST(Runtime, MemoryLimitIsCheckedAtTheMaxShapes) {
  // The mlp's activations at max batch 16: x@W and +b are [16, 2] floats (128 bytes each, 256-aligned).
  auto net = mlp();
  BuilderConfig config = dynamicBatch();
  config.memoryLimit = 1 << 20;
  EXPECT_NO_THROW(buildEngine(*net, config));
  config.memoryLimit = 16;
  try {
    buildEngine(*net, config);
    FAIL() << "expected the memory limit to fail the build";
  } catch (const Error& e) {
    std::string what = e.what();
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(what.find("max shapes (x [16,3])"), std::string::npos) << what;
    EXPECT_NE(what.find("memoryLimit"), std::string::npos) << what;
  }
}
