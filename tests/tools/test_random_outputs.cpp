// The conformance runner's judging of random-op outputs: rules read from ONNX models, and the support
// checks per rule.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <onnx/onnx.pb.h>

#include "onnx/tensor_proto.h"
#include "random_outputs.h"

using namespace kiln;
using namespace kiln::tools;
namespace fs = std::filesystem;

namespace {

HostTensor floats(Dims shape, std::vector<float> v) { return HostTensor::copyOf(DataType::kFloat32, shape, v.data()); }

// Writes a one-graph model with the given nodes (op, inputs, outputs) and graph outputs.
std::string writeModel(const std::string& name, const std::vector<onnx::NodeProto>& nodes,
                       const std::vector<std::string>& outputs, const std::vector<std::pair<std::string, HostTensor>>& inits = {}) {
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.add_opset_import()->set_version(15);
  for (const auto& n : nodes) *model.mutable_graph()->add_node() = n;
  for (const auto& o : outputs) model.mutable_graph()->add_output()->set_name(o);
  for (const auto& [initName, value] : inits)
    onnx_import::tensorToProto(value, initName, model.mutable_graph()->add_initializer());
  fs::path path = fs::temp_directory_path() / ("kiln_random_rules_" + name + "_" + std::to_string(::getpid()) + ".onnx");
  std::ofstream(path, std::ios::binary) << model.SerializeAsString();
  return path.string();
}

onnx::NodeProto node(const std::string& op, std::vector<std::string> in, std::vector<std::string> out) {
  onnx::NodeProto n;
  n.set_op_type(op);
  for (auto& s : in) n.add_input(s);
  for (auto& s : out) n.add_output(s);
  return n;
}

void addFloat(onnx::NodeProto& n, const std::string& name, float v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}

}  // namespace

TEST(RandomOutputs, RulesFromModels) {
  // No random op: nullopt (the outputs are compared exactly).
  std::string plain = writeModel("plain", {node("Relu", {"x"}, {"y"})}, {"y"});
  EXPECT_FALSE(randomOutputRules(plain).has_value());

  auto uniform = node("RandomUniformLike", {"x"}, {"u"});
  addFloat(uniform, "low", -2.f);
  addFloat(uniform, "high", 3.f);
  std::string path = writeModel("mixed", {uniform, node("Bernoulli", {"p"}, {"b"}), node("Cast", {"b"}, {"c"})},
                                {"u", "b", "c"});
  auto rules = randomOutputRules(path);
  ASSERT_TRUE(rules.has_value());
  ASSERT_EQ(rules->size(), 3u);
  EXPECT_EQ((*rules)[0].support, RandomSupport::kRange);
  EXPECT_EQ((*rules)[0].low, -2.0);
  EXPECT_EQ((*rules)[0].high, 3.0);
  EXPECT_EQ((*rules)[1].support, RandomSupport::kZeroOne);
  EXPECT_EQ((*rules)[2].support, RandomSupport::kIntegralInExpectedRange);  // downstream of a draw

  // Dropout draws only with a training_mode input that is not a constant false.
  bool no = false;
  std::string inference = writeModel("dropout_off", {node("Dropout", {"x", "r", "t"}, {"y", "m"})}, {"y", "m"},
                                     {{"t", HostTensor::copyOf(DataType::kBool, {}, &no)}});
  EXPECT_FALSE(randomOutputRules(inference).has_value());
  float ratio = 0.25f;
  std::string training = writeModel("dropout_on", {node("Dropout", {"x", "r", "t"}, {"y", "m"})}, {"y", "m"},
                                    {{"r", HostTensor::copyOf(DataType::kFloat32, {}, &ratio)}});
  rules = randomOutputRules(training);
  ASSERT_TRUE(rules.has_value());
  EXPECT_EQ((*rules)[0].support, RandomSupport::kDropout);
  EXPECT_EQ((*rules)[0].dropoutData, "x");
  EXPECT_DOUBLE_EQ((*rules)[0].dropoutRatio, 0.25);
  EXPECT_EQ((*rules)[1].support, RandomSupport::kAnyBool);
  for (const auto& p : {plain, path, inference, training}) fs::remove(p);
}

TEST(RandomOutputs, JudgesSupports) {
  std::map<std::string, HostTensor> noInputs;
  RandomOutputRule range;
  range.support = RandomSupport::kRange;
  range.low = 0;
  range.high = 1;
  HostTensor expected = floats({4}, {0.1f, 0.9f, 0.5f, 0.3f});
  EXPECT_EQ(judgeRandomOutput(range, floats({4}, {0.f, 0.2f, 0.99f, 0.7f}), expected, noInputs, 1e-3, 1e-7), "");
  EXPECT_NE(judgeRandomOutput(range, floats({4}, {0.f, 1.5f, 0.99f, 0.7f}), expected, noInputs, 1e-3, 1e-7), "");
  EXPECT_NE(judgeRandomOutput(range, floats({2, 2}, {0.f, 0.5f, 0.99f, 0.7f}), expected, noInputs, 1e-3, 1e-7), "");
  double d[4] = {0, 0, 0, 0};
  EXPECT_NE(judgeRandomOutput(range, HostTensor::copyOf(DataType::kFloat64, {4}, d), expected, noInputs, 1e-3, 1e-7),
            "");

  RandomOutputRule zeroOne;
  zeroOne.support = RandomSupport::kZeroOne;
  HostTensor coins = floats({4}, {0.f, 1.f, 1.f, 0.f});
  EXPECT_EQ(judgeRandomOutput(zeroOne, floats({4}, {1.f, 1.f, 0.f, 0.f}), coins, noInputs, 1e-3, 1e-7), "");
  EXPECT_NE(judgeRandomOutput(zeroOne, floats({4}, {1.f, 0.5f, 0.f, 0.f}), coins, noInputs, 1e-3, 1e-7), "");

  RandomOutputRule classes;
  classes.support = RandomSupport::kClassIndex;
  classes.classes = 3;
  std::vector<int64_t> ok = {0, 2, 1}, bad = {0, 3, 1};
  HostTensor okT = HostTensor::copyOf(DataType::kInt64, {3}, ok.data());
  EXPECT_EQ(judgeRandomOutput(classes, okT, okT, noInputs, 0, 0), "");
  EXPECT_NE(judgeRandomOutput(classes, HostTensor::copyOf(DataType::kInt64, {3}, bad.data()), okT, noInputs, 0, 0), "");

  // Integral expected values: actual values must be integers within the expected [min, max].
  RandomOutputRule downstream;
  downstream.support = RandomSupport::kIntegralInExpectedRange;
  EXPECT_EQ(judgeRandomOutput(downstream, floats({4}, {1.f, 0.f, 0.f, 0.f}), coins, noInputs, 1e-3, 1e-7), "");
  EXPECT_NE(judgeRandomOutput(downstream, floats({4}, {2.f, 0.f, 0.f, 0.f}), coins, noInputs, 1e-3, 1e-7), "");
  EXPECT_EQ(judgeRandomOutput(downstream, floats({4}, {-7.f, 0.f, 3.f, 0.f}), expected, noInputs, 1e-3, 1e-7), "");
}

TEST(RandomOutputs, JudgesDropoutAgainstTheScaledInput) {
  RandomOutputRule dropout;
  dropout.support = RandomSupport::kDropout;
  dropout.dropoutData = "x";
  dropout.dropoutRatioName = "r";
  float ratio = 0.75f;
  std::map<std::string, HostTensor> inputs = {{"x", floats({4}, {1.f, -2.f, 3.f, 0.5f})},
                                              {"r", HostTensor::copyOf(DataType::kFloat32, {}, &ratio)}};
  HostTensor expected = floats({4}, {4.f, 0.f, 0.f, 2.f});
  // Kept elements are x / (1 - 0.75) = 4x, the others 0, wherever the reference dropped them.
  EXPECT_EQ(judgeRandomOutput(dropout, floats({4}, {0.f, -8.f, 12.f, 0.f}), expected, inputs, 1e-3, 1e-7), "");
  EXPECT_NE(judgeRandomOutput(dropout, floats({4}, {0.f, -2.f, 12.f, 0.f}), expected, inputs, 1e-3, 1e-7), "");
  // Without the input: kept elements must equal the reference's kept value where it kept them.
  std::map<std::string, HostTensor> none;
  EXPECT_EQ(judgeRandomOutput(dropout, floats({4}, {4.f, 5.f, 0.f, 0.f}), expected, none, 1e-3, 1e-7), "");
  EXPECT_NE(judgeRandomOutput(dropout, floats({4}, {3.f, 0.f, 0.f, 0.f}), expected, none, 1e-3, 1e-7), "");
}
