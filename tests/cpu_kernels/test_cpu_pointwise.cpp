// cpu.pointwise: every op a program may hold, in float32/float16/bfloat16, against the per-layer CPU
// kernels it replaces (bitwise, NaN and infinities included), and broadcasting over large outputs.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <unordered_map>

#include "backends/host_eval.h"
#include "builder/passes/passes.h"
#include "core/half.h"
#include "ir/network.h"
#include "ir/pointwise_program.h"

using namespace kiln;

namespace {

// Values with the awkward cases: signed zeros, NaN, infinities, large and tiny magnitudes.
HostTensor awkwardTensor(DataType type, const Dims& shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-4.f, 4.f);
  const float special[] = {0.f, -0.f, std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                           -std::numeric_limits<float>::infinity(), 1e-3f, -250.f, 30.f, 1.f, -1.f, 0.5f};
  const size_t n = static_cast<size_t>(volume(shape));
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = i < std::size(special) ? special[(i + seed) % std::size(special)] : d(rng);
  if (type == DataType::kFloat32) return Weights::copyOf(type, shape, v.data());
  std::vector<uint16_t> h(n);
  for (size_t i = 0; i < n; ++i) h[i] = type == DataType::kFloat16 ? floatToHalf(v[i]) : floatToBfloat16(v[i]);
  return Weights::copyOf(type, shape, h.data());
}

std::vector<uint32_t> bitsOf(const HostTensor& t) {
  std::vector<uint32_t> bits(static_cast<size_t>(t.count()));
  for (size_t i = 0; i < bits.size(); ++i) {
    float f = t.type == DataType::kFloat32 ? t.as<float>()[i]
                                           : (t.type == DataType::kFloat16 ? halfToFloat(t.as<uint16_t>()[i])
                                                                           : bfloat16ToFloat(t.as<uint16_t>()[i]));
    if (std::isnan(f)) f = std::numeric_limits<float>::quiet_NaN();  // any NaN is a NaN
    std::memcpy(&bits[i], &f, sizeof f);
  }
  return bits;
}

HostTensor evaluate(const ir::Network& net, const std::vector<HostTensor>& inputs) {
  std::unordered_map<const ir::Tensor*, HostTensor> values;
  for (size_t i = 0; i < inputs.size(); ++i) values[net.inputs()[i]] = inputs[i];
  for (auto& layer : net.layers()) {
    std::vector<const HostTensor*> ins;
    for (auto* in : layer->inputs) ins.push_back(&values.at(in));
    auto outs = host::evaluateLayer(*layer, ins);
    for (size_t i = 0; i < outs.size(); ++i) values[layer->outputs[i]] = outs[i];
  }
  return values.at(net.outputs()[0]);
}

// Builds a network with `make`, runs it layer by layer, fuses it (one Pointwise must result) and runs it
// again: the outputs must be the same bits.
template <class Make>
void expectFusedMatches(const std::vector<std::pair<DataType, Dims>>& inputs, Make make, const std::string& what) {
  ir::Network net;
  std::vector<ITensor*> tensors;
  std::vector<HostTensor> values;
  for (size_t i = 0; i < inputs.size(); ++i) {
    tensors.push_back(net.addInput("in" + std::to_string(i), inputs[i].first, inputs[i].second));
    values.push_back(awkwardTensor(inputs[i].first, inputs[i].second, static_cast<uint32_t>(7 * i + 3)));
  }
  net.markOutput(make(net, tensors));
  HostTensor before = evaluate(net, values);
  std::vector<std::string> log;
  passes::PassContext context{net, log};
  ASSERT_TRUE(passes::fusePointwise(context)) << what;
  net.inferShapes();
  ASSERT_EQ(net.layers().back()->type(), LayerType::kPointwise) << what;
  HostTensor after = evaluate(net, values);
  ASSERT_EQ(after.type, before.type) << what;
  ASSERT_EQ(after.shape, before.shape) << what;
  EXPECT_EQ(bitsOf(after), bitsOf(before)) << what;
}

const DataType kFloatTypes[] = {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16};

}  // namespace

TEST(CpuPointwise, EveryElementWiseOpMatchesTheElementWiseKernel) {
  for (DataType type : kFloatTypes)
    for (int op = 0; op <= static_cast<int>(ElementWiseOp::kPRelu); ++op) {
      if (!ir::isPointwiseElementWiseOp(static_cast<ElementWiseOp>(op))) continue;
      expectFusedMatches({{type, {3, 17}}, {type, {17}}}, [&](ir::Network& net, std::vector<ITensor*> in) {
        return net.addUnary(net.addElementWise(in[0], in[1], static_cast<ElementWiseOp>(op)), UnaryOp::kNeg);
      }, std::string(elementWiseOpName(static_cast<ElementWiseOp>(op))) + " " + dataTypeName(type));
    }
}

TEST(CpuPointwise, EveryUnaryOpMatchesTheUnaryKernel) {
  for (DataType type : kFloatTypes)
    for (int op = 0; op <= static_cast<int>(UnaryOp::kBitwiseNot); ++op) {
      if (!ir::isPointwiseUnaryOp(static_cast<UnaryOp>(op))) continue;
      expectFusedMatches({{type, {40}}}, [&](ir::Network& net, std::vector<ITensor*> in) {
        return net.addUnary(net.addUnary(in[0], static_cast<UnaryOp>(op)), UnaryOp::kAbs);
      }, std::string(unaryOpName(static_cast<UnaryOp>(op))) + " " + dataTypeName(type));
    }
}

TEST(CpuPointwise, EveryActivationMatchesTheActivationKernel) {
  for (DataType type : kFloatTypes)
    for (int a = 0; a <= static_cast<int>(ActivationType::kCelu); ++a)
      for (float alpha : {0.f, 1.f, 0.3f}) {
        auto t = static_cast<ActivationType>(a);
        float beta = t == ActivationType::kClip ? 2.5f : 1.0507f;
        if ((t == ActivationType::kCelu) && alpha == 0.f) continue;  // Celu divides by alpha
        expectFusedMatches({{type, {40}}}, [&](ir::Network& net, std::vector<ITensor*> in) {
          return net.addUnary(net.addActivation(in[0], t, alpha, beta), UnaryOp::kNeg);
        }, std::string(activationTypeName(t)) + " alpha " + std::to_string(alpha) + " " + dataTypeName(type));
      }
}

TEST(CpuPointwise, CastsBetweenFloatTypesAndFromIntegers) {
  for (DataType from : kFloatTypes)
    for (DataType to : kFloatTypes)
      expectFusedMatches({{from, {33}}}, [&](ir::Network& net, std::vector<ITensor*> in) {
        CastParams p;
        p.to = to;
        return net.addUnary(net.addLayer(p, {net.addUnary(in[0], UnaryOp::kExp)})->output(0), UnaryOp::kNeg);
      }, std::string(dataTypeName(from)) + " -> " + dataTypeName(to));
  // int64 and bool inputs cast to float32.
  for (DataType from : {DataType::kInt64, DataType::kBool, DataType::kInt32}) {
    ir::Network net;
    ITensor* x = net.addInput("x", from, {2, 5});
    CastParams p;
    p.to = DataType::kFloat32;
    net.markOutput(net.addUnary(net.addLayer(p, {x})->output(0), UnaryOp::kNeg));
    std::vector<int64_t> ints = {0, 1, -3, 7, 1 << 30, 5, 0, 1, 1, 0};
    HostTensor value;
    if (from == DataType::kInt64) {
      value = Weights::copyOf(from, {2, 5}, ints.data());
    } else if (from == DataType::kInt32) {
      std::vector<int32_t> i32(ints.begin(), ints.end());
      value = Weights::copyOf(from, {2, 5}, i32.data());
    } else {
      std::vector<uint8_t> b = {0, 1, 1, 0, 1, 0, 0, 1, 1, 1};
      value = Weights::copyOf(from, {2, 5}, b.data());
    }
    HostTensor before = evaluate(net, {value});
    std::vector<std::string> log;
    passes::PassContext context{net, log};
    ASSERT_TRUE(passes::fusePointwise(context)) << dataTypeName(from);
    EXPECT_EQ(bitsOf(evaluate(net, {value})), bitsOf(before)) << dataTypeName(from);
  }
}

TEST(CpuPointwise, BroadcastsThreeInputsOverLargeOutputs) {
  // Row, channel, scalar and general broadcasts, over outputs of awkward sizes (parallel chunks, tails).
  const std::vector<std::vector<Dims>> cases = {
      {{3, 5, 7}, {7}, {3, 1, 1}},
      {{1}, {1, 1}, {5}},
      {{1023}, {1}, {1023}},
      {{(1 << 20) + 5}, {1}, {(1 << 20) + 5}},
      {{4, 1, 9, 1}, {1, 6, 1, 11}, {6, 9, 1}},
      {{2, 3, 1024, 17}, {17}, {2, 1, 1024, 1}},
  };
  for (DataType type : kFloatTypes)
    for (const auto& shapes : cases)
      expectFusedMatches({{type, shapes[0]}, {type, shapes[1]}, {type, shapes[2]}},
                         [&](ir::Network& net, std::vector<ITensor*> in) {
                           ITensor* s = net.addElementWise(in[0], in[1], ElementWiseOp::kMul);
                           s = net.addElementWise(s, in[2], ElementWiseOp::kSub);
                           return net.addActivation(s, ActivationType::kTanh);
                         },
                         std::string(dataTypeName(type)) + " " + dimsToString(shapes[0]) + dimsToString(shapes[1]) +
                             dimsToString(shapes[2]));
}
