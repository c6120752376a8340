#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>

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

// ---- the reader validates the whole network: hand-crafted bad plans ------------------------------

namespace {

// Recomputes the header checksum (FNV-1a over everything after the header) of a hand-edited plan, so
// the edit reaches the checks behind it.
void resealPlan(std::vector<uint8_t>& bytes) {
  uint32_t hash = 2166136261u;
  for (size_t i = plan::kHeaderSize; i < bytes.size(); ++i) hash = (hash ^ bytes[i]) * 16777619u;
  std::memcpy(bytes.data() + 48, &hash, sizeof hash);
}

// Offset in the plan of the first occurrence of `text`, failing the test when absent.
size_t findText(const std::vector<uint8_t>& bytes, const std::string& text) {
  auto it = std::search(bytes.begin(), bytes.end(), text.begin(), text.end());
  EXPECT_NE(it, bytes.end()) << "'" << text << "' not in the plan";
  return static_cast<size_t>(it - bytes.begin());
}

// The byte right after a layer's record header (name, origin, layer type byte): its first params byte.
// Layers are found by name; `origin` must be the layer's origin as written.
size_t paramsOffset(const std::vector<uint8_t>& bytes, const std::string& layerName, const std::string& origin = "") {
  size_t name = findText(bytes, layerName);
  return name + layerName.size() + 8 + origin.size() + 1;
}

// samplePlan() read back, edited by `edit`, written again (with a valid checksum).
std::vector<uint8_t> editedPlan(const std::function<void(plan::PlanContents&)>& edit) {
  std::vector<uint8_t> bytes = samplePlan();
  plan::PlanContents contents = plan::readPlan(bytes.data(), bytes.size());
  edit(contents);
  return plan::writePlan(*contents.network, contents.info);
}

ir::Layer* layerOfType(ir::Network& net, LayerType type) {
  for (auto& l : net.layers())
    if (l->type() == type) return l.get();
  ADD_FAILURE() << "no layer of type " << layerTypeName(type);
  return nullptr;
}

}  // namespace

TEST(PlanValidation, ResealedPlanLoads) {
  std::vector<uint8_t> bytes = samplePlan();
  resealPlan(bytes);
  EXPECT_NO_THROW(Runtime().deserializeEngine(bytes.data(), bytes.size()));
}

TEST(PlanValidation, ConstantWithoutOutput) {
  expectPlanError(editedPlan([](plan::PlanContents& c) {
                    ir::Layer* constant = layerOfType(*c.network, LayerType::kConstant);
                    constant->outputs[0]->producerLayer = nullptr;
                    constant->outputs.clear();
                  }),
                  "a Constant has none and one");
}

TEST(PlanValidation, ConstantWithoutWeightBytes) {
  expectPlanError(editedPlan([](plan::PlanContents& c) {
                    layerOfType(*c.network, LayerType::kConstant)->as<ConstantParams>().weights.bytes.reset();
                  }),
                  "no weight bytes");
}

TEST(PlanValidation, LayerWithMoreOutputsThanItsRuleGives) {
  expectPlanError(editedPlan([](plan::PlanContents& c) {
                    ir::Layer* activation = layerOfType(*c.network, LayerType::kActivation);
                    ir::Tensor* extra = c.network->addTensor("extra", DataType::kFloat32, {-1, 2});
                    extra->producerLayer = activation;
                    extra->producerOutputIndex = 1;
                    activation->outputs.push_back(extra);
                  }),
                  "has 2 outputs, its inputs give 1");
}

TEST(PlanValidation, StoredShapeDiffersFromInferred) {
  expectPlanError(editedPlan([](plan::PlanContents& c) { c.network->outputs()[0]->setDims({7, 7}); }),
                  "is stored as float32 [7,7] but its inputs give float32 [?,2]");
  expectPlanError(editedPlan([](plan::PlanContents& c) { c.network->outputs()[0]->setType(DataType::kInt32); }),
                  "is stored as int32");
}

TEST(PlanValidation, LayerArityIsCheckedByItsShapeRule) {
  expectPlanError(editedPlan([](plan::PlanContents& c) {
                    layerOfType(*c.network, LayerType::kMatrixMultiply)->inputs.pop_back();
                  }),
                  "MatrixMultiply");
}

TEST(PlanValidation, ParamsAreCheckedByTheShapeRule) {
  // A Transpose permutation of the wrong rank: the shape rule refuses it.
  expectPlanError(editedPlan([](plan::PlanContents& c) {
                    ir::Layer* activation = layerOfType(*c.network, LayerType::kActivation);
                    activation->mutableParams() = TransposeParams{{0, 1, 2}};
                  }),
                  "Transpose");
}

TEST(PlanValidation, InputReadBeforeItIsProduced) {
  expectPlanError(editedPlan([](plan::PlanContents& c) {
                    ir::Layer* matmul = layerOfType(*c.network, LayerType::kMatrixMultiply);
                    ir::Layer* activation = layerOfType(*c.network, LayerType::kActivation);
                    c.network->moveLayerBefore(activation, matmul);
                  }),
                  "before any layer produces it");
}

TEST(PlanValidation, NetworkInputsAndOutputs) {
  expectPlanError(editedPlan([](plan::PlanContents& c) { c.network->outputs()[0]->setName("x"); }),
                  "two network inputs/outputs are named 'x'");
  expectPlanError(editedPlan([](plan::PlanContents& c) {
                    ir::Tensor* orphan = c.network->addTensor("orphan", DataType::kFloat32, {1});
                    c.network->mutableOutputs().push_back(orphan);
                  }),
                  "network output 'orphan' is not produced");
  expectPlanError(editedPlan([](plan::PlanContents& c) {
                    c.network->mutableOutputs().push_back(c.network->outputs()[0]);
                  }),
                  "network output 'y' is listed twice");
  expectPlanError(editedPlan([](plan::PlanContents& c) { c.network->markInput(c.network->outputs()[0]); }),
                  "network input 'y' is also a layer output");
}

TEST(PlanValidation, TensorDims) {
  expectPlanError(editedPlan([](plan::PlanContents& c) { c.network->inputs()[0]->setDims({-5, 3}); }),
                  "has dimension -5");
  expectPlanError(editedPlan([](plan::PlanContents& c) {
                    c.network->inputs()[0]->dimNames = {"a", "b", "c"};
                  }),
                  "3 dimension names for rank 2");
}

TEST(PlanValidation, ProfileAgainstInputs) {
  auto withRange = [](ShapeRange range) {
    return editedPlan([range](plan::PlanContents& c) { c.info.profile.shapes["x"] = range; });
  };
  expectPlanError(withRange({{1}, {2, 3}, {4, 3}}), "has rank 1");
  expectPlanError(withRange({{3, 3}, {2, 3}, {4, 3}}), "needs 0 <= min <= opt <= max");
  expectPlanError(withRange({{-1, 3}, {2, 3}, {4, 3}}), "needs 0 <= min <= opt <= max");
  expectPlanError(withRange({{1, 3}, {2, 4}, {4, 5}}), "changes static dimension 1");
  expectPlanError(editedPlan([](plan::PlanContents& c) { c.info.profile.shapes.erase("x"); }),
                  "no range for input 'x'");
  expectPlanError(editedPlan([](plan::PlanContents& c) { c.info.profile.shapes["y"] = {{1}, {1}, {1}}; }),
                  "names 'y', which is not a network input");
}

TEST(PlanValidation, PerLayerLists) {
  expectPlanError(editedPlan([](plan::PlanContents& c) { c.info.layerBackends.pop_back(); }),
                  "do not match the");
  expectPlanError(editedPlan([](plan::PlanContents& c) { c.info.layerBackends.back() = "tpu"; }),
                  "runs on 'tpu'");
}

TEST(PlanValidation, EnumOutOfRange) {
  std::vector<uint8_t> bytes = samplePlan();
  plan::PlanContents contents = plan::readPlan(bytes.data(), bytes.size());
  const std::string name = layerOfType(*contents.network, LayerType::kActivation)->name();
  size_t params = paramsOffset(bytes, name);
  ASSERT_EQ(bytes[params - 1], static_cast<uint8_t>(LayerType::kActivation));
  ASSERT_EQ(bytes[params], static_cast<uint8_t>(ActivationType::kLeakyRelu));
  std::vector<uint8_t> badActivation = bytes;
  badActivation[params] = 200;
  resealPlan(badActivation);
  expectPlanError(badActivation, "enum value 200");
  std::vector<uint8_t> badLayerType = bytes;
  badLayerType[params - 1] = static_cast<uint8_t>(LayerType::kCount);
  resealPlan(badLayerType);
  expectPlanError(badLayerType, "out of range");
}

TEST(PlanValidation, WeightsAgainstTheirShape) {
  // Same bytes, another shape: the reader compares the byte count with the shape.
  expectPlanError(editedPlan([](plan::PlanContents& c) {
                    layerOfType(*c.network, LayerType::kConstant)->as<ConstantParams>().weights.shape = {3, 3};
                  }),
                  "hold 24 bytes");
  // A shape whose element count overflows 64 bits.
  expectPlanError(editedPlan([](plan::PlanContents& c) {
                    layerOfType(*c.network, LayerType::kConstant)->as<ConstantParams>().weights.shape = {
                        int64_t{1} << 40, int64_t{1} << 40};
                  }),
                  "too many elements");
}

namespace {

// A plan whose only layer is a string Constant holding {"hello-kiln", "x"}.
std::vector<uint8_t> stringPlan() {
  Builder builder;
  auto net = builder.createNetwork();
  ITensor* s = net->addConstant(Weights::strings({2}, {"hello-kiln", "x"}), "words");
  s->setName("s");
  net->markOutput(s);
  return builder.buildSerializedNetwork(*net, BuilderConfig{});
}

}  // namespace

TEST(PlanValidation, StringWeights) {
  std::vector<uint8_t> bytes = stringPlan();
  EXPECT_NO_THROW(Runtime().deserializeEngine(bytes.data(), bytes.size()));
  size_t length = findText(bytes, "hello-kiln") - 8;  // the u64 length before the first string
  uint64_t tooLong = 1000, tooShort = 3;
  std::vector<uint8_t> runsPast = bytes;
  std::memcpy(runsPast.data() + length, &tooLong, 8);
  resealPlan(runsPast);
  expectPlanError(runsPast, "runs past its weights");
  std::vector<uint8_t> extra = bytes;
  std::memcpy(extra.data() + length, &tooShort, 8);
  resealPlan(extra);
  expectPlanError(extra, "corrupted");
  // More strings than the weights can hold: the shape [2] becomes [2^40] before anything is allocated.
  size_t shape = paramsOffset(bytes, "words") + 1 /* weights type */ + 8 /* rank */;
  int64_t two = 2, huge = int64_t{1} << 40;
  ASSERT_EQ(std::memcmp(bytes.data() + shape, &two, 8), 0);
  std::vector<uint8_t> many = bytes;
  std::memcpy(many.data() + shape, &huge, 8);
  resealPlan(many);
  expectPlanError(many, "strings cannot fit");
}

namespace {

// x (bool scalar) -> If: then [1, 2], else [3, 4] -> y.
std::vector<uint8_t> ifPlan() {
  Builder builder;
  auto branch = [&](std::vector<float> values) {
    std::shared_ptr<NetworkDefinition> net = builder.createNetwork();
    net->markOutput(net->addConstant(floats({2}, values)));
    return net;
  };
  auto net = builder.createNetwork();
  ITensor* cond = net->addInput("cond", DataType::kBool, {});
  ITensor* y = net->addLayer(IfParams{branch({1, 2}), branch({3, 4})}, {cond}, 1, "if")->output(0);
  y->setName("y");
  net->markOutput(y);
  return builder.buildSerializedNetwork(*net, BuilderConfig{});
}

}  // namespace

TEST(PlanValidation, SubnetworksAreValidated) {
  std::vector<uint8_t> bytes = ifPlan();
  plan::PlanContents contents = plan::readPlan(bytes.data(), bytes.size());
  ir::Layer* ifLayer = layerOfType(*contents.network, LayerType::kIf);
  ASSERT_NE(ifLayer, nullptr);
  ir::Network& thenBranch = ir::asNetwork(*ifLayer->as<IfParams>().thenBranch);
  thenBranch.outputs()[0]->setDims({5});
  expectPlanError(plan::writePlan(*contents.network, contents.info), "in a subnetwork of layer 'if'");
}

TEST(PlanValidation, EveryMetadataByteChangedLoadsAndRunsOrIsInvalid) {
  std::vector<uint8_t> bytes = samplePlan();
  uint64_t metadataSize;
  std::memcpy(&metadataSize, bytes.data() + 24, 8);
  int loaded = 0, refused = 0;
  for (size_t at = plan::kHeaderSize; at < plan::kHeaderSize + metadataSize; ++at) {
    for (uint8_t flip : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xff}}) {
      std::vector<uint8_t> mutated = bytes;
      mutated[at] ^= flip;
      resealPlan(mutated);
      std::shared_ptr<Engine> engine;
      try {
        engine = Runtime().deserializeEngine(mutated.data(), mutated.size());
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::kInvalidPlan) << "byte " << at << ": " << e.what();
        ++refused;
        continue;
      }
      ++loaded;
      // What loads runs (or refuses its inputs with a kiln::Error): zero inputs at the profile's opt shapes.
      try {
        auto context = engine->createExecutionContext();
        std::vector<std::vector<uint8_t>> buffers;
        for (int i = 0; i < engine->numIOTensors(); ++i) {
          const std::string& name = engine->ioTensorName(i);
          if (engine->tensorIOMode(name) != TensorIOMode::kInput) continue;
          Dims shape = engine->profileShape(name).opt;
          context->setInputShape(name, shape);
          buffers.emplace_back(static_cast<size_t>(volume(shape)) * dataTypeSize(engine->tensorDataType(name)) + 1);
          context->setTensorAddress(name, buffers.back().data());
        }
        context->execute();
      } catch (const Error&) {
      }
    }
  }
  EXPECT_GT(refused, 0);
  EXPECT_GT(loaded, 0);  // bytes of names, floats and dims that leave a consistent network
}
