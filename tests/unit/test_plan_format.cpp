#include <gtest/gtest.h>

#include <cstring>

#include "ir/network.h"
#include "plan/plan_format.h"
#include "test_helpers.h"

using namespace kiln;
using kiln::testing::floats;

namespace {

std::vector<uint8_t> samplePlan() {
  Builder builder;
  auto net = builder.createNetwork();
  ITensor* x = net->addInput("x", DataType::kFloat32, {-1, 3}, {"batch"});
  ITensor* w = net->addConstant(floats({3, 2}, {1, 2, 3, 4, 5, 6}));
  ITensor* y = net->addActivation(net->addMatrixMultiply(x, false, w, false), ActivationType::kLeakyRelu, 0.25f);
  y->setName("y");
  net->markOutput(y);
  BuilderConfig config;
  config.profile.setDimensions("x", {1, 3}, {2, 3}, {4, 3});
  return builder.buildSerializedNetwork(*net, config);
}

void expectPlanError(const std::vector<uint8_t>& bytes, const std::string& fragment) {
  try {
    Runtime().deserializeEngine(bytes.data(), bytes.size());
    FAIL() << "expected an error containing '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidPlan);
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(PlanFormat, RoundTripKeepsNetworkAndProfile) {
  std::vector<uint8_t> bytes = samplePlan();
  plan::PlanContents contents = plan::readPlan(bytes.data(), bytes.size());
  EXPECT_EQ(contents.info.device, "cpu");
  EXPECT_EQ(contents.info.kilnVersion, version());
  ASSERT_EQ(contents.network->inputs().size(), 1u);
  EXPECT_EQ(contents.network->inputs()[0]->name(), "x");
  EXPECT_EQ(contents.network->inputs()[0]->dims(), (Dims{-1, 3}));
  EXPECT_EQ(contents.network->inputs()[0]->dimNames, (std::vector<std::string>{"batch"}));
  EXPECT_EQ(contents.network->outputs()[0]->name(), "y");
  EXPECT_EQ(contents.info.profile.shapes.at("x").max, (Dims{4, 3}));
  // Typed params survive.
  bool sawActivation = false;
  for (auto& layer : contents.network->layers())
    if (layer->type() == LayerType::kActivation) {
      sawActivation = true;
      EXPECT_EQ(layer->as<ActivationParams>().type, ActivationType::kLeakyRelu);
      EXPECT_FLOAT_EQ(layer->as<ActivationParams>().alpha, 0.25f);
    }
  EXPECT_TRUE(sawActivation);
  // Writing what was read gives the same bytes.
  EXPECT_EQ(plan::writePlan(*contents.network, contents.info), bytes);
}

TEST(PlanFormat, WeightsAreAligned) {
  std::vector<uint8_t> bytes = samplePlan();
  uint64_t weightsOffset;
  std::memcpy(&weightsOffset, bytes.data() + 32, 8);
  EXPECT_EQ(weightsOffset % plan::kWeightsAlignment, 0u);
}

TEST(PlanFormat, RejectsForeignFile) {
  std::vector<uint8_t> bytes = {'n', 'o', 't', ' ', 'a', ' ', 'p', 'l', 'a', 'n', '!'};
  expectPlanError(bytes, "not a Kiln plan");
  expectPlanError({}, "not a Kiln plan");
}

TEST(PlanFormat, RejectsEveryTruncation) {
  std::vector<uint8_t> bytes = samplePlan();
  for (size_t size : {size_t{8}, size_t{20}, plan::kHeaderSize, bytes.size() / 2, bytes.size() - 1}) {
    std::vector<uint8_t> truncated(bytes.begin(), bytes.begin() + size);
    EXPECT_THROW(Runtime().deserializeEngine(truncated.data(), truncated.size()), Error) << "size " << size;
  }
  std::vector<uint8_t> truncated(bytes.begin(), bytes.end() - 1);
  expectPlanError(truncated, "truncated");
}

TEST(PlanFormat, RejectsCorruptedBytes) {
  std::vector<uint8_t> bytes = samplePlan();
  for (size_t at : {plan::kHeaderSize + 3, bytes.size() / 2, bytes.size() - 2}) {
    std::vector<uint8_t> corrupted = bytes;
    corrupted[at] ^= 0x5a;
    expectPlanError(corrupted, "corrupted");
  }
}

TEST(PlanFormat, RejectsOtherFormatVersion) {
  std::vector<uint8_t> bytes = samplePlan();
  bytes[8] = 99;
  expectPlanError(bytes, "format version 99");
}

namespace {

// samplePlan() rewritten as if built for a CUDA device of architecture `target`.
std::vector<uint8_t> cudaPlan(const std::string& target) {
  std::vector<uint8_t> cpuBytes = samplePlan();
  plan::PlanContents contents = plan::readPlan(cpuBytes.data(), cpuBytes.size());
  contents.info.device = "cuda";
  contents.info.target = target;
  for (auto& backend : contents.info.layerBackends)
    if (backend == "cpu") backend = "cuda";
  for (auto& tactic : contents.info.layerTactics) tactic.clear();  // each layer's preferred CUDA tactic
  return plan::writePlan(*contents.network, contents.info);
}

}  // namespace

TEST(PlanFormat, CudaPlanWithoutGpuSaysSo) {
  std::vector<uint8_t> bytes = cudaPlan("sm_90");
  try {
    Runtime().deserializeEngine(bytes.data(), bytes.size());
    GTEST_SKIP() << "a CUDA device is present: this test checks the message on machines without one";
  } catch (const Error& e) {
    std::string message = e.what();
    EXPECT_EQ(e.code(), ErrorCode::kInvalidPlan);
    EXPECT_NE(message.find("built for cuda sm_90"), std::string::npos) << message;
    // Either no GPU (CUDA build) or no CUDA backend at all (CPU-only build).
    bool saysWhy = message.find("no CUDA device is available") != std::string::npos ||
                   message.find("built without CUDA") != std::string::npos;
    EXPECT_TRUE(saysWhy) << message;
  }
}

TEST(PlanFormat, CudaPlanForAnotherArchitectureIsRefused) {
  // No device is sm_1: refused on every machine, naming the plan's target.
  expectPlanError(cudaPlan("sm_1"), "sm_1");
}
