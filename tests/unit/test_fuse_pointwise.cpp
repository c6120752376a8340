// fuse_pointwise as before -> after networks: which layers fuse, and that the Pointwise layer computes
// on the CPU exactly what the layers it replaces computed one by one.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <unordered_map>

#include "backends/backend.h"
#include "backends/host_eval.h"
#include "builder/pass_manager.h"
#include "builder/passes/passes.h"
#include "core/half.h"
#include "ir/network.h"
#include "test_helpers.h"

using namespace kiln;
using kiln::testing::floats;

namespace {

ITensor* cast(ir::Network& net, ITensor* x, DataType to) {
  CastParams p;
  p.to = to;
  return net.addLayer(p, {x})->output(0);
}

ITensor* scalar(ir::Network& net, float v, size_t rank = 0) { return net.addConstant(floats(Dims(rank, 1), {v})); }

// Random values of `type`: floats in [-3, 3] (rounded to half types), 0/1 for integers and bools.
HostTensor randomTensor(DataType type, const Dims& shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-3.f, 3.f);
  const size_t n = static_cast<size_t>(volume(shape));
  switch (type) {
    case DataType::kFloat32: {
      std::vector<float> v(n);
      for (float& x : v) x = d(rng);
      return Weights::copyOf(type, shape, v.data());
    }
    case DataType::kFloat16: case DataType::kBFloat16: {
      std::vector<uint16_t> v(n);
      for (uint16_t& x : v) x = type == DataType::kFloat16 ? floatToHalf(d(rng)) : floatToBfloat16(d(rng));
      return Weights::copyOf(type, shape, v.data());
    }
    case DataType::kInt64: {
      std::vector<int64_t> v(n);
      for (int64_t& x : v) x = rng() % 2;
      return Weights::copyOf(type, shape, v.data());
    }
    default: {
      std::vector<uint8_t> v(n);
      for (uint8_t& x : v) x = rng() % 2;
      return Weights::copyOf(DataType::kBool, shape, v.data());
    }
  }
}

std::vector<float> asFloats(const HostTensor& t) {
  std::vector<float> v(static_cast<size_t>(t.count()));
  for (size_t i = 0; i < v.size(); ++i) {
    if (t.type == DataType::kFloat32) v[i] = t.as<float>()[i];
    else if (t.type == DataType::kFloat16) v[i] = halfToFloat(t.as<uint16_t>()[i]);
    else v[i] = bfloat16ToFloat(t.as<uint16_t>()[i]);
  }
  return v;
}

// Runs the network layer by layer with the CPU kernels; returns every output as floats.
std::vector<std::vector<float>> evaluate(const ir::Network& net, const std::map<std::string, HostTensor>& inputs) {
  std::unordered_map<const ir::Tensor*, HostTensor> values;
  for (ir::Tensor* in : net.inputs()) values[in] = inputs.at(in->name());
  for (auto& layer : net.layers()) {
    std::vector<const HostTensor*> ins;
    for (auto* in : layer->inputs) ins.push_back(in ? &values.at(in) : nullptr);
    auto outs = host::evaluateLayer(*layer, ins);
    for (size_t i = 0; i < outs.size(); ++i) values[layer->outputs[i]] = outs[i];
  }
  std::vector<std::vector<float>> result;
  for (ir::Tensor* out : net.outputs()) result.push_back(asFloats(values.at(out)));
  return result;
}

// Random values for every network input.
std::map<std::string, HostTensor> randomInputs(const ir::Network& net) {
  std::map<std::string, HostTensor> inputs;
  uint32_t seed = 1;
  for (ir::Tensor* in : net.inputs()) inputs[in->name()] = randomTensor(in->type(), in->dims(), seed++);
  return inputs;
}

bool fuse(ir::Network& net) {
  std::vector<std::string> log;
  passes::PassContext context{net, log};
  bool changed = passes::fusePointwise(context);
  net.inferShapes();
  return changed;
}

int count(const ir::Network& net, LayerType type) {
  int n = 0;
  for (auto& l : net.layers()) n += l->type() == type;
  return n;
}

// Fuses `net` and checks that its outputs are bitwise what they were (NaNs equal).
void expectSameOutputsAfterFusion(ir::Network& net, bool expectChange = true) {
  auto inputs = randomInputs(net);
  auto before = evaluate(net, inputs);
  EXPECT_EQ(fuse(net), expectChange);
  auto after = evaluate(net, inputs);
  ASSERT_EQ(before.size(), after.size());
  for (size_t o = 0; o < before.size(); ++o) {
    ASSERT_EQ(before[o].size(), after[o].size());
    for (size_t i = 0; i < before[o].size(); ++i) {
      if (std::isnan(before[o][i])) EXPECT_TRUE(std::isnan(after[o][i])) << "output " << o << " element " << i;
      else EXPECT_EQ(before[o][i], after[o][i]) << "output " << o << " element " << i;
    }
  }
}

}  // namespace

TEST(FusePointwise, FusesABiasScaleGeluCastChainIntoOneLayer) {
  ir::Network net;
  ITensor* x = net.addInput("x", DataType::kFloat32, {2, 3, 8});
  ITensor* bias = net.addInput("bias", DataType::kFloat32, {8});
  ITensor* y = net.addElementWise(x, bias, ElementWiseOp::kAdd);
  y = net.addElementWise(y, scalar(net, 0.5f), ElementWiseOp::kMul);
  y = net.addActivation(y, ActivationType::kGelu);
  y = cast(net, y, DataType::kFloat16);
  y = net.addActivation(y, ActivationType::kClip, -0.25f, 1.5f);
  net.markOutput(y);
  expectSameOutputsAfterFusion(net);
  EXPECT_EQ(count(net, LayerType::kPointwise), 1);
  EXPECT_EQ(count(net, LayerType::kElementWise) + count(net, LayerType::kActivation) + count(net, LayerType::kCast), 0);
  const ir::Layer& fused = *net.outputs()[0]->producerLayer;
  ASSERT_EQ(fused.type(), LayerType::kPointwise);
  EXPECT_EQ(fused.inputs.size(), 2u);  // x and bias; the 0.5 is an immediate
  EXPECT_EQ(net.outputs()[0]->type(), DataType::kFloat16);
  EXPECT_EQ(net.outputs()[0]->dims(), (Dims{2, 3, 8}));
}

TEST(FusePointwise, FusesTheAttentionMaskArithmeticWithBroadcastAndCasts) {
  // scores + (1 - float(mask)) * -10000, in float16; mask [2,1,1,5] int64, scores [2,4,3,5].
  ir::Network net;
  ITensor* scores = net.addInput("scores", DataType::kFloat16, {2, 4, 3, 5});
  ITensor* mask = net.addInput("mask", DataType::kInt64, {2, 1, 1, 5});
  ITensor* m = cast(net, mask, DataType::kFloat32);
  m = net.addElementWise(scalar(net, 1.f), m, ElementWiseOp::kSub);
  m = net.addElementWise(m, scalar(net, -10000.f), ElementWiseOp::kMul);
  m = cast(net, m, DataType::kFloat16);
  net.markOutput(net.addElementWise(scores, m, ElementWiseOp::kAdd));
  expectSameOutputsAfterFusion(net);
  EXPECT_EQ(count(net, LayerType::kPointwise), 1);
  EXPECT_EQ(count(net, LayerType::kCast) + count(net, LayerType::kElementWise), 0);
}

TEST(FusePointwise, SplitsGroupsWhereAnIntermediateHasOtherReaders) {
  // e = Exp(2x) is read by the Add chain and by a Softmax: it is materialized, ending one group and
  // feeding the next. s = Add(e, y) is also a network output: the Relu after it is a group of one.
  ir::Network net;
  ITensor* x = net.addInput("x", DataType::kFloat32, {3, 7});
  ITensor* y = net.addInput("y", DataType::kFloat32, {1, 7});
  ITensor* e = net.addUnary(net.addElementWise(x, scalar(net, 2.f), ElementWiseOp::kMul), UnaryOp::kExp);
  ITensor* s = net.addElementWise(net.addUnary(e, UnaryOp::kNeg), y, ElementWiseOp::kAdd);
  net.markOutput(net.addActivation(s, ActivationType::kRelu));
  net.markOutput(s);
  net.markOutput(net.addSoftmax(e, -1));
  expectSameOutputsAfterFusion(net);
  EXPECT_EQ(count(net, LayerType::kPointwise), 2);          // Mul+Exp, Neg+Add
  EXPECT_EQ(count(net, LayerType::kActivation), 1);         // the Relu alone
  EXPECT_EQ(count(net, LayerType::kSoftmax), 1);
  EXPECT_EQ(net.outputs()[1]->producerLayer->type(), LayerType::kPointwise);
}

TEST(FusePointwise, TakesEveryReaderInsideTheGroup) {
  // x*x + sigmoid(x*x): the square is read twice, both times inside the group.
  ir::Network net;
  ITensor* x = net.addInput("x", DataType::kBFloat16, {5, 3});
  ITensor* sq = net.addElementWise(x, x, ElementWiseOp::kMul);
  net.markOutput(net.addElementWise(sq, net.addActivation(sq, ActivationType::kSigmoid), ElementWiseOp::kAdd));
  expectSameOutputsAfterFusion(net);
  EXPECT_EQ(net.layers().size(), 1u);
  EXPECT_EQ(net.layers()[0]->inputs.size(), 1u);  // x once
}

TEST(FusePointwise, LeavesShapeArithmeticAlone) {
  // Reshape(x, float(shape(x)) * 1 ... as int64): the Cast -> Mul -> Cast chain is computed on the host.
  ir::Network net;
  ITensor* x = net.addInput("x", DataType::kFloat32, {-1, 6}, {});
  ITensor* shape = net.addLayer(ShapeParams{}, {x})->output(0);
  ITensor* f = cast(net, shape, DataType::kFloat32);
  f = net.addActivation(net.addElementWise(f, scalar(net, 1.f, 1), ElementWiseOp::kMul), ActivationType::kRelu);
  ITensor* dims = cast(net, f, DataType::kInt64);
  ReshapeParams reshape;
  ITensor* r = net.addLayer(reshape, {net.addUnary(x, UnaryOp::kNeg), dims})->output(0);
  net.markOutput(net.addUnary(r, UnaryOp::kAbs));
  EXPECT_FALSE(fuse(net));
  EXPECT_EQ(count(net, LayerType::kPointwise), 0);
}

TEST(FusePointwise, SecondRunChangesNothingAndThePassManagerConverges) {
  auto build = [](ir::Network& net) {
    ITensor* x = net.addInput("x", DataType::kFloat32, {4, 6});
    ITensor* y = net.addUnary(net.addActivation(x, ActivationType::kTanh), UnaryOp::kAbs);
    ITensor* z = net.addElementWise(y, x, ElementWiseOp::kMax);
    net.markOutput(net.addSoftmax(z, -1));
    net.markOutput(net.addUnary(z, UnaryOp::kSqrt));
  };
  ir::Network net;
  build(net);
  EXPECT_TRUE(fuse(net));
  size_t layers = net.layers().size();
  EXPECT_FALSE(fuse(net));
  EXPECT_EQ(net.layers().size(), layers);

  ir::Network full;
  build(full);
  std::vector<std::string> log;
  passes::runPasses(full, {}, log);
  EXPECT_EQ(count(full, LayerType::kPointwise), 1);  // Tanh, Abs, Max; the Sqrt reads z with the Softmax
  EXPECT_EQ(count(full, LayerType::kUnary), 1);
}

TEST(FusePointwise, MergesAPointwiseLayerWithItsNeighbours) {
  ir::Network net;
  ITensor* x = net.addInput("x", DataType::kFloat32, {2, 9});
  ITensor* y = net.addInput("y", DataType::kFloat32, {9});
  // A program of an earlier round: relu(in0 - in1).
  PointwiseParams p;
  p.kinds = {PointwiseOpKind::kInput, PointwiseOpKind::kInput, PointwiseOpKind::kElementWise, PointwiseOpKind::kActivation};
  p.codes = {0, 1, static_cast<int64_t>(ElementWiseOp::kSub), static_cast<int64_t>(ActivationType::kRelu)};
  p.a = {0, 0, 0, 2};
  p.b = {0, 0, 1, 0};
  p.alpha = {0, 0, 0, 0};
  p.beta = {0, 0, 0, 0};
  p.types = std::vector<DataType>(4, DataType::kFloat32);
  p.output = 3;
  ITensor* first = net.addLayer(p, {x, y})->output(0);
  net.markOutput(net.addUnary(net.addElementWise(first, y, ElementWiseOp::kMul), UnaryOp::kSqrt));
  expectSameOutputsAfterFusion(net);
  ASSERT_EQ(net.layers().size(), 1u);
  EXPECT_EQ(net.layers()[0]->inputs.size(), 2u);  // y is loaded once for both uses
}

TEST(FusePointwise, ShapeRuleRejectsInvalidPrograms) {
  ir::Network net;
  ITensor* x = net.addInput("x", DataType::kFloat32, {3});
  PointwiseParams forward;  // reads a later register
  forward.kinds = {PointwiseOpKind::kUnary, PointwiseOpKind::kInput};
  forward.codes = {static_cast<int64_t>(UnaryOp::kExp), 0};
  forward.a = {1, 0};
  forward.b = {0, 0};
  forward.alpha = forward.beta = {0, 0};
  forward.types = {DataType::kFloat32, DataType::kFloat32};
  EXPECT_THROW(net.addLayer(forward, {x}), Error);
  PointwiseParams wrongType = forward;  // loads the float32 input as float16
  wrongType.kinds = {PointwiseOpKind::kInput, PointwiseOpKind::kUnary};
  wrongType.a = {0, 0};
  wrongType.types = {DataType::kFloat16, DataType::kFloat16};
  wrongType.output = 1;
  EXPECT_THROW(net.addLayer(wrongType, {x}), Error);
  PointwiseParams comparison = wrongType;  // a comparison outputs bool: not in a program
  comparison.types = {DataType::kFloat32, DataType::kFloat32};
  comparison.kinds = {PointwiseOpKind::kInput, PointwiseOpKind::kElementWise};
  comparison.codes = {0, static_cast<int64_t>(ElementWiseOp::kLess)};
  EXPECT_THROW(net.addLayer(comparison, {x}), Error);
}

TEST(FusePointwise, BuiltPlanRoundTripsAndMatches) {
  ir::Network net;
  ITensor* x = net.addInput("x", DataType::kFloat32, {3, 4});
  ITensor* y = net.addActivation(net.addElementWise(x, scalar(net, 3.f), ElementWiseOp::kAdd), ActivationType::kSigmoid);
  net.markOutput(net.addUnary(y, UnaryOp::kLog));
  auto inputs = randomInputs(net);
  std::vector<float> expected = evaluate(net, inputs)[0];
  BuildSummary summary;
  auto engine = kiln::testing::buildEngine(net, {}, &summary);
  std::vector<uint8_t> bytes = engine->serialize();
  auto reloaded = Runtime().deserializeEngine(bytes.data(), bytes.size());
  EXPECT_EQ(reloaded->numLayers(), 1);
  std::vector<float> out(12);
  auto context = reloaded->createExecutionContext();
  context->setTensorAddress("x", const_cast<void*>(static_cast<const void*>(inputs.at("x").as<float>())));
  context->setTensorAddress(net.outputs()[0]->name(), out.data());
  context->execute();
  EXPECT_EQ(out, expected);
}

TEST(FusePointwise, SplitsLongChainsIntoBoundedGroups) {
  // 150 layers: groups of at most 64 (the last 64, the 64 before, the first 22), and a second run
  // (or the pass manager's next round) does not merge them.
  ir::Network net;
  ITensor* x = net.addInput("x", DataType::kFloat32, {2, 4});
  ITensor* y = x;
  for (int i = 0; i < 150; ++i)
    y = i % 2 ? net.addActivation(y, ActivationType::kRelu) : net.addElementWise(y, x, ElementWiseOp::kSub);
  net.markOutput(y);
  expectSameOutputsAfterFusion(net);
  EXPECT_EQ(count(net, LayerType::kPointwise), 3);
  EXPECT_EQ(net.layers().size(), 3u);
  EXPECT_FALSE(fuse(net));
}

TEST(FusePointwise, KernelsRefuseAnOutputTypeTheProgramDoesNotCompute) {
  // reduce_precision asks the backend with retyped tensors: a Pointwise cannot simply switch to float16.
  ir::Network net;
  ITensor* x = net.addInput("x", DataType::kFloat16, {4});
  net.markOutput(cast(net, net.addActivation(x, ActivationType::kTanh), DataType::kFloat32));
  ASSERT_TRUE(fuse(net));
  ir::Layer& fused = *net.layers().back();
  auto cpu = backendFor("cpu");
  EXPECT_EQ(cpu->unsupportedReason(fused), "");
  fused.outputs[0]->setType(DataType::kFloat16);
  EXPECT_NE(cpu->unsupportedReason(fused), "");
  fused.outputs[0]->setType(DataType::kFloat32);
}
