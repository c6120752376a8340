// Zero-size tensors end to end on the CPU: every layer below runs on inputs with 0 elements whose
// address is null, and reductions over an empty axis give their identity values.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "test_helpers.h"

using namespace kiln;
using kiln::testing::buildEngine;

namespace {

struct Case {
  std::string what;
  std::function<ITensor*(NetworkDefinition&, ITensor*, ITensor*)> build;  // from x [2, 0, 3], w [3, 4]
};

// Builds x -> layer -> y, runs it with a null address for x and returns y's values.
std::vector<float> runEmpty(const Case& c, Dims* shape) {
  auto net = Builder().createNetwork();
  ITensor* x = net->addInput("x", DataType::kFloat32, {2, 0, 3});
  ITensor* w = net->addInput("w", DataType::kFloat32, {3, 4});
  ITensor* y = c.build(*net, x, w);
  y->setName("y");
  net->markOutput(y);
  auto engine = buildEngine(*net);
  auto context = engine->createExecutionContext();
  std::vector<float> weights(12, 1.f);
  context->setTensorAddress("x", nullptr);
  context->setTensorAddress("w", weights.data());
  context->setTensorAddress("y", nullptr);
  context->execute();
  *shape = context->tensorShape("y");
  const float* out = static_cast<const float*>(context->tensorAddress("y"));
  return std::vector<float>(out, out + std::max<int64_t>(volume(*shape), 0));
}

ITensor* reduce(NetworkDefinition& net, ITensor* x, ReduceOp op, Dims axes) {
  ReduceParams p;
  p.op = op;
  p.axes = std::move(axes);
  p.keepDims = false;
  return net.addLayer(p, {x})->output(0);
}

}  // namespace

TEST(ZeroSize, LayersRunOnEmptyInputs) {
  std::vector<Case> cases = {
      {"add", [](NetworkDefinition& n, ITensor* x, ITensor*) { return n.addElementWise(x, x, ElementWiseOp::kAdd); }},
      {"exp", [](NetworkDefinition& n, ITensor* x, ITensor*) { return n.addUnary(x, UnaryOp::kExp); }},
      {"relu", [](NetworkDefinition& n, ITensor* x, ITensor*) { return n.addActivation(x, ActivationType::kRelu); }},
      {"softmax", [](NetworkDefinition& n, ITensor* x, ITensor*) { return n.addSoftmax(x, 1); }},
      {"transpose", [](NetworkDefinition& n, ITensor* x, ITensor*) { return n.addTranspose(x, {2, 0, 1}); }},
      {"concat", [](NetworkDefinition& n, ITensor* x, ITensor*) { return n.addConcatenation({x, x}, 1); }},
      {"reshape", [](NetworkDefinition& n, ITensor* x, ITensor*) { return n.addReshape(x, {-1, 6}); }},
      {"matmul", [](NetworkDefinition& n, ITensor* x, ITensor* w) { return n.addMatrixMultiply(x, false, w, false); }},
      {"trilu", [](NetworkDefinition& n, ITensor* x, ITensor*) { return n.addLayer(TriluParams{}, {x})->output(0); }},
      {"cumsum", [](NetworkDefinition& n, ITensor* x, ITensor*) {
         int64_t axis = 1;
         return n.addLayer(CumSumParams{}, {x, n.addConstant(Weights::copyOf(DataType::kInt64, {}, &axis))})->output(0);
       }},
      {"layernorm", [](NetworkDefinition& n, ITensor* x, ITensor*) {
         NormalizationParams p;
         p.type = NormalizationType::kLayer;
         p.axis = -1;
         std::vector<float> ones(3, 1.f);
         return n.addLayer(p, {x, n.addConstant(Weights::copyOf(DataType::kFloat32, {3}, ones.data()))})->output(0);
       }},
      {"gather", [](NetworkDefinition& n, ITensor* x, ITensor*) {
         std::vector<int64_t> idx = {2, 0};
         GatherParams p;
         p.axis = 2;
         return n.addLayer(p, {x, n.addConstant(Weights::copyOf(DataType::kInt64, {2}, idx.data()))})->output(0);
       }},
      {"split", [](NetworkDefinition& n, ITensor* x, ITensor*) {
         SplitParams p;
         p.axis = 2;
         p.sizes = {1, 2};
         return n.addLayer(p, {x}, 2)->output(1);
       }},
      {"tile", [](NetworkDefinition& n, ITensor* x, ITensor*) {
         std::vector<int64_t> reps = {2, 3, 1};
         return n.addLayer(TileParams{}, {x, n.addConstant(Weights::copyOf(DataType::kInt64, {3}, reps.data()))})
             ->output(0);
       }},
      {"pad", [](NetworkDefinition& n, ITensor* x, ITensor*) {
         std::vector<int64_t> pads = {0, 0, 1, 0, 0, 1};  // rows stay empty, columns grow
         return n.addLayer(PaddingParams{}, {x, n.addConstant(Weights::copyOf(DataType::kInt64, {6}, pads.data()))})
             ->output(0);
       }},
      {"select", [](NetworkDefinition& n, ITensor* x, ITensor*) {
         ITensor* cond = n.addElementWise(x, x, ElementWiseOp::kLess);
         return n.addLayer(SelectParams{}, {cond, x, x})->output(0);
       }},
      {"argmax", [](NetworkDefinition& n, ITensor* x, ITensor*) {
         ArgMinMaxParams p;
         p.axis = 2;
         return n.addLayer(CastParams{DataType::kFloat32}, {n.addLayer(p, {x})->output(0)})->output(0);
       }},
      {"reduce kept axes", [](NetworkDefinition& n, ITensor* x, ITensor*) { return reduce(n, x, ReduceOp::kSum, {2}); }},
      {"cast", [](NetworkDefinition& n, ITensor* x, ITensor*) {
         return n.addLayer(CastParams{DataType::kFloat32}, {n.addLayer(CastParams{DataType::kFloat16}, {x})->output(0)})
             ->output(0);
       }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    Dims shape;
    std::vector<float> y = runEmpty(c, &shape);
    EXPECT_EQ(volume(shape), 0) << dimsToString(shape);
  }
}

TEST(ZeroSize, ReductionsOverAnEmptyAxisGiveIdentities) {
  struct Expect {
    ReduceOp op;
    float value;
  };
  for (Expect e : {Expect{ReduceOp::kSum, 0.f}, Expect{ReduceOp::kProd, 1.f}, Expect{ReduceOp::kSumSquare, 0.f},
                   Expect{ReduceOp::kL1, 0.f}, Expect{ReduceOp::kL2, 0.f}}) {
    SCOPED_TRACE(reduceOpName(e.op));
    Dims shape;
    Case c{"reduce", [&](NetworkDefinition& n, ITensor* x, ITensor*) { return reduce(n, x, e.op, {1}); }};
    std::vector<float> y = runEmpty(c, &shape);
    EXPECT_EQ(shape, (Dims{2, 3}));
    EXPECT_EQ(y, std::vector<float>(6, e.value));
  }
  // A matrix product over an empty inner dim is zeros: [2, 3, 0] x [0, 4].
  auto net = Builder().createNetwork();
  ITensor* a = net->addInput("a", DataType::kFloat32, {2, 3, 0});
  ITensor* b = net->addInput("b", DataType::kFloat32, {0, 4});
  ITensor* y = net->addMatrixMultiply(a, false, b, false);
  y->setName("y");
  net->markOutput(y);
  auto engine = buildEngine(*net);
  auto context = engine->createExecutionContext();
  context->setTensorAddress("a", nullptr);
  context->setTensorAddress("b", nullptr);
  std::vector<float> out(24, NAN);
  context->setTensorAddress("y", out.data());
  context->execute();
  EXPECT_EQ(out, std::vector<float>(24, 0.f));
}
