// Shape and type inference of GridSample, NonMaxSuppression, RoiAlign, Unique and Determinant.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ir/network.h"
#include "ir/shape_inference.h"

namespace kiln {
namespace {

class VisionShapes : public ::testing::Test {
 protected:
  ir::Network net;
  int inputCount = 0;

  ITensor* input(const Dims& dims, DataType type = DataType::kFloat32) {
    return net.addInput("in" + std::to_string(inputCount++), type, dims);
  }
  ILayer* add(const LayerParams& params, const std::vector<ITensor*>& inputs, int numOutputs = 1) {
    return net.addLayer(params, inputs, numOutputs);
  }
};

TEST_F(VisionShapes, GridSample) {
  GridSampleParams p;
  ILayer* l = add(p, {input({2, 3, 5, 7}), input({2, 4, 6, 2})});
  EXPECT_EQ(l->output(0)->dims(), (Dims{2, 3, 4, 6}));
  EXPECT_EQ(l->output(0)->type(), DataType::kFloat32);
  EXPECT_EQ(add(p, {input({-1, 3, 5, 6, 7}), input({2, 1, 4, 9, 3})})->output(0)->dims(), (Dims{2, 3, 1, 4, 9}));
  EXPECT_EQ(add(p, {input({1, 2, 5}), input({1, 8, 1})})->output(0)->dims(), (Dims{1, 2, 8}));
  EXPECT_THROW(add(p, {input({2, 3, 5, 7}), input({2, 4, 6, 3})}), Error);       // coordinate count
  EXPECT_THROW(add(p, {input({2, 3, 5, 7}), input({3, 4, 6, 2})}), Error);       // batch
  EXPECT_THROW(add(p, {input({2, 3}), input({2, 2})}), Error);                   // no spatial dims
  EXPECT_THROW(add(p, {input({2, 3, 5, 7}), input({2, 4, 6, 2}, DataType::kInt32)}), Error);
}

TEST_F(VisionShapes, NonMaxSuppressionIsDataDependent) {
  NonMaxSuppressionParams p;
  ITensor *boxes = input({2, 6, 4}), *scores = input({2, 3, 6});
  ILayer* l = add(p, {boxes, scores, input({1}, DataType::kInt64), input({1}), input({})});
  EXPECT_EQ(l->output(0)->dims(), (Dims{-1, 3}));
  EXPECT_EQ(l->output(0)->type(), DataType::kInt64);
  EXPECT_TRUE(ir::hasDataDependentShape(*static_cast<ir::Layer*>(l)));
  EXPECT_EQ(add(p, {boxes, scores})->output(0)->dims(), (Dims{-1, 3}));
  EXPECT_THROW(add(p, {input({2, 6, 5}), scores}), Error);         // not 4 coordinates
  EXPECT_THROW(add(p, {boxes, input({2, 3, 7})}), Error);          // box count differs
  EXPECT_THROW(add(p, {boxes, input({3, 3, 6})}), Error);          // batch differs
  EXPECT_THROW(add(p, {boxes, scores, input({2}, DataType::kInt64)}), Error);  // not one value
  EXPECT_THROW(add(p, {boxes, scores, input({1})}), Error);        // float max count
}

TEST_F(VisionShapes, RoiAlign) {
  RoiAlignParams p;
  p.outputHeight = 5;
  p.outputWidth = 3;
  ILayer* l = add(p, {input({2, 7, 10, 12}), input({-1, 4}), input({-1}, DataType::kInt64)});
  EXPECT_EQ(l->output(0)->dims(), (Dims{-1, 7, 5, 3}));
  EXPECT_EQ(add(p, {input({2, 7, 10, 12}), input({4, 4}), input({-1}, DataType::kInt64)})->output(0)->dims(),
            (Dims{4, 7, 5, 3}));
  EXPECT_THROW(add(p, {input({2, 7, 10}), input({4, 4}), input({4}, DataType::kInt64)}), Error);
  EXPECT_THROW(add(p, {input({2, 7, 10, 12}), input({4, 5}), input({4}, DataType::kInt64)}), Error);
  EXPECT_THROW(add(p, {input({2, 7, 10, 12}), input({4, 4}), input({3}, DataType::kInt64)}), Error);
  EXPECT_THROW(add(p, {input({2, 7, 10, 12}), input({4, 4}), input({4})}), Error);  // float indices
  p.outputHeight = 0;
  EXPECT_THROW(add(p, {input({2, 7, 10, 12}), input({4, 4}), input({4}, DataType::kInt64)}), Error);
}

TEST_F(VisionShapes, UniqueIsDataDependent) {
  UniqueParams p;
  ILayer* l = add(p, {input({3, 4}, DataType::kInt32)}, 4);
  EXPECT_EQ(l->output(0)->dims(), (Dims{-1}));
  EXPECT_EQ(l->output(0)->type(), DataType::kInt32);
  EXPECT_EQ(l->output(1)->dims(), (Dims{-1}));
  EXPECT_EQ(l->output(2)->dims(), (Dims{12}));
  EXPECT_EQ(l->output(3)->dims(), (Dims{-1}));
  for (int i = 1; i < 4; ++i) EXPECT_EQ(l->output(i)->type(), DataType::kInt64);
  EXPECT_TRUE(ir::hasDataDependentShape(*static_cast<ir::Layer*>(l)));
  p.hasAxis = true;
  p.axis = -2;
  l = add(p, {input({3, 4, 5})}, 4);
  EXPECT_EQ(l->output(0)->dims(), (Dims{3, -1, 5}));
  EXPECT_EQ(l->output(2)->dims(), (Dims{4}));
  p.axis = 3;
  EXPECT_THROW(add(p, {input({3, 4, 5})}, 4), Error);
  p.hasAxis = false;
  EXPECT_THROW(add(p, {input({3, 4, 5})}, 2), Error);  // the layer always has four outputs
}

TEST_F(VisionShapes, Determinant) {
  EXPECT_EQ(add(DeterminantParams{}, {input({3, 3})})->output(0)->dims(), (Dims{}));
  EXPECT_EQ(add(DeterminantParams{}, {input({2, -1, 4, 4})})->output(0)->dims(), (Dims{2, -1}));
  EXPECT_EQ(add(DeterminantParams{}, {input({5, -1, 2})})->output(0)->dims(), (Dims{5}));
  EXPECT_THROW(add(DeterminantParams{}, {input({3, 4})}), Error);
  EXPECT_THROW(add(DeterminantParams{}, {input({4})}), Error);
}

}  // namespace
}  // namespace kiln
