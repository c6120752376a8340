// ONNX lowerings run end to end on the CPU against hand-computed values: NegativeLogLikelihoodLoss,
// SoftmaxCrossEntropyLoss, LayerNormalization statistics, BatchNormalization training mode, Shrink,
// EyeLike, MeanVarianceNormalization, runtime axes, empty tensors and import-time shape values.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include <onnx/onnx.pb.h>

#include "onnx/tensor_proto.h"
#include "test_helpers.h"

using namespace kiln;
using kiln::testing::buildEngine;

namespace {

struct Model {
  onnx::ModelProto proto;
  explicit Model(int64_t opset) {
    proto.set_ir_version(8);
    auto* o = proto.add_opset_import();
    o->set_domain("");
    o->set_version(opset);
  }
  onnx::GraphProto& g() { return *proto.mutable_graph(); }
  void input(const std::string& name, Dims dims, int elem = onnx::TensorProto::FLOAT) {
    auto* tt = g().add_input()->mutable_type()->mutable_tensor_type();
    g().mutable_input(g().input_size() - 1)->set_name(name);
    tt->set_elem_type(elem);
    auto* shape = tt->mutable_shape();
    for (int64_t d : dims) shape->add_dim()->set_dim_value(d);
  }
  void output(const std::string& name) { g().add_output()->set_name(name); }
  void init(const std::string& name, const HostTensor& t) { onnx_import::tensorToProto(t, name, g().add_initializer()); }
  onnx::NodeProto& node(const std::string& op, std::vector<std::string> in, std::vector<std::string> out) {
    auto* n = g().add_node();
    n->set_op_type(op);
    n->set_name(op + std::to_string(g().node_size()));
    for (auto& s : in) n->add_input(s);
    for (auto& s : out) n->add_output(s);
    return *n;
  }
};

void attrInt(onnx::NodeProto& n, const std::string& name, int64_t v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}
void attrFloat(onnx::NodeProto& n, const std::string& name, float v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}
void attrString(onnx::NodeProto& n, const std::string& name, const std::string& v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(v);
}

HostTensor f32(Dims shape, std::vector<float> v) { return HostTensor::copyOf(DataType::kFloat32, std::move(shape), v.data()); }
HostTensor i64(Dims shape, std::vector<int64_t> v) { return HostTensor::copyOf(DataType::kInt64, std::move(shape), v.data()); }

struct Result {
  Dims shape;
  std::vector<double> values;
};

// Imports, builds and runs the model on the CPU; returns every graph output by name.
std::map<std::string, Result> run(Model& m, const std::map<std::string, HostTensor>& inputs) {
  auto net = Builder().createNetwork();
  OnnxParser parser(*net);
  std::string bytes = m.proto.SerializeAsString();
  parser.parse(bytes.data(), bytes.size());
  auto engine = buildEngine(*net);
  auto context = engine->createExecutionContext();
  for (auto& [name, value] : inputs) {
    context->setInputShape(name, value.shape);
    context->setTensorAddress(name, const_cast<void*>(value.data()));
  }
  context->execute();
  std::map<std::string, Result> out;
  for (const auto& o : m.g().output()) {
    Result r;
    r.shape = context->tensorShape(o.name());
    const void* p = context->tensorAddress(o.name());
    DataType type = engine->tensorDataType(o.name());
    for (int64_t i = 0; i < volume(r.shape); ++i) {
      switch (type) {
        case DataType::kFloat32: r.values.push_back(static_cast<const float*>(p)[i]); break;
        case DataType::kFloat64: r.values.push_back(static_cast<const double*>(p)[i]); break;
        case DataType::kInt32: r.values.push_back(static_cast<const int32_t*>(p)[i]); break;
        case DataType::kBool: r.values.push_back(static_cast<const uint8_t*>(p)[i]); break;
        case DataType::kInt64: r.values.push_back(static_cast<double>(static_cast<const int64_t*>(p)[i])); break;
        default: ADD_FAILURE() << "unexpected output type " << dataTypeName(type);
      }
    }
    out[o.name()] = r;
  }
  return out;
}

void expectNear(const std::vector<double>& actual, const std::vector<double>& expected, double tol = 1e-5) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) EXPECT_NEAR(actual[i], expected[i], tol) << "element " << i;
}

const std::vector<float> kLogProb = {-0.5f, -1.25f, -2.0f, -0.75f, -3.0f, -0.125f};  // [2, 3]

}  // namespace

TEST(LossImport, NllWeightedMeanDividesBySumOfAppliedWeights) {
  Model m(13);
  m.input("x", {2, 3});
  m.input("t", {2}, onnx::TensorProto::INT64);
  m.init("w", f32({3}, {1.f, 2.f, 0.5f}));
  m.node("NegativeLogLikelihoodLoss", {"x", "t", "w"}, {"loss"});
  m.output("loss");
  auto out = run(m, {{"x", f32({2, 3}, kLogProb)}, {"t", i64({2}, {2, 0})}});
  EXPECT_EQ(out["loss"].shape, Dims{});
  // (2.0 * 0.5 + 0.75 * 1) / (0.5 + 1)
  expectNear(out["loss"].values, {(2.0 * 0.5 + 0.75) / 1.5});
}

TEST(LossImport, NllNdNegativeIgnoreIndexNoneAndMean) {
  for (std::string reduction : {"none", "mean", "sum"}) {
    Model m(13);
    m.input("x", {1, 3, 2});
    m.input("t", {1, 2}, onnx::TensorProto::INT64);
    auto& n = m.node("NegativeLogLikelihoodLoss", {"x", "t"}, {"loss"});
    attrInt(n, "ignore_index", -1);
    attrString(n, "reduction", reduction);
    m.output("loss");
    // x[0, c, d] = values; target (1, -1): the second position is ignored (and out of range).
    auto out = run(m, {{"x", f32({1, 3, 2}, {-0.1f, -0.2f, -0.3f, -0.4f, -0.5f, -0.6f})}, {"t", i64({1, 2}, {1, -1})}});
    if (reduction == "none") {
      EXPECT_EQ(out["loss"].shape, (Dims{1, 2}));
      expectNear(out["loss"].values, {0.3, 0.0});
    } else {
      expectNear(out["loss"].values, {0.3});  // mean divides by the one element not ignored
    }
  }
}

TEST(LossImport, SoftmaxCrossEntropyWithLogProbAndIgnoredWeight) {
  Model m(13);
  m.input("s", {2, 3});
  m.input("t", {2}, onnx::TensorProto::INT64);
  m.init("w", f32({3}, {0.5f, 1.f, 3.f}));
  auto& n = m.node("SoftmaxCrossEntropyLoss", {"s", "t", "w"}, {"loss", "log_prob"});
  attrInt(n, "ignore_index", 0);
  m.output("loss");
  m.output("log_prob");
  std::vector<float> scores = {1.f, 2.f, 3.f, 0.5f, -1.f, 2.f};
  auto out = run(m, {{"s", f32({2, 3}, scores)}, {"t", i64({2}, {2, 0})}});
  std::vector<double> logProb;
  for (int r = 0; r < 2; ++r) {
    double sum = 0;
    for (int c = 0; c < 3; ++c) sum += std::exp(scores[r * 3 + c]);
    for (int c = 0; c < 3; ++c) logProb.push_back(scores[r * 3 + c] - std::log(sum));
  }
  expectNear(out["log_prob"].values, logProb);
  // Row 1 targets the ignored class 0: only row 0 counts, weight 3, and mean divides by 3.
  expectNear(out["loss"].values, {-logProb[2] * 3.0 / 3.0});
}

TEST(LossImport, LayerNormalizationMeanAndInvStdDevOutputs) {
  Model m(17);
  m.input("x", {2, 2});
  m.init("scale", f32({2}, {1.f, 2.f}));
  m.node("LayerNormalization", {"x", "scale"}, {"y", "mean", "inv"});
  m.output("y");
  m.output("mean");
  m.output("inv");
  auto out = run(m, {{"x", f32({2, 2}, {1.f, 3.f, -2.f, 2.f})}});
  double eps = 1e-5, inv0 = 1 / std::sqrt(1.0 + eps), inv1 = 1 / std::sqrt(4.0 + eps);
  EXPECT_EQ(out["mean"].shape, (Dims{2, 1}));
  expectNear(out["mean"].values, {2.0, 0.0});
  expectNear(out["inv"].values, {inv0, inv1});
  expectNear(out["y"].values, {-inv0, 2 * inv0, -2 * inv1, 2 * 2 * inv1});
}

TEST(LossImport, BatchNormalizationTrainingModeUsesBatchStatistics) {
  Model m(15);
  m.input("x", {2, 1, 2});
  m.init("s", f32({1}, {2.f}));
  m.init("b", f32({1}, {1.f}));
  m.init("mean", f32({1}, {10.f}));
  m.init("var", f32({1}, {4.f}));
  auto& n = m.node("BatchNormalization", {"x", "s", "b", "mean", "var"}, {"y", "running_mean", "running_var"});
  attrInt(n, "training_mode", 1);
  attrFloat(n, "momentum", 0.75f);
  attrFloat(n, "epsilon", 0.f);
  m.output("y");
  m.output("running_mean");
  m.output("running_var");
  auto out = run(m, {{"x", f32({2, 1, 2}, {1.f, 3.f, 5.f, 7.f})}});
  // Batch mean 4, population variance (9 + 1 + 1 + 9) / 4 = 5.
  double sd = std::sqrt(5.0);
  expectNear(out["y"].values, {2 * -3 / sd + 1, 2 * -1 / sd + 1, 2 * 1 / sd + 1, 2 * 3 / sd + 1});
  expectNear(out["running_mean"].values, {10 * 0.75 + 4 * 0.25});
  expectNear(out["running_var"].values, {4 * 0.75 + 5 * 0.25});
}

TEST(LossImport, ShrinkEyeLikeAndMeanVarianceNormalization) {
  Model m(13);
  m.input("x", {2, 3});
  auto& shrink = m.node("Shrink", {"x"}, {"shrunk"});
  attrFloat(shrink, "lambd", 1.5f);
  attrFloat(shrink, "bias", 0.5f);
  auto& eye = m.node("EyeLike", {"x"}, {"eye"});
  attrInt(eye, "k", 1);
  attrInt(eye, "dtype", onnx::TensorProto::INT32);
  auto& mvn = m.node("MeanVarianceNormalization", {"x"}, {"mvn"});
  auto* axes = mvn.add_attribute();
  axes->set_name("axes");
  axes->set_type(onnx::AttributeProto::INTS);
  axes->add_ints(1);
  m.output("shrunk");
  m.output("eye");
  m.output("mvn");
  auto out = run(m, {{"x", f32({2, 3}, {-2.f, 1.f, 3.f, 1.5f, -1.5f, 0.f})}});
  expectNear(out["shrunk"].values, {-1.5, 0, 2.5, 0, 0, 0});
  expectNear(out["eye"].values, {0, 1, 0, 0, 0, 1});
  // Row 0: mean 2/3, population std sqrt(((-8/3)^2 + (1/3)^2 + (7/3)^2) / 3).
  double sd = std::sqrt((64.0 + 1.0 + 49.0) / 27.0);
  expectNear(out["mvn"].values, {(-8.0 / 3) / sd, (1.0 / 3) / sd, (7.0 / 3) / sd, 1.5 / std::sqrt(1.5), -1.5 / std::sqrt(1.5), 0},
             1e-4);
}

TEST(LossImport, ReduceSumRuntimeAxesAndEmptyNoop) {
  for (bool empty : {false, true}) {
    Model m(13);
    m.input("x", {2, 3});
    m.input("axes", {empty ? 0 : 1}, onnx::TensorProto::INT64);
    auto& n = m.node("ReduceSum", {"x", "axes"}, {"y"});
    attrInt(n, "keepdims", 0);
    attrInt(n, "noop_with_empty_axes", 1);
    m.output("y");
    // An empty axes tensor has no data: its address may be null.
    HostTensor axes = empty ? i64({0}, {}) : i64({1}, {-1});
    auto out = run(m, {{"x", f32({2, 3}, {1, 2, 3, 4, 5, 6})}, {"axes", axes}});
    if (empty) {
      EXPECT_EQ(out["y"].shape, (Dims{2, 3}));
      expectNear(out["y"].values, {1, 2, 3, 4, 5, 6});
    } else {
      EXPECT_EQ(out["y"].shape, (Dims{2}));
      expectNear(out["y"].values, {6, 15});
    }
  }
}

TEST(LossImport, EmptyInputRunsWithoutAddress) {
  Model m(14);
  m.input("x", {0, 3});
  m.node("Trilu", {"x"}, {"y"});
  m.output("y");
  auto out = run(m, {{"x", HostTensor::zeros(DataType::kFloat32, {0, 3})}});
  EXPECT_EQ(out["y"].shape, (Dims{0, 3}));
  EXPECT_TRUE(out["y"].values.empty());
}

TEST(LossImport, ShapeValuesAreFoldedAtImport) {
  // Shape -> Size -> Sub -> ConstantOfShape -> Concat -> Reshape (the LayerNormalization function body):
  // the Reshape's rank is only known when the shape values are evaluated at import.
  Model m(13);
  m.input("x", {2, 3, 4});
  m.init("one", i64({1}, {1}));
  m.init("zero", i64({1}, {0}));
  m.node("Shape", {"x"}, {"shape"});
  m.node("Size", {"shape"}, {"rank"});
  m.node("Sub", {"rank", "one"}, {"rest"});
  auto& fill = m.node("ConstantOfShape", {"rest"}, {"ones"});
  auto* value = fill.add_attribute();
  value->set_name("value");
  value->set_type(onnx::AttributeProto::TENSOR);
  onnx_import::tensorToProto(i64({1}, {1}), "v", value->mutable_t());
  m.node("Slice", {"shape", "zero", "one"}, {"prefix"});
  attrInt(m.node("Concat", {"prefix", "ones"}, {"target"}), "axis", 0);
  auto& mean = m.node("ReduceMean", {"x"}, {"rowMean"});
  auto* axes = mean.add_attribute();
  axes->set_name("axes");
  axes->set_type(onnx::AttributeProto::INTS);
  axes->add_ints(1);
  axes->add_ints(2);
  attrInt(mean, "keepdims", 0);
  m.node("Reshape", {"rowMean", "target"}, {"y"});
  m.output("y");
  std::vector<float> x(24);
  for (int i = 0; i < 24; ++i) x[i] = static_cast<float>(i);
  auto out = run(m, {{"x", f32({2, 3, 4}, x)}});
  EXPECT_EQ(out["y"].shape, (Dims{2, 1, 1}));
  expectNear(out["y"].values, {5.5, 17.5});
}

TEST(LossImport, TrainingDropoutMasksAndScales) {
  for (float ratio : {0.f, 0.5f}) {
    Model m(13);
    m.input("x", {64, 64});
    m.input("r", {});
    m.input("t", {}, onnx::TensorProto::BOOL);
    auto& n = m.node("Dropout", {"x", "r", "t"}, {"y", "mask"});
    attrInt(n, "seed", 7);
    m.output("y");
    m.output("mask");
    std::vector<float> x(64 * 64);
    for (size_t i = 0; i < x.size(); ++i) x[i] = 1.f + static_cast<float>(i % 17);
    HostTensor training = HostTensor::zeros(DataType::kBool, {});
    const_cast<uint8_t*>(training.bytes->data())[0] = 1;
    auto out = run(m, {{"x", f32({64, 64}, x)}, {"r", f32({}, {ratio})}, {"t", training}});
    ASSERT_EQ(out["mask"].values.size(), x.size());
    int64_t dropped = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      bool keep = out["mask"].values[i] != 0;
      dropped += keep ? 0 : 1;
      EXPECT_EQ(out["y"].values[i], keep ? static_cast<double>(x[i] / (1.f - ratio)) : 0.0) << i;
    }
    if (ratio == 0.f) EXPECT_EQ(dropped, 0);
    else EXPECT_NEAR(static_cast<double>(dropped) / x.size(), ratio, 0.05);
  }
}

TEST(LossImport, BernoulliAndRandomUniformLike) {
  Model m(15);
  m.input("p", {4000});
  auto& b = m.node("Bernoulli", {"p"}, {"drawn"});
  attrFloat(b, "seed", 3.f);
  auto& u = m.node("RandomUniformLike", {"p"}, {"uniform"});
  attrFloat(u, "low", 2.f);
  attrFloat(u, "high", 4.f);
  m.output("drawn");
  m.output("uniform");
  // p = 0 for the first quarter, 1 for the second, 0.25 for the rest.
  std::vector<float> p(4000, 0.25f);
  for (int i = 0; i < 1000; ++i) p[i] = 0.f, p[1000 + i] = 1.f;
  auto out = run(m, {{"p", f32({4000}, p)}});
  const auto& drawn = out["drawn"].values;
  int64_t ones = 0;
  for (int i = 0; i < 4000; ++i) {
    ASSERT_TRUE(drawn[i] == 0 || drawn[i] == 1);
    if (i < 1000) EXPECT_EQ(drawn[i], 0);
    else if (i < 2000) EXPECT_EQ(drawn[i], 1);
    else ones += drawn[i] == 1;
  }
  EXPECT_NEAR(static_cast<double>(ones) / 2000, 0.25, 0.04);
  double sum = 0;
  for (double v : out["uniform"].values) {
    EXPECT_GE(v, 2.0);
    EXPECT_LT(v, 4.0);
    sum += v;
  }
  EXPECT_NEAR(sum / 4000, 3.0, 0.05);
}
