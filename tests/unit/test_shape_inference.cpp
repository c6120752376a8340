// Shape and type inference of every core layer, through ir::Network (addLayer infers at once).
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "core/half.h"
#include "ir/network.h"
#include "ir/shape_inference.h"

namespace kiln {
namespace {

using ir::Network;

// The message of the kiln::Error thrown by f; fails the test when f does not throw one.
std::string errorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a kiln::Error";
  return "";
}

ErrorCode codeOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  }
  ADD_FAILURE() << "expected a kiln::Error";
  return ErrorCode::kInternal;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

class ShapeInference : public ::testing::Test {
 protected:
  Network net;
  int inputCount = 0;

  ITensor* input(const Dims& dims, DataType type = DataType::kFloat32) {
    return net.addInput("in" + std::to_string(inputCount++), type, dims);
  }
  ITensor* i64(const std::vector<int64_t>& v) {
    return net.addConstant(Weights::copyOf(DataType::kInt64, {static_cast<int64_t>(v.size())}, v.data()));
  }
  ITensor* i32(const std::vector<int32_t>& v) {
    return net.addConstant(Weights::copyOf(DataType::kInt32, {static_cast<int64_t>(v.size())}, v.data()));
  }
  ITensor* scalarI64(int64_t v) { return net.addConstant(Weights::copyOf(DataType::kInt64, {}, &v)); }
  ITensor* scalarF32(float v) { return net.addConstant(Weights::copyOf(DataType::kFloat32, {}, &v)); }
  ITensor* f32(const std::vector<float>& v) {
    return net.addConstant(Weights::copyOf(DataType::kFloat32, {static_cast<int64_t>(v.size())}, v.data()));
  }
  ITensor* zeros(const Dims& dims, DataType type = DataType::kFloat32) {
    return net.addConstant(Weights::zeros(type, dims));
  }
  ILayer* add(const LayerParams& params, const std::vector<ITensor*>& inputs, int numOutputs = 1,
              const std::string& name = "") {
    return net.addLayer(params, inputs, numOutputs, name);
  }
  Dims dims(const LayerParams& params, const std::vector<ITensor*>& inputs) {
    return add(params, inputs)->output(0)->dims();
  }
  DataType type(const LayerParams& params, const std::vector<ITensor*>& inputs) {
    return add(params, inputs)->output(0)->type();
  }
};

// ---- helpers of the API ---------------------------------------------------------------------------

TEST_F(ShapeInference, BroadcastShapes) {
  ir::Layer layer("b", ElementWiseParams{});
  EXPECT_EQ(ir::broadcastShapes({2, 1, 4}, {3, 1}, layer), (Dims{2, 3, 4}));
  EXPECT_EQ(ir::broadcastShapes({}, {5}, layer), (Dims{5}));
  EXPECT_EQ(ir::broadcastShapes({-1, 3}, {4, 3}, layer), (Dims{4, 3}));
  EXPECT_EQ(ir::broadcastShapes({-1, 3}, {1, 3}, layer), (Dims{-1, 3}));
  EXPECT_EQ(ir::broadcastShapes({1}, {-1}, layer), (Dims{-1}));
  EXPECT_EQ(ir::broadcastShapes({-1}, {-1}, layer), (Dims{-1}));
  EXPECT_EQ(ir::broadcastShapes({-1}, {0}, layer), (Dims{0}));
  EXPECT_THROW(ir::broadcastShapes({2, 3}, {4, 3}, layer), Error);
  std::string msg = errorOf([&] { ir::broadcastShapes({2, 3}, {4, 3}, layer); });
  EXPECT_EQ(msg.rfind("layer 'b' (ElementWise)", 0), 0u) << msg;
  EXPECT_TRUE(contains(msg, "[2,3]") && contains(msg, "[4,3]")) << msg;
}

TEST_F(ShapeInference, NormalizeAxis) {
  ir::Layer layer("s", SoftmaxParams{});
  EXPECT_EQ(ir::normalizeAxis(-1, 4, layer), 3);
  EXPECT_EQ(ir::normalizeAxis(0, 4, layer), 0);
  EXPECT_EQ(ir::normalizeAxis(-4, 4, layer), 0);
  EXPECT_THROW(ir::normalizeAxis(4, 4, layer), Error);
  EXPECT_THROW(ir::normalizeAxis(-5, 4, layer), Error);
  EXPECT_EQ(codeOf([&] { ir::normalizeAxis(4, 4, layer); }), ErrorCode::kInvalidModel);
  EXPECT_TRUE(contains(errorOf([&] { ir::normalizeAxis(7, 2, layer); }), "axis 7")) ;
}

TEST_F(ShapeInference, ReadIntegers) {
  std::vector<int32_t> a{1, -2, 3};
  EXPECT_EQ(ir::readIntegers(Weights::copyOf(DataType::kInt32, {3}, a.data())), (std::vector<int64_t>{1, -2, 3}));
  std::vector<int64_t> b{5, -1};
  EXPECT_EQ(ir::readIntegers(Weights::copyOf(DataType::kInt64, {2}, b.data())), b);
  std::vector<uint8_t> c{7, 255};
  EXPECT_EQ(ir::readIntegers(Weights::copyOf(DataType::kUInt8, {2}, c.data())), (std::vector<int64_t>{7, 255}));
  std::vector<int8_t> d{-3};
  EXPECT_EQ(ir::readIntegers(Weights::copyOf(DataType::kInt8, {}, d.data())), (std::vector<int64_t>{-3}));
  std::vector<uint16_t> e{65535};
  EXPECT_EQ(ir::readIntegers(Weights::copyOf(DataType::kUInt16, {1}, e.data())), (std::vector<int64_t>{65535}));
  std::vector<float> f{1.f};
  EXPECT_THROW(ir::readIntegers(Weights::copyOf(DataType::kFloat32, {1}, f.data())), Error);
  EXPECT_TRUE(ir::readIntegers(Weights::zeros(DataType::kInt64, {0})).empty());
}

TEST_F(ShapeInference, ShapeInputsAndDataDependence) {
  auto layer = [](LayerParams p) { return ir::Layer("l", std::move(p)); };
  EXPECT_TRUE(ir::isShapeInput(layer(ReshapeParams{}), 1));
  EXPECT_FALSE(ir::isShapeInput(layer(ReshapeParams{}), 0));
  EXPECT_TRUE(ir::isShapeInput(layer(ReduceParams{}), 1));
  for (int i = 1; i <= 4; ++i) EXPECT_TRUE(ir::isShapeInput(layer(SliceParams{}), i));
  EXPECT_FALSE(ir::isShapeInput(layer(SliceParams{}), 0));
  EXPECT_TRUE(ir::isShapeInput(layer(SplitParams{}), 1));
  EXPECT_TRUE(ir::isShapeInput(layer(ConstantOfShapeParams{}), 0));
  for (int i = 0; i <= 2; ++i) EXPECT_TRUE(ir::isShapeInput(layer(RangeParams{}), i));
  EXPECT_TRUE(ir::isShapeInput(layer(ExpandParams{}), 1));
  EXPECT_TRUE(ir::isShapeInput(layer(TileParams{}), 1));
  EXPECT_TRUE(ir::isShapeInput(layer(PaddingParams{}), 1));
  EXPECT_FALSE(ir::isShapeInput(layer(PaddingParams{}), 2));
  EXPECT_TRUE(ir::isShapeInput(layer(PaddingParams{}), 3));
  for (int i = 1; i <= 3; ++i) EXPECT_TRUE(ir::isShapeInput(layer(ResizeParams{}), i));
  EXPECT_FALSE(ir::isShapeInput(layer(ResizeParams{}), 0));
  EXPECT_TRUE(ir::isShapeInput(layer(TopKParams{}), 1));
  EXPECT_TRUE(ir::isShapeInput(layer(CumSumParams{}), 1));
  EXPECT_TRUE(ir::isShapeInput(layer(OneHotParams{}), 1));
  EXPECT_FALSE(ir::isShapeInput(layer(OneHotParams{}), 2));
  EXPECT_TRUE(ir::isShapeInput(layer(TriluParams{}), 1));
  EXPECT_FALSE(ir::isShapeInput(layer(ConvolutionParams{}), 1));
  EXPECT_FALSE(ir::isShapeInput(layer(GatherParams{}), 1));
  EXPECT_TRUE(ir::hasDataDependentShape(layer(NonZeroParams{})));
  EXPECT_FALSE(ir::hasDataDependentShape(layer(ReshapeParams{})));
}

TEST_F(ShapeInference, InferOutputsDirectly) {
  ir::Layer layer("r", ReshapeParams{});
  TensorDesc x{DataType::kFloat16, {2, 3, 4}}, s{DataType::kInt64, {2}};
  std::vector<int64_t> shape{-1, 4};
  Weights value = Weights::copyOf(DataType::kInt64, {2}, shape.data());
  auto out = ir::inferOutputs(layer, {&x, &s}, {nullptr, &value});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type, DataType::kFloat16);
  EXPECT_EQ(out[0].shape, (Dims{6, 4}));
  // values shorter than inputs: the shape is unknown, the rank comes from the shape input's length.
  out = ir::inferOutputs(layer, {&x, &s}, {});
  EXPECT_EQ(out[0].shape, (Dims{-1, -1}));
}

// ---- simple layers --------------------------------------------------------------------------------

TEST_F(ShapeInference, ConstantIdentityCast) {
  ITensor* c = zeros({2, 3}, DataType::kInt32);
  EXPECT_EQ(c->dims(), (Dims{2, 3}));
  EXPECT_EQ(c->type(), DataType::kInt32);
  ITensor* x = input({-1, 5}, DataType::kFloat16);
  EXPECT_EQ(dims(IdentityParams{}, {x}), (Dims{-1, 5}));
  EXPECT_EQ(type(IdentityParams{}, {x}), DataType::kFloat16);
  CastParams cast;
  cast.to = DataType::kInt64;
  ILayer* l = add(cast, {x});
  EXPECT_EQ(l->output(0)->type(), DataType::kInt64);
  EXPECT_EQ(l->output(0)->dims(), (Dims{-1, 5}));
  EXPECT_THROW(add(IdentityParams{}, {x, x}), Error);
  EXPECT_TRUE(contains(errorOf([&] { add(IdentityParams{}, {x, x}, 1, "id2"); }), "expects 1 input, got 2"));
}

TEST_F(ShapeInference, ElementWise) {
  ITensor* a = input({2, 1, 4});
  ITensor* b = input({3, 1});
  EXPECT_EQ(dims(ElementWiseParams{ElementWiseOp::kAdd}, {a, b}), (Dims{2, 3, 4}));
  EXPECT_EQ(type(ElementWiseParams{ElementWiseOp::kAdd}, {a, b}), DataType::kFloat32);
  EXPECT_EQ(type(ElementWiseParams{ElementWiseOp::kLess}, {a, b}), DataType::kBool);
  EXPECT_EQ(type(ElementWiseParams{ElementWiseOp::kEqual}, {a, b}), DataType::kBool);
  ITensor* p = input({2}, DataType::kBool);
  ITensor* q = input({-1, 2}, DataType::kBool);
  EXPECT_EQ(dims(ElementWiseParams{ElementWiseOp::kAnd}, {p, q}), (Dims{-1, 2}));
  EXPECT_EQ(type(ElementWiseParams{ElementWiseOp::kXor}, {p, q}), DataType::kBool);
  // Dynamic dims: -1 against a known dim other than 1 takes it; against 1 it stays unknown.
  ITensor* d = input({-1, 4});
  EXPECT_EQ(dims(ElementWiseParams{ElementWiseOp::kMul}, {d, a}), (Dims{2, -1, 4}));
  EXPECT_EQ(dims(ElementWiseParams{ElementWiseOp::kMul}, {d, input({3, 1})}), (Dims{3, 4}));
  // Pow and PRelu accept mixed types; Pow keeps a's type.
  ITensor* i = input({4}, DataType::kInt32);
  ILayer* pow = add(ElementWiseParams{ElementWiseOp::kPow}, {a, i});
  EXPECT_EQ(pow->output(0)->type(), DataType::kFloat32);
  EXPECT_EQ(pow->output(0)->dims(), (Dims{2, 1, 4}));
  // Mismatched types and shapes.
  EXPECT_THROW(add(ElementWiseParams{ElementWiseOp::kAdd}, {a, i}), Error);
  ITensor* c = input({5, 4});
  std::string msg = errorOf([&] { add(ElementWiseParams{ElementWiseOp::kAdd}, {b, c}, 1, "add1"); });
  EXPECT_EQ(msg.rfind("layer 'add1' (ElementWise)", 0), 0u) << msg;
  EXPECT_TRUE(contains(msg, "[3,1]") && contains(msg, "[5,4]")) << msg;
  EXPECT_EQ(net.findLayer("add1"), nullptr);  // the failed layer was removed
}

TEST_F(ShapeInference, UnaryAndActivation) {
  ITensor* x = input({-1, 3});
  EXPECT_EQ(dims(UnaryParams{UnaryOp::kExp}, {x}), (Dims{-1, 3}));
  EXPECT_EQ(type(UnaryParams{UnaryOp::kExp}, {x}), DataType::kFloat32);
  EXPECT_EQ(type(UnaryParams{UnaryOp::kIsNaN}, {x}), DataType::kBool);
  EXPECT_EQ(type(UnaryParams{UnaryOp::kIsInf}, {x}), DataType::kBool);
  ITensor* b = input({2}, DataType::kBool);
  EXPECT_EQ(type(UnaryParams{UnaryOp::kNot}, {b}), DataType::kBool);
  ActivationParams act;
  act.type = ActivationType::kLeakyRelu;
  EXPECT_EQ(dims(act, {x}), (Dims{-1, 3}));
  EXPECT_THROW(add(act, {}), Error);
}

TEST_F(ShapeInference, MatrixMultiply) {
  auto mm = [&](Dims a, Dims b, bool ta = false, bool tb = false) {
    return net.addMatrixMultiply(input(a), ta, input(b), tb)->dims();
  };
  EXPECT_EQ(mm({2, 3}, {3, 4}), (Dims{2, 4}));
  EXPECT_EQ(mm({5, 2, 3}, {3, 4}), (Dims{5, 2, 4}));
  EXPECT_EQ(mm({5, 1, 2, 3}, {7, 3, 4}), (Dims{5, 7, 2, 4}));
  EXPECT_EQ(mm({3}, {3, 4}), (Dims{4}));
  EXPECT_EQ(mm({2, 3}, {3}), (Dims{2}));
  EXPECT_EQ(mm({3}, {3}), (Dims{}));
  EXPECT_EQ(mm({3, 2}, {3, 4}, true), (Dims{2, 4}));
  EXPECT_EQ(mm({2, 3}, {4, 3}, false, true), (Dims{2, 4}));
  EXPECT_EQ(mm({8, 3, 2}, {8, 4, 3}, true, true), (Dims{8, 2, 4}));
  EXPECT_EQ(mm({-1, -1, 64}, {64, 10}), (Dims{-1, -1, 10}));
  EXPECT_EQ(mm({2, -1}, {3, 4}), (Dims{2, 4}));
  std::string msg = errorOf([&] {
    net.addMatrixMultiply(input({2, 3}), false, input({4, 5}), false, "mm1");
  });
  EXPECT_EQ(msg.rfind("layer 'mm1' (MatrixMultiply)", 0), 0u) << msg;
  EXPECT_TRUE(contains(msg, "[2,3]") && contains(msg, "[4,5]")) << msg;
  EXPECT_THROW(mm({2, 2, 3}, {3, 3, 4}), Error);  // batch broadcast fails
  EXPECT_THROW(net.addMatrixMultiply(input({2, 3}), false, input({3, 4}, DataType::kFloat16), false), Error);
}

// ---- convolution and pooling ----------------------------------------------------------------------

TEST_F(ShapeInference, Convolution) {
  ConvolutionParams p;
  p.strides = {2, 2};
  p.padsBegin = {1, 1};
  p.padsEnd = {1, 1};
  ITensor* x = input({1, 3, 224, 224});
  ILayer* conv = add(p, {x, zeros({64, 3, 7, 7}), zeros({64})});
  EXPECT_EQ(conv->output(0)->dims(), (Dims{1, 64, 110, 110}));
  // Defaults: stride 1, no padding. Dilation 2 makes a 3x3 kernel span 5.
  ConvolutionParams d;
  d.dilations = {2, 2};
  EXPECT_EQ(dims(d, {input({2, 4, 10, 12}), zeros({8, 4, 3, 3})}), (Dims{2, 8, 6, 8}));
  // Groups: weights [M, C/groups, k...].
  ConvolutionParams g;
  g.groups = 4;
  EXPECT_EQ(dims(g, {input({1, 8, 5, 5}), zeros({16, 2, 3, 3})}), (Dims{1, 16, 3, 3}));
  // 1-D and 3-D.
  EXPECT_EQ(dims(ConvolutionParams{}, {input({1, 2, 10}), zeros({4, 2, 3})}), (Dims{1, 4, 8}));
  EXPECT_EQ(dims(ConvolutionParams{}, {input({1, 2, 4, 5, 6}), zeros({4, 2, 3, 3, 3})}), (Dims{1, 4, 2, 3, 4}));
  // Dynamic batch and spatial dims.
  EXPECT_EQ(dims(ConvolutionParams{}, {input({-1, 3, -1, 32}), zeros({8, 3, 3, 3})}), (Dims{-1, 8, -1, 30}));
  EXPECT_EQ(dims(ConvolutionParams{}, {input({1, -1, 8, 8}), zeros({8, 3, 3, 3})}), (Dims{1, 8, 6, 6}));
}

TEST_F(ShapeInference, ConvolutionAutoPad) {
  ITensor* x = input({1, 3, 7, 8});
  ITensor* w = zeros({4, 3, 3, 3});
  ConvolutionParams p;
  p.strides = {2, 3};
  p.paddingMode = PaddingMode::kSameUpper;
  EXPECT_EQ(dims(p, {x, w}), (Dims{1, 4, 4, 3}));
  p.paddingMode = PaddingMode::kSameLower;
  EXPECT_EQ(dims(p, {x, w}), (Dims{1, 4, 4, 3}));
  p.paddingMode = PaddingMode::kValid;
  p.padsBegin = {5, 5};  // ignored with VALID
  p.padsEnd = {5, 5};
  EXPECT_EQ(dims(p, {x, w}), (Dims{1, 4, 3, 2}));
}

TEST_F(ShapeInference, ConvolutionErrors) {
  ITensor* x = input({1, 3, 8, 8});
  std::string msg = errorOf([&] { add(ConvolutionParams{}, {x, zeros({8, 4, 3, 3})}, 1, "conv1"); });
  EXPECT_EQ(msg, "layer 'conv1' (Convolution): input channels 3 do not match weights [8,4,3,3] * groups 1");
  EXPECT_EQ(codeOf([&] { add(ConvolutionParams{}, {x, zeros({8, 4, 3, 3})}); }), ErrorCode::kInvalidModel);
  EXPECT_THROW(add(ConvolutionParams{}, {x, zeros({8, 3, 3})}), Error);          // weights rank
  EXPECT_THROW(add(ConvolutionParams{}, {x, zeros({8, 3, 9, 9})}), Error);       // kernel larger than input
  EXPECT_THROW(add(ConvolutionParams{}, {x, zeros({8, 3, 3, 3}), zeros({7})}), Error);  // bias
  EXPECT_THROW(add(ConvolutionParams{}, {x}), Error);                            // missing weights
  EXPECT_THROW(add(ConvolutionParams{}, {input({3, 8}), zeros({8, 3})}), Error);       // no spatial dims
  EXPECT_THROW(add(ConvolutionParams{}, {input({1, 6, 8, 8}), zeros({8, 3, 3, 3})}, 1, "g"), Error);  // groups 1
  ConvolutionParams g;
  g.groups = 3;
  EXPECT_THROW(add(g, {input({1, 6, 8, 8}), zeros({8, 2, 3, 3})}), Error);  // 8 output channels, 3 groups
  ConvolutionParams k;
  k.kernelShape = {3};
  EXPECT_THROW(add(k, {x, zeros({8, 3, 3, 3})}), Error);  // kernel shape rank
}

TEST_F(ShapeInference, Deconvolution) {
  DeconvolutionParams p;
  p.strides = {2, 2};
  p.padsBegin = {1, 1};
  p.padsEnd = {1, 1};
  p.outputPadding = {1, 1};
  // out = 2*(in-1) + 1 + 3 - 2
  EXPECT_EQ(dims(p, {input({1, 8, 5, 6}), zeros({8, 4, 3, 3})}), (Dims{1, 4, 10, 12}));
  DeconvolutionParams g;
  g.groups = 2;
  EXPECT_EQ(dims(g, {input({1, 8, 5, 5}), zeros({8, 3, 3, 3}), zeros({6})}), (Dims{1, 6, 7, 7}));
  DeconvolutionParams same;
  same.strides = {2, 2};
  same.paddingMode = PaddingMode::kSameUpper;
  EXPECT_EQ(dims(same, {input({1, 8, 5, 6}), zeros({8, 4, 3, 3})}), (Dims{1, 4, 10, 12}));
  DeconvolutionParams shape;
  shape.strides = {2, 2};
  shape.outputShape = {11, 13};
  EXPECT_EQ(dims(shape, {input({1, 8, 5, 6}), zeros({8, 4, 3, 3})}), (Dims{1, 4, 11, 13}));
  EXPECT_EQ(dims(DeconvolutionParams{}, {input({-1, 8, -1, 4}), zeros({8, 4, 3, 3})}), (Dims{-1, 4, -1, 6}));
  std::string msg = errorOf([&] { add(DeconvolutionParams{}, {input({1, 3, 5, 5}), zeros({8, 4, 3, 3})}, 1, "up"); });
  EXPECT_EQ(msg.rfind("layer 'up' (Deconvolution): input channels 3", 0), 0u) << msg;
  EXPECT_TRUE(contains(msg, "[8,4,3,3]")) << msg;
}

TEST_F(ShapeInference, Pooling) {
  PoolingParams p;
  p.kernelShape = {3, 3};
  p.strides = {2, 2};
  ITensor* x = input({1, 16, 32, 32});
  EXPECT_EQ(dims(p, {x}), (Dims{1, 16, 15, 15}));
  p.ceilMode = true;
  EXPECT_EQ(dims(p, {x}), (Dims{1, 16, 16, 16}));
  // ceil mode drops a last window that would start in the end padding.
  PoolingParams q;
  q.kernelShape = {2};
  q.strides = {2};
  q.padsBegin = {1};
  q.padsEnd = {1};
  q.ceilMode = true;
  EXPECT_EQ(dims(q, {input({1, 1, 4})}), (Dims{1, 1, 3}));
  q.ceilMode = false;
  EXPECT_EQ(dims(q, {input({1, 1, 4})}), (Dims{1, 1, 3}));
  PoolingParams r;
  r.kernelShape = {2};
  r.strides = {2};
  r.padsEnd = {1};
  r.ceilMode = true;
  EXPECT_EQ(dims(r, {input({1, 1, 5})}), (Dims{1, 1, 3}));
  // Dilations.
  PoolingParams d;
  d.kernelShape = {2, 2};
  d.dilations = {2, 2};
  EXPECT_EQ(dims(d, {input({1, 1, 5, 5})}), (Dims{1, 1, 3, 3}));
  // Average / Lp, SAME, dynamic.
  PoolingParams a;
  a.type = PoolingType::kAverage;
  a.kernelShape = {3, 3};
  a.strides = {2, 2};
  a.paddingMode = PaddingMode::kSameUpper;
  EXPECT_EQ(dims(a, {input({-1, 8, 7, -1})}), (Dims{-1, 8, 4, -1}));
  a.type = PoolingType::kLp;
  a.paddingMode = PaddingMode::kValid;
  EXPECT_EQ(dims(a, {input({2, 8, 7, 9})}), (Dims{2, 8, 3, 4}));
}

TEST_F(ShapeInference, MaxPoolIndices) {
  PoolingParams p;
  p.kernelShape = {2, 2};
  p.strides = {2, 2};
  ILayer* l = add(p, {input({1, 3, 8, 8}, DataType::kFloat16)}, 2);
  ASSERT_EQ(l->numOutputs(), 2);
  EXPECT_EQ(l->output(0)->type(), DataType::kFloat16);
  EXPECT_EQ(l->output(1)->type(), DataType::kInt64);
  EXPECT_EQ(l->output(1)->dims(), (Dims{1, 3, 4, 4}));
  p.type = PoolingType::kAverage;
  EXPECT_THROW(add(p, {input({1, 3, 8, 8})}, 2), Error);
  PoolingParams none;
  EXPECT_THROW(add(none, {input({1, 3, 8, 8})}), Error);  // no kernel
  PoolingParams big;
  big.kernelShape = {9, 9};
  EXPECT_THROW(add(big, {input({1, 3, 8, 8})}), Error);
  PoolingParams wrong;
  wrong.kernelShape = {2};
  EXPECT_THROW(add(wrong, {input({1, 3, 8, 8})}), Error);  // kernel rank
}

// ---- reductions, softmax, normalization -----------------------------------------------------------

TEST_F(ShapeInference, Reduce) {
  ITensor* x = input({2, 3, 4});
  ReduceParams p;
  p.axes = {1};
  EXPECT_EQ(dims(p, {x}), (Dims{2, 1, 4}));
  p.keepDims = false;
  p.axes = {-1, 0};
  EXPECT_EQ(dims(p, {x}), (Dims{3}));
  p.axes = {};
  EXPECT_EQ(dims(p, {x}), (Dims{}));
  p.keepDims = true;
  EXPECT_EQ(dims(p, {x}), (Dims{1, 1, 1}));
  p.noopWithEmptyAxes = true;
  EXPECT_EQ(dims(p, {x}), (Dims{2, 3, 4}));
  // Axes from input 1.
  ReduceParams q;
  q.keepDims = false;
  EXPECT_EQ(dims(q, {x, i64({1})}), (Dims{2, 4}));
  EXPECT_EQ(dims(q, {x, i64({})}), (Dims{}));
  // Axes input of unknown value: rank from its length; kept dims may be 1 or stay.
  EXPECT_EQ(dims(q, {x, input({2}, DataType::kInt64)}), (Dims{-1}));
  q.keepDims = true;
  EXPECT_EQ(dims(q, {input({2, 1, 4}), input({2}, DataType::kInt64)}), (Dims{-1, 1, -1}));
  // Errors.
  p.axes = {3};
  std::string msg = errorOf([&] { add(p, {x}, 1, "sum"); });
  EXPECT_EQ(msg.rfind("layer 'sum' (Reduce): axis 3 is out of range for rank 3", 0), 0u) << msg;
  p.axes = {1, -2};
  EXPECT_THROW(add(p, {x}), Error);  // repeated
}

TEST_F(ShapeInference, Softmax) {
  ITensor* x = input({2, -1, 5});
  EXPECT_EQ(net.addSoftmax(x, -1)->dims(), (Dims{2, -1, 5}));
  SoftmaxParams p;
  p.type = SoftmaxType::kLogSoftmax;
  p.axis = 1;
  p.coerce2d = true;
  EXPECT_EQ(dims(p, {x}), (Dims{2, -1, 5}));
  EXPECT_THROW(net.addSoftmax(x, 3), Error);
}

TEST_F(ShapeInference, Normalization) {
  ITensor* x = input({2, 4, 5, 5});
  NormalizationParams batch;
  ITensor* c = zeros({4});
  EXPECT_EQ(dims(batch, {x, c, c, c, c}), (Dims{2, 4, 5, 5}));
  EXPECT_THROW(add(batch, {x, c, c, c}), Error);  // needs 5 inputs
  EXPECT_THROW(add(batch, {x, zeros({3}), c, c, c}), Error);
  NormalizationParams inst;
  inst.type = NormalizationType::kInstance;
  EXPECT_EQ(dims(inst, {x, c, c}), (Dims{2, 4, 5, 5}));
  NormalizationParams layer;
  layer.type = NormalizationType::kLayer;
  layer.axis = -1;
  ITensor* y = input({-1, 7, 16}, DataType::kFloat16);
  ILayer* ln = add(layer, {y, zeros({16}, DataType::kFloat16)});
  EXPECT_EQ(ln->output(0)->dims(), (Dims{-1, 7, 16}));
  EXPECT_EQ(ln->output(0)->type(), DataType::kFloat16);
  layer.axis = 3;
  EXPECT_THROW(add(layer, {y, zeros({16})}), Error);
  NormalizationParams group;
  group.type = NormalizationType::kGroup;
  group.numGroups = 2;
  EXPECT_EQ(dims(group, {x, c, c}), (Dims{2, 4, 5, 5}));
  group.numGroups = 3;
  EXPECT_THROW(add(group, {x, c, c}), Error);
  NormalizationParams rms;
  rms.type = NormalizationType::kRMS;
  rms.axis = -1;
  EXPECT_EQ(dims(rms, {y, zeros({16})}), (Dims{-1, 7, 16}));
}

// ---- reshapes -------------------------------------------------------------------------------------

TEST_F(ShapeInference, Reshape) {
  ITensor* x = input({2, 3, 4});
  EXPECT_EQ(net.addReshape(x, {6, 4})->dims(), (Dims{6, 4}));
  EXPECT_EQ(net.addReshape(x, {-1})->dims(), (Dims{24}));
  EXPECT_EQ(net.addReshape(x, {0, -1})->dims(), (Dims{2, 12}));
  EXPECT_EQ(net.addReshape(x, {0, 0, 2, 2})->dims(), (Dims{2, 3, 2, 2}));
  // Dynamic batch: 0 copies it and the -1 is still inferred.
  ITensor* d = input({-1, 3, 4});
  EXPECT_EQ(net.addReshape(d, {0, -1})->dims(), (Dims{-1, 12}));
  EXPECT_EQ(net.addReshape(d, {0, 3, 2, 2})->dims(), (Dims{-1, 3, 2, 2}));
  EXPECT_EQ(net.addReshape(d, {-1, 4})->dims(), (Dims{-1, 4}));
  // allowZero keeps a 0 as a 0.
  ReshapeParams zero;
  zero.allowZero = true;
  EXPECT_EQ(dims(zero, {input({0, 4}), i64({4, 0})}), (Dims{4, 0}));
  // Unknown shape value: rank from the shape input's length.
  EXPECT_EQ(dims(ReshapeParams{}, {x, input({3}, DataType::kInt64)}), (Dims{-1, -1, -1}));
  EXPECT_EQ(dims(ReshapeParams{}, {x, i32({4, 6})}), (Dims{4, 6}));
  // Errors.
  std::string msg = errorOf([&] { net.addReshape(x, {5, 5}, "r1"); });
  EXPECT_EQ(msg.rfind("layer 'r1' (Reshape)", 0), 0u) << msg;
  EXPECT_TRUE(contains(msg, "[2,3,4]") && contains(msg, "[5,5]")) << msg;
  EXPECT_THROW(net.addReshape(x, {-1, -1}), Error);
  EXPECT_THROW(net.addReshape(x, {5, -1}), Error);
  EXPECT_THROW(net.addReshape(x, {-2, 12}), Error);
  EXPECT_THROW(net.addReshape(input({2}), {0, 0, 1}), Error);  // copies a dim the input lacks
}

TEST_F(ShapeInference, Flatten) {
  ReshapeParams p;
  p.mode = ReshapeMode::kFlatten;
  EXPECT_EQ(dims(p, {input({2, 3, 4, 5})}), (Dims{2, 60}));
  p.axis = 0;
  EXPECT_EQ(dims(p, {input({2, 3, 4})}), (Dims{1, 24}));
  p.axis = 3;
  EXPECT_EQ(dims(p, {input({2, 3, 4})}), (Dims{24, 1}));
  p.axis = -1;
  EXPECT_EQ(dims(p, {input({-1, 3, 4})}), (Dims{-1, 4}));
  p.axis = -3;
  EXPECT_EQ(dims(p, {input({2, 3, 4})}), (Dims{1, 24}));
  p.axis = 4;
  EXPECT_THROW(add(p, {input({2, 3, 4})}), Error);
}

TEST_F(ShapeInference, SqueezeUnsqueeze) {
  ReshapeParams sq;
  sq.mode = ReshapeMode::kSqueeze;
  EXPECT_EQ(dims(sq, {input({1, 3, 1, 4})}), (Dims{3, 4}));
  sq.axes = {-2};
  EXPECT_EQ(dims(sq, {input({1, 3, 1, 4})}), (Dims{1, 3, 4}));
  sq.axes = {};
  EXPECT_EQ(dims(sq, {input({1, 3, 1, 4}), i64({0})}), (Dims{3, 1, 4}));
  EXPECT_EQ(dims(sq, {input({1, 3, 1, 4}), input({2}, DataType::kInt64)}), (Dims{-1, -1}));
  sq.axes = {0};
  EXPECT_EQ(dims(sq, {input({-1, 3})}), (Dims{3}));  // an unknown dim is assumed to be 1
  sq.axes = {1};
  std::string msg = errorOf([&] { add(sq, {input({1, 3})}, 1, "sq"); });
  EXPECT_EQ(msg.rfind("layer 'sq' (Reshape): cannot squeeze dim 1 of size 3", 0), 0u) << msg;

  ReshapeParams un;
  un.mode = ReshapeMode::kUnsqueeze;
  un.axes = {0, 3};
  EXPECT_EQ(dims(un, {input({3, 4})}), (Dims{1, 3, 4, 1}));
  un.axes = {-1};
  EXPECT_EQ(dims(un, {input({3, 4})}), (Dims{3, 4, 1}));
  un.axes = {};
  EXPECT_EQ(dims(un, {input({-1, 4}), i64({1})}), (Dims{-1, 1, 4}));
  EXPECT_EQ(dims(un, {input({3}), i64({})}), (Dims{3}));
  EXPECT_EQ(dims(un, {input({3, 4}), input({2}, DataType::kInt64)}), (Dims{-1, -1, -1, -1}));
  un.axes = {4};
  EXPECT_THROW(add(un, {input({3, 4})}), Error);
  un.axes = {1, 1};
  EXPECT_THROW(add(un, {input({3, 4})}), Error);
}

TEST_F(ShapeInference, Transpose) {
  ITensor* x = input({2, 3, -1});
  EXPECT_EQ(net.addTranspose(x, {2, 0, 1})->dims(), (Dims{-1, 2, 3}));
  EXPECT_EQ(net.addTranspose(x, {})->dims(), (Dims{-1, 3, 2}));
  EXPECT_THROW(net.addTranspose(x, {0, 1}), Error);
  EXPECT_THROW(net.addTranspose(x, {0, 0, 1}), Error);
  EXPECT_THROW(net.addTranspose(x, {0, 1, 3}), Error);
}

TEST_F(ShapeInference, Concatenation) {
  EXPECT_EQ(net.addConcatenation({input({2, 3}), input({2, 5}), input({2, 1})}, 1)->dims(), (Dims{2, 9}));
  EXPECT_EQ(net.addConcatenation({input({2, 3}), input({4, 3})}, -2)->dims(), (Dims{6, 3}));
  EXPECT_EQ(net.addConcatenation({input({-1, 3}), input({2, 3})}, 0)->dims(), (Dims{-1, 3}));
  EXPECT_EQ(net.addConcatenation({input({-1, 3}), input({2, 4})}, 1)->dims(), (Dims{2, 7}));
  std::string msg = errorOf([&] { net.addConcatenation({input({2, 3}), input({3, 3})}, 1, "cat"); });
  EXPECT_EQ(msg.rfind("layer 'cat' (Concatenation)", 0), 0u) << msg;
  EXPECT_TRUE(contains(msg, "[2,3]") && contains(msg, "[3,3]")) << msg;
  EXPECT_THROW(net.addConcatenation({input({2, 3}), input({2, 3, 1})}, 0), Error);
  EXPECT_THROW(net.addConcatenation({input({2, 3}), input({2, 3}, DataType::kInt32)}, 0), Error);
  EXPECT_THROW(net.addConcatenation({input({2, 3})}, 2), Error);
}

// ---- slicing and indexing -------------------------------------------------------------------------

TEST_F(ShapeInference, Slice) {
  ITensor* x = input({10, 20, 30});
  EXPECT_EQ(dims(SliceParams{}, {x, i64({0, 5}), i64({5, 15})}), (Dims{5, 10, 30}));
  // axes and steps.
  EXPECT_EQ(dims(SliceParams{}, {x, i64({1}), i64({-1}), i64({2}), i64({2})}), (Dims{10, 20, 14}));
  // Clamping: ends past the dim, INT64_MAX.
  EXPECT_EQ(dims(SliceParams{}, {x, i64({2}), i64({INT64_MAX}), i64({1})}), (Dims{10, 18, 30}));
  EXPECT_EQ(dims(SliceParams{}, {x, i64({-100}), i64({100}), i64({0})}), (Dims{10, 20, 30}));
  // Negative steps: reverse.
  EXPECT_EQ(dims(SliceParams{}, {x, i64({-1}), i64({INT64_MIN}), i64({0}), i64({-1})}), (Dims{10, 20, 30}));
  EXPECT_EQ(dims(SliceParams{}, {x, i64({8}), i64({1}), i64({0}), i64({-3})}), (Dims{3, 20, 30}));
  EXPECT_EQ(dims(SliceParams{}, {x, i64({100}), i64({-100}), i64({0}), i64({-2})}), (Dims{5, 20, 30}));
  // Empty results.
  EXPECT_EQ(dims(SliceParams{}, {x, i64({5}), i64({2}), i64({0})}), (Dims{0, 20, 30}));
  // int32 inputs.
  EXPECT_EQ(dims(SliceParams{}, {x, i32({1}), i32({3}), i32({-2})}), (Dims{10, 2, 30}));
  // Dynamic: unknown dims and unknown values.
  ITensor* d = input({-1, 20});
  EXPECT_EQ(dims(SliceParams{}, {d, i64({0, 2}), i64({1, 4})}), (Dims{-1, 2}));
  ITensor* starts = input({1}, DataType::kInt64);
  EXPECT_EQ(dims(SliceParams{}, {x, starts, i64({5}), i64({1})}), (Dims{10, -1, 30}));
  EXPECT_EQ(dims(SliceParams{}, {x, starts, i64({5}), input({1}, DataType::kInt64)}), (Dims{-1, -1, -1}));
  EXPECT_EQ(dims(SliceParams{}, {x, starts, input({1}, DataType::kInt64)}), (Dims{-1, 20, 30}));
  // Errors.
  EXPECT_THROW(add(SliceParams{}, {x, i64({0}), i64({1}), i64({0}), i64({0})}), Error);  // step 0
  EXPECT_THROW(add(SliceParams{}, {x, i64({0}), i64({1}), i64({3})}), Error);            // axis
  EXPECT_THROW(add(SliceParams{}, {x, i64({0, 0}), i64({1})}), Error);                   // lengths
  EXPECT_THROW(add(SliceParams{}, {x, i64({0, 0}), i64({1, 1}), i64({1, -2})}), Error);  // repeated axis
  EXPECT_THROW(add(SliceParams{}, {x, i64({0})}), Error);                                // inputs
}

TEST_F(ShapeInference, Split) {
  SplitParams p;
  p.axis = 1;
  ILayer* l = add(p, {input({2, 6})}, 3);
  ASSERT_EQ(l->numOutputs(), 3);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(l->output(i)->dims(), (Dims{2, 2}));
  // Uneven: the last part is smaller.
  l = add(p, {input({2, 7})}, 3);
  EXPECT_EQ(l->output(0)->dims(), (Dims{2, 3}));
  EXPECT_EQ(l->output(2)->dims(), (Dims{2, 1}));
  // Sizes param and input.
  p.sizes = {1, 5};
  l = add(p, {input({2, 6})}, 2);
  EXPECT_EQ(l->output(0)->dims(), (Dims{2, 1}));
  EXPECT_EQ(l->output(1)->dims(), (Dims{2, 5}));
  SplitParams q;
  q.axis = -1;
  l = add(q, {input({-1, 10}), i64({3, 3, 4})}, 3);
  EXPECT_EQ(l->output(2)->dims(), (Dims{-1, 4}));
  // Unknown dim or unknown sizes.
  l = add(q, {input({3, -1})}, 2);
  EXPECT_EQ(l->output(1)->dims(), (Dims{3, -1}));
  l = add(q, {input({3, 8}), input({2}, DataType::kInt64)}, 2);
  EXPECT_EQ(l->output(0)->dims(), (Dims{3, -1}));
  // Errors.
  std::string msg = errorOf([&] { add(q, {input({3, 8}), i64({3, 3})}, 2, "split"); });
  EXPECT_EQ(msg.rfind("layer 'split' (Split)", 0), 0u) << msg;
  EXPECT_TRUE(contains(msg, "[3,3]") && contains(msg, "[3,8]")) << msg;
  EXPECT_THROW(add(q, {input({3, 8}), i64({3, 5})}, 3), Error);  // count
  q.axis = 2;
  EXPECT_THROW(add(q, {input({3, 8})}, 2), Error);
}

TEST_F(ShapeInference, Gather) {
  ITensor* data = input({5, 6, 7});
  GatherParams p;
  p.axis = 1;
  EXPECT_EQ(dims(p, {data, input({2, 3}, DataType::kInt64)}), (Dims{5, 2, 3, 7}));
  p.axis = 0;
  EXPECT_EQ(dims(p, {data, scalarI64(1)}), (Dims{6, 7}));
  p.axis = -1;
  EXPECT_EQ(dims(p, {data, input({-1}, DataType::kInt32)}), (Dims{5, 6, -1}));
  p.axis = 3;
  EXPECT_THROW(add(p, {data, i64({0})}), Error);
  p.axis = 0;
  EXPECT_THROW(add(p, {data, input({2})}), Error);  // float indices

  GatherParams el;
  el.mode = GatherMode::kElements;
  el.axis = 1;
  EXPECT_EQ(dims(el, {data, input({5, 2, 7}, DataType::kInt64)}), (Dims{5, 2, 7}));
  EXPECT_THROW(add(el, {data, input({5, 2}, DataType::kInt64)}), Error);

  GatherParams nd;
  nd.mode = GatherMode::kND;
  EXPECT_EQ(dims(nd, {input({2, 2}), input({2, 2}, DataType::kInt64)}), (Dims{2}));
  EXPECT_EQ(dims(nd, {input({2, 2}), input({2, 1}, DataType::kInt64)}), (Dims{2, 2}));
  EXPECT_EQ(dims(nd, {input({2, 2, 2}), input({2, 1, 2}, DataType::kInt64)}), (Dims{2, 1, 2}));
  nd.batchDims = 1;
  EXPECT_EQ(dims(nd, {input({2, 2, 2}), input({2, 1}, DataType::kInt64)}), (Dims{2, 2}));
  EXPECT_EQ(dims(nd, {input({-1, 3, 4}), input({-1, 5, 2}, DataType::kInt64)}), (Dims{-1, 5}));
  EXPECT_THROW(add(nd, {input({2, 2}), input({2, 3}, DataType::kInt64)}), Error);  // last dim too large
  EXPECT_EQ(codeOf([&] { add(nd, {input({2, 2}), input({2, -1}, DataType::kInt64)}); }), ErrorCode::kUnsupported);
}

TEST_F(ShapeInference, Scatter) {
  ScatterParams p;
  p.axis = 1;
  ITensor* data = input({3, 4});
  EXPECT_EQ(dims(p, {data, input({3, 2}, DataType::kInt64), input({3, 2})}), (Dims{3, 4}));
  EXPECT_THROW(add(p, {data, input({3, 2}, DataType::kInt64), input({3, 3})}), Error);
  EXPECT_THROW(add(p, {data, input({3, 2}, DataType::kInt64), input({3, 2}, DataType::kInt32)}), Error);
  ScatterParams nd;
  nd.mode = ScatterMode::kND;
  EXPECT_EQ(dims(nd, {input({4, 4, 4}), input({2, 1}, DataType::kInt64), input({2, 4, 4})}), (Dims{4, 4, 4}));
  EXPECT_THROW(add(nd, {input({4, 4, 4}), input({2, 1}, DataType::kInt64), input({2, 4})}), Error);
}

// ---- shape tensors --------------------------------------------------------------------------------

TEST_F(ShapeInference, Shape) {
  ITensor* x = input({-1, 3, 4, 5});
  ILayer* l = add(ShapeParams{}, {x});
  EXPECT_EQ(l->output(0)->type(), DataType::kInt64);
  EXPECT_EQ(l->output(0)->dims(), (Dims{4}));
  EXPECT_EQ(dims(ShapeParams{1, 3}, {x}), (Dims{2}));
  EXPECT_EQ(dims(ShapeParams{-1}, {x}), (Dims{1}));
  EXPECT_EQ(dims(ShapeParams{-10, 100}, {x}), (Dims{4}));
  EXPECT_EQ(dims(ShapeParams{3, 1}, {x}), (Dims{0}));
  EXPECT_EQ(dims(ShapeParams{0, -1}, {x}), (Dims{3}));
  EXPECT_EQ(dims(ShapeParams{}, {input({})}), (Dims{0}));
}

TEST_F(ShapeInference, ConstantOfShape) {
  ConstantOfShapeParams p;
  int32_t one = 1;
  p.value = Weights::copyOf(DataType::kInt32, {1}, &one);
  ILayer* l = add(p, {i64({2, 3})});
  EXPECT_EQ(l->output(0)->type(), DataType::kInt32);
  EXPECT_EQ(l->output(0)->dims(), (Dims{2, 3}));
  EXPECT_EQ(dims(p, {i64({})}), (Dims{}));
  EXPECT_EQ(dims(p, {input({3}, DataType::kInt64)}), (Dims{-1, -1, -1}));
  EXPECT_EQ(type(ConstantOfShapeParams{}, {i64({4})}), DataType::kFloat32);
  EXPECT_THROW(add(p, {i64({2, -3})}), Error);
  EXPECT_EQ(codeOf([&] { add(p, {input({-1}, DataType::kInt64)}); }), ErrorCode::kUnsupported);
}

TEST_F(ShapeInference, Range) {
  EXPECT_EQ(dims(RangeParams{}, {scalarI64(0), scalarI64(10), scalarI64(3)}), (Dims{4}));
  EXPECT_EQ(dims(RangeParams{}, {scalarI64(10), scalarI64(4), scalarI64(-2)}), (Dims{3}));
  EXPECT_EQ(dims(RangeParams{}, {scalarI64(10), scalarI64(0), scalarI64(1)}), (Dims{0}));
  ILayer* l = add(RangeParams{}, {scalarF32(1.f), scalarF32(2.f), scalarF32(0.3f)});
  EXPECT_EQ(l->output(0)->type(), DataType::kFloat32);
  EXPECT_EQ(l->output(0)->dims(), (Dims{4}));
  ITensor* limit = input({}, DataType::kInt64);
  l = add(RangeParams{}, {scalarI64(0), limit, scalarI64(1)});
  EXPECT_EQ(l->output(0)->dims(), (Dims{-1}));
  EXPECT_EQ(l->output(0)->type(), DataType::kInt64);
  EXPECT_THROW(add(RangeParams{}, {scalarI64(0), scalarI64(4), scalarI64(0)}), Error);
  EXPECT_THROW(add(RangeParams{}, {scalarI64(0), scalarF32(4), scalarI64(1)}), Error);
}

TEST_F(ShapeInference, Expand) {
  EXPECT_EQ(dims(ExpandParams{}, {input({3, 1}), i64({2, 1, 6})}), (Dims{2, 3, 6}));
  EXPECT_EQ(dims(ExpandParams{}, {input({3, 4}), i64({1, 1})}), (Dims{3, 4}));
  EXPECT_EQ(dims(ExpandParams{}, {input({-1, 1}), i64({5, 4})}), (Dims{5, 4}));
  EXPECT_EQ(dims(ExpandParams{}, {input({3, 1}), input({3}, DataType::kInt64)}), (Dims{-1, 3, -1}));
  std::string msg = errorOf([&] { add(ExpandParams{}, {input({3, 2}), i64({3, 4})}, 1, "ex"); });
  EXPECT_EQ(msg.rfind("layer 'ex' (Expand)", 0), 0u) << msg;
}

TEST_F(ShapeInference, Tile) {
  EXPECT_EQ(dims(TileParams{}, {input({2, 3}), i64({2, 1})}), (Dims{4, 3}));
  EXPECT_EQ(dims(TileParams{}, {input({-1, 3}), i64({2, 0})}), (Dims{-1, 0}));
  EXPECT_EQ(dims(TileParams{}, {input({2, 3}), input({2}, DataType::kInt64)}), (Dims{-1, -1}));
  EXPECT_THROW(add(TileParams{}, {input({2, 3}), i64({2})}), Error);
}

TEST_F(ShapeInference, Select) {
  ITensor* c = input({2, 1}, DataType::kBool);
  EXPECT_EQ(dims(SelectParams{}, {c, input({3}), input({1, 1, 1})}), (Dims{1, 2, 3}));
  EXPECT_EQ(dims(SelectParams{}, {c, input({-1, 3}), input({3})}), (Dims{2, 3}));
  EXPECT_EQ(type(SelectParams{}, {c, input({3}, DataType::kInt32), input({3}, DataType::kInt32)}), DataType::kInt32);
  EXPECT_THROW(add(SelectParams{}, {c, input({3}), input({4})}), Error);
  EXPECT_THROW(add(SelectParams{}, {input({2, 1}), input({3}), input({3})}), Error);  // condition not bool
  EXPECT_THROW(add(SelectParams{}, {c, input({3}), input({3}, DataType::kInt32)}), Error);
}

TEST_F(ShapeInference, Padding) {
  ITensor* x = input({1, 3, 4, 5});
  EXPECT_EQ(dims(PaddingParams{}, {x, i64({0, 0, 1, 2, 0, 0, 1, 2})}), (Dims{1, 3, 6, 9}));
  EXPECT_EQ(dims(PaddingParams{}, {x, i64({0, 0, -1, 0, 0, 0, -1, 0})}), (Dims{1, 3, 2, 5}));
  // Optional constant value and axes.
  EXPECT_EQ(dims(PaddingParams{}, {x, i64({1, 2, 3, 4}), scalarF32(0), i64({-1, 1})}), (Dims{1, 9, 4, 9}));
  EXPECT_EQ(dims(PaddingParams{}, {x, i64({1, 1}), nullptr, i64({2})}), (Dims{1, 3, 6, 5}));
  // Dynamic.
  EXPECT_EQ(dims(PaddingParams{}, {input({-1, 4}), i64({1, 1, 1, 1})}), (Dims{-1, 6}));
  EXPECT_EQ(dims(PaddingParams{}, {x, input({8}, DataType::kInt64)}), (Dims{-1, -1, -1, -1}));
  EXPECT_EQ(dims(PaddingParams{}, {x, input({2}, DataType::kInt64), nullptr, i64({3})}), (Dims{1, 3, 4, -1}));
  // Errors.
  EXPECT_THROW(add(PaddingParams{}, {x, i64({1, 1})}), Error);
  EXPECT_THROW(add(PaddingParams{}, {x, i64({0, 0, -5, 0, 0, 0, 0, 0})}), Error);
}

TEST_F(ShapeInference, Resize) {
  ITensor* x = input({1, 3, 10, 20});
  ResizeParams p;
  EXPECT_EQ(dims(p, {x, nullptr, f32({1, 1, 2, 0.5f})}), (Dims{1, 3, 20, 10}));
  EXPECT_EQ(dims(p, {x, nullptr, f32({1, 1, 1.25f, 1.25f})}), (Dims{1, 3, 12, 25}));  // floor
  EXPECT_EQ(dims(p, {x, f32({}), f32({}), i64({1, 3, 7, 9})}), (Dims{1, 3, 7, 9}));    // empty roi, scales
  // Axes.
  ResizeParams a;
  a.axes = {2, 3};
  EXPECT_EQ(dims(a, {x, nullptr, f32({3, 2})}), (Dims{1, 3, 30, 40}));
  EXPECT_EQ(dims(a, {x, nullptr, nullptr, i64({5, 6})}), (Dims{1, 3, 5, 6}));
  // Keep aspect ratio.
  a.aspectPolicy = ResizeAspectPolicy::kNotLarger;
  EXPECT_EQ(dims(a, {x, nullptr, nullptr, i64({5, 20})}), (Dims{1, 3, 5, 10}));
  a.aspectPolicy = ResizeAspectPolicy::kNotSmaller;
  EXPECT_EQ(dims(a, {x, nullptr, nullptr, i64({5, 20})}), (Dims{1, 3, 10, 20}));
  // Dynamic.
  EXPECT_EQ(dims(p, {input({-1, 3, -1, 8}), nullptr, f32({1, 1, 2, 2})}), (Dims{-1, 3, -1, 16}));
  EXPECT_EQ(dims(p, {x, nullptr, nullptr, input({4}, DataType::kInt64)}), (Dims{-1, -1, -1, -1}));
  ResizeParams b;
  b.axes = {-1};
  EXPECT_EQ(dims(b, {x, nullptr, input({1})}), (Dims{1, 3, 10, -1}));
  // Errors.
  EXPECT_THROW(add(p, {x}), Error);                                              // neither
  EXPECT_THROW(add(p, {x, nullptr, f32({1, 1, 2, 2}), i64({1, 3, 4, 4})}), Error);  // both
  EXPECT_THROW(add(p, {x, nullptr, f32({2, 2})}), Error);                        // count
  EXPECT_THROW(add(p, {x, nullptr, f32({1, 1, 0, 2})}), Error);                  // non-positive
}

TEST_F(ShapeInference, TopK) {
  TopKParams p;
  ILayer* l = add(p, {input({3, 10}, DataType::kFloat16), i64({4})}, 2);
  ASSERT_EQ(l->numOutputs(), 2);
  EXPECT_EQ(l->output(0)->dims(), (Dims{3, 4}));
  EXPECT_EQ(l->output(0)->type(), DataType::kFloat16);
  EXPECT_EQ(l->output(1)->dims(), (Dims{3, 4}));
  EXPECT_EQ(l->output(1)->type(), DataType::kInt64);
  p.axis = 0;
  l = add(p, {input({3, 10}), input({1}, DataType::kInt64)}, 2);
  EXPECT_EQ(l->output(0)->dims(), (Dims{-1, 10}));
  l = add(p, {input({-1, 10}), i64({2})}, 2);
  EXPECT_EQ(l->output(1)->dims(), (Dims{2, 10}));
  std::string msg = errorOf([&] { add(p, {input({3, 10}), i64({5})}, 2, "topk"); });
  EXPECT_EQ(msg.rfind("layer 'topk' (TopK): k 5 is out of range", 0), 0u) << msg;
  p.axis = 2;
  EXPECT_THROW(add(p, {input({3, 10}), i64({1})}, 2), Error);
}

TEST_F(ShapeInference, ArgMinMax) {
  ArgMinMaxParams p;
  p.axis = 1;
  ILayer* l = add(p, {input({2, 5, 3})});
  EXPECT_EQ(l->output(0)->type(), DataType::kInt64);
  EXPECT_EQ(l->output(0)->dims(), (Dims{2, 1, 3}));
  p.keepDims = false;
  p.axis = -1;
  EXPECT_EQ(dims(p, {input({-1, 5, 3})}), (Dims{-1, 5}));
  p.axis = 3;
  EXPECT_THROW(add(p, {input({2, 5, 3})}), Error);
}

TEST_F(ShapeInference, CumSum) {
  EXPECT_EQ(dims(CumSumParams{}, {input({-1, 4}), scalarI64(1)}), (Dims{-1, 4}));
  EXPECT_EQ(dims(CumSumParams{}, {input({2, 4}), input({}, DataType::kInt32)}), (Dims{2, 4}));
  EXPECT_THROW(add(CumSumParams{}, {input({2, 4}), scalarI64(2)}), Error);
}

TEST_F(ShapeInference, Einsum) {
  auto einsum = [&](const std::string& eq, const std::vector<Dims>& shapes) {
    std::vector<ITensor*> ins;
    for (auto& s : shapes) ins.push_back(input(s));
    return dims(EinsumParams{eq}, ins);
  };
  EXPECT_EQ(einsum("ij,jk->ik", {{2, 3}, {3, 4}}), (Dims{2, 4}));
  EXPECT_EQ(einsum("ij,jk", {{2, 3}, {3, 4}}), (Dims{2, 4}));  // implicit
  EXPECT_EQ(einsum("ba,bc", {{2, 3}, {2, 4}}), (Dims{3, 4}));  // implicit output sorted
  EXPECT_EQ(einsum("bij,bjk->bik", {{5, 2, 3}, {5, 3, 4}}), (Dims{5, 2, 4}));
  EXPECT_EQ(einsum("ii->i", {{3, 3}}), (Dims{3}));
  EXPECT_EQ(einsum("ii", {{3, 3}}), (Dims{}));                 // trace
  EXPECT_EQ(einsum("ij->", {{3, 4}}), (Dims{}));
  EXPECT_EQ(einsum("i,j->ij", {{3}, {4}}), (Dims{3, 4}));
  EXPECT_EQ(einsum(" ij , jk -> ki ", {{2, 3}, {3, 4}}), (Dims{4, 2}));
  // Ellipsis, with broadcast, explicit and implicit.
  EXPECT_EQ(einsum("...ij,...jk->...ik", {{7, 2, 3}, {5, 1, 3, 4}}), (Dims{5, 7, 2, 4}));
  EXPECT_EQ(einsum("...ij,...jk", {{7, 2, 3}, {3, 4}}), (Dims{7, 2, 4}));
  EXPECT_EQ(einsum("i...->...i", {{2, 3, 4}}), (Dims{3, 4, 2}));
  // Dynamic dims take the known size of the same subscript.
  EXPECT_EQ(einsum("ij,jk->ik", {{-1, 3}, {-1, 4}}), (Dims{-1, 4}));
  EXPECT_EQ(einsum("ij,ij->ij", {{-1, 3}, {2, 3}}), (Dims{2, 3}));
  // Errors.
  std::string msg = errorOf([&] { add(EinsumParams{"ij,jk->ik"}, {input({2, 3}), input({4, 5})}, 1, "ein"); });
  EXPECT_EQ(msg.rfind("layer 'ein' (Einsum)", 0), 0u) << msg;
  EXPECT_THROW(einsum("ij,jk->ik", {{2, 3}}), Error);          // operand count
  EXPECT_THROW(einsum("ijk->ik", {{2, 3}}), Error);            // rank
  EXPECT_THROW(einsum("ij->iz", {{2, 3}}), Error);             // unknown output subscript
  EXPECT_THROW(einsum("ij->ii", {{2, 3}}), Error);             // repeated output subscript
  EXPECT_THROW(einsum("i1->i", {{2, 3}}), Error);              // bad character
}

TEST_F(ShapeInference, NonZero) {
  ILayer* l = add(NonZeroParams{}, {input({2, 3, 4})});
  EXPECT_EQ(l->output(0)->type(), DataType::kInt64);
  EXPECT_EQ(l->output(0)->dims(), (Dims{3, -1}));
  EXPECT_EQ(dims(NonZeroParams{}, {input({-1})}), (Dims{1, -1}));
}

TEST_F(ShapeInference, OneHot) {
  OneHotParams p;
  ITensor* idx = input({2, 3}, DataType::kInt64);
  ITensor* values = f32({0, 1});
  ILayer* l = add(p, {idx, scalarI64(5), values});
  EXPECT_EQ(l->output(0)->dims(), (Dims{2, 3, 5}));
  EXPECT_EQ(l->output(0)->type(), DataType::kFloat32);
  p.axis = 0;
  EXPECT_EQ(dims(p, {idx, i64({4}), values}), (Dims{4, 2, 3}));
  p.axis = 1;
  EXPECT_EQ(dims(p, {idx, scalarF32(3), values}), (Dims{2, 3, 3}));
  EXPECT_EQ(dims(p, {idx, input({}, DataType::kInt64), values}), (Dims{2, -1, 3}));
  p.axis = 3;
  EXPECT_THROW(add(p, {idx, scalarI64(5), values}), Error);
  p.axis = -1;
  EXPECT_THROW(add(p, {idx, scalarI64(5), f32({0, 1, 2})}), Error);
}

TEST_F(ShapeInference, QuantizeDequantize) {
  ITensor* x = input({2, 4, 3});
  QuantizeParams q;
  ILayer* l = add(q, {x, scalarF32(0.1f)});
  EXPECT_EQ(l->output(0)->type(), DataType::kUInt8);
  EXPECT_EQ(l->output(0)->dims(), (Dims{2, 4, 3}));
  q.outputType = DataType::kInt8;
  EXPECT_EQ(type(q, {x, f32({1, 2, 3, 4}), zeros({4}, DataType::kInt8)}), DataType::kInt8);  // per axis 1
  EXPECT_THROW(add(q, {x, f32({1, 2, 3})}), Error);
  q.blockSize = 2;
  q.axis = 2;
  EXPECT_EQ(dims(q, {x, zeros({2, 4, 2})}), (Dims{2, 4, 3}));
  EXPECT_THROW(add(q, {x, zeros({2, 4, 3})}), Error);

  DequantizeParams d;
  ITensor* qx = input({2, 4}, DataType::kInt8);
  l = add(d, {qx, scalarF32(0.5f)});
  EXPECT_EQ(l->output(0)->type(), DataType::kFloat32);
  EXPECT_EQ(l->output(0)->dims(), (Dims{2, 4}));
  EXPECT_EQ(type(d, {qx, zeros({4}, DataType::kFloat16)}), DataType::kFloat16);
  EXPECT_THROW(add(d, {qx}), Error);
  // Only quantized types dequantize (a plan edited to a float input once reached the kernel; fuzzing).
  EXPECT_THROW(add(d, {input({2, 4}, DataType::kFloat32), scalarF32(0.5f)}), Error);
  EXPECT_THROW(add(d, {input({2, 4}, DataType::kBool), scalarF32(0.5f)}), Error);
  EXPECT_EQ(type(d, {input({2, 4}, DataType::kFP8E4M3), scalarF32(0.5f)}), DataType::kFloat32);
}

TEST_F(ShapeInference, Trilu) {
  EXPECT_EQ(dims(TriluParams{}, {input({-1, 4, 5})}), (Dims{-1, 4, 5}));
  EXPECT_EQ(dims(TriluParams{}, {input({4, 5}), scalarI64(-1)}), (Dims{4, 5}));
  EXPECT_THROW(add(TriluParams{}, {input({4})}), Error);
}

TEST_F(ShapeInference, LRN) {
  LRNParams p;
  p.size = 5;
  EXPECT_EQ(dims(p, {input({1, 8, 4, 4})}), (Dims{1, 8, 4, 4}));
  p.size = 0;
  EXPECT_THROW(add(p, {input({1, 8, 4, 4})}), Error);
}

TEST_F(ShapeInference, SpaceDepth) {
  SpaceDepthParams d2s;
  d2s.blockSize = 2;
  EXPECT_EQ(dims(d2s, {input({1, 8, 3, 4})}), (Dims{1, 2, 6, 8}));
  EXPECT_EQ(dims(d2s, {input({-1, 8, -1, 4})}), (Dims{-1, 2, -1, 8}));
  EXPECT_THROW(add(d2s, {input({1, 6, 3, 4})}), Error);
  SpaceDepthParams s2d;
  s2d.toDepth = true;
  s2d.blockSize = 2;
  EXPECT_EQ(dims(s2d, {input({1, 3, 4, 6})}), (Dims{1, 12, 2, 3}));
  EXPECT_THROW(add(s2d, {input({1, 3, 5, 6})}), Error);
  EXPECT_THROW(add(s2d, {input({3, 4, 6})}), Error);
}

TEST_F(ShapeInference, LayerNormalizationStatisticsOutputs) {
  NormalizationParams p;
  p.type = NormalizationType::kLayer;
  p.axis = -2;
  ILayer* l = add(p, {input({2, 3, 4}, DataType::kFloat64), input({3, 4}, DataType::kFloat64)}, 3);
  EXPECT_EQ(l->output(1)->dims(), (Dims{2, 1, 1}));
  EXPECT_EQ(l->output(2)->type(), DataType::kFloat64);
  ILayer* f = add(p, {input({2, 3, 4}, DataType::kFloat16), input({3, 4}, DataType::kFloat16)}, 2);
  EXPECT_EQ(f->output(1)->type(), DataType::kFloat32);
}

// A small network mixing shape tensors: Shape -> Gather -> Concat -> Reshape keeps the batch dynamic.
TEST_F(ShapeInference, DynamicPipeline) {
  ITensor* x = input({-1, 3, 8, 8});
  PoolingParams pool;
  pool.kernelShape = {2, 2};
  pool.strides = {2, 2};
  ITensor* y = net.addPooling(x, pool);
  EXPECT_EQ(y->dims(), (Dims{-1, 3, 4, 4}));
  ITensor* shape = add(ShapeParams{}, {y})->output(0);
  GatherParams g;
  ITensor* batch = add(g, {shape, i64({0})})->output(0);
  EXPECT_EQ(batch->dims(), (Dims{1}));
  ITensor* newShape = net.addConcatenation({batch, i64({-1})}, 0);
  EXPECT_EQ(newShape->dims(), (Dims{2}));
  // The shape tensor has no constant value: the rank is known, the dims are not.
  ITensor* r = add(ReshapeParams{}, {y, newShape})->output(0);
  EXPECT_EQ(r->dims(), (Dims{-1, -1}));
  ITensor* flat = net.addReshape(y, {0, -1});
  EXPECT_EQ(flat->dims(), (Dims{-1, 48}));
  ITensor* out = net.addMatrixMultiply(flat, false, zeros({48, 10}), false);
  EXPECT_EQ(out->dims(), (Dims{-1, 10}));
}

// ---- recurrent ------------------------------------------------------------------------------------

TEST_F(ShapeInference, Recurrent) {
  RecurrentParams lstm;
  lstm.hiddenSize = 5;
  lstm.direction = RecurrentDirection::kBidirectional;
  ITensor* x = input({7, -1, 3});
  ITensor* w = zeros({2, 20, 3});
  ITensor* r = zeros({2, 20, 5});
  ILayer* l = add(lstm, {x, w, r}, 3);
  ASSERT_EQ(l->numOutputs(), 3);
  EXPECT_EQ(l->output(0)->dims(), (Dims{7, 2, -1, 5}));
  EXPECT_EQ(l->output(1)->dims(), (Dims{2, -1, 5}));
  EXPECT_EQ(l->output(2)->dims(), (Dims{2, -1, 5}));
  // All optional inputs, one of them omitted.
  ITensor* lengths = input({-1}, DataType::kInt32);
  ITensor* h0 = zeros({2, 4, 5});
  EXPECT_EQ(add(lstm, {x, w, r, zeros({2, 40}), lengths, h0, nullptr, zeros({2, 15})}, 3)->output(2)->dims(),
            (Dims{2, -1, 5}));
  // Layout 1 (batch first), GRU forward, only y.
  RecurrentParams gru;
  gru.cell = RecurrentCell::kGRU;
  gru.hiddenSize = 5;
  gru.batchFirst = true;
  ITensor* xb = input({2, 7, 3}, DataType::kFloat16);
  ILayer* g = add(gru, {xb, zeros({1, 15, 3}, DataType::kFloat16), zeros({1, 15, 5}, DataType::kFloat16)}, 1);
  EXPECT_EQ(g->output(0)->dims(), (Dims{2, 7, 1, 5}));
  EXPECT_EQ(g->output(0)->type(), DataType::kFloat16);
  ILayer* g2 = add(gru, {xb, zeros({1, 15, 3}, DataType::kFloat16), zeros({1, 15, 5}, DataType::kFloat16), nullptr,
                         nullptr, zeros({2, 1, 5}, DataType::kFloat16)}, 2);
  EXPECT_EQ(g2->output(1)->dims(), (Dims{2, 1, 5}));
  // RNN reverse: 1 gate.
  RecurrentParams rnn;
  rnn.cell = RecurrentCell::kRNN;
  rnn.direction = RecurrentDirection::kReverse;
  rnn.hiddenSize = 4;
  EXPECT_EQ(add(rnn, {input({6, 2, 3}), zeros({1, 4, 3}), zeros({1, 4, 4})}, 2)->output(1)->dims(), (Dims{1, 2, 4}));

  // Errors name the input and the expected shape.
  EXPECT_TRUE(contains(errorOf([&] { add(lstm, {x, zeros({2, 16, 3}), r}, 3); }), "w has shape [2,16,3]"));
  EXPECT_THROW(add(lstm, {x, w, zeros({1, 20, 5})}, 3), Error);                      // r directions
  EXPECT_THROW(add(lstm, {x, w, r, zeros({2, 20})}, 3), Error);                      // bias size
  EXPECT_THROW(add(lstm, {x, w, r, nullptr, input({4})}, 3), Error);                 // float lengths
  EXPECT_THROW(add(lstm, {x, w, r, nullptr, nullptr, zeros({1, 4, 5})}, 3), Error);  // initial h directions
  EXPECT_THROW(add(lstm, {input({7, 3}), w, r}, 3), Error);                          // x rank
  EXPECT_THROW(add(lstm, {input({7, 2, 3}, DataType::kInt32), w, r}, 3), Error);    // x type
  EXPECT_THROW(add(lstm, {x, w}, 3), Error);                                         // r missing
  EXPECT_THROW(add(gru, {xb, zeros({1, 15, 3}, DataType::kFloat16), zeros({1, 15, 5}, DataType::kFloat16)}, 3),
               Error);  // GRU has no y_c
  EXPECT_THROW(add(gru, {xb, zeros({1, 15, 3}), zeros({1, 15, 5})}, 1), Error);  // w type differs from x
  RecurrentParams badActivations = lstm;
  badActivations.activations = {RecurrentActivation::kSigmoid, RecurrentActivation::kTanh, RecurrentActivation::kTanh};
  badActivations.activationAlpha = {0, 0, 0};
  badActivations.activationBeta = {0, 0, 0};
  EXPECT_TRUE(contains(errorOf([&] { add(badActivations, {x, w, r}, 3); }), "expects 6 activations"));
  RecurrentParams noHidden = lstm;
  noHidden.hiddenSize = 0;
  EXPECT_THROW(add(noHidden, {x, w, r}, 3), Error);
  RecurrentParams badClip = lstm;
  badClip.clip = 0.f;
  EXPECT_THROW(add(badClip, {x, w, r}, 3), Error);
}

}  // namespace
}  // namespace kiln
