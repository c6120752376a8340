// The layer table (ir/layer_table.h): one row per layer type, and the shape-inference entry points read it.
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "ir/layer_table.h"
#include "ir/network.h"
#include "ir/shape_inference.h"

namespace kiln {
namespace {

std::vector<LayerType> allLayerTypes() {
  std::vector<LayerType> types;
  for (size_t i = 0; i < static_cast<size_t>(LayerType::kCount); ++i) types.push_back(static_cast<LayerType>(i));
  return types;
}

// One layer of every type, with default params, no inputs and no outputs.
template <size_t... I>
std::vector<std::unique_ptr<ir::Layer>> layersOfEveryType(std::index_sequence<I...>) {
  std::vector<std::unique_ptr<ir::Layer>> layers;
  (layers.push_back(std::make_unique<ir::Layer>("l", LayerParams{std::in_place_index<I>})), ...);
  return layers;
}

std::vector<std::unique_ptr<ir::Layer>> layersOfEveryType() {
  return layersOfEveryType(std::make_index_sequence<std::variant_size_v<LayerParams>>{});
}

// The layer types whose row has `trait`.
std::set<LayerType> typesWith(ir::LayerTrait trait) {
  std::set<LayerType> types;
  for (LayerType t : allLayerTypes())
    if (ir::layerInfo(t).has(trait)) types.insert(t);
  return types;
}

TEST(LayerTable, EveryLayerTypeHasItsRow) {
  std::set<std::string> names;
  for (LayerType t : allLayerTypes()) {
    const ir::LayerTypeInfo& info = ir::layerInfo(t);
    EXPECT_EQ(info.type, t);
    ASSERT_NE(info.name, nullptr);
    EXPECT_FALSE(std::string(info.name).empty());
    EXPECT_NE(info.inferOutputs, nullptr) << info.name;
    EXPECT_TRUE(names.insert(info.name).second) << "name " << info.name << " is repeated";
  }
  EXPECT_STREQ(ir::layerInfo(LayerType::kConvolution).name, "Convolution");
  EXPECT_STREQ(ir::layerInfo(LayerType::kNonMaxSuppression).name, "NonMaxSuppression");
  EXPECT_STREQ(ir::layerInfo(LayerType::kStringNormalizer).name, "StringNormalizer");
}

TEST(LayerTable, LayerTypeNameReadsTheTable) {
  for (LayerType t : allLayerTypes()) EXPECT_EQ(layerTypeName(t), ir::layerInfo(t).name);  // the same string
  EXPECT_STREQ(layerTypeName(LayerType::kCount), "Unknown");
  try {
    ir::layerInfo(LayerType::kCount);
    ADD_FAILURE() << "expected a kiln::Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInternal);
  }
}

TEST(LayerTable, ShapeInputs) {
  const ir::LayerTypeInfo& reshape = ir::layerInfo(LayerType::kReshape);
  EXPECT_TRUE(reshape.isShapeInput(1));
  EXPECT_FALSE(reshape.isShapeInput(0));
  EXPECT_FALSE(reshape.isShapeInput(2));
  EXPECT_FALSE(reshape.isShapeInput(-1));
  EXPECT_FALSE(reshape.isShapeInput(ir::kMaxInputSetIndex + 1));
  const ir::LayerTypeInfo& slice = ir::layerInfo(LayerType::kSlice);
  EXPECT_FALSE(slice.isShapeInput(0));
  for (int i = 1; i <= 4; ++i) EXPECT_TRUE(slice.isShapeInput(i));
  EXPECT_EQ(ir::layerInfo(LayerType::kSTFT).shapeInputs, ir::inputSet({1, 3}));
  EXPECT_EQ(ir::layerInfo(LayerType::kConvolution).shapeInputs, ir::noInputs());
}

TEST(LayerTable, Traits) {
  EXPECT_TRUE(ir::layerInfo(LayerType::kNonZero).has(ir::kDataDependentShape));
  EXPECT_TRUE(ir::layerInfo(LayerType::kIf).has(ir::kRunsOnHostValues));
  EXPECT_TRUE(ir::layerInfo(LayerType::kRandom).has(ir::kProducesRunTimeValues));
  EXPECT_EQ(ir::layerInfo(LayerType::kConvolution).traits, ir::kNoTraits);

  // The complete sets: what the CPU backend counts after a run, what runs on host values, what draws.
  EXPECT_EQ(typesWith(ir::kDataDependentShape),
            (std::set<LayerType>{LayerType::kNonZero, LayerType::kNonMaxSuppression, LayerType::kUnique,
                                 LayerType::kStringNormalizer}));
  std::set<LayerType> hostValueTypes{LayerType::kIf,       LayerType::kLoop,     LayerType::kScan,
                                     LayerType::kSequence, LayerType::kOptional, LayerType::kSequenceMap};
  EXPECT_EQ(typesWith(ir::kRunsOnHostValues), hostValueTypes);
  EXPECT_EQ(typesWith(ir::kProducesRunTimeValues), (std::set<LayerType>{LayerType::kRandom}));
  std::set<LayerType> containerTypes = hostValueTypes;
  containerTypes.insert(LayerType::kIdentity);
  EXPECT_EQ(typesWith(ir::kAcceptsContainers), containerTypes);
}

// For layers reading and producing only tensors, the public functions are exactly the table's rows.
TEST(LayerTable, ShapeInferenceFunctionsReadTheTable) {
  std::vector<std::unique_ptr<ir::Layer>> layers = layersOfEveryType();
  ASSERT_EQ(layers.size(), static_cast<size_t>(LayerType::kCount));
  for (const auto& owned : layers) {
    const ir::Layer& layer = *owned;
    const ir::LayerTypeInfo& info = ir::layerInfo(layer.type());
    bool hostValues = info.has(ir::kRunsOnHostValues);
    EXPECT_EQ(ir::runsOnHostValues(layer), hostValues) << info.name;
    EXPECT_EQ(ir::producesRunTimeValues(layer), info.has(ir::kProducesRunTimeValues) || hostValues) << info.name;
    EXPECT_EQ(ir::hasDataDependentShape(layer), info.has(ir::kDataDependentShape) || hostValues) << info.name;
    for (int i = 0; i < 8; ++i) EXPECT_EQ(ir::isShapeInput(layer, i), info.isShapeInput(i)) << info.name << " " << i;
  }
}

TEST(LayerTable, OnlyLayersAcceptingContainersTakeASequence) {
  TensorDesc sequence{DataType::kFloat32, {2}, ValueKind::kSequence};
  ir::Layer identity("id", IdentityParams{});
  std::vector<TensorDesc> out = ir::inferOutputs(identity, {&sequence}, {});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], sequence);
  ir::Layer relu("relu", ActivationParams{});
  try {
    ir::inferOutputs(relu, {&sequence}, {});
    ADD_FAILURE() << "expected a kiln::Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("this layer takes tensors"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kiln
