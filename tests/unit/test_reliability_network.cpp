// ir::Network reliability: name lookups through the name indexes (renames, removals) and weights whose
// byte size must match their shape.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "ir/network.h"
#include "test_helpers.h"

using namespace kiln;
using kiln::testing::floats;

namespace {

std::string errorOf(const std::function<void()>& f, ErrorCode* code = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (code) *code = e.code();
    return e.what();
  }
  ADD_FAILURE() << "expected a kiln::Error";
  return "";
}

}  // namespace

TEST(NetworkNames, LookupsFollowRenamesAndRemovals) {
  ir::Network net;
  ITensor* x = net.addInput("x", DataType::kFloat32, {2});
  ITensor* y = net.addActivation(x, ActivationType::kRelu, 0, 0, "relu");
  ir::Tensor* out = ir::asTensor(y);
  EXPECT_EQ(net.tensor("relu_output"), out);
  EXPECT_EQ(net.findLayer("relu"), out->producerLayer);
  y->setName("y");
  EXPECT_EQ(net.tensor("y"), out);
  EXPECT_EQ(net.tensor("relu_output"), nullptr);
  out->producerLayer->setName("activation");
  EXPECT_EQ(net.findLayer("activation"), out->producerLayer);
  EXPECT_EQ(net.findLayer("relu"), nullptr);
  // A name freed by a rename can be taken again; uniqueName skips names in use.
  ITensor* z = net.addActivation(y, ActivationType::kSigmoid, 0, 0, "relu");
  EXPECT_EQ(net.findLayer("relu"), ir::asTensor(z)->producerLayer);
  std::string fresh = net.uniqueName("y");
  EXPECT_EQ(net.tensor(fresh), nullptr);
  EXPECT_EQ(net.findLayer(fresh), nullptr);
  // Removed layers and their tensors are no longer found.
  net.markOutput(y);
  net.removeLayers({ir::asTensor(z)->producerLayer});
  EXPECT_EQ(net.findLayer("relu"), nullptr);
  EXPECT_EQ(net.tensor("relu_output"), nullptr);
  EXPECT_EQ(net.tensor("y"), out);
  EXPECT_EQ(net.tensor("x"), ir::asTensor(x));
}

TEST(NetworkNames, FailedAddLeavesNoName) {
  ir::Network net;
  ITensor* x = net.addInput("x", DataType::kFloat32, {2});
  EXPECT_THROW(net.addLayer(TransposeParams{{0, 1}}, {x}, 1, "bad"), Error);  // wrong rank
  EXPECT_EQ(net.findLayer("bad"), nullptr);
  EXPECT_EQ(net.tensor("bad_output"), nullptr);
  EXPECT_NE(net.addLayer(TransposeParams{{0}}, {x}, 1, "bad"), nullptr);
}

TEST(NetworkWeights, ConstantBytesMustMatchTheShape) {
  ir::Network net;
  Weights w = floats({2, 3}, {1, 2, 3, 4, 5, 6});
  w.shape = {3, 3};  // 36 bytes needed, 24 held
  ErrorCode code{};
  std::string message = errorOf([&] { net.addConstant(w, "weights"); }, &code);
  EXPECT_EQ(code, ErrorCode::kInvalidArgument);
  EXPECT_NE(message.find("layer 'weights' (Constant)"), std::string::npos) << message;
  EXPECT_NE(message.find("shape [3,3] need 36 bytes, got 24"), std::string::npos) << message;
  EXPECT_EQ(net.numLayers(), 0);
  // No bytes at all, a shape whose size overflows, an unknown dim.
  Weights none;
  none.shape = {4};
  EXPECT_NE(errorOf([&] { net.addConstant(none); }).find("need 16 bytes, got 0"), std::string::npos);
  Weights huge = floats({1}, {1});
  huge.shape = {int64_t{1} << 40, int64_t{1} << 40};
  EXPECT_NE(errorOf([&] { net.addConstant(huge); }).find("fits in 64 bits"), std::string::npos);
  Weights unknown = floats({1}, {1});
  unknown.shape = {-1};
  EXPECT_NE(errorOf([&] { net.addConstant(unknown); }).find("known shape"), std::string::npos);
  // String weights hold one std::string per element.
  Weights words = Weights::strings({2}, {"a", "b"});
  words.shape = {3};
  EXPECT_NE(errorOf([&] { net.addConstant(words); }).find("shape [3] need"), std::string::npos);
  EXPECT_EQ(net.numLayers(), 0);
  // Matching weights are taken; weights inside other params too (ConstantOfShape's value).
  EXPECT_NE(net.addConstant(floats({2, 3}, {1, 2, 3, 4, 5, 6})), nullptr);
  ConstantOfShapeParams fill;
  fill.value = floats({1}, {7});
  fill.value.shape = {2};
  ITensor* shape = net.addConstant(Weights::copyOf(DataType::kInt64, {1}, std::vector<int64_t>{3}.data()));
  EXPECT_NE(errorOf([&] { net.addLayer(fill, {shape}); }).find("(ConstantOfShape)"), std::string::npos);
}
