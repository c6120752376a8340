// Builder passes, as before -> after networks.
#include <gtest/gtest.h>

#include "builder/pass_manager.h"
#include "ir/network.h"
#include "test_helpers.h"

using namespace kiln;
using kiln::testing::floats;
using kiln::testing::int64s;

namespace {

std::vector<LayerType> layerTypes(const ir::Network& net) {
  std::vector<LayerType> types;
  for (auto& l : net.layers()) types.push_back(l->type());
  return types;
}

bool run(bool (*pass)(passes::PassContext&), ir::Network& net) {
  std::vector<std::string> log;
  passes::PassContext context{net, log};
  bool changed = pass(context);
  net.inferShapes();
  return changed;
}

}  // namespace

TEST(Passes, FoldConstantsEvaluatesConstantSubgraphs) {
  ir::Network net;
  ITensor* x = net.addInput("x", DataType::kFloat32, {2});
  ITensor* a = net.addConstant(floats({2}, {1.5f, -2.f}));
  ITensor* b = net.addConstant(floats({2}, {0.5f, 4.f}));
  ITensor* sum = net.addElementWise(a, b, ElementWiseOp::kAdd);         // constant: folds
  ITensor* y = net.addElementWise(x, sum, ElementWiseOp::kMul, "mul");  // depends on x: stays
  net.markOutput(y);
  EXPECT_TRUE(run(passes::foldConstants, net));
  EXPECT_TRUE(run(passes::eliminateDeadLayers, net));
  EXPECT_EQ(layerTypes(net), (std::vector<LayerType>{LayerType::kConstant, LayerType::kElementWise}));
  const auto& folded = net.layers()[0]->as<ConstantParams>().weights;
  ASSERT_EQ(folded.count(), 2);
  EXPECT_FLOAT_EQ(folded.as<float>()[0], 2.f);
  EXPECT_FLOAT_EQ(folded.as<float>()[1], 2.f);
  EXPECT_FALSE(run(passes::foldConstants, net));
}

TEST(Passes, FoldConstantsTurnsStaticShapeChainsIntoConstants) {
  ir::Network net;
  ITensor* x = net.addInput("x", DataType::kFloat32, {2, 3, 4});
  ITensor* shape = net.addLayer(ShapeParams{}, {x})->output(0);
  ITensor* y = net.addLayer(ReshapeParams{}, {x, shape})->output(0);
  net.markOutput(y);
  EXPECT_TRUE(run(passes::foldConstants, net));
  EXPECT_EQ(layerTypes(net), (std::vector<LayerType>{LayerType::kConstant, LayerType::kReshape}));
  EXPECT_EQ(net.layers()[0]->as<ConstantParams>().weights.as<int64_t>()[2], 4);
}

TEST(Passes, FoldConstantsKeepsShapeOfDynamicInput) {
  ir::Network net;
  ITensor* x = net.addInput("x", DataType::kFloat32, {-1, 3});
  ITensor* shape = net.addLayer(ShapeParams{}, {x})->output(0);
  net.markOutput(shape);
  EXPECT_FALSE(run(passes::foldConstants, net));
}

TEST(Passes, RemoveNoOpsBypassesIdentityAndKeepsOutputNames) {
  ir::Network net;
  ITensor* x = net.addInput("x", DataType::kFloat32, {2, 2});
  ITensor* r = net.addActivation(x, ActivationType::kRelu);
  ITensor* id = net.addLayer(IdentityParams{}, {r})->output(0);
  ITensor* cast = net.addLayer(CastParams{DataType::kFloat32}, {id})->output(0);
  cast->setName("y");
  net.markOutput(cast);
  EXPECT_TRUE(run(passes::removeNoOps, net));
  EXPECT_EQ(layerTypes(net), (std::vector<LayerType>{LayerType::kActivation}));
  ASSERT_EQ(net.outputs().size(), 1u);
  EXPECT_EQ(net.outputs()[0]->name(), "y");
  EXPECT_EQ(net.outputs()[0]->producerLayer->type(), LayerType::kActivation);
}

TEST(Passes, RemoveNoOpsKeepsCopyBetweenInputAndOutput) {
  ir::Network net;
  ITensor* x = net.addInput("x", DataType::kFloat32, {2});
  ITensor* y = net.addLayer(IdentityParams{}, {x})->output(0);
  net.markOutput(y);
  EXPECT_FALSE(run(passes::removeNoOps, net));
  EXPECT_EQ(net.layers().size(), 1u);
}

TEST(Passes, EliminateDeadLayersRemovesUnusedBranches) {
  ir::Network net;
  ITensor* x = net.addInput("x", DataType::kFloat32, {4});
  ITensor* used = net.addActivation(x, ActivationType::kRelu);
  ITensor* unused = net.addActivation(x, ActivationType::kSigmoid);
  net.addActivation(unused, ActivationType::kTanh);
  net.markOutput(used);
  EXPECT_TRUE(run(passes::eliminateDeadLayers, net));
  EXPECT_EQ(layerTypes(net), (std::vector<LayerType>{LayerType::kActivation}));
  EXPECT_EQ(net.layers()[0]->as<ActivationParams>().type, ActivationType::kRelu);
}

TEST(Passes, PassManagerRejectsUnknownPassAndHonoursDisabled) {
  ir::Network net;
  ITensor* a = net.addConstant(floats({1}, {1.f}));
  ITensor* x = net.addInput("x", DataType::kFloat32, {1});
  net.markOutput(net.addElementWise(x, net.addUnary(a, UnaryOp::kNeg), ElementWiseOp::kAdd));
  std::vector<std::string> log;
  EXPECT_THROW(passes::runPasses(net, {"no_such_pass"}, log), Error);
  passes::runPasses(net, {"fold_constants"}, log);
  EXPECT_EQ(net.layers().size(), 3u);  // nothing folded
  passes::runPasses(net, {}, log);
  EXPECT_EQ(net.layers().size(), 2u);  // Neg(constant) folded
  EXPECT_FALSE(log.empty());
  EXPECT_EQ(Builder::passNames().front(), "fold_constants");
}
