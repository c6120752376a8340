// Checked size arithmetic (#13): the core helpers; shapes from shape values, initializers and profiles whose
// element count overflows int64 (an error naming the layer or tensor, never a wrapped size); and
// BuilderConfig::maxTensorElements, checked at build at the profile's max shapes before anything allocates.
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <onnx/onnx.pb.h>

#include "common.h"
#include "core/checked_math.h"
#include "onnx/tensor_proto.h"
#include "options.h"
#include "test_helpers.h"

using namespace kiln;
using kiln::testing::buildEngine;
using kiln::testing::floats;
using kiln::testing::int64s;

namespace {

constexpr int64_t kHuge = int64_t{1} << 40;  // two of them overflow int64
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

struct Failure {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
};

Failure failureOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return {e.code(), e.what()};
  }
  ADD_FAILURE() << "expected a kiln::Error";
  return {};
}

// Expects kInvalidArgument whose message holds every one of `parts`.
void expectInvalidArgument(const Failure& f, const std::vector<std::string>& parts) {
  EXPECT_EQ(f.code, ErrorCode::kInvalidArgument) << f.message;
  for (const std::string& part : parts)
    EXPECT_NE(f.message.find(part), std::string::npos) << part << " in " << f.message;
}

Weights int64Scalar(int64_t v) { return Weights::copyOf(DataType::kInt64, {}, &v); }
Weights floatScalar(float v) { return Weights::copyOf(DataType::kFloat32, {}, &v); }

ILayer* addConstantOfShape(NetworkDefinition& net, ITensor* shape, const std::string& name) {
  ConstantOfShapeParams p;
  p.value = floats({1}, {0.f});
  return net.addLayer(p, {shape}, 1, name);
}

// Builds `net` with y marked as output and returns the failure.
Failure buildFailure(NetworkDefinition& net, ITensor* y, const BuilderConfig& config = {}) {
  net.markOutput(y);
  return failureOf([&] { buildEngine(net, config); });
}

}  // namespace

TEST(CheckedMath, VolumeAndByteSize) {
  EXPECT_EQ(checkedVolume({}), 1);
  EXPECT_EQ(checkedVolume({2, 3}), 6);
  EXPECT_EQ(checkedVolume({-1, 3}), -1);
  EXPECT_EQ(checkedVolume({kHuge, kHuge}), -1);
  EXPECT_EQ(checkedVolume({0, kHuge, kHuge}), 0);
  EXPECT_EQ(checkedByteSize(DataType::kFloat32, {2, 3}), 24);
  EXPECT_EQ(checkedByteSize(DataType::kFloat32, {int64_t{1} << 62}), -1);  // the elements fit, the bytes do not
  EXPECT_EQ(checkedByteSize(DataType::kFloat32, {-1}), -1);
  EXPECT_EQ(volume({2, 3}), 6);
  EXPECT_EQ(volume({-1, 3}), -1);
  expectInvalidArgument(failureOf([] { volume({kHuge, kHuge}); }), {"size overflow", "[1099511627776,1099511627776]"});
}

TEST(CheckedMath, ThrowingHelpers) {
  EXPECT_EQ(mulOrThrow(3, 4, "x"), 12);
  EXPECT_EQ(addOrThrow(3, 4, "x"), 7);
  expectInvalidArgument(failureOf([] { mulOrThrow(kMax, 2, "tile repeats"); }), {"size overflow", "tile repeats"});
  expectInvalidArgument(failureOf([] { addOrThrow(kMax, 1, "padded dim"); }), {"size overflow", "padded dim"});
  EXPECT_EQ(byteSizeOrThrow(DataType::kFloat32, {2, -1}, "t"), -1);
  EXPECT_EQ(byteSizeOrThrow(DataType::kInt64, {2, 3}, "t"), 48);
  expectInvalidArgument(failureOf([] { byteSizeOrThrow(DataType::kFloat32, {int64_t{1} << 62}, "tensor 'w'"); }),
                        {"size overflow", "tensor 'w'", "[4611686018427387904]"});
}

// Shape values that overflow: the layer is rejected when added (shapes are inferred at once), naming it.
TEST(SizeOverflow, ShapeValuesThatOverflowNameTheLayer) {
  {
    auto net = Builder().createNetwork();
    ITensor* x = net->addInput("x", DataType::kFloat32, {2});
    ITensor* shape = net->addConstant(int64s({2}, {kHuge, kHuge}));
    expectInvalidArgument(failureOf([&] { net->addLayer(ReshapeParams{}, {x, shape}, 1, "big_reshape"); }),
                          {"layer 'big_reshape'", "size overflow"});
  }
  {
    auto net = Builder().createNetwork();
    ITensor* x = net->addInput("x", DataType::kFloat32, {1, 1});
    ITensor* shape = net->addConstant(int64s({2}, {kHuge, kHuge}));
    expectInvalidArgument(failureOf([&] { net->addLayer(ExpandParams{}, {x, shape}, 1, "big_expand"); }),
                          {"layer 'big_expand'", "size overflow", "[1099511627776,1099511627776]"});
  }
  {
    auto net = Builder().createNetwork();
    ITensor* x = net->addInput("x", DataType::kFloat32, {4, 4});
    ITensor* repeats = net->addConstant(int64s({2}, {int64_t{1} << 62, 1}));
    expectInvalidArgument(failureOf([&] { net->addLayer(TileParams{}, {x, repeats}, 1, "big_tile"); }),
                          {"layer 'big_tile'", "size overflow", "input shapes [4,4], [2]"});
  }
  {
    auto net = Builder().createNetwork();
    ITensor* shape = net->addConstant(int64s({3}, {int64_t{1} << 31, int64_t{1} << 31, int64_t{1} << 31}));
    expectInvalidArgument(failureOf([&] { addConstantOfShape(*net, shape, "big_fill"); }),
                          {"layer 'big_fill'", "size overflow", "[2147483648,2147483648,2147483648]"});
  }
  {
    auto net = Builder().createNetwork();
    ITensor* start = net->addConstant(int64Scalar(kMin));
    ITensor* limit = net->addConstant(int64Scalar(kMax));
    ITensor* delta = net->addConstant(int64Scalar(1));
    expectInvalidArgument(failureOf([&] { net->addLayer(RangeParams{}, {start, limit, delta}, 1, "big_range"); }),
                          {"layer 'big_range'", "size overflow"});
  }
  {
    auto net = Builder().createNetwork();
    ITensor* start = net->addConstant(floatScalar(0.f));
    ITensor* limit = net->addConstant(floatScalar(1e30f));
    ITensor* delta = net->addConstant(floatScalar(1.f));
    expectInvalidArgument(failureOf([&] { net->addLayer(RangeParams{}, {start, limit, delta}, 1, "float_range"); }),
                          {"layer 'float_range'", "size overflow", "range element count"});
  }
  {
    // A rank read from the length of a shape input whose values are unknown.
    auto net = Builder().createNetwork();
    ITensor* shape = net->addInput("shape", DataType::kInt64, {int64_t{1} << 20});
    expectInvalidArgument(failureOf([&] { addConstantOfShape(*net, shape, "deep_fill"); }),
                          {"layer 'deep_fill'", "output rank 1048576"});
  }
  {
    auto net = Builder().createNetwork();
    expectInvalidArgument(failureOf([&] { net->addInput("x", DataType::kFloat32, {kHuge, kHuge}); }),
                          {"input 'x'", "size overflow"});
  }
}

// A shape whose dims fit one by one only beside a 0 dim is refused too: kernels multiply the other dims.
TEST(SizeOverflow, EmptyTensorWithHugeDimsIsRefused) {
  auto net = Builder().createNetwork();
  ITensor* shape = net->addConstant(int64s({3}, {0, kHuge, kHuge}));
  expectInvalidArgument(failureOf([&] { addConstantOfShape(*net, shape, "empty_fill"); }),
                        {"layer 'empty_fill'", "[0,1099511627776,1099511627776]"});
}

TEST(SizeOverflow, MaxShapesWhoseSizeOverflowsFailTheBuild) {
  auto net = Builder().createNetwork();
  ITensor* x = net->addInput("x", DataType::kFloat32, {-1, -1});
  BuilderConfig config;
  config.profile.setDimensions("x", {1, 1}, {1, 1}, {kHuge, kHuge});
  expectInvalidArgument(buildFailure(*net, net->addActivation(x, ActivationType::kRelu), config),
                        {"input 'x'", "more elements than fit in 64 bits", "maxTensorElements"});
}

// Tensors over BuilderConfig::maxTensorElements fail the build, naming the tensor, its layer and its shape,
// before anything allocates them (these would need 32 GiB and more).
TEST(MaxTensorElements, ConstantShapesOverTheLimitFailTheBuild) {
  {
    auto net = Builder().createNetwork();
    ITensor* shape = net->addConstant(int64s({2}, {int64_t{1} << 20, int64_t{1} << 13}));
    ITensor* y = addConstantOfShape(*net, shape, "fill")->output(0);
    expectInvalidArgument(buildFailure(*net, y),
                          {"tensor 'fill_output'", "layer 'fill'", "[1048576,8192]", "8589934592 elements",
                           "maxTensorElements of 4294967296"});
  }
  {
    auto net = Builder().createNetwork();
    ITensor* start = net->addConstant(floatScalar(0.f));
    ITensor* limit = net->addConstant(floatScalar(1e10f));
    ITensor* delta = net->addConstant(floatScalar(1.f));
    ITensor* y = net->addLayer(RangeParams{}, {start, limit, delta}, 1, "range")->output(0);
    expectInvalidArgument(buildFailure(*net, y), {"tensor 'range_output'", "layer 'range'", "[10000000000]"});
  }
}

TEST(MaxTensorElements, ProfileMaxShapesAreChecked) {
  // Tile of a dynamic input: [2^30, 4] x [1, 8] at the max shape is 2^35 elements.
  auto net = Builder().createNetwork();
  ITensor* x = net->addInput("x", DataType::kFloat32, {-1, 4});
  ITensor* repeats = net->addConstant(int64s({2}, {1, 8}));
  ITensor* y = net->addLayer(TileParams{}, {x, repeats}, 1, "tile")->output(0);
  BuilderConfig config;
  config.profile.setDimensions("x", {1, 4}, {2, 4}, {int64_t{1} << 30, 4});
  expectInvalidArgument(buildFailure(*net, y, config),
                        {"tensor 'tile_output'", "layer 'tile'", "[1073741824,32]", "at the profile's max shapes"});
}

TEST(MaxTensorElements, ShapesComputedFromShapeValuesAreChecked) {
  // ConstantOfShape(Concat(Shape(x), [8192])) with x up to [2^20]: [2^20, 2^13] at the max shape.
  auto net = Builder().createNetwork();
  ITensor* x = net->addInput("x", DataType::kFloat32, {-1});
  ITensor* shapeOfX = net->addLayer(ShapeParams{}, {x}, 1, "shape")->output(0);
  ITensor* shape = net->addConcatenation({shapeOfX, net->addConstant(int64s({1}, {8192}))}, 0, "concat");
  ITensor* y = addConstantOfShape(*net, shape, "fill")->output(0);
  BuilderConfig config;
  config.profile.setDimensions("x", {1}, {1}, {int64_t{1} << 20});
  expectInvalidArgument(buildFailure(*net, y, config), {"tensor 'fill_output'", "layer 'fill'", "[1048576,8192]"});
}

TEST(MaxTensorElements, ConfiguredLimitAppliesToInputsAndLayers) {
  auto makeNetwork = [](ITensor** y) {
    auto net = Builder().createNetwork();
    ITensor* x = net->addInput("x", DataType::kFloat32, {10, 4});
    *y = net->addLayer(TileParams{}, {x, net->addConstant(int64s({2}, {1, 8}))}, 1, "tile")->output(0);
    (*y)->setName("y");
    return net;
  };
  ITensor* y = nullptr;
  BuilderConfig config;
  config.maxTensorElements = 100;
  auto net = makeNetwork(&y);
  expectInvalidArgument(buildFailure(*net, y, config), {"tensor 'y'", "layer 'tile'", "[10,32]", "320 elements"});
  config.maxTensorElements = 39;
  net = makeNetwork(&y);
  expectInvalidArgument(buildFailure(*net, y, config), {"input 'x'", "[10,4]", "40 elements"});
  // At the limit the network builds and runs.
  config.maxTensorElements = 320;
  net = makeNetwork(&y);
  net->markOutput(y);
  auto engine = buildEngine(*net, config);
  std::vector<float> in(40), out(320, -1.f);
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(i);
  auto context = engine->createExecutionContext();
  context->setTensorAddress("x", in.data());
  context->setTensorAddress("y", out.data());
  context->execute();
  // y[r][c] = x[r][c % 4]
  EXPECT_EQ(out[3], 3.f);
  EXPECT_EQ(out[4], 0.f);
  EXPECT_EQ(out[32], 4.f);
  EXPECT_EQ(out[319], 39.f);
}

// Slice steps at the ends of int64 take one element (no overflow in the count or the strides).
TEST(SizeOverflow, SliceWithExtremeSteps) {
  struct Case {
    int64_t start, end, step;
    std::vector<float> expected;
  };
  for (const Case& c : {Case{9, kMin, kMin, {9.f}}, Case{0, kMax, kMax, {0.f}},
                        Case{-1, kMin, -3, {9.f, 6.f, 3.f, 0.f}}, Case{kMax, kMin, kMin + 1, {9.f}}}) {
    SCOPED_TRACE(::testing::Message() << c.start << " " << c.end << " " << c.step);
    auto net = Builder().createNetwork();
    ITensor* x = net->addInput("x", DataType::kFloat32, {10});
    ITensor* y = net->addLayer(SliceParams{},
                               {x, net->addConstant(int64s({1}, {c.start})), net->addConstant(int64s({1}, {c.end})),
                                net->addConstant(int64s({1}, {0})), net->addConstant(int64s({1}, {c.step}))},
                               1, "slice")
                     ->output(0);
    y->setName("y");
    net->markOutput(y);
    auto engine = buildEngine(*net);
    std::vector<float> in(10), out(c.expected.size(), -1.f);
    for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(i);
    auto context = engine->createExecutionContext();
    EXPECT_EQ(context->tensorShape("y"), (Dims{static_cast<int64_t>(c.expected.size())}));
    context->setTensorAddress("x", in.data());
    context->setTensorAddress("y", out.data());
    context->execute();
    EXPECT_EQ(out, c.expected);
  }
}

// ONNX models: initializer dims and shape values that overflow name the tensor or the node.
namespace {

struct TinyModel {
  onnx::ModelProto model;
  TinyModel() {
    model.set_ir_version(8);
    auto* opset = model.add_opset_import();
    opset->set_domain("");
    opset->set_version(13);
    model.mutable_graph()->set_name("size");
  }
  onnx::GraphProto& graph() { return *model.mutable_graph(); }
  void input(const std::string& name, const Dims& dims) {
    auto* vi = graph().add_input();
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) tt->mutable_shape()->add_dim()->set_dim_value(d);
  }
  void initializer(const std::string& name, const std::vector<int64_t>& values) {
    auto* t = graph().add_initializer();
    onnx_import::tensorToProto(int64s({static_cast<int64_t>(values.size())}, values), name, t);
  }
  void node(const std::string& op, const std::vector<std::string>& in, const std::string& out,
            const std::string& name) {
    auto* n = graph().add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (const auto& s : in) n->add_input(s);
    n->add_output(out);
    graph().add_output()->set_name(out);
  }
  Failure parseFailure() {
    std::string bytes = model.SerializeAsString();
    return failureOf([&] {
      auto net = Builder().createNetwork();
      OnnxParser(*net).parse(bytes.data(), bytes.size());
      Builder().buildSerializedNetwork(*net, BuilderConfig{});
    });
  }
};

}  // namespace

TEST(SizeOverflowOnnx, ShapeValuesThatOverflowNameTheNode) {
  for (const std::string& op : {"Reshape", "Expand"}) {
    SCOPED_TRACE(op);
    TinyModel m;
    m.input("x", {1});
    m.initializer("shape", {kHuge, kHuge});
    m.node(op, {"x", "shape"}, "y", "big_" + op);
    expectInvalidArgument(m.parseFailure(), {"node 'big_" + op + "'", "size overflow"});
  }
  TinyModel tile;
  tile.input("x", {2, 2});
  tile.initializer("repeats", {kMax, 1});
  tile.node("Tile", {"x", "repeats"}, "y", "big_tile");
  expectInvalidArgument(tile.parseFailure(), {"node 'big_tile'", "size overflow"});
  TinyModel fill;
  fill.initializer("shape", {int64_t{1} << 31, int64_t{1} << 31, int64_t{1} << 31});
  fill.node("ConstantOfShape", {"shape"}, "y", "big_fill");
  expectInvalidArgument(fill.parseFailure(), {"node 'big_fill'", "size overflow"});
}

TEST(SizeOverflowOnnx, InitializerDimsThatOverflowNameTheTensor) {
  TinyModel m;
  m.input("x", {1});
  auto* w = m.graph().add_initializer();
  w->set_name("w");
  w->set_data_type(onnx::TensorProto::FLOAT);
  w->add_dims(kHuge);
  w->add_dims(kHuge);
  m.node("Add", {"x", "w"}, "y", "add");
  expectInvalidArgument(m.parseFailure(), {"tensor 'w'", "size overflow", "[1099511627776,1099511627776]"});
}

TEST(SizeOverflowOnnx, TensorsOverTheElementLimitFailTheBuild) {
  TinyModel m;
  m.initializer("shape", {int64_t{1} << 20, int64_t{1} << 13});
  m.node("ConstantOfShape", {"shape"}, "y", "fill");
  expectInvalidArgument(m.parseFailure(), {"tensor 'y'", "ONNX node 'fill'", "[1048576,8192]", "maxTensorElements"});
}

TEST(MaxTensorElements, CliOption) {
  using tools::Options;
  auto configOf = [](std::vector<std::string> args) {
    return tools::builderConfigFrom(Options(args, tools::builderOptionNames({})));
  };
  EXPECT_EQ(configOf({}).maxTensorElements, int64_t{1} << 32);
  EXPECT_EQ(configOf({"--max-tensor-elements=1000"}).maxTensorElements, 1000);
  expectInvalidArgument(failureOf([&] { configOf({"--max-tensor-elements=0"}); }), {"--max-tensor-elements"});
  expectInvalidArgument(failureOf([&] { configOf({"--max-tensor-elements=lots"}); }), {"--max-tensor-elements"});
}
