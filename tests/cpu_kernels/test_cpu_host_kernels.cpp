// Tests of the CPU host kernels (control flow, sequences, optionals) through host::evaluateLayer: seeded
// random data on awkward shapes (scan along a middle axis, reversed directions, zero-length scans)
// against naive references written here.
#include <gtest/gtest.h>

#include <algorithm>
#include <ostream>
#include <random>

#include "backends/cpu/cpu_backend.h"
#include "backends/host_eval.h"
#include "ir/network.h"

namespace kiln::cpu {
namespace {

HostTensor randomFloats(Dims shape, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-2.f, 2.f);
  std::vector<float> v(static_cast<size_t>(volume(shape)));
  for (auto& x : v) x = dist(rng);
  return Weights::copyOf(DataType::kFloat32, std::move(shape), v.data());
}

// Body: state' = state + slice; scan output = state' * slice.
Subnetwork addMulBody(const Dims& sliceShape) {
  auto body = std::make_shared<ir::Network>();
  ITensor* s = body->addInput("s", DataType::kFloat32, sliceShape);
  ITensor* x = body->addInput("x", DataType::kFloat32, sliceShape);
  ITensor* next = body->addElementWise(s, x, ElementWiseOp::kAdd);
  body->markOutput(next);
  body->markOutput(body->addElementWise(next, x, ElementWiseOp::kMul));
  return body;
}

struct ScanCase {
  Dims xShape;
  int64_t inputAxis, outputAxis;
  bool reverseInput, reverseOutput;
};
// Readable case names (ctest lists parameterized tests with their printed value).
void PrintTo(const ScanCase& c, std::ostream* out) {
  *out << "x" << dimsToString(c.xShape) << "_in" << c.inputAxis << (c.reverseInput ? "r" : "") << "_out" << c.outputAxis
       << (c.reverseOutput ? "r" : "");
}

class ScanKernel : public ::testing::TestWithParam<ScanCase> {};

TEST_P(ScanKernel, MatchesNaiveReference) {
  const ScanCase& tc = GetParam();
  std::mt19937 rng(7);
  Dims slice = tc.xShape;
  slice.erase(slice.begin() + tc.inputAxis);
  HostTensor init = randomFloats(slice, rng), x = randomFloats(tc.xShape, rng);

  ir::Network net;
  ITensor* initT = net.addInput("init", DataType::kFloat32, slice);
  ITensor* xT = net.addInput("x", DataType::kFloat32, tc.xShape);
  ScanParams p;
  p.body = addMulBody(slice);
  p.numStates = 1;
  p.numScanInputs = 1;
  p.inputAxes = {tc.inputAxis};
  p.inputDirections = {tc.reverseInput ? 1 : 0};
  p.outputAxes = {tc.outputAxis};
  p.outputDirections = {tc.reverseOutput ? 1 : 0};
  auto* layer = static_cast<ir::Layer*>(net.addLayer(p, {initT, xT}, 2));
  std::vector<HostTensor> outs = host::evaluateLayer(*layer, {&init, &x});

  // Naive reference over flat indices.
  int64_t steps = tc.xShape[tc.inputAxis];
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < tc.inputAxis; ++i) outer *= tc.xShape[i];
  for (size_t i = tc.inputAxis + 1; i < tc.xShape.size(); ++i) inner *= tc.xShape[i];
  std::vector<float> state(init.as<float>(), init.as<float>() + init.count());
  std::vector<std::vector<float>> perStep;
  for (int64_t t = 0; t < steps; ++t) {
    int64_t k = tc.reverseInput ? steps - 1 - t : t;
    std::vector<float> out(state.size());
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) {
        float xv = x.as<float>()[(o * steps + k) * inner + i];
        float& sv = state[o * inner + i];
        sv += xv;
        out[o * inner + i] = sv * xv;
      }
    perStep.push_back(out);
  }
  if (tc.reverseOutput) std::reverse(perStep.begin(), perStep.end());
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_EQ(std::vector<float>(outs[0].as<float>(), outs[0].as<float>() + outs[0].count()), state);
  Dims expectedShape = slice;
  expectedShape.insert(expectedShape.begin() + tc.outputAxis, steps);
  ASSERT_EQ(outs[1].shape, expectedShape);
  int64_t outOuter = 1, outInner = 1;
  for (int64_t i = 0; i < tc.outputAxis; ++i) outOuter *= expectedShape[i];
  for (size_t i = tc.outputAxis + 1; i < expectedShape.size(); ++i) outInner *= expectedShape[i];
  for (int64_t t = 0; t < steps; ++t)
    for (int64_t o = 0; o < outOuter; ++o)
      for (int64_t i = 0; i < outInner; ++i)
        ASSERT_EQ(outs[1].as<float>()[(o * steps + t) * outInner + i], perStep[t][o * outInner + i])
            << "step " << t << " at " << o << "," << i;
}

INSTANTIATE_TEST_SUITE_P(Shapes, ScanKernel,
                         ::testing::Values(ScanCase{{5, 3}, 0, 0, false, false},
                                           ScanCase{{4, 7, 3}, 1, 0, true, false},
                                           ScanCase{{2, 3, 5}, 2, 1, false, true},
                                           ScanCase{{3, 1, 2}, 1, 2, true, true},
                                           ScanCase{{3, 0, 2}, 1, 0, false, false}));

TEST(SequenceKernel, InsertEraseAtFollowPositions) {
  std::mt19937 rng(3);
  ir::Network net;
  std::vector<HostTensor> values;
  for (int i = 0; i < 4; ++i) values.push_back(randomFloats({i + 1}, rng));
  std::vector<ITensor*> ins;
  for (int i = 0; i < 4; ++i) ins.push_back(net.addInput("t" + std::to_string(i), DataType::kFloat32, {i + 1}));
  auto* construct = static_cast<ir::Layer*>(net.addLayer(SequenceParams{SequenceOp::kConstruct}, {ins[0], ins[1]}, 1));
  HostTensor seq = host::evaluateLayer(*construct, {&values[0], &values[1]})[0];
  ASSERT_EQ(seq.elements->size(), 2u);

  ITensor* posT = net.addInput("pos", DataType::kInt32, {});
  auto* insert = static_cast<ir::Layer*>(
      net.addLayer(SequenceParams{SequenceOp::kInsert}, {construct->output(0), ins[2], posT}, 1));
  int32_t pos = -1;  // before the last element
  HostTensor posValue = Weights::copyOf(DataType::kInt32, {}, &pos);
  seq = host::evaluateLayer(*insert, {&seq, &values[2], &posValue})[0];  // t0, t2, t1
  ASSERT_EQ(seq.elements->size(), 3u);
  EXPECT_EQ((*seq.elements)[1].shape, (Dims{3}));
  EXPECT_EQ((*seq.elements)[2].shape, (Dims{2}));

  auto* erase = static_cast<ir::Layer*>(net.addLayer(SequenceParams{SequenceOp::kErase}, {insert->output(0), posT}, 1));
  seq = host::evaluateLayer(*erase, {&seq, &posValue})[0];  // t0, t2
  ASSERT_EQ(seq.elements->size(), 2u);
  auto* at = static_cast<ir::Layer*>(net.addLayer(SequenceParams{SequenceOp::kAt}, {erase->output(0), posT}, 1));
  HostTensor last = host::evaluateLayer(*at, {&seq, &posValue})[0];
  EXPECT_EQ(std::vector<float>(last.as<float>(), last.as<float>() + 3),
            std::vector<float>(values[2].as<float>(), values[2].as<float>() + 3));

  pos = 5;  // out of range
  posValue = Weights::copyOf(DataType::kInt32, {}, &pos);
  EXPECT_THROW(host::evaluateLayer(*at, {&seq, &posValue}), Error);
  // Inserting a tensor of another type is refused.
  HostTensor ints = Weights::copyOf(DataType::kInt32, {}, &pos);
  EXPECT_THROW(host::evaluateLayer(*insert, {&seq, &ints, nullptr}), Error);
}

std::vector<float> valuesOf(const HostTensor& t) { return {t.as<float>(), t.as<float>() + t.count()}; }

// Naive slice [begin, begin + length) along axis 1 of a rank-3 tensor.
std::vector<float> naiveSlice(const HostTensor& x, int64_t begin, int64_t length) {
  std::vector<float> out;
  for (int64_t a = 0; a < x.shape[0]; ++a)
    for (int64_t b = begin; b < begin + length; ++b)
      for (int64_t c = 0; c < x.shape[2]; ++c) out.push_back(x.as<float>()[(a * x.shape[1] + b) * x.shape[2] + c]);
  return out;
}

TEST(SequenceKernel, SplitToSequenceAndConcatBack) {
  std::mt19937 rng(11);
  HostTensor x = randomFloats({3, 5, 2}, rng);
  ir::Network net;
  ITensor* xT = net.addInput("x", DataType::kFloat32, {3, 5, 2});
  ITensor* splitT = net.addInput("split", DataType::kInt64, {3});
  ITensor* chunkT = net.addInput("chunk", DataType::kInt64, {});
  SequenceParams split{SequenceOp::kSplit};
  split.axis = -2;
  SequenceParams concat{SequenceOp::kConcat};
  concat.axis = 1;

  // Explicit sizes (with an empty part), then joined back.
  auto* bySizes = static_cast<ir::Layer*>(net.addLayer(split, {xT, splitT}, 1));
  HostTensor sizes = Weights::copyOf(DataType::kInt64, {3}, std::vector<int64_t>{2, 0, 3}.data());
  HostTensor parts = host::evaluateLayer(*bySizes, {&x, &sizes})[0];
  ASSERT_EQ(parts.elements->size(), 3u);
  EXPECT_EQ(valuesOf((*parts.elements)[0]), naiveSlice(x, 0, 2));
  EXPECT_EQ((*parts.elements)[1].shape, (Dims{3, 0, 2}));
  EXPECT_EQ(valuesOf((*parts.elements)[2]), naiveSlice(x, 2, 3));
  auto* join = static_cast<ir::Layer*>(net.addLayer(concat, {bySizes->output(0)}, 1));
  HostTensor joined = host::evaluateLayer(*join, {&parts})[0];
  EXPECT_EQ(joined.shape, x.shape);
  EXPECT_EQ(valuesOf(joined), valuesOf(x));

  // A scalar chunk size: the last part is smaller.
  auto* byChunk = static_cast<ir::Layer*>(net.addLayer(split, {xT, chunkT}, 1));
  HostTensor chunk = Weights::copyOf(DataType::kInt64, {}, std::vector<int64_t>{2}.data());
  parts = host::evaluateLayer(*byChunk, {&x, &chunk})[0];
  ASSERT_EQ(parts.elements->size(), 3u);
  EXPECT_EQ(valuesOf((*parts.elements)[2]), naiveSlice(x, 4, 1));

  // No split, keepdims = 0: squeezed parts, stacked back on a new axis.
  split.keepDims = false;
  auto* ones = static_cast<ir::Layer*>(net.addLayer(split, {xT}, 1));
  parts = host::evaluateLayer(*ones, {&x})[0];
  ASSERT_EQ(parts.elements->size(), 5u);
  EXPECT_EQ((*parts.elements)[3].shape, (Dims{3, 2}));
  EXPECT_EQ(valuesOf((*parts.elements)[3]), naiveSlice(x, 3, 1));
  concat.newAxis = true;
  auto* stack = static_cast<ir::Layer*>(net.addLayer(concat, {ones->output(0)}, 1));
  joined = host::evaluateLayer(*stack, {&parts})[0];
  EXPECT_EQ(joined.shape, x.shape);
  EXPECT_EQ(valuesOf(joined), valuesOf(x));

  // Sizes that do not add up are refused.
  sizes = Weights::copyOf(DataType::kInt64, {3}, std::vector<int64_t>{2, 2, 2}.data());
  EXPECT_THROW(host::evaluateLayer(*bySizes, {&x, &sizes}), Error);
}

TEST(OptionalKernel, EmptyAndFull) {
  ir::Network net;
  OptionalParams emptyParams{OptionalOp::kConstruct, DataType::kInt32, ValueKind::kTensor};
  auto* makeEmpty = static_cast<ir::Layer*>(net.addLayer(emptyParams, {}, 1));
  HostTensor empty = host::evaluateLayer(*makeEmpty, {})[0];
  EXPECT_EQ(empty.kind, ValueKind::kOptionalTensor);
  EXPECT_EQ(empty.type, DataType::kInt32);
  EXPECT_TRUE(empty.elements->empty());

  auto* has = static_cast<ir::Layer*>(net.addLayer(OptionalParams{OptionalOp::kHasElement}, {makeEmpty->output(0)}, 1));
  EXPECT_EQ(host::evaluateLayer(*has, {&empty})[0].as<uint8_t>()[0], 0);
  auto* get = static_cast<ir::Layer*>(net.addLayer(OptionalParams{OptionalOp::kGetElement}, {makeEmpty->output(0)}, 1));
  EXPECT_THROW(host::evaluateLayer(*get, {&empty}), Error);

  float v = 2.5f;
  HostTensor x = Weights::copyOf(DataType::kFloat32, {}, &v);
  HostTensor full = Weights::container(ValueKind::kOptionalTensor, DataType::kFloat32, {x});
  EXPECT_EQ(host::evaluateLayer(*has, {&full})[0].as<uint8_t>()[0], 1);
  EXPECT_EQ(host::evaluateLayer(*get, {&full})[0].as<float>()[0], 2.5f);
}

}  // namespace
}  // namespace kiln::cpu
