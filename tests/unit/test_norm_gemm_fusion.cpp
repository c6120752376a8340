// fuse_residual_norm, fuse_matmul_activation and the tanh form of fuse_gelu as before -> after networks:
// layer counts, params, the cases that must not fuse, outputs equal before and after on the CPU; and a
// small pre-LN transformer block built through the Builder with and without the passes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <unordered_map>

#include "backends/host_eval.h"
#include "builder/passes/passes.h"
#include "core/error.h"
#include "ir/network.h"
#include "test_helpers.h"
#include "unit/cpu_wrapping_backend.h"

using namespace kiln;
using kiln::testing::floats;

namespace {

int countOf(const ir::Network& net, LayerType type) {
  return static_cast<int>(std::count_if(net.layers().begin(), net.layers().end(),
                                        [&](const auto& l) { return l->type() == type; }));
}

bool run(bool (*pass)(passes::PassContext&), ir::Network& net) {
  std::vector<std::string> log;
  passes::PassContext context{net, log};
  bool changed = pass(context);
  net.inferShapes();
  return changed;
}

Weights randomWeights(const Dims& shape, uint32_t seed, float lo = -2.f, float hi = 2.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(static_cast<size_t>(volume(shape)));
  for (float& x : v) x = d(rng);
  return floats(shape, v);
}

// Runs the network layer by layer on the CPU kernels with one random value per input; returns every
// network output by name.
std::unordered_map<std::string, std::vector<float>> evaluate(const ir::Network& net, uint32_t seed = 5) {
  std::unordered_map<const ir::Tensor*, HostTensor> values;
  for (ir::Tensor* in : net.inputs()) values[in] = randomWeights(in->dims(), seed++);
  for (auto& layer : net.layers()) {
    std::vector<const HostTensor*> inputs;
    for (auto* in : layer->inputs) inputs.push_back(in ? &values.at(in) : nullptr);
    auto outputs = host::evaluateLayer(*layer, inputs);
    for (size_t i = 0; i < outputs.size(); ++i) values[layer->outputs[i]] = outputs[i];
  }
  std::unordered_map<std::string, std::vector<float>> result;
  for (ir::Tensor* out : net.outputs()) {
    const HostTensor& v = values.at(out);
    result[out->name()] = std::vector<float>(v.as<float>(), v.as<float>() + v.count());
  }
  return result;
}

void expectSameOutputs(const std::unordered_map<std::string, std::vector<float>>& got,
                       const std::unordered_map<std::string, std::vector<float>>& want, float rtol = 1e-5f) {
  ASSERT_EQ(got.size(), want.size());
  for (auto& [name, values] : want) {
    ASSERT_TRUE(got.count(name)) << name;
    const std::vector<float>& g = got.at(name);
    ASSERT_EQ(g.size(), values.size()) << name;
    for (size_t i = 0; i < g.size(); ++i)
      ASSERT_NEAR(g[i], values[i], rtol * std::max(1.f, std::abs(values[i]))) << name << " at " << i;
  }
}

ITensor* layerNorm(ir::Network& net, ITensor* x, int64_t hidden, NormalizationType type = NormalizationType::kLayer,
                   uint32_t seed = 40) {
  NormalizationParams p;
  p.type = type;
  p.axis = -1;
  std::vector<ITensor*> inputs = {x, net.addConstant(randomWeights({hidden}, seed, 0.5f, 1.5f))};
  if (type == NormalizationType::kLayer) inputs.push_back(net.addConstant(randomWeights({hidden}, seed + 1)));
  return net.addLayer(p, inputs, 1)->output(0);
}

const ir::Layer* producerOf(const ir::Network& net, const std::string& tensor) {
  return net.tensor(tensor)->producerLayer;
}

}  // namespace

// ---- fuse_residual_norm -----------------------------------------------------------------------------------

TEST(NormGemmFusion, ResidualAddFusesIntoLayerAndRmsNorm) {
  for (NormalizationType type : {NormalizationType::kLayer, NormalizationType::kRMS}) {
    SCOPED_TRACE(type == NormalizationType::kLayer ? "Layer" : "RMS");
    ir::Network net;
    ITensor* x = net.addInput("x", DataType::kFloat32, {2, 5, 8});
    ITensor* r = net.addInput("r", DataType::kFloat32, {2, 5, 8});
    ITensor* y = layerNorm(net, net.addElementWise(x, r, ElementWiseOp::kAdd), 8, type);
    y->setName("y");
    net.markOutput(y);
    net.inferShapes();
    auto before = evaluate(net);
    EXPECT_TRUE(run(passes::fuseResidualNorm, net));
    EXPECT_EQ(countOf(net, LayerType::kElementWise), 0);
    EXPECT_EQ(countOf(net, LayerType::kNormalization), 1);
    const ir::Layer* norm = producerOf(net, "y");
    ASSERT_EQ(norm->type(), LayerType::kNormalization);
    EXPECT_TRUE(norm->as<NormalizationParams>().addsResidual);
    ASSERT_EQ(norm->inputs.size(), 4u);
    EXPECT_EQ(norm->inputs[0]->name(), "x");
    EXPECT_EQ(norm->inputs[3]->name(), "r");
    EXPECT_EQ(norm->inputs[2] == nullptr, type == NormalizationType::kRMS);
    EXPECT_EQ(norm->outputs.size(), 1u);  // nothing else reads the sum
    expectSameOutputs(evaluate(net), before);
    EXPECT_FALSE(run(passes::fuseResidualNorm, net));
  }
}

TEST(NormGemmFusion, SumReadElsewhereBecomesTheSecondOutput) {
  // Pre-LN: h = x + r is normalized and also read by a layer placed before the normalization, and is a
  // network output; the fused layer moves to the Add's place and writes h as output 1.
  ir::Network net;
  ITensor* x = net.addInput("x", DataType::kFloat32, {-1, 3, 16});
  ITensor* r = net.addInput("r", DataType::kFloat32, {-1, 3, 16});
  ITensor* h = net.addElementWise(x, r, ElementWiseOp::kAdd, "residual");
  h->setName("h");
  ITensor* other = net.addUnary(h, UnaryOp::kNeg);
  other->setName("other");
  ITensor* y = layerNorm(net, h, 16);
  y->setName("y");
  for (ITensor* t : {y, other, h}) net.markOutput(t);
  auto atBatch = [&](int64_t batch) {
    for (ir::Tensor* in : net.inputs()) in->setDims({batch, 3, 16});
    net.inferShapes();
  };
  atBatch(2);
  auto before = evaluate(net);
  atBatch(-1);
  EXPECT_TRUE(run(passes::fuseResidualNorm, net));
  EXPECT_EQ(countOf(net, LayerType::kElementWise), 0);
  const ir::Layer* norm = producerOf(net, "y");
  ASSERT_EQ(norm->outputs.size(), 2u);
  EXPECT_EQ(norm->outputs[1]->name(), "h");
  EXPECT_EQ(producerOf(net, "h"), norm);
  EXPECT_EQ(net.tensor("h")->producerOutputIndex, 1);
  EXPECT_EQ(net.tensor("h")->dims(), (Dims{-1, 3, 16}));
  // Topological order: the normalization comes before the Neg that reads h.
  auto at = [&](const ir::Layer* l) {
    return std::find_if(net.layers().begin(), net.layers().end(), [&](auto& o) { return o.get() == l; }) -
           net.layers().begin();
  };
  EXPECT_LT(at(norm), at(producerOf(net, "other")));
  atBatch(2);
  expectSameOutputs(evaluate(net), before);
}

TEST(NormGemmFusion, ResidualNormLeavesBroadcastsStatsOutputsAndOtherInputs) {
  {  // the Add broadcasts a [1, 5, 8] position table over the batch (BERT's embeddings)
    ir::Network net;
    ITensor* x = net.addInput("x", DataType::kFloat32, {2, 5, 8});
    ITensor* positions = net.addConstant(randomWeights({1, 5, 8}, 3));
    net.markOutput(layerNorm(net, net.addElementWise(x, positions, ElementWiseOp::kAdd), 8));
    net.inferShapes();
    EXPECT_FALSE(run(passes::fuseResidualNorm, net));
  }
  {  // a LayerNormalization with its Mean / InvStdDev outputs
    ir::Network net;
    ITensor* x = net.addInput("x", DataType::kFloat32, {2, 8});
    ITensor* sum = net.addElementWise(x, x, ElementWiseOp::kAdd);
    NormalizationParams p;
    p.type = NormalizationType::kLayer;
    p.axis = -1;
    ILayer* norm = net.addLayer(p, {sum, net.addConstant(randomWeights({8}, 4))}, 3);
    for (int i = 0; i < 3; ++i) net.markOutput(norm->output(i));
    net.inferShapes();
    EXPECT_FALSE(run(passes::fuseResidualNorm, net));
  }
  {  // group normalization
    ir::Network net;
    ITensor* x = net.addInput("x", DataType::kFloat32, {2, 4, 3});
    NormalizationParams p;
    p.type = NormalizationType::kGroup;
    p.numGroups = 2;
    ITensor* sum = net.addElementWise(x, x, ElementWiseOp::kAdd);
    net.markOutput(net.addLayer(p, {sum, net.addConstant(randomWeights({4}, 5)), net.addConstant(randomWeights({4}, 6))}, 1)
                       ->output(0));
    net.inferShapes();
    EXPECT_FALSE(run(passes::fuseResidualNorm, net));
  }
  {  // the normalization reads a Sub, not an Add
    ir::Network net;
    ITensor* x = net.addInput("x", DataType::kFloat32, {2, 8});
    ITensor* r = net.addInput("r", DataType::kFloat32, {2, 8});
    net.markOutput(layerNorm(net, net.addElementWise(x, r, ElementWiseOp::kSub), 8));
    net.inferShapes();
    EXPECT_FALSE(run(passes::fuseResidualNorm, net));
  }
}

TEST(NormGemmFusion, DecomposedLayerNormBecomesOneLayerAndTakesTheResidual) {
  // Opset < 17: mean = ReduceMean(h), d = h - mean, d / Sqrt(ReduceMean(d ^ 2) + eps) * gamma + beta, with
  // h = x + r: one residual LayerNorm after the pass.
  ir::Network net;
  ITensor* x = net.addInput("x", DataType::kFloat32, {-1, 4, 12});
  ITensor* r = net.addInput("r", DataType::kFloat32, {-1, 4, 12});
  ITensor* h = net.addElementWise(x, r, ElementWiseOp::kAdd);
  ReduceParams mean;
  mean.op = ReduceOp::kMean;
  mean.axes = {-1};
  auto scalar = [&](float v) { return net.addConstant(floats({}, {v})); };
  ITensor* d = net.addElementWise(h, net.addLayer(mean, {h}, 1)->output(0), ElementWiseOp::kSub);
  ITensor* variance = net.addLayer(mean, {net.addElementWise(d, scalar(2.f), ElementWiseOp::kPow)}, 1)->output(0);
  ITensor* stddev = net.addUnary(net.addElementWise(variance, scalar(1e-12f), ElementWiseOp::kAdd), UnaryOp::kSqrt);
  ITensor* normalized = net.addElementWise(d, stddev, ElementWiseOp::kDiv);
  ITensor* scaled = net.addElementWise(normalized, net.addConstant(randomWeights({12}, 7, 0.5f, 1.5f)), ElementWiseOp::kMul);
  ITensor* y = net.addElementWise(net.addConstant(randomWeights({1, 1, 12}, 8)), scaled, ElementWiseOp::kAdd);
  y->setName("y");
  net.markOutput(y);
  net.inferShapes();
  for (ir::Tensor* in : net.inputs()) in->setDims({3, 4, 12});
  net.inferShapes();
  auto before = evaluate(net);
  for (ir::Tensor* in : net.inputs()) in->setDims({-1, 4, 12});
  net.inferShapes();
  EXPECT_TRUE(run(passes::fuseResidualNorm, net));
  run(passes::eliminateDeadLayers, net);
  EXPECT_EQ(countOf(net, LayerType::kElementWise), 0);
  EXPECT_EQ(countOf(net, LayerType::kReduce), 0);
  EXPECT_EQ(countOf(net, LayerType::kUnary), 0);
  const ir::Layer* norm = producerOf(net, "y");
  ASSERT_EQ(norm->type(), LayerType::kNormalization);
  const auto& p = norm->as<NormalizationParams>();
  EXPECT_EQ(p.type, NormalizationType::kLayer);
  EXPECT_EQ(p.axis, 2);
  EXPECT_FLOAT_EQ(p.epsilon, 1e-12f);
  EXPECT_TRUE(p.addsResidual);
  EXPECT_EQ(norm->inputs[2]->dims(), (Dims{12}));
  for (ir::Tensor* in : net.inputs()) in->setDims({3, 4, 12});
  net.inferShapes();
  expectSameOutputs(evaluate(net), before, 1e-4f);
}

TEST(NormGemmFusion, DecomposedLayerNormWithASharedTermStays) {
  ir::Network net;
  ITensor* x = net.addInput("x", DataType::kFloat32, {2, 8});
  ReduceParams mean;
  mean.op = ReduceOp::kMean;
  mean.axes = {-1};
  auto scalar = [&](float v) { return net.addConstant(floats({}, {v})); };
  ITensor* d = net.addElementWise(x, net.addLayer(mean, {x}, 1)->output(0), ElementWiseOp::kSub);
  ITensor* variance = net.addLayer(mean, {net.addElementWise(d, scalar(2.f), ElementWiseOp::kPow)}, 1)->output(0);
  ITensor* stddev = net.addUnary(net.addElementWise(variance, scalar(1e-5f), ElementWiseOp::kAdd), UnaryOp::kSqrt);
  ITensor* normalized = net.addElementWise(d, stddev, ElementWiseOp::kDiv);
  net.markOutput(net.addElementWise(normalized, net.addConstant(randomWeights({8}, 9)), ElementWiseOp::kMul));
  net.markOutput(variance);  // the variance is needed on its own
  net.inferShapes();
  EXPECT_FALSE(run(passes::fuseResidualNorm, net));
}

// ---- fuse_matmul_activation -------------------------------------------------------------------------------

TEST(NormGemmFusion, MatMulBiasActivationBecomesOneMatMul) {
  struct Form {
    ActivationType type;
    float alpha;
    MatMulActivation fused;
  };
  const Form forms[] = {{ActivationType::kRelu, 0.f, MatMulActivation::kRelu},
                        {ActivationType::kGelu, 0.f, MatMulActivation::kGelu},
                        {ActivationType::kGelu, 1.f, MatMulActivation::kGeluTanh}};
  for (const Form& form : forms) {
    for (bool withBias : {false, true}) {
      SCOPED_TRACE(concat(static_cast<int>(form.fused), withBias ? " with bias" : ""));
      ir::Network net;
      ITensor* x = net.addInput("x", DataType::kFloat32, {2, 3, 16});
      ITensor* product = net.addMatrixMultiply(x, false, net.addConstant(randomWeights({16, 24}, 11, -0.5f, 0.5f)), false);
      if (withBias) product = net.addElementWise(product, net.addConstant(randomWeights({24}, 12)), ElementWiseOp::kAdd);
      ITensor* y = net.addActivation(product, form.type, form.alpha);
      y->setName("y");
      net.markOutput(y);
      net.inferShapes();
      auto before = evaluate(net);
      EXPECT_EQ(run(passes::fuseMatMulBias, net), withBias);
      EXPECT_TRUE(run(passes::fuseMatMulActivation, net));
      run(passes::eliminateDeadLayers, net);
      EXPECT_EQ(countOf(net, LayerType::kActivation), 0);
      EXPECT_EQ(countOf(net, LayerType::kElementWise), 0);
      const ir::Layer* matmul = producerOf(net, "y");
      ASSERT_EQ(matmul->type(), LayerType::kMatrixMultiply);
      EXPECT_EQ(matmul->as<MatrixMultiplyParams>().activation, form.fused);
      EXPECT_EQ(matmul->inputs.size(), withBias ? 3u : 2u);
      expectSameOutputs(evaluate(net), before);
      EXPECT_FALSE(run(passes::fuseMatMulActivation, net));
    }
  }
}

TEST(NormGemmFusion, MatMulActivationLeavesSharedProductsAndLaterBiases) {
  {  // the product is also read by another layer
    ir::Network net;
    ITensor* x = net.addInput("x", DataType::kFloat32, {3, 4});
    ITensor* product = net.addMatrixMultiply(x, false, net.addConstant(randomWeights({4, 5}, 13)), false);
    net.markOutput(net.addActivation(product, ActivationType::kRelu));
    net.markOutput(net.addUnary(product, UnaryOp::kNeg));
    net.inferShapes();
    EXPECT_FALSE(run(passes::fuseMatMulActivation, net));
  }
  {  // an activation without an epilogue form
    ir::Network net;
    ITensor* x = net.addInput("x", DataType::kFloat32, {3, 4});
    ITensor* product = net.addMatrixMultiply(x, false, net.addConstant(randomWeights({4, 5}, 14)), false);
    net.markOutput(net.addActivation(product, ActivationType::kSigmoid));
    net.inferShapes();
    EXPECT_FALSE(run(passes::fuseMatMulActivation, net));
  }
  {  // MatMul -> Relu -> Add(bias): once the Relu is in the epilogue, the Add is not the epilogue's bias
    ir::Network net;
    ITensor* x = net.addInput("x", DataType::kFloat32, {3, 4});
    ITensor* product = net.addMatrixMultiply(x, false, net.addConstant(randomWeights({4, 5}, 15)), false);
    ITensor* y = net.addElementWise(net.addActivation(product, ActivationType::kRelu),
                                    net.addConstant(randomWeights({5}, 16)), ElementWiseOp::kAdd);
    net.markOutput(y);
    net.inferShapes();
    auto before = evaluate(net);
    EXPECT_TRUE(run(passes::fuseMatMulActivation, net));
    EXPECT_FALSE(run(passes::fuseMatMulBias, net));
    EXPECT_EQ(countOf(net, LayerType::kElementWise), 1);
    expectSameOutputs(evaluate(net), before);
  }
}

// ---- fuse_gelu: the tanh form -----------------------------------------------------------------------------

TEST(NormGemmFusion, TanhGeluSubgraphBecomesOneActivation) {
  // HuggingFace's gelu_new (GPT-2): Mul(Mul(0.5, x), Add(1, Tanh(Mul(sqrt(2/pi), Add(x, Mul(0.044715, Pow(x, 3)))))));
  // torch's tanh GELU: Mul(0.5, Mul(x, Add(1, Tanh(...)))) with the constants on the other side.
  for (int form = 0; form < 2; ++form) {
    SCOPED_TRACE(form == 0 ? "gelu_new" : "torch");
    ir::Network net;
    ITensor* in = net.addInput("x", DataType::kFloat32, {-1, 3, 8});
    ITensor* x = net.addActivation(in, ActivationType::kSigmoid);  // x has a producer
    auto scalar = [&](float v) { return net.addConstant(floats({}, {v})); };
    auto mul = [&](ITensor* p, ITensor* q) { return net.addElementWise(p, q, ElementWiseOp::kMul); };
    auto add = [&](ITensor* p, ITensor* q) { return net.addElementWise(p, q, ElementWiseOp::kAdd); };
    ITensor* cube = net.addElementWise(x, scalar(3.f), ElementWiseOp::kPow);
    ITensor* inner = form == 0 ? mul(scalar(0.7978845608f), add(x, mul(scalar(0.044715f), cube)))
                               : mul(add(mul(cube, scalar(0.044715f)), x), scalar(0.7978845608f));
    ITensor* onePlusTanh = add(scalar(1.f), net.addActivation(inner, ActivationType::kTanh));
    ITensor* y = form == 0 ? mul(mul(scalar(0.5f), x), onePlusTanh) : mul(scalar(0.5f), mul(x, onePlusTanh));
    y->setName("y");
    net.markOutput(y);
    net.inferShapes();
    for (ir::Tensor* t : net.inputs()) t->setDims({2, 3, 8});
    net.inferShapes();
    auto before = evaluate(net);
    EXPECT_TRUE(run(passes::fuseGelu, net));
    run(passes::eliminateDeadLayers, net);
    EXPECT_EQ(countOf(net, LayerType::kElementWise), 0);
    EXPECT_EQ(countOf(net, LayerType::kActivation), 2);
    const ir::Layer* gelu = producerOf(net, "y");
    EXPECT_EQ(gelu->as<ActivationParams>().type, ActivationType::kGelu);
    EXPECT_EQ(gelu->as<ActivationParams>().alpha, 1.f);
    expectSameOutputs(evaluate(net), before, 1e-5f);
  }
}

TEST(NormGemmFusion, TanhGeluWithOtherConstantsStays) {
  ir::Network net;
  ITensor* x = net.addInput("x", DataType::kFloat32, {4});
  auto scalar = [&](float v) { return net.addConstant(floats({}, {v})); };
  auto mul = [&](ITensor* p, ITensor* q) { return net.addElementWise(p, q, ElementWiseOp::kMul); };
  auto add = [&](ITensor* p, ITensor* q) { return net.addElementWise(p, q, ElementWiseOp::kAdd); };
  ITensor* cube = net.addElementWise(x, scalar(3.f), ElementWiseOp::kPow);
  ITensor* inner = mul(scalar(0.7978845608f), add(x, mul(scalar(0.05f), cube)));  // not 0.044715
  net.markOutput(mul(mul(scalar(0.5f), x), add(scalar(1.f), net.addActivation(inner, ActivationType::kTanh))));
  net.inferShapes();
  EXPECT_FALSE(run(passes::fuseGelu, net));
}

// ---- a target without the fused kernels ------------------------------------------------------------------

namespace {

// Like the CUDA backend for now: no residual normalization and no epilogue activation.
class NoFusedKernelsBackend final : public kiln::testing::CpuWrappingBackend {
 public:
  std::string unsupportedReason(const ir::Layer& layer) const override {
    if (layer.type() == LayerType::kNormalization && layer.as<NormalizationParams>().addsResidual)
      return "no residual normalization";
    if (layer.type() == LayerType::kMatrixMultiply &&
        layer.as<MatrixMultiplyParams>().activation != MatMulActivation::kNone)
      return "no epilogue activation";
    return CpuWrappingBackend::unsupportedReason(layer);
  }
};

}  // namespace

TEST(NormGemmFusion, TargetsWithoutTheFusedKernelsKeepTheLayers) {
  ir::Network net;
  ITensor* x = net.addInput("x", DataType::kFloat32, {2, 8});
  ITensor* product = net.addMatrixMultiply(x, false, net.addConstant(randomWeights({8, 8}, 17)), false);
  ITensor* h = net.addElementWise(net.addActivation(product, ActivationType::kRelu), x, ElementWiseOp::kAdd);
  net.markOutput(layerNorm(net, h, 8));
  net.inferShapes();
  NoFusedKernelsBackend target;
  std::vector<std::string> log;
  passes::PassContext context{net, log, &target};
  EXPECT_FALSE(passes::fuseMatMulActivation(context));
  EXPECT_FALSE(passes::fuseResidualNorm(context));
  EXPECT_EQ(countOf(net, LayerType::kActivation), 1);
  EXPECT_EQ(countOf(net, LayerType::kElementWise), 1);
  EXPECT_TRUE(log.empty());
}

// ---- through the builder ----------------------------------------------------------------------------------

TEST(NormGemmFusion, PreLnBlockBuildsFusedAndMatchesTheUnfusedBuild) {
  // h1 = x + W2 gelu(W1 LN(x) + b1) + b2; y = LN(h1); h1 is also an output (the next block's residual).
  auto make = [](ir::Network& net) {
    ITensor* x = net.addInput("x", DataType::kFloat32, {3, 5, 32});
    ITensor* n = layerNorm(net, x, 32, NormalizationType::kLayer, 50);
    auto linear = [&](ITensor* t, int64_t k, int64_t m, uint32_t seed) {
      ITensor* p = net.addMatrixMultiply(t, false, net.addConstant(randomWeights({k, m}, seed, -0.3f, 0.3f)), false);
      return net.addElementWise(p, net.addConstant(randomWeights({m}, seed + 1, -0.1f, 0.1f)), ElementWiseOp::kAdd);
    };
    ITensor* ffn = linear(net.addActivation(linear(n, 32, 64, 60), ActivationType::kGelu, 0.f), 64, 32, 70);
    ITensor* h = net.addElementWise(ffn, x, ElementWiseOp::kAdd);
    h->setName("h");
    ITensor* y = layerNorm(net, h, 32, NormalizationType::kRMS, 80);
    y->setName("y");
    net.markOutput(y);
    net.markOutput(h);
  };
  BuilderConfig fusedConfig, unfusedConfig;
  unfusedConfig.disabledPasses = {"fuse_residual_norm", "fuse_matmul_activation"};
  std::vector<float> outputs[2][2];
  int layers[2] = {0, 0};
  for (int fused = 0; fused < 2; ++fused) {
    ir::Network net;
    make(net);
    BuildSummary summary;
    auto engine = kiln::testing::buildEngine(net, fused ? fusedConfig : unfusedConfig, &summary);
    layers[fused] = summary.layersAfter;
    auto context = engine->createExecutionContext();
    Weights x = randomWeights({3, 5, 32}, 90);
    outputs[fused][0].resize(3 * 5 * 32);
    outputs[fused][1].resize(3 * 5 * 32);
    context->setTensorAddress("x", const_cast<void*>(x.data()));
    context->setTensorAddress("y", outputs[fused][0].data());
    context->setTensorAddress("h", outputs[fused][1].data());
    context->execute();
  }
  // Unfused: LN, MatMul(+bias), GELU, MatMul(+bias), Add, RMSNorm. Fused: LN, MatMul+bias+GELU,
  // MatMul(+bias), RMSNorm(+residual, writing h).
  EXPECT_EQ(layers[0] - layers[1], 2);
  for (int o = 0; o < 2; ++o)
    for (size_t i = 0; i < outputs[0][o].size(); ++i)
      ASSERT_NEAR(outputs[1][o][i], outputs[0][o][i], 1e-5f * std::max(1.f, std::abs(outputs[0][o][i])))
          << (o ? "h" : "y") << " at " << i;
}
