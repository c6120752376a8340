// quantize_implicit: calibrated scales become Q/DQ pairs on the inputs of Conv/MatMul layers (before -> after).
#include <gtest/gtest.h>

#include <cmath>
#include <unordered_map>

#include "backends/host_eval.h"
#include "builder/passes/passes.h"
#include "ir/network.h"
#include "test_helpers.h"

using namespace kiln;
using kiln::testing::floats;

namespace {

// x [1, 1, 4, 4] -> Conv (2 filters 3x3, bias) -> c -> Relu -> r -> MatMul W [4, 3] -> out.
std::unique_ptr<ir::Network> convMatMul() {
  auto net = std::make_unique<ir::Network>();
  ITensor* x = net->addInput("x", DataType::kFloat32, {1, 1, 4, 4});
  std::vector<float> w(18);
  for (int i = 0; i < 18; ++i) w[i] = (i < 9 ? 0.1f : -0.4f) * static_cast<float>(i % 9 + 1) / 9.f;
  ConvolutionParams conv;
  conv.kernelShape = {3, 3};
  conv.padsBegin = {1, 1};
  conv.padsEnd = {1, 1};
  ITensor* c = net->addConvolution(x, floats({2, 1, 3, 3}, w), floats({2}, {0.5f, -0.25f}), conv, "conv");
  c->setName("c");
  ITensor* r = net->addActivation(c, ActivationType::kRelu, 0.f, 0.f, "relu");
  r->setName("r");
  std::vector<float> m(12);
  for (int i = 0; i < 12; ++i) m[i] = static_cast<float>(i - 6) * (i % 3 == 2 ? 0.01f : 0.3f);
  ITensor* out = net->addMatrixMultiply(r, false, net->addConstant(floats({4, 3}, m)), false, "matmul");
  out->setName("out");
  net->markOutput(out);
  net->inferShapes();
  return net;
}

std::vector<std::string> layerSummary(const ir::Network& net) {
  std::vector<std::string> names;
  for (auto& l : net.layers())
    if (l->type() != LayerType::kConstant) names.push_back(layerTypeName(l->type()));
  return names;
}

bool runPass(ir::Network& net, passes::PrecisionPolicy& policy) {
  std::vector<std::string> log;
  passes::PassContext context{net, log, nullptr, &policy};
  bool changed = passes::quantizeImplicit(context);
  net.inferShapes();
  return changed;
}

std::vector<float> evaluate(const ir::Network& net, const std::vector<float>& x) {
  std::unordered_map<const ir::Tensor*, HostTensor> values;
  values[net.inputs()[0]] = floats({1, 1, 4, 4}, x);
  for (auto& layer : net.layers()) {
    std::vector<const HostTensor*> inputs;
    for (auto* in : layer->inputs) inputs.push_back(in ? &values.at(in) : nullptr);
    auto outputs = host::evaluateLayer(*layer, inputs);
    for (size_t i = 0; i < outputs.size(); ++i) values[layer->outputs[i]] = outputs[i];
  }
  const HostTensor& out = values.at(net.outputs()[0]);
  return std::vector<float>(out.as<float>(), out.as<float>() + out.count());
}

const ir::Layer* producer(const ir::Tensor* t) { return t ? t->producerLayer : nullptr; }

}  // namespace

TEST(QuantizeImplicit, QuantizesConvAndMatMulInputsWithPerChannelWeights) {
  auto net = convMatMul();
  std::vector<float> x(16);
  for (int i = 0; i < 16; ++i) x[i] = std::sin(static_cast<float>(i)) * 2.f;
  std::vector<float> before = evaluate(*net, x);

  passes::PrecisionPolicy policy;
  policy.quantizationScales = {{"x", 2.f / 127.f}, {"r", 4.f / 127.f}};  // |r| <= 2 * 0.4 * 45 / 9
  ASSERT_TRUE(runPass(*net, policy));
  EXPECT_EQ(policy.quantizedLayers, 2);
  EXPECT_EQ(layerSummary(*net),
            (std::vector<std::string>{"Quantize", "Dequantize", "Dequantize", "Convolution", "Activation", "Quantize",
                                      "Dequantize", "Dequantize", "MatrixMultiply"}));
  // Activation: per tensor, the calibrated scale, zero point 0 of type int8.
  const ir::Layer* conv = net->findLayer("conv");
  const ir::Layer* dqx = producer(conv->inputs[0]);
  ASSERT_EQ(dqx->type(), LayerType::kDequantize);
  const ir::Layer* qx = producer(dqx->inputs[0]);
  ASSERT_EQ(qx->type(), LayerType::kQuantize);
  EXPECT_EQ(qx->inputs[0]->name(), "x");
  EXPECT_EQ(qx->as<QuantizeParams>().outputType, DataType::kInt8);
  const Weights& sx = producer(qx->inputs[1])->as<ConstantParams>().weights;
  EXPECT_TRUE(sx.shape.empty());
  EXPECT_FLOAT_EQ(sx.as<float>()[0], 2.f / 127.f);
  const Weights& zx = producer(qx->inputs[2])->as<ConstantParams>().weights;
  EXPECT_EQ(zx.type, DataType::kInt8);
  EXPECT_EQ(zx.as<int8_t>()[0], 0);
  EXPECT_EQ(dqx->inputs[1], qx->inputs[1]);  // the pair shares its scale and zero point
  // Conv weights: an int8 constant read by a Dequantize per output channel (axis 0), scales absmax / 127:
  // 0.1 and 0.4, so each channel's largest weight is 127 (-127 for the negative channel).
  const ir::Layer* dqw = producer(conv->inputs[1]);
  ASSERT_EQ(dqw->type(), LayerType::kDequantize);
  EXPECT_EQ(dqw->as<DequantizeParams>().axis, 0);
  const Weights& qw = producer(dqw->inputs[0])->as<ConstantParams>().weights;
  ASSERT_EQ(qw.type, DataType::kInt8);
  ASSERT_EQ(qw.shape, (Dims{2, 1, 3, 3}));
  EXPECT_EQ(qw.as<int8_t>()[8], 127);    // 0.1
  EXPECT_EQ(qw.as<int8_t>()[0], 14);     // 0.1 / 9 -> 14.1
  EXPECT_EQ(qw.as<int8_t>()[17], -127);  // -0.4
  const Weights& sw = producer(dqw->inputs[1])->as<ConstantParams>().weights;
  ASSERT_EQ(sw.shape, (Dims{2}));
  EXPECT_FLOAT_EQ(sw.as<float>()[0], 0.1f / 127.f);
  EXPECT_FLOAT_EQ(sw.as<float>()[1], 0.4f / 127.f);
  EXPECT_EQ(producer(dqw->inputs[2])->as<ConstantParams>().weights.type, DataType::kInt8);
  EXPECT_EQ(producer(conv->inputs[2])->type(), LayerType::kConstant);  // the bias stays float
  // MatMul B [4, 3]: per column (axis 1).
  const ir::Layer* matmul = net->findLayer("matmul");
  const ir::Layer* dqb = producer(matmul->inputs[1]);
  EXPECT_EQ(dqb->as<DequantizeParams>().axis, 1);
  const Weights& sb = producer(dqb->inputs[1])->as<ConstantParams>().weights;
  ASSERT_EQ(sb.shape, (Dims{3}));
  EXPECT_FLOAT_EQ(sb.as<float>()[0], 1.8f / 127.f);   // column 0: |(0 - 6) * 0.3|
  EXPECT_FLOAT_EQ(sb.as<float>()[2], 0.05f / 127.f);  // column 2: |(11 - 6) * 0.01|: the small column keeps its precision

  // Fake quantization: the same results within the quantization error.
  std::vector<float> after = evaluate(*net, x);
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) EXPECT_NEAR(after[i], before[i], 0.1);

  // A second run (the pass manager repeats passes) changes nothing.
  EXPECT_FALSE(runPass(*net, policy));
}

TEST(QuantizeImplicit, LayersWithoutAScaleOrPinnedToFloatStayFloat) {
  auto net = convMatMul();
  passes::PrecisionPolicy policy;
  policy.quantizationScales = {{"x", 2.f / 127.f}, {"r", 1.5f / 127.f}};
  policy.layerPrecisions = {{"conv", DataType::kFloat32}};
  ASSERT_TRUE(runPass(*net, policy));
  EXPECT_EQ(policy.quantizedLayers, 1);
  EXPECT_EQ(producer(net->findLayer("conv")->inputs[0]), nullptr);  // still reads the network input
  EXPECT_EQ(producer(net->findLayer("conv")->inputs[1])->type(), LayerType::kConstant);
  EXPECT_EQ(producer(net->findLayer("matmul")->inputs[0])->type(), LayerType::kDequantize);

  auto unscaled = convMatMul();
  passes::PrecisionPolicy partial;
  partial.quantizationScales = {{"x", 2.f / 127.f}};
  ASSERT_TRUE(runPass(*unscaled, partial));
  EXPECT_EQ(partial.quantizedLayers, 1);
  EXPECT_EQ(producer(unscaled->findLayer("matmul")->inputs[0])->type(), LayerType::kActivation);
  EXPECT_TRUE(partial.warnings.empty());  // not pinned: no warning
}

TEST(QuantizeImplicit, PinnedLayersFollowTheConstraints) {
  for (PrecisionConstraints constraints : {PrecisionConstraints::kPrefer, PrecisionConstraints::kObey}) {
    auto net = convMatMul();
    passes::PrecisionPolicy policy;
    policy.quantizationScales = {{"x", 2.f / 127.f}};
    policy.layerPrecisions = {{"matmul", DataType::kInt8}, {"relu", DataType::kInt8}};
    policy.constraints = constraints;
    if (constraints == PrecisionConstraints::kObey) {
      try {
        runPass(*net, policy);
        FAIL() << "obey must refuse a pinned layer it cannot quantize";
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("is asked to run in int8, but"), std::string::npos) << e.what();
      }
      continue;
    }
    ASSERT_TRUE(runPass(*net, policy));
    ASSERT_EQ(policy.warnings.size(), 2u);
    EXPECT_NE(policy.warnings[0].find("relu"), std::string::npos);
    EXPECT_NE(policy.warnings[0].find("only Convolution and MatrixMultiply"), std::string::npos);
    EXPECT_NE(policy.warnings[1].find("no calibrated scale for tensor 'r'"), std::string::npos);
  }
}

TEST(QuantizeImplicit, Fp8UsesPerTensorFloat8Pairs) {
  auto net = convMatMul();
  passes::PrecisionPolicy policy;
  policy.quantizedType = DataType::kFP8E4M3;
  policy.quantizationScales = {{"x", 2.f / 448.f}, {"r", 1.5f / 448.f}};
  ASSERT_TRUE(runPass(*net, policy));
  const ir::Layer* conv = net->findLayer("conv");
  const ir::Layer* dqw = producer(conv->inputs[1]);
  EXPECT_EQ(producer(dqw->inputs[0])->as<ConstantParams>().weights.type, DataType::kFP8E4M3);
  const Weights& sw = producer(dqw->inputs[1])->as<ConstantParams>().weights;
  EXPECT_TRUE(sw.shape.empty());
  EXPECT_FLOAT_EQ(sw.as<float>()[0], 0.4f / 448.f);
}
