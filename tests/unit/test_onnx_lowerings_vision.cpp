// End to end through the ONNX importer and the CPU runtime for ops lowered onto existing layers:
// MaxUnpool, ReverseSequence and Compress, with dynamic dims so the lowered shape computations run at
// execution time, against naive references.
#include <gtest/gtest.h>

#include <onnx/onnx.pb.h>

#include <cmath>

#include "kiln/kiln.h"
#include "onnx/tensor_proto.h"
#include "test_helpers.h"

using namespace kiln;
using kiln::testing::buildEngine;

namespace {

// A one-node ONNX model.
struct OneNodeModel {
  onnx::ModelProto model;
  onnx::NodeProto* node;

  OneNodeModel(const std::string& op, int64_t opset, std::vector<std::string> inputs, const std::string& output) {
    model.set_ir_version(8);
    auto* o = model.add_opset_import();
    o->set_domain("");
    o->set_version(opset);
    node = model.mutable_graph()->add_node();
    node->set_op_type(op);
    node->set_name(op);
    for (auto& s : inputs) node->add_input(s);
    node->add_output(output);
    model.mutable_graph()->add_output()->set_name(output);
  }
  // Dims < 0 become named dynamic dims.
  void input(const std::string& name, const Dims& dims, int elem = onnx::TensorProto::FLOAT) {
    auto* tt = model.mutable_graph()->add_input();
    tt->set_name(name);
    auto* t = tt->mutable_type()->mutable_tensor_type();
    t->set_elem_type(elem);
    for (size_t i = 0; i < dims.size(); ++i) {
      auto* d = t->mutable_shape()->add_dim();
      if (dims[i] >= 0) d->set_dim_value(dims[i]);
      else d->set_dim_param(name + std::to_string(i));
    }
  }
  void initializer(const std::string& name, const HostTensor& value) {
    onnx_import::tensorToProto(value, name, model.mutable_graph()->add_initializer());
  }
  void ints(const std::string& name, const std::vector<int64_t>& v) {
    auto* a = node->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }
  void integer(const std::string& name, int64_t v) {
    auto* a = node->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  std::shared_ptr<Engine> build(const BuilderConfig& config) const {
    auto net = Builder().createNetwork();
    std::string bytes = model.SerializeAsString();
    OnnxParser(*net).parse(bytes.data(), bytes.size());
    return buildEngine(*net, config);
  }
};

std::vector<float> ramp(int64_t n, float scale) {
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = std::sin(scale * static_cast<float>(i + 1)) * 10;
  return v;
}

TEST(OnnxLowerings, MaxUnpoolDynamicBatchAndOutputShape) {
  // kernel 2, stride 2, pads end 1: inferred spatial dims (3 - 1) * 2 - 1 + 2 = 5.
  OneNodeModel m("MaxUnpool", 11, {"x", "i"}, "y");
  m.input("x", {-1, 2, 3, 3});
  m.input("i", {-1, 2, 3, 3}, onnx::TensorProto::INT64);
  m.ints("kernel_shape", {2, 2});
  m.ints("strides", {2, 2});
  m.ints("pads", {0, 0, 1, 1});
  BuilderConfig config;
  config.profile.setDimensions("x", {1, 2, 3, 3}, {2, 2, 3, 3}, {4, 2, 3, 3});
  config.profile.setDimensions("i", {1, 2, 3, 3}, {2, 2, 3, 3}, {4, 2, 3, 3});
  auto engine = m.build(config);
  auto context = engine->createExecutionContext();
  for (int64_t batch : {3, 1}) {
    const int64_t n = batch * 2 * 9, total = batch * 2 * 25;
    std::vector<float> x = ramp(n, 0.37f);
    std::vector<int64_t> idx(n);
    for (int64_t k = 0; k < n; ++k) idx[k] = (k * 7 + batch) % total;  // flat indices into the whole output
    context->setInputShape("x", {batch, 2, 3, 3});
    context->setInputShape("i", {batch, 2, 3, 3});
    ASSERT_EQ(context->tensorShape("y"), (Dims{batch, 2, 5, 5}));
    std::vector<float> y(total, NAN), expected(total, 0.f);
    for (int64_t k = 0; k < n; ++k) expected[idx[k]] = x[k];
    context->setTensorAddress("x", x.data());
    context->setTensorAddress("i", idx.data());
    context->setTensorAddress("y", y.data());
    context->execute();
    EXPECT_EQ(y, expected) << "batch " << batch;
  }

  // With output_shape: indices address the inferred [1, 1, 4, 4] (pads ignored); zeros pad the end.
  OneNodeModel s("MaxUnpool", 11, {"x", "i", "shape"}, "y");
  s.input("x", {1, 1, 2, 2});
  s.input("i", {1, 1, 2, 2}, onnx::TensorProto::INT64);
  std::vector<int64_t> shape = {1, 1, 5, 6};
  s.initializer("shape", HostTensor::copyOf(DataType::kInt64, {4}, shape.data()));
  s.ints("kernel_shape", {2, 2});
  s.ints("strides", {2, 2});
  s.ints("pads", {1, 1, 1, 1});
  auto shaped = s.build({})->createExecutionContext();
  std::vector<float> x = {5, 6, 7, 8}, y(30, NAN);
  std::vector<int64_t> idx = {5, 7, 13, 14};
  shaped->setTensorAddress("x", x.data());
  shaped->setTensorAddress("i", idx.data());
  shaped->setTensorAddress("y", y.data());
  shaped->execute();
  std::vector<float> expected(30, 0.f);
  expected[1 * 6 + 1] = 5;
  expected[1 * 6 + 3] = 6;
  expected[3 * 6 + 1] = 7;
  expected[3 * 6 + 2] = 8;
  EXPECT_EQ(y, expected);
}

TEST(OnnxLowerings, ReverseSequenceDynamicTime) {
  for (int64_t timeAxis : {0, 1}) {
    const int64_t batchAxis = 1 - timeAxis, batch = 3, inner = 2;
    OneNodeModel m("ReverseSequence", 10, {"x", "lens"}, "y");
    Dims xDims = timeAxis == 0 ? Dims{-1, batch, inner} : Dims{batch, -1, inner};
    m.input("x", xDims);
    m.input("lens", {batch}, onnx::TensorProto::INT64);
    m.integer("time_axis", timeAxis);
    m.integer("batch_axis", batchAxis);
    BuilderConfig config;
    auto withTime = [&](int64_t t) { return timeAxis == 0 ? Dims{t, batch, inner} : Dims{batch, t, inner}; };
    config.profile.setDimensions("x", withTime(1), withTime(4), withTime(8));
    auto context = m.build(config)->createExecutionContext();
    for (int64_t steps : {5, 2, 8}) {
      const Dims shape = withTime(steps);
      std::vector<float> x = ramp(volume(shape), 0.61f), y(volume(shape), NAN);
      std::vector<int64_t> lens = {steps, 1, std::min<int64_t>(2, steps)};
      context->setInputShape("x", shape);
      ASSERT_EQ(context->tensorShape("y"), shape);
      context->setTensorAddress("x", x.data());
      context->setTensorAddress("lens", lens.data());
      context->setTensorAddress("y", y.data());
      context->execute();
      auto flat = [&](int64_t t, int64_t b, int64_t k) {
        return (timeAxis == 0 ? (t * batch + b) : (b * steps + t)) * inner + k;
      };
      for (int64_t b = 0; b < batch; ++b)
        for (int64_t t = 0; t < steps; ++t)
          for (int64_t k = 0; k < inner; ++k) {
            int64_t source = t < lens[b] ? lens[b] - 1 - t : t;
            ASSERT_EQ(y[flat(t, b, k)], x[flat(source, b, k)])
                << "time axis " << timeAxis << " steps " << steps << " b " << b << " t " << t;
          }
    }
  }
}

TEST(OnnxLowerings, CompressDataDependentOutput) {
  for (bool withAxis : {true, false}) {
    OneNodeModel m("Compress", 11, {"x", "condition"}, "y");
    m.input("x", {4, 3});
    m.input("condition", {-1}, onnx::TensorProto::BOOL);
    if (withAxis) m.integer("axis", -2);
    BuilderConfig config;
    config.profile.setDimensions("condition", {1}, {4}, {12});
    auto context = m.build(config)->createExecutionContext();
    std::vector<float> x = ramp(12, 0.29f);
    const std::vector<std::vector<uint8_t>> conditions = {{1, 0, 1, 1}, {0, 0}, {0, 1, 0}, {1}};
    for (const auto& condition : conditions) {
      std::vector<float> expected;
      if (withAxis) {
        for (size_t r = 0; r < condition.size(); ++r)
          if (condition[r]) expected.insert(expected.end(), x.begin() + r * 3, x.begin() + r * 3 + 3);
      } else {
        for (size_t k = 0; k < condition.size(); ++k)
          if (condition[k]) expected.push_back(x[k]);
      }
      context->setInputShape("condition", {static_cast<int64_t>(condition.size())});
      context->setTensorAddress("x", x.data());
      context->setTensorAddress("condition", const_cast<uint8_t*>(condition.data()));
      context->execute();  // y stays unbound: its shape depends on the data
      Dims expectedShape = withAxis ? Dims{static_cast<int64_t>(expected.size() / 3), 3}
                                    : Dims{static_cast<int64_t>(expected.size())};
      ASSERT_EQ(context->tensorShape("y"), expectedShape);
      const auto* y = static_cast<const float*>(context->tensorAddress("y"));
      ASSERT_TRUE(expected.empty() || y != nullptr);
      EXPECT_EQ(std::vector<float>(y, y + expected.size()), expected) << "axis " << withAxis;
    }
  }
}

}  // namespace
