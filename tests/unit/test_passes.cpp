// Builder passes, as before -> after networks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <unordered_map>

#include "backends/cpu/cpu_backend.h"
#include "builder/pass_manager.h"
#include "ir/network.h"
#include "test_helpers.h"

using namespace kiln;
using kiln::testing::floats;
using kiln::testing::int64s;

namespace {

std::vector<LayerType> layerTypes(const ir::Network& net) {
  std::vector<LayerType> types;
  for (auto& l : net.layers()) types.push_back(l->type());
  return types;
}

bool run(bool (*pass)(passes::PassContext&), ir::Network& net) {
  std::vector<std::string> log;
  passes::PassContext context{net, log};
  bool changed = pass(context);
  net.inferShapes();
  return changed;
}

Weights randomWeights(const Dims& shape, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(static_cast<size_t>(volume(shape)));
  for (float& x : v) x = d(rng);
  return floats(shape, v);
}

// Runs the network layer by layer on the host CPU kernels; returns the first output.
std::vector<float> evaluate(const ir::Network& net, const Weights& input) {
  std::unordered_map<const ir::Tensor*, HostTensor> values;
  values[net.inputs()[0]] = input;
  for (auto& layer : net.layers()) {
    std::vector<const HostTensor*> inputs;
    for (auto* in : layer->inputs) inputs.push_back(in ? &values.at(in) : nullptr);
    auto outputs = cpu::runLayerOnHost(*layer, inputs);
    for (size_t i = 0; i < outputs.size(); ++i) values[layer->outputs[i]] = outputs[i];
  }
  const HostTensor& out = values.at(net.outputs()[0]);
  return std::vector<float>(out.as<float>(), out.as<float>() + out.count());
}

// x [1,3,6,5] -> Conv 3x3 (4 out channels, optional bias) -> BatchNorm -> activation (when `relu`).
ITensor* convBatchNorm(ir::Network& net, bool bias, ITensor*& convOut) {
  ITensor* x = net.addInput("x", DataType::kFloat32, {1, 3, 6, 5});
  ConvolutionParams p;
  p.padsBegin = {1, 0};
  p.padsEnd = {1, 0};
  convOut = net.addConvolution(x, randomWeights({4, 3, 3, 3}, 1, -1.f, 1.f),
                               bias ? randomWeights({4}, 2, -1.f, 1.f) : Weights{}, p);
  NormalizationParams bn;
  bn.type = NormalizationType::kBatch;
  bn.epsilon = 1e-3f;
  return net.addLayer(bn, {convOut, net.addConstant(randomWeights({4}, 3, 0.5f, 1.5f)),
                           net.addConstant(randomWeights({4}, 4, -0.5f, 0.5f)),
                           net.addConstant(randomWeights({4}, 5, -0.5f, 0.5f)),
                           net.addConstant(randomWeights({4}, 6, 0.2f, 2.f))})
      ->output(0);
}

void expectClose(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-5f * std::max(1.f, std::abs(want[i]))) << i;
}

}  // namespace

TEST(Passes, FoldBatchNormIntoConvRewritesWeightsAndBias) {
  Weights input = randomWeights({1, 3, 6, 5}, 9, -2.f, 2.f);
  for (bool bias : {true, false}) {
    SCOPED_TRACE(bias ? "with bias" : "without bias");
    ir::Network net;
    ITensor* convOut = nullptr;
    ITensor* y = convBatchNorm(net, bias, convOut);
    y->setName("y");
    net.markOutput(y);
    net.inferShapes();
    std::vector<float> before = evaluate(net, input);
    EXPECT_TRUE(run(passes::foldBatchNormIntoConv, net));
    run(passes::eliminateDeadLayers, net);
    std::vector<LayerType> types = layerTypes(net);
    EXPECT_EQ(std::count(types.begin(), types.end(), LayerType::kNormalization), 0);
    EXPECT_EQ(std::count(types.begin(), types.end(), LayerType::kConvolution), 1);
    EXPECT_EQ(std::count(types.begin(), types.end(), LayerType::kConstant), 2);  // folded w and b
    ASSERT_EQ(net.outputs().size(), 1u);
    EXPECT_EQ(net.outputs()[0]->name(), "y");
    EXPECT_EQ(net.outputs()[0]->producerLayer->type(), LayerType::kConvolution);
    expectClose(evaluate(net, input), before);
    EXPECT_FALSE(run(passes::foldBatchNormIntoConv, net));
  }
}

TEST(Passes, FoldBatchNormIntoConvSkipsSharedOrNonConstantInputs) {
  {  // the convolution's output is also a network output
    ir::Network net;
    ITensor* convOut = nullptr;
    net.markOutput(convBatchNorm(net, true, convOut));
    net.markOutput(convOut);
    net.inferShapes();
    EXPECT_FALSE(run(passes::foldBatchNormIntoConv, net));
  }
  {  // running variance is a network input
    ir::Network net;
    ITensor* x = net.addInput("x", DataType::kFloat32, {1, 2, 3, 3});
    ITensor* var = net.addInput("var", DataType::kFloat32, {2});
    ITensor* c = net.addConvolution(x, randomWeights({2, 2, 1, 1}, 1, -1.f, 1.f), Weights{}, ConvolutionParams{});
    NormalizationParams bn;
    ITensor* ones = net.addConstant(floats({2}, {1.f, 1.f}));
    net.markOutput(net.addLayer(bn, {c, ones, ones, ones, var})->output(0));
    net.inferShapes();
    EXPECT_FALSE(run(passes::foldBatchNormIntoConv, net));
  }
}

TEST(Passes, FuseConvActivationClampsTheConvolutionOutput) {
  Weights input = randomWeights({1, 3, 6, 5}, 9, -2.f, 2.f);
  struct Case { ActivationType type; float alpha, beta, lo, hi; };
  for (Case c : {Case{ActivationType::kRelu, 0.f, 0.f, 0.f, std::numeric_limits<float>::infinity()},
                 Case{ActivationType::kClip, -0.5f, 6.f, -0.5f, 6.f}}) {
    ir::Network net;
    ITensor* convOut = nullptr;
    ITensor* y = net.addActivation(convBatchNorm(net, true, convOut), c.type, c.alpha, c.beta);
    y->setName("y");
    net.markOutput(y);
    net.inferShapes();
    std::vector<float> before = evaluate(net, input);
    EXPECT_FALSE(run(passes::fuseConvActivation, net));  // BatchNorm sits between them
    EXPECT_TRUE(run(passes::foldBatchNormIntoConv, net));
    EXPECT_TRUE(run(passes::fuseConvActivation, net));
    run(passes::eliminateDeadLayers, net);
    std::vector<LayerType> types = layerTypes(net);
    EXPECT_EQ(std::count(types.begin(), types.end(), LayerType::kActivation), 0);
    const ir::Layer* conv = net.outputs()[0]->producerLayer;
    ASSERT_EQ(conv->type(), LayerType::kConvolution);
    EXPECT_EQ(net.outputs()[0]->name(), "y");
    EXPECT_EQ(conv->as<ConvolutionParams>().outputMin, c.lo);
    EXPECT_EQ(conv->as<ConvolutionParams>().outputMax, c.hi);
    expectClose(evaluate(net, input), before);
  }
}

TEST(Passes, FuseConvActivationSkipsOtherActivationsAndSharedOutputs) {
  {  // Sigmoid is not a clamp
    ir::Network net;
    ITensor* x = net.addInput("x", DataType::kFloat32, {1, 2, 3, 3});
    ITensor* c = net.addConvolution(x, randomWeights({2, 2, 1, 1}, 1, -1.f, 1.f), Weights{}, ConvolutionParams{});
    net.markOutput(net.addActivation(c, ActivationType::kSigmoid));
    net.inferShapes();
    EXPECT_FALSE(run(passes::fuseConvActivation, net));
  }
  {  // the convolution's output feeds another layer too
    ir::Network net;
    ITensor* x = net.addInput("x", DataType::kFloat32, {1, 2, 3, 3});
    ITensor* c = net.addConvolution(x, randomWeights({2, 2, 1, 1}, 1, -1.f, 1.f), Weights{}, ConvolutionParams{});
    net.markOutput(net.addActivation(c, ActivationType::kRelu));
    net.markOutput(net.addUnary(c, UnaryOp::kNeg));
    net.inferShapes();
    EXPECT_FALSE(run(passes::fuseConvActivation, net));
  }
}

TEST(Passes, FuseGeluReplacesBothExportedForms) {
  Weights input = randomWeights({2, 3, 5}, 11, -4.f, 4.f);
  for (bool torchForm : {true, false}) {
    SCOPED_TRACE(torchForm ? "Mul(Mul(x, a), 0.5)" : "Mul(Mul(x, 0.5), a)");
    ir::Network net;
    ITensor* in = net.addInput("x", DataType::kFloat32, {2, 3, 5});
    ITensor* x = net.addActivation(in, ActivationType::kTanh);  // x has a producer and two readers
    auto scalar = [&](float v) { return net.addConstant(floats({}, {v})); };
    ITensor* scaled = torchForm ? net.addElementWise(x, scalar(1.41421356f), ElementWiseOp::kDiv)
                                : net.addElementWise(scalar(0.70710678f), x, ElementWiseOp::kMul);
    ITensor* a = net.addElementWise(scalar(1.f), net.addUnary(scaled, UnaryOp::kErf), ElementWiseOp::kAdd);
    ITensor* y = torchForm
                     ? net.addElementWise(net.addElementWise(x, a, ElementWiseOp::kMul), scalar(0.5f), ElementWiseOp::kMul)
                     : net.addElementWise(net.addElementWise(x, scalar(0.5f), ElementWiseOp::kMul), a, ElementWiseOp::kMul);
    y->setName("y");
    net.markOutput(y);
    net.inferShapes();
    std::vector<float> before = evaluate(net, input);
    EXPECT_TRUE(run(passes::fuseGelu, net));
    run(passes::eliminateDeadLayers, net);
    EXPECT_EQ(layerTypes(net), (std::vector<LayerType>{LayerType::kActivation, LayerType::kActivation}));
    const ir::Layer* gelu = net.outputs()[0]->producerLayer;
    EXPECT_EQ(gelu->as<ActivationParams>().type, ActivationType::kGelu);
    EXPECT_EQ(net.outputs()[0]->name(), "y");
    expectClose(evaluate(net, input), before);
  }
}

TEST(Passes, FuseGeluLeavesOtherConstantsAndSharedTensors) {
  for (int variant = 0; variant < 2; ++variant) {
    ir::Network net;
    ITensor* x = net.addInput("x", DataType::kFloat32, {4});
    ITensor* scaled = net.addElementWise(x, net.addConstant(floats({}, {variant == 0 ? 2.f : 1.41421356f})),
                                         ElementWiseOp::kDiv);
    ITensor* e = net.addUnary(scaled, UnaryOp::kErf);
    ITensor* a = net.addElementWise(e, net.addConstant(floats({}, {1.f})), ElementWiseOp::kAdd);
    ITensor* m = net.addElementWise(x, a, ElementWiseOp::kMul);
    net.markOutput(net.addElementWise(m, net.addConstant(floats({}, {0.5f})), ElementWiseOp::kMul));
    if (variant == 1) net.markOutput(e);  // erf(x / sqrt 2) is needed on its own
    net.inferShapes();
    EXPECT_FALSE(run(passes::fuseGelu, net)) << variant;
  }
}

TEST(Passes, FoldConstantsEvaluatesConstantSubgraphs) {
  ir::Network net;
  ITensor* x = net.addInput("x", DataType::kFloat32, {2});
  ITensor* a = net.addConstant(floats({2}, {1.5f, -2.f}));
  ITensor* b = net.addConstant(floats({2}, {0.5f, 4.f}));
  ITensor* sum = net.addElementWise(a, b, ElementWiseOp::kAdd);         // constant: folds
  ITensor* y = net.addElementWise(x, sum, ElementWiseOp::kMul, "mul");  // depends on x: stays
  net.markOutput(y);
  EXPECT_TRUE(run(passes::foldConstants, net));
  EXPECT_TRUE(run(passes::eliminateDeadLayers, net));
  EXPECT_EQ(layerTypes(net), (std::vector<LayerType>{LayerType::kConstant, LayerType::kElementWise}));
  const auto& folded = net.layers()[0]->as<ConstantParams>().weights;
  ASSERT_EQ(folded.count(), 2);
  EXPECT_FLOAT_EQ(folded.as<float>()[0], 2.f);
  EXPECT_FLOAT_EQ(folded.as<float>()[1], 2.f);
  EXPECT_FALSE(run(passes::foldConstants, net));
}

TEST(Passes, FoldConstantsTurnsStaticShapeChainsIntoConstants) {
  ir::Network net;
  ITensor* x = net.addInput("x", DataType::kFloat32, {2, 3, 4});
  ITensor* shape = net.addLayer(ShapeParams{}, {x})->output(0);
  ITensor* y = net.addLayer(ReshapeParams{}, {x, shape})->output(0);
  net.markOutput(y);
  EXPECT_TRUE(run(passes::foldConstants, net));
  EXPECT_EQ(layerTypes(net), (std::vector<LayerType>{LayerType::kConstant, LayerType::kReshape}));
  EXPECT_EQ(net.layers()[0]->as<ConstantParams>().weights.as<int64_t>()[2], 4);
}

TEST(Passes, FoldConstantsKeepsShapeOfDynamicInput) {
  ir::Network net;
  ITensor* x = net.addInput("x", DataType::kFloat32, {-1, 3});
  ITensor* shape = net.addLayer(ShapeParams{}, {x})->output(0);
  net.markOutput(shape);
  EXPECT_FALSE(run(passes::foldConstants, net));
}

TEST(Passes, RemoveNoOpsBypassesIdentityAndKeepsOutputNames) {
  ir::Network net;
  ITensor* x = net.addInput("x", DataType::kFloat32, {2, 2});
  ITensor* r = net.addActivation(x, ActivationType::kRelu);
  ITensor* id = net.addLayer(IdentityParams{}, {r})->output(0);
  ITensor* cast = net.addLayer(CastParams{DataType::kFloat32}, {id})->output(0);
  cast->setName("y");
  net.markOutput(cast);
  EXPECT_TRUE(run(passes::removeNoOps, net));
  EXPECT_EQ(layerTypes(net), (std::vector<LayerType>{LayerType::kActivation}));
  ASSERT_EQ(net.outputs().size(), 1u);
  EXPECT_EQ(net.outputs()[0]->name(), "y");
  EXPECT_EQ(net.outputs()[0]->producerLayer->type(), LayerType::kActivation);
}

TEST(Passes, RemoveNoOpsKeepsCopyBetweenInputAndOutput) {
  ir::Network net;
  ITensor* x = net.addInput("x", DataType::kFloat32, {2});
  ITensor* y = net.addLayer(IdentityParams{}, {x})->output(0);
  net.markOutput(y);
  EXPECT_FALSE(run(passes::removeNoOps, net));
  EXPECT_EQ(net.layers().size(), 1u);
}

TEST(Passes, EliminateDeadLayersRemovesUnusedBranches) {
  ir::Network net;
  ITensor* x = net.addInput("x", DataType::kFloat32, {4});
  ITensor* used = net.addActivation(x, ActivationType::kRelu);
  ITensor* unused = net.addActivation(x, ActivationType::kSigmoid);
  net.addActivation(unused, ActivationType::kTanh);
  net.markOutput(used);
  EXPECT_TRUE(run(passes::eliminateDeadLayers, net));
  EXPECT_EQ(layerTypes(net), (std::vector<LayerType>{LayerType::kActivation}));
  EXPECT_EQ(net.layers()[0]->as<ActivationParams>().type, ActivationType::kRelu);
}

TEST(Passes, PassManagerRejectsUnknownPassAndHonoursDisabled) {
  ir::Network net;
  ITensor* a = net.addConstant(floats({1}, {1.f}));
  ITensor* x = net.addInput("x", DataType::kFloat32, {1});
  net.markOutput(net.addElementWise(x, net.addUnary(a, UnaryOp::kNeg), ElementWiseOp::kAdd));
  std::vector<std::string> log;
  EXPECT_THROW(passes::runPasses(net, {"no_such_pass"}, log), Error);
  passes::runPasses(net, {"fold_constants"}, log);
  EXPECT_EQ(net.layers().size(), 3u);  // nothing folded
  passes::runPasses(net, {}, log);
  EXPECT_EQ(net.layers().size(), 2u);  // Neg(constant) folded
  EXPECT_FALSE(log.empty());
  EXPECT_EQ(Builder::passNames().front(), "fold_constants");
}
