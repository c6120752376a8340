// Builder passes, as before -> after networks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <unordered_map>

#include <unordered_set>

#include "backends/backend.h"
#include "backends/host_eval.h"
#include "builder/pass_manager.h"
#include "core/half.h"
#include "ir/network.h"
#include "test_helpers.h"
#include "unit/cpu_wrapping_backend.h"

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
    auto outputs = host::evaluateLayer(*layer, inputs);
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
  {  // Tanh is no epilogue activation
    ir::Network net;
    ITensor* x = net.addInput("x", DataType::kFloat32, {1, 2, 3, 3});
    ITensor* c = net.addConvolution(x, randomWeights({2, 2, 1, 1}, 1, -1.f, 1.f), Weights{}, ConvolutionParams{});
    net.markOutput(net.addActivation(c, ActivationType::kTanh));
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

TEST(Passes, FuseMatMulBiasMovesTheAddIntoTheMatMul) {
  // x [2,3,4] x W [4,5] + bias: shaped [5] or [1,1,5], on either side of the Add.
  Weights input = randomWeights({2, 3, 4}, 21, -2.f, 2.f);
  for (int variant = 0; variant < 3; ++variant) {
    ir::Network net;
    ITensor* x = net.addInput("x", DataType::kFloat32, {2, 3, 4});
    ITensor* w = net.addConstant(randomWeights({4, 5}, 22, -1.f, 1.f));
    ITensor* product = net.addMatrixMultiply(x, false, w, false);
    ITensor* bias = net.addConstant(randomWeights(variant == 1 ? Dims{1, 1, 5} : Dims{5}, 23, -1.f, 1.f));
    ITensor* y = variant == 2 ? net.addElementWise(bias, product, ElementWiseOp::kAdd)
                              : net.addElementWise(product, bias, ElementWiseOp::kAdd);
    y->setName("y");
    net.markOutput(y);
    net.inferShapes();
    std::vector<float> before = evaluate(net, input);
    EXPECT_TRUE(run(passes::fuseMatMulBias, net)) << variant;
    run(passes::eliminateDeadLayers, net);
    std::vector<LayerType> types = layerTypes(net);
    EXPECT_EQ(std::count(types.begin(), types.end(), LayerType::kElementWise), 0) << variant;
    const ir::Layer* matmul = net.outputs()[0]->producerLayer;
    ASSERT_EQ(matmul->type(), LayerType::kMatrixMultiply);
    ASSERT_EQ(matmul->inputs.size(), 3u);
    EXPECT_EQ(matmul->inputs[2]->dims(), (Dims{5}));
    EXPECT_EQ(net.outputs()[0]->name(), "y");
    expectClose(evaluate(net, input), before);
  }
}

TEST(Passes, FuseMatMulBiasLeavesBroadcastingOrSharedAdds) {
  auto build = [](ir::Network& net, const Dims& biasShape, bool shared) {
    ITensor* x = net.addInput("x", DataType::kFloat32, {3, 4});
    ITensor* product = net.addMatrixMultiply(x, false, net.addConstant(randomWeights({4, 5}, 1, -1.f, 1.f)), false);
    net.markOutput(net.addElementWise(product, net.addConstant(randomWeights(biasShape, 2, -1.f, 1.f)),
                                      ElementWiseOp::kAdd));
    if (shared) net.markOutput(net.addUnary(product, UnaryOp::kNeg));
    net.inferShapes();
  };
  {  // a per-row bias [3, 1] is not a per-column bias
    ir::Network net;
    build(net, {3, 1}, false);
    EXPECT_FALSE(run(passes::fuseMatMulBias, net));
  }
  {  // the bias would broadcast the product to [2, 3, 5]
    ir::Network net;
    build(net, {2, 1, 5}, false);
    EXPECT_FALSE(run(passes::fuseMatMulBias, net));
  }
  {  // the product is read by another layer too
    ir::Network net;
    build(net, {5}, true);
    EXPECT_FALSE(run(passes::fuseMatMulBias, net));
  }
}

TEST(Passes, FoldTransposeIntoMatMulSetsTheTransposeFlag) {
  // q [2,3,4] x Transpose(k [2,5,4], perm 0,2,1) -> q k^T [2,3,5], and Transpose(a) as the left operand.
  for (int operand = 0; operand < 2; ++operand) {
    ir::Network net;
    ITensor* x = net.addInput("x", DataType::kFloat32, {2, 3, 4});
    ITensor* k = net.addConstant(randomWeights(operand == 1 ? Dims{2, 5, 4} : Dims{2, 4, 5}, 31, -1.f, 1.f));
    ITensor* y;
    if (operand == 1) {
      ITensor* kT = net.addLayer(TransposeParams{{0, 2, 1}}, {k})->output(0);
      y = net.addMatrixMultiply(x, false, kT, false);
    } else {
      ITensor* xT = net.addLayer(TransposeParams{{0, 2, 1}}, {net.addLayer(TransposeParams{{0, 2, 1}}, {x})->output(0)})
                        ->output(0);  // x^T^T: the outer Transpose folds, the inner one feeds it
      y = net.addMatrixMultiply(xT, false, k, false);
    }
    net.markOutput(y);
    net.inferShapes();
    Weights input = randomWeights({2, 3, 4}, 32, -2.f, 2.f);
    std::vector<float> before = evaluate(net, input);
    EXPECT_TRUE(run(passes::foldTransposeIntoMatMul, net)) << operand;
    const ir::Layer* matmul = net.outputs()[0]->producerLayer;
    ASSERT_EQ(matmul->type(), LayerType::kMatrixMultiply);
    EXPECT_EQ(operand == 0 ? matmul->as<MatrixMultiplyParams>().transposeA : matmul->as<MatrixMultiplyParams>().transposeB,
              true);
    std::vector<LayerType> types = layerTypes(net);
    EXPECT_EQ(std::count(types.begin(), types.end(), LayerType::kTranspose), operand == 0 ? 1 : 0);
    expectClose(evaluate(net, input), before);
  }
  {  // another permutation stays a Transpose
    ir::Network net;
    ITensor* x = net.addInput("x", DataType::kFloat32, {2, 3, 4});
    ITensor* xT = net.addLayer(TransposeParams{{1, 0, 2}}, {x})->output(0);
    net.markOutput(net.addMatrixMultiply(xT, false, net.addConstant(randomWeights({4, 5}, 33, -1.f, 1.f)), false));
    net.inferShapes();
    EXPECT_FALSE(run(passes::foldTransposeIntoMatMul, net));
  }
}

TEST(Passes, FuseGeluReplacesEveryExportedForm) {
  Weights input = randomWeights({2, 3, 5}, 11, -4.f, 4.f);
  const char* forms[] = {"Mul(Mul(x, a), 0.5)", "Mul(Mul(x, 0.5), a)", "Mul(x, Mul(0.5, a))"};
  for (int form = 0; form < 3; ++form) {
    SCOPED_TRACE(forms[form]);
    ir::Network net;
    ITensor* in = net.addInput("x", DataType::kFloat32, {2, 3, 5});
    ITensor* x = net.addActivation(in, ActivationType::kTanh);  // x has a producer and two readers
    auto scalar = [&](float v) { return net.addConstant(floats({}, {v})); };
    auto mul = [&](ITensor* p, ITensor* q) { return net.addElementWise(p, q, ElementWiseOp::kMul); };
    ITensor* scaled = form != 1 ? net.addElementWise(x, scalar(1.41421356f), ElementWiseOp::kDiv)
                                : mul(scalar(0.70710678f), x);
    ITensor* a = net.addElementWise(scalar(1.f), net.addUnary(scaled, UnaryOp::kErf), ElementWiseOp::kAdd);
    ITensor* y = form == 0 ? mul(mul(x, a), scalar(0.5f)) : form == 1 ? mul(mul(x, scalar(0.5f)), a)
                                                                      : mul(x, mul(scalar(0.5f), a));
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

TEST(Passes, FuseGeluMatchesDynamicShapes) {
  // An exported model's batch and sequence dims are unknown at build time.
  ir::Network net;
  ITensor* x = net.addInput("x", DataType::kFloat32, {-1, -1, 8});
  auto scalar = [&](float v) { return net.addConstant(floats({}, {v})); };
  auto mul = [&](ITensor* p, ITensor* q) { return net.addElementWise(p, q, ElementWiseOp::kMul); };
  ITensor* erf = net.addUnary(net.addElementWise(x, scalar(1.41421356f), ElementWiseOp::kDiv), UnaryOp::kErf);
  ITensor* y = mul(x, mul(scalar(0.5f), net.addElementWise(erf, scalar(1.f), ElementWiseOp::kAdd)));
  net.markOutput(y);
  net.inferShapes();
  EXPECT_TRUE(run(passes::fuseGelu, net));
  run(passes::eliminateDeadLayers, net);
  EXPECT_EQ(layerTypes(net), (std::vector<LayerType>{LayerType::kActivation}));
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
  EXPECT_EQ(Builder::passNames().front(), "fold_qdq");  // before fold_constants folds int8 weights
}

// ---- reduce_precision ----------------------------------------------------------------------------

namespace {

// The CPU backend, except that it has no float16 Softmax (stands for a device kernel missing in fp16).
class NoHalfSoftmaxBackend final : public kiln::testing::CpuWrappingBackend {
 public:
  std::string unsupportedReason(const ir::Layer& layer) const override {
    if (layer.type() == LayerType::kSoftmax && layer.inputs[0]->type() != DataType::kFloat32) return "fp32 only";
    return cpu_->unsupportedReason(layer);
  }
  std::vector<std::string> tactics(const ir::Layer& l, int effort) const override {
    return unsupportedReason(l).empty() ? cpu_->tactics(l, effort) : std::vector<std::string>{};
  }
};

bool reduceToHalf(ir::Network& net, const Backend& device, int* casts = nullptr) {
  std::vector<std::string> log;
  passes::PrecisionPolicy policy;
  policy.reduced = DataType::kFloat16;
  policy.device = &device;
  policy.fallback = backendFor("cpu").get();
  passes::PassContext context{net, log, nullptr, &policy};
  bool changed = passes::reducePrecision(context);
  net.inferShapes();  // the rewritten network must be consistent
  if (casts) *casts = policy.castsInserted;
  return changed;
}

int countLayers(const ir::Network& net, LayerType type) {
  int n = 0;
  for (auto& l : net.layers()) n += l->type() == type;
  return n;
}

}  // namespace

TEST(Passes, ReducePrecisionCastsOnlyAtTheBoundariesAndConvertsWeights) {
  ir::Network net;
  ITensor* x = net.addInput("x", DataType::kFloat32, {2, 3});
  ITensor* w = net.addConstant(floats({3, 2}, {1, -1, 2, 0.5f, -3, 1}));
  ITensor* b = net.addConstant(floats({2}, {0.25f, -0.5f}));
  ITensor* h = net.addElementWise(net.addMatrixMultiply(x, false, w, false), b, ElementWiseOp::kAdd);
  ITensor* y = net.addSoftmax(net.addActivation(h, ActivationType::kRelu), -1, "y");
  y->setName("y");
  net.markOutput(y);
  int casts = 0;
  EXPECT_TRUE(reduceToHalf(net, *backendFor("cpu"), &casts));
  EXPECT_EQ(casts, 2);
  EXPECT_EQ(countLayers(net, LayerType::kCast), 2);
  // The input and the output keep their names and float32; the Cast into float16 reads the input
  // and the Cast back produces the output.
  EXPECT_EQ(net.inputs()[0]->type(), DataType::kFloat32);
  ASSERT_EQ(net.outputs().size(), 1u);
  EXPECT_EQ(net.outputs()[0]->name(), "y");
  EXPECT_EQ(net.outputs()[0]->type(), DataType::kFloat32);
  EXPECT_EQ(net.outputs()[0]->producerLayer->type(), LayerType::kCast);
  EXPECT_EQ(net.outputs()[0]->producerLayer->inputs[0]->type(), DataType::kFloat16);
  for (auto& l : net.layers()) {
    if (l->type() == LayerType::kCast) continue;
    EXPECT_EQ(l->outputs[0]->type(), DataType::kFloat16) << l->describe();
  }
  // Weights converted in place, once: no Cast reads a constant.
  const Weights& weights = net.layers()[0]->type() == LayerType::kConstant
                               ? net.layers()[0]->as<ConstantParams>().weights
                               : net.layers()[1]->as<ConstantParams>().weights;
  ASSERT_EQ(weights.type, DataType::kFloat16);
  EXPECT_FLOAT_EQ(halfToFloat(weights.as<uint16_t>()[3]), 0.5f);
  for (auto& l : net.layers())
    if (l->type() == LayerType::kCast) EXPECT_NE(l->inputs[0]->producerLayer ? l->inputs[0]->producerLayer->type() : LayerType::kCast, LayerType::kConstant);
  // Topological order still holds.
  std::unordered_set<const ir::Tensor*> ready(net.inputs().begin(), net.inputs().end());
  for (auto& l : net.layers()) {
    for (auto* in : l->inputs) EXPECT_TRUE(!in || ready.count(in)) << l->describe();
    for (auto* out : l->outputs) ready.insert(out);
  }
  EXPECT_FALSE(reduceToHalf(net, *backendFor("cpu")));  // a fixed point
}

TEST(Passes, ReducePrecisionKeepsLayersWithoutHalfKernelsInFloat32) {
  ir::Network net;
  ITensor* x = net.addInput("x", DataType::kFloat32, {2, 5});
  ITensor* r = net.addActivation(x, ActivationType::kRelu);
  ITensor* s = net.addSoftmax(r, -1);
  ITensor* y = net.addActivation(s, ActivationType::kSigmoid);
  y->setName("y");
  net.markOutput(y);
  NoHalfSoftmaxBackend device;
  int casts = 0;
  EXPECT_TRUE(reduceToHalf(net, device, &casts));
  EXPECT_EQ(casts, 4);  // in, around the Softmax (2), out
  for (auto& l : net.layers()) {
    if (l->type() == LayerType::kSoftmax) {
      EXPECT_EQ(l->inputs[0]->type(), DataType::kFloat32);
      EXPECT_EQ(l->outputs[0]->type(), DataType::kFloat32);
    }
    if (l->type() == LayerType::kActivation) EXPECT_EQ(l->outputs[0]->type(), DataType::kFloat16);
  }
  EXPECT_EQ(net.outputs()[0]->name(), "y");
  EXPECT_EQ(net.outputs()[0]->type(), DataType::kFloat32);
}

TEST(Passes, ReducePrecisionKeepsShapeArithmeticInFloat32) {
  ir::Network net;
  ITensor* x = net.addInput("x", DataType::kFloat32, {-1, 6});
  ITensor* shape = net.addLayer(ShapeParams{}, {x})->output(0);
  CastParams toFloat;
  toFloat.to = DataType::kFloat32;
  ITensor* f = net.addLayer(toFloat, {shape})->output(0);
  ITensor* scaled = net.addElementWise(f, net.addConstant(floats({2}, {1.f, 0.5f})), ElementWiseOp::kMul);
  CastParams toInt;
  toInt.to = DataType::kInt64;
  ITensor* newShape = net.addLayer(toInt, {scaled})->output(0);
  ITensor* doubled = net.addConcatenation({newShape}, 0);
  ITensor* y = net.addLayer(ReshapeParams{}, {net.addActivation(x, ActivationType::kRelu), doubled})->output(0);
  ITensor* z = net.addElementWise(y, y, ElementWiseOp::kAdd);
  net.markOutput(z);
  EXPECT_TRUE(reduceToHalf(net, *backendFor("cpu")));
  for (auto& l : net.layers()) {
    if (l->type() == LayerType::kElementWise && l->as<ElementWiseParams>().op == ElementWiseOp::kMul) {
      EXPECT_EQ(l->inputs[0]->type(), DataType::kFloat32);
      EXPECT_EQ(l->inputs[1]->type(), DataType::kFloat32);  // its constant is not converted
    }
    if (l->type() == LayerType::kReshape) {
      EXPECT_EQ(l->inputs[0]->type(), DataType::kFloat16);
      EXPECT_EQ(l->inputs[1]->type(), DataType::kInt64);
    }
  }
  EXPECT_EQ(countLayers(net, LayerType::kCast), 4);  // the model's two, plus one in and one out
}

TEST(Passes, ReducePrecisionLetsShapeReadReducedTensors) {
  ir::Network net;
  ITensor* x = net.addInput("x", DataType::kFloat32, {-1, 4});
  ITensor* r = net.addActivation(x, ActivationType::kRelu);
  ITensor* shape = net.addLayer(ShapeParams{}, {r})->output(0);
  ITensor* y = net.addLayer(ReshapeParams{}, {net.addActivation(r, ActivationType::kTanh), shape})->output(0);
  net.markOutput(y);
  int casts = 0;
  EXPECT_TRUE(reduceToHalf(net, *backendFor("cpu"), &casts));
  EXPECT_EQ(casts, 2);  // in and out only: the Shape layer reads the float16 tensor as it is
  for (auto& l : net.layers())
    if (l->type() == LayerType::kShape) EXPECT_EQ(l->inputs[0]->type(), DataType::kFloat16);
}

TEST(Passes, ReducePrecisionCopiesConstantsSharedWithFloat32Layers) {
  ir::Network net;
  ITensor* x = net.addInput("x", DataType::kFloat32, {4});
  ITensor* c = net.addConstant(floats({4}, {1, 2, 3, 4}));
  ITensor* a = net.addElementWise(x, c, ElementWiseOp::kAdd);                // reduced
  ITensor* s = net.addSoftmax(net.addElementWise(c, c, ElementWiseOp::kMul), 0);  // Mul: constants only
  ITensor* y = net.addElementWise(a, s, ElementWiseOp::kSub);
  net.markOutput(y);
  NoHalfSoftmaxBackend device;
  EXPECT_TRUE(reduceToHalf(net, device));
  int halfConstants = 0, floatConstants = 0;
  for (auto& l : net.layers())
    if (l->type() == LayerType::kConstant)
      (l->outputs[0]->type() == DataType::kFloat16 ? halfConstants : floatConstants)++;
  EXPECT_EQ(halfConstants, 1);
  EXPECT_EQ(floatConstants, 1);
}
