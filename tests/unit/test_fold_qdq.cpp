// fold_qdq as before -> after networks: DequantizeLinear -> Conv/MatMul [-> bias] [-> Relu] [-> Quantize]
// with int8 constant weights becomes one QuantizedConvolution / QuantizedMatrixMultiply (types, params,
// layer counts); the fused network computes what the Q/DQ network does (within one step of the output
// scale); a built plan runs the layers in int8 (layer types and tactic names); and the cases that must
// stay as they are (asymmetric or per-axis-mismatched weights, non-constant weights, per-channel
// activations, a residual, a target without the kernels).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "backends/host_eval.h"
#include "builder/passes/passes.h"
#include "ir/network.h"
#include "test_helpers.h"
#include "unit/cpu_wrapping_backend.h"

using namespace kiln;
using kiln::testing::floats;

namespace {

Weights int8s(const Dims& shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(-127, 127);
  std::vector<int8_t> v(static_cast<size_t>(volume(shape)));
  for (int8_t& x : v) x = static_cast<int8_t>(d(rng));
  return Weights::copyOf(DataType::kInt8, shape, v.data());
}

Weights randomFloats(const Dims& shape, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(static_cast<size_t>(volume(shape)));
  for (float& x : v) x = d(rng);
  return floats(shape, v);
}

template <class T>
Weights scalarOf(DataType type, T v) {
  return Weights::copyOf(type, {}, &v);
}

ITensor* quantize(ir::Network& net, ITensor* x, float scale, int8_t zeroPoint) {
  QuantizeParams q;
  q.outputType = DataType::kInt8;
  return net.addLayer(q, {x, net.addConstant(floats({}, {scale})), net.addConstant(scalarOf(DataType::kInt8, zeroPoint))})
      ->output(0);
}

ITensor* dequantize(ir::Network& net, ITensor* x, ITensor* scale, ITensor* zeroPoint = nullptr, int64_t axis = 1) {
  DequantizeParams d;
  d.axis = axis;
  std::vector<ITensor*> inputs{x, scale};
  if (zeroPoint) inputs.push_back(zeroPoint);
  return net.addLayer(d, inputs)->output(0);
}

ITensor* dequantizeScalar(ir::Network& net, ITensor* x, float scale, int8_t zeroPoint) {
  return dequantize(net, x, net.addConstant(floats({}, {scale})), net.addConstant(scalarOf(DataType::kInt8, zeroPoint)));
}

// x float [1,3,9,8] -> Q -> DQ -> Conv 3x3 (4 outputs; weights DQ(int8) per channel; bias) -> Relu -> Q -> DQ.
struct QdqConv {
  ir::Network net;
  bool relu = true, requantize = true, bias = true;
  Weights weights = int8s({4, 3, 3, 3}, 7);
  Weights weightScales = randomFloats({4}, 8, 0.002f, 0.01f);
  ITensor* weightZeroPoint = nullptr;
  int64_t weightAxis = 0;
  void build() {
    ITensor* x = net.addInput("x", DataType::kFloat32, {1, 3, 9, 8});
    ITensor* xq = dequantizeScalar(net, quantize(net, x, 0.02f, -3), 0.02f, -3);
    ITensor* w = dequantize(net, net.addConstant(weights), net.addConstant(weightScales), weightZeroPoint, weightAxis);
    ConvolutionParams p;
    p.padsBegin = p.padsEnd = {1, 1};
    std::vector<ITensor*> inputs{xq, w};
    if (bias) inputs.push_back(net.addConstant(randomFloats({4}, 9, -0.5f, 0.5f)));
    ITensor* y = net.addLayer(p, inputs)->output(0);
    if (relu) y = net.addActivation(y, ActivationType::kRelu);
    if (requantize) y = dequantizeScalar(net, quantize(net, y, 0.015f, -128), 0.015f, -128);
    net.markOutput(y);
  }
};

int count(const ir::Network& net, LayerType type) {
  int n = 0;
  for (auto& l : net.layers()) n += l->type() == type;
  return n;
}

bool runFold(ir::Network& net, const Backend* target = nullptr) {
  std::vector<std::string> log;
  passes::PassContext context{net, log, target};
  bool changed = passes::foldQdq(context);
  if (changed) passes::eliminateDeadLayers(context);
  net.inferShapes();
  return changed;
}

std::vector<float> evaluate(const ir::Network& net, const HostTensor& x) {
  ir::Layer owner("test", IdentityParams{});
  std::vector<HostTensor> out = host::evaluateNetwork(net, {&x}, owner);
  return std::vector<float>(out[0].as<float>(), out[0].as<float>() + out[0].count());
}

void expectWithinSteps(const std::vector<float>& got, const std::vector<float>& want, float step, int steps) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) ASSERT_LE(std::abs(got[i] - want[i]), step * steps + 1e-6f) << i;
}

const ir::Layer* onlyLayerOf(const ir::Network& net, LayerType type) {
  const ir::Layer* found = nullptr;
  for (auto& l : net.layers())
    if (l->type() == type) {
      EXPECT_EQ(found, nullptr) << "more than one " << layerTypeName(type);
      found = l.get();
    }
  return found;
}

TEST(FoldQdq, ConvReluQuantizeBecomesOneQuantizedConvolution) {
  QdqConv before, after;
  before.build();
  after.build();
  HostTensor x = randomFloats({1, 3, 9, 8}, 1, -2.f, 2.f);
  std::vector<float> want = evaluate(before.net, x);
  EXPECT_TRUE(runFold(after.net));
  EXPECT_EQ(count(after.net, LayerType::kConvolution), 0);
  EXPECT_EQ(count(after.net, LayerType::kActivation), 0);
  EXPECT_EQ(count(after.net, LayerType::kQuantize), 1);    // the network input's
  EXPECT_EQ(count(after.net, LayerType::kDequantize), 1);  // the output's
  const ir::Layer* q = onlyLayerOf(after.net, LayerType::kQuantizedConvolution);
  ASSERT_NE(q, nullptr);
  const auto& p = q->as<QuantizedConvolutionParams>();
  EXPECT_EQ(q->inputs[0]->type(), DataType::kInt8);
  EXPECT_EQ(q->inputs[1]->type(), DataType::kInt8);
  EXPECT_EQ(q->outputs[0]->type(), DataType::kInt8);
  EXPECT_EQ(p.outputType, DataType::kInt8);
  EXPECT_FLOAT_EQ(p.inputScale, 0.02f);
  EXPECT_EQ(p.inputZeroPoint, -3);
  EXPECT_EQ(p.weightScales.size(), 4u);
  EXPECT_FLOAT_EQ(p.outputScale, 0.015f);
  EXPECT_EQ(p.outputZeroPoint, -128);
  EXPECT_EQ(p.conv.outputMin, 0.f);  // the Relu
  expectWithinSteps(evaluate(after.net, x), want, 0.015f, 1);
}

TEST(FoldQdq, ConvWithoutQuantizeAfterItHasARealOutput) {
  QdqConv before, after;
  before.relu = after.relu = false;
  before.requantize = after.requantize = false;
  before.build();
  after.build();
  HostTensor x = randomFloats({1, 3, 9, 8}, 2, -2.f, 2.f);
  std::vector<float> want = evaluate(before.net, x);
  EXPECT_TRUE(runFold(after.net));
  const ir::Layer* q = onlyLayerOf(after.net, LayerType::kQuantizedConvolution);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->outputs[0]->type(), DataType::kFloat32);
  EXPECT_TRUE(q->outputs[0]->isOutput);
  std::vector<float> got = evaluate(after.net, x);
  for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-4f * std::max(1.f, std::abs(want[i]))) << i;
}

TEST(FoldQdq, AsymmetricWeightsAndMismatchedAxesDoNotFold) {
  QdqConv asymmetric;
  asymmetric.weightZeroPoint = asymmetric.net.addConstant(Weights::copyOf(DataType::kInt8, {4}, std::vector<int8_t>{0, 1, 0, 0}.data()));
  asymmetric.build();
  EXPECT_FALSE(runFold(asymmetric.net));
  EXPECT_EQ(count(asymmetric.net, LayerType::kConvolution), 1);

  QdqConv perInputChannel;  // scales along the weights' input channels (axis 1 of [4, 3, 3, 3]): not per output
  perInputChannel.weightScales = randomFloats({3}, 3, 0.002f, 0.01f);
  perInputChannel.weightAxis = 1;
  perInputChannel.build();
  EXPECT_FALSE(runFold(perInputChannel.net));
  EXPECT_EQ(count(perInputChannel.net, LayerType::kConvolution), 1);
}

TEST(FoldQdq, NonConstantWeightsResidualsAndPerChannelActivationsDoNotFold) {
  {  // weights computed at run time: an int8 network input
    ir::Network net;
    ITensor* x = net.addInput("x", DataType::kFloat32, {1, 3, 5, 5});
    ITensor* wq = net.addInput("w", DataType::kInt8, {2, 3, 1, 1});
    ITensor* xq = dequantizeScalar(net, quantize(net, x, 0.1f, 0), 0.1f, 0);
    ITensor* w = dequantize(net, wq, net.addConstant(floats({}, {0.01f})), nullptr, 0);
    net.markOutput(net.addLayer(ConvolutionParams{}, {xq, w})->output(0));
    EXPECT_FALSE(runFold(net));
  }
  {  // a residual input: not part of the quantized convolution
    ir::Network net;
    ITensor* x = net.addInput("x", DataType::kFloat32, {1, 2, 4, 4});
    ITensor* xq = dequantizeScalar(net, quantize(net, x, 0.1f, 0), 0.1f, 0);
    ITensor* w = dequantize(net, net.addConstant(int8s({2, 2, 1, 1}, 4)), net.addConstant(floats({}, {0.01f})), nullptr, 0);
    net.markOutput(net.addLayer(ConvolutionParams{}, {xq, w, nullptr, x})->output(0));
    EXPECT_FALSE(runFold(net));
  }
  {  // the activation dequantized per channel
    ir::Network net;
    ITensor* x = net.addInput("x", DataType::kInt8, {1, 2, 4, 4});
    ITensor* xq = dequantize(net, x, net.addConstant(floats({2}, {0.1f, 0.2f})), nullptr, 1);
    ITensor* w = dequantize(net, net.addConstant(int8s({2, 2, 1, 1}, 4)), net.addConstant(floats({}, {0.01f})), nullptr, 0);
    net.markOutput(net.addLayer(ConvolutionParams{}, {xq, w})->output(0));
    EXPECT_FALSE(runFold(net));
  }
}

TEST(FoldQdq, MaxPoolAndFlattenBetweenEqualQdqPairsRunOnTheQuantizedTensor) {
  auto build = [](ir::Network& net, float outScale) {
    ITensor* x = net.addInput("x", DataType::kFloat32, {1, 2, 6, 6});
    ITensor* d = dequantizeScalar(net, quantize(net, x, 0.05f, 3), 0.05f, 3);
    PoolingParams pool;
    pool.kernelShape = {2, 2};
    pool.strides = {2, 2};
    ITensor* p = net.addLayer(pool, {d})->output(0);
    p = dequantizeScalar(net, quantize(net, p, 0.05f, 3), 0.05f, 3);
    ReshapeParams flatten;
    flatten.mode = ReshapeMode::kFlatten;
    ITensor* f = net.addLayer(flatten, {p})->output(0);
    net.markOutput(dequantizeScalar(net, quantize(net, f, outScale, 3), outScale, 3));
  };
  ir::Network before, after, otherScale;
  build(before, 0.05f);
  build(after, 0.05f);
  build(otherScale, 0.07f);  // the Flatten's Q differs from its DQ: it stays float32
  HostTensor x = randomFloats({1, 2, 6, 6}, 41, -4.f, 4.f);
  std::vector<float> want = evaluate(before, x);
  EXPECT_TRUE(runFold(after));
  EXPECT_EQ(count(after, LayerType::kQuantize), 1);    // the input's
  EXPECT_EQ(count(after, LayerType::kDequantize), 1);  // the output's
  for (auto& l : after.layers()) {
    if (l->type() == LayerType::kPooling || l->type() == LayerType::kReshape) {
      EXPECT_EQ(l->outputs[0]->type(), DataType::kInt8) << l->describe();
    }
  }
  EXPECT_EQ(evaluate(after, x), want);  // exact: these layers only select and move values
  EXPECT_TRUE(runFold(otherScale));
  EXPECT_EQ(count(otherScale, LayerType::kQuantize), 2);
}

// The CPU backend without quantized kernels: a target that cannot run the fused layers.
class NoQuantizedKernelsBackend final : public kiln::testing::CpuWrappingBackend {
 public:
  std::string unsupportedReason(const ir::Layer& layer) const override {
    if (layer.type() == LayerType::kQuantizedConvolution || layer.type() == LayerType::kQuantizedMatrixMultiply)
      return "no quantized kernels";
    return cpu_->unsupportedReason(layer);
  }
};

TEST(FoldQdq, NothingFoldsForATargetWithoutTheKernels) {
  QdqConv block;
  block.build();
  const size_t layers = block.net.layers().size();
  NoQuantizedKernelsBackend target;
  EXPECT_FALSE(runFold(block.net, &target));
  EXPECT_EQ(block.net.layers().size(), layers);  // the bias constant it tried is gone again
  EXPECT_EQ(count(block.net, LayerType::kConvolution), 1);
}

// a float [5, 24] -> Q -> DQ -> MatMul(b^T: DQ(int8 [10, 24]) per row) -> Add(DQ(int32 bias)) -> Q -> DQ: the
// layout ONNX Runtime's quantizer writes for a Gemm.
void buildQdqGemm(ir::Network& net) {
  ITensor* a = net.addInput("a", DataType::kFloat32, {5, 24});
  ITensor* aq = dequantizeScalar(net, quantize(net, a, 0.03f, 4), 0.03f, 4);
  Weights scales = randomFloats({10}, 21, 0.002f, 0.01f);
  ITensor* b = dequantize(net, net.addConstant(int8s({10, 24}, 22)), net.addConstant(scales), nullptr, 0);
  MatrixMultiplyParams mm;
  mm.transposeB = true;
  ITensor* y = net.addLayer(mm, {aq, b})->output(0);
  std::vector<int32_t> biasValues{-300, 12, 55, 0, 999, -4, 7, 81, -62, 3};
  ITensor* bias = dequantize(net, net.addConstant(Weights::copyOf(DataType::kInt32, {10}, biasValues.data())),
                             net.addConstant(floats({}, {0.03f * 0.005f})), nullptr, 0);
  y = net.addElementWise(y, bias, ElementWiseOp::kAdd);
  net.markOutput(dequantizeScalar(net, quantize(net, y, 0.02f, 1), 0.02f, 1));
}

TEST(FoldQdq, GemmWithQuantizedBiasBecomesOneQuantizedMatrixMultiply) {
  ir::Network before, after;
  buildQdqGemm(before);
  buildQdqGemm(after);
  HostTensor a = randomFloats({5, 24}, 23, -3.f, 3.f);
  std::vector<float> want = evaluate(before, a);
  EXPECT_TRUE(runFold(after));
  EXPECT_EQ(count(after, LayerType::kMatrixMultiply), 0);
  EXPECT_EQ(count(after, LayerType::kElementWise), 0);
  const ir::Layer* q = onlyLayerOf(after, LayerType::kQuantizedMatrixMultiply);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->inputs[1]->dims(), (Dims{24, 10}));  // transposed once at build time
  EXPECT_EQ(q->inputs.size(), 3u);
  EXPECT_EQ(q->outputs[0]->type(), DataType::kInt8);
  EXPECT_EQ(q->as<QuantizedMatrixMultiplyParams>().weightScales.size(), 10u);
  expectWithinSteps(evaluate(after, a), want, 0.02f, 1);
}

TEST(FoldQdq, BuiltPlanRunsTheConvolutionAndMatMulInInt8) {
  for (bool gemm : {false, true}) {
    SCOPED_TRACE(gemm ? "gemm" : "conv");
    QdqConv block;
    ir::Network gemmNet;
    ir::Network& net = gemm ? gemmNet : block.net;
    if (gemm) buildQdqGemm(gemmNet);
    else block.build();
    BuildSummary summary;
    auto engine = kiln::testing::buildEngine(net, {}, &summary);
    bool quantizedLayer = false;
    for (const LayerTactic& t : engine->layerTactics()) {
      if (t.layerType == "Convolution" || t.layerType == "MatrixMultiply") ADD_FAILURE() << "float layer " << t.layerName;
      if (t.layerType == (gemm ? "QuantizedMatrixMultiply" : "QuantizedConvolution")) {
        quantizedLayer = true;
        EXPECT_EQ(t.tactic.rfind(gemm ? "cpu.qgemm." : "cpu.qconv.", 0), 0u) << t.tactic;
      }
    }
    EXPECT_TRUE(quantizedLayer);
    // The engine's result is the host evaluation of the folded network's.
    ir::Network& reference = net;
    HostTensor in = gemm ? randomFloats({5, 24}, 31, -3.f, 3.f) : randomFloats({1, 3, 9, 8}, 31, -2.f, 2.f);
    std::vector<float> want = evaluate(reference, in);
    std::vector<float> out(want.size());
    auto context = engine->createExecutionContext();
    context->setTensorAddress(gemm ? "a" : "x", const_cast<void*>(in.data()));
    context->setTensorAddress(net.outputs()[0]->name(), out.data());
    context->execute();
    expectWithinSteps(out, want, gemm ? 0.02f : 0.015f, 1);
  }
}

}  // namespace
