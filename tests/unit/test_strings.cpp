// String tensors: Weights holding std::string objects, TensorProto string_data, StringNormalizer shape
// inference, string constants in the plan, and networks with string inputs/outputs run end to end
// (ONNX import -> builder -> plan -> runtime on the host).
#include <gtest/gtest.h>

#include <onnx/onnx.pb.h>

#include <cmath>
#include <string>
#include <vector>

#include "ir/network.h"
#include "kiln/kiln.h"
#include "onnx/tensor_proto.h"
#include "plan/plan_format.h"
#include "test_helpers.h"

using namespace kiln;

namespace {

std::vector<std::string> stringsOf(const Weights& w) {
  EXPECT_EQ(w.type, DataType::kString);
  return std::vector<std::string>(w.as<std::string>(), w.as<std::string>() + w.count());
}

TEST(StringWeights, OwnConstructedStringsAndCopyThem) {
  std::vector<std::string> values = {"short", std::string(200, 'x'), "", "\xc3\xa9t\xc3\xa9"};
  Weights w = Weights::strings({2, 2}, values);
  EXPECT_EQ(w.type, DataType::kString);
  EXPECT_EQ(w.bytes->size(), 4 * sizeof(std::string));
  EXPECT_EQ(stringsOf(w), values);
  Weights copy = Weights::copyOf(DataType::kString, {4}, w.data());
  EXPECT_NE(copy.data(), w.data());
  w = Weights{};  // the copy owns its own strings
  EXPECT_EQ(stringsOf(copy), values);
  Weights empty = Weights::zeros(DataType::kString, {3});
  EXPECT_EQ(stringsOf(empty), (std::vector<std::string>{"", "", ""}));
  EXPECT_THROW(Weights::strings({3}, {"a"}), Error);
  EXPECT_THROW(Weights::copyOf(DataType::kString, {2}, nullptr), Error);
}

TEST(StringWeights, TensorProtoRoundTripUsesStringData) {
  Weights w = Weights::strings({1, 3}, {"a", "", "NaN"});
  onnx::TensorProto proto;
  onnx_import::tensorToProto(w, "s", &proto);
  EXPECT_EQ(proto.data_type(), onnx::TensorProto::STRING);
  EXPECT_EQ(proto.string_data_size(), 3);
  EXPECT_FALSE(proto.has_raw_data());
  Weights back = onnx_import::tensorFromProto(proto);
  EXPECT_EQ(back.shape, (Dims{1, 3}));
  EXPECT_EQ(stringsOf(back), stringsOf(w));
  proto.add_string_data("extra");
  EXPECT_THROW(onnx_import::tensorFromProto(proto), Error);
}

TEST(StringShapeInference, StringNormalizerHasADataDependentLength) {
  ir::Network net;
  ITensor* flat = net.addInput("flat", DataType::kString, {5});
  ITensor* row = net.addInput("row", DataType::kString, {1, -1});
  EXPECT_EQ(net.addLayer(StringNormalizerParams{}, {flat})->output(0)->dims(), (Dims{-1}));
  ITensor* out = net.addLayer(StringNormalizerParams{}, {row})->output(0);
  EXPECT_EQ(out->dims(), (Dims{1, -1}));
  EXPECT_EQ(out->type(), DataType::kString);
  EXPECT_THROW(net.addLayer(StringNormalizerParams{}, {net.addInput("m", DataType::kString, {2, 3})}), Error);
  EXPECT_THROW(net.addLayer(StringNormalizerParams{}, {net.addInput("f", DataType::kFloat32, {3})}), Error);
}

TEST(StringPlan, StringConstantsAreWrittenLengthPrefixed) {
  std::vector<std::string> values = {"", "a", std::string(300, 'z'), std::string("nul\0inside", 10)};
  ir::Network net;
  ITensor* c = net.addConstant(Weights::strings({2, 2}, values));
  ITensor* y = net.addLayer(IdentityParams{}, {c})->output(0);
  net.markOutput(y);
  plan::PlanInfo info;
  info.kilnVersion = version();
  info.device = "cpu";
  info.layerBackends = {"cpu", "cpu"};
  std::vector<uint8_t> bytes = plan::writePlan(net, info);
  plan::PlanContents contents = plan::readPlan(bytes.data(), bytes.size());
  const ir::Layer& constant = *contents.network->layers()[0];
  ASSERT_EQ(constant.type(), LayerType::kConstant);
  const Weights& w = constant.as<ConstantParams>().weights;
  EXPECT_EQ(w.shape, (Dims{2, 2}));
  EXPECT_EQ(stringsOf(w), values);
  EXPECT_EQ(plan::writePlan(*contents.network, contents.info), bytes);
  // Truncating the weights section (the last bytes) is caught, never read past.
  for (size_t cut : {size_t{1}, size_t{5}, size_t{200}}) {
    std::vector<uint8_t> shorter(bytes.begin(), bytes.end() - static_cast<std::ptrdiff_t>(cut));
    EXPECT_THROW(plan::readPlan(shorter.data(), shorter.size()), Error);
  }
}

// Runs a host engine: string inputs are bound as std::string arrays; outputs are copied out.
std::vector<Weights> run(const Engine& engine, const std::vector<std::pair<std::string, Weights>>& inputs) {
  auto context = engine.createExecutionContext();
  for (auto& [name, value] : inputs) {
    context->setInputShape(name, value.shape);
    context->setTensorAddress(name, const_cast<void*>(value.data()));
  }
  context->execute();
  std::vector<Weights> outputs;
  for (int i = 0; i < engine.numIOTensors(); ++i) {
    const std::string& name = engine.ioTensorName(i);
    if (engine.tensorIOMode(name) != TensorIOMode::kOutput) continue;
    outputs.push_back(Weights::copyOf(engine.tensorDataType(name), context->tensorShape(name),
                                      context->tensorAddress(name)));
  }
  return outputs;
}

TEST(StringNetworks, StringConstantsSurviveThePlanAndRunWithStringInputs) {
  Builder builder;
  auto network = builder.createNetwork();
  ITensor* x = network->addInput("x", DataType::kString, {1, -1});
  StringNormalizerParams p;
  p.caseChange = StringCaseChange::kUpper;
  p.stopwords = {"the"};
  ITensor* normalized = network->addLayer(p, {x})->output(0);
  normalized->setName("normalized");
  network->markOutput(normalized);
  // A string constant (written length-prefixed into the plan) cast to float at run time: Identity keeps
  // the constant from being folded at build time.
  ITensor* text = network->addConstant(Weights::strings({3}, {"1.5", "-INF", std::string(40, '0') + "7"}));
  ITensor* copied = network->addLayer(IdentityParams{}, {text})->output(0);
  CastParams cast;
  cast.to = DataType::kFloat32;
  ITensor* numbers = network->addLayer(cast, {copied})->output(0);
  numbers->setName("numbers");
  network->markOutput(numbers);
  BuilderConfig config;
  config.profile.setDimensions("x", {1, 0}, {1, 4}, {1, 64});
  auto engine = kiln::testing::buildEngine(*network, config);

  Weights words = Weights::strings({1, 5}, {"The", "quick", "the", "Kiln", std::string(30, 'q')});
  std::vector<Weights> outs = run(*engine, {{"x", words}});
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_EQ(outs[0].shape, (Dims{1, 3}));
  EXPECT_EQ(stringsOf(outs[0]), (std::vector<std::string>{"QUICK", "KILN", std::string(30, 'Q')}));
  ASSERT_EQ(outs[1].type, DataType::kFloat32);
  EXPECT_EQ(outs[1].as<float>()[0], 1.5f);
  EXPECT_EQ(outs[1].as<float>()[1], -INFINITY);
  EXPECT_EQ(outs[1].as<float>()[2], 7.f);

  // Every word a stopword: one empty string.
  outs = run(*engine, {{"x", Weights::strings({1, 2}, {"the", "THE"})}});
  EXPECT_EQ(outs[0].shape, (Dims{1, 1}));
  EXPECT_EQ(stringsOf(outs[0]), (std::vector<std::string>{""}));
}

TEST(StringNetworks, OnnxConstantStringsAndCastToString) {
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.add_opset_import()->set_version(17);
  auto* g = model.mutable_graph();
  g->set_name("strings");
  auto* in = g->add_input();
  in->set_name("x");
  in->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  in->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(2);
  auto* constant = g->add_node();
  constant->set_op_type("Constant");
  constant->add_output("words");
  auto* a = constant->add_attribute();
  a->set_name("value_strings");
  a->set_type(onnx::AttributeProto::STRINGS);
  a->add_strings("Hello");
  a->add_strings("World");
  auto* normalizer = g->add_node();
  normalizer->set_op_type("StringNormalizer");
  normalizer->add_input("words");
  normalizer->add_output("lower");
  auto* action = normalizer->add_attribute();
  action->set_name("case_change_action");
  action->set_type(onnx::AttributeProto::STRING);
  action->set_s("LOWER");
  auto* cast = g->add_node();
  cast->set_op_type("Cast");
  cast->add_input("x");
  cast->add_output("text");
  auto* to = cast->add_attribute();
  to->set_name("to");
  to->set_type(onnx::AttributeProto::INT);
  to->set_i(onnx::TensorProto::STRING);
  g->add_output()->set_name("lower");
  g->add_output()->set_name("text");

  Builder builder;
  auto network = builder.createNetwork();
  std::string bytes = model.SerializeAsString();
  OnnxParser(*network).parse(bytes.data(), bytes.size());
  auto engine = kiln::testing::buildEngine(*network);
  std::vector<Weights> outs = run(*engine, {{"x", kiln::testing::floats({2}, {0.25f, 1e-7f})}});
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_EQ(stringsOf(outs[0]), (std::vector<std::string>{"hello", "world"}));
  EXPECT_EQ(stringsOf(outs[1]), (std::vector<std::string>{"0.25", "1e-07"}));
}

}  // namespace
