// A 20,000-layer chain built, loaded and run at the default builder effort: right values, and memory reused
// along the chain. Its build time is printed by scripts/import_bench.py, not asserted here.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "test_helpers.h"

using namespace kiln;
using kiln::testing::floats;

TEST(LongChain, TwentyThousandLayersBuildRunAndShareMemory) {
  const int kLength = 20000;
  const std::vector<float> c = {0.5f, -0.75f, 1.f, 0.f};
  auto net = Builder().createNetwork();
  ITensor* x = net->addInput("x", DataType::kFloat32, {1, 4});
  ITensor* constant = net->addConstant(floats({4}, c));
  ITensor* previous = x;
  for (int i = 0; i < kLength; ++i)
    previous = i % 2 == 0 ? net->addActivation(previous, ActivationType::kRelu)
                          : net->addElementWise(previous, constant, ElementWiseOp::kSub);
  previous->setName("y");
  net->markOutput(previous);

  BuildSummary summary;
  auto engine = kiln::testing::buildEngine(*net, BuilderConfig{}, &summary);
  // The chain's intermediate tensors share memory: at most three 256-byte slots are alive at once.
  EXPECT_GT(summary.activationBytesPlanned, 0);
  EXPECT_LE(summary.activationBytesPlanned, 3 * 256);

  std::vector<float> in = {3000.f, 2.f, -1.f, 7.5f}, out(4, -1.f);
  auto context = engine->createExecutionContext();
  context->setTensorAddress("x", in.data());
  context->setTensorAddress("y", out.data());
  context->execute();
  std::vector<float> expected = in;
  for (int i = 0; i < kLength; ++i)
    for (int k = 0; k < 4; ++k) expected[k] = i % 2 == 0 ? std::max(expected[k], 0.f) : expected[k] - c[k];
  EXPECT_EQ(out, expected);
}
