// The layer table: what the IR knows about each core layer type, one row per LayerType in LayerType order.
// Adding a layer type means adding its row here (layer_table.cpp) and its shape rule in ir/layers/.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <vector>

#include "core/tensor_view.h"
#include "kiln/layers.h"

namespace kiln::ir {

// What the shape rule of one layer sees (defined in ir/layers/shape_rules.h).
struct ShapeInferenceContext;

// Infers the outputs of one layer from its context; throws kiln::Error naming the layer on invalid inputs.
// Called through ir::inferOutputs, which first rejects container inputs (sequences, optionals) for layer
// types without kAcceptsContainers.
using ShapeInferenceFunction = std::vector<TensorDesc> (*)(const ShapeInferenceContext&);

// A set of input indices: bit i set means input i is in the set.
using InputSet = uint32_t;
constexpr int kMaxInputSetIndex = 31;

constexpr InputSet noInputs() { return 0; }
// The set of the given input indices (each in [0, kMaxInputSetIndex]).
constexpr InputSet inputSet(std::initializer_list<int> indices) {
  InputSet set = 0;
  for (int i : indices) set |= InputSet{1} << i;
  return set;
}

// Type-level properties of a layer type, one bit each. They are independent: a row lists only what holds
// for the type itself; ir::runsOnHostValues, producesRunTimeValues and hasDataDependentShape combine them
// with what a layer's values are (see shape_inference.h).
enum LayerTrait : uint32_t {
  kNoTraits = 0,
  // The output shape depends on the values of non-shape inputs; a kernel learns it only by running
  // (NonZero, NonMaxSuppression, Unique, StringNormalizer).
  kDataDependentShape = 1u << 0,
  // Runs only on the host, on whole values (control flow, sequences, optionals): never a device kernel.
  kRunsOnHostValues = 1u << 1,
  // Its outputs differ from one execution to the next (Random): never folded nor evaluated ahead.
  kProducesRunTimeValues = 1u << 2,
  // Inputs may be containers (sequences, optionals); other layer types take tensors only.
  kAcceptsContainers = 1u << 3,
};
using LayerTraits = uint32_t;  // LayerTrait bits or-ed together

struct LayerTypeInfo {
  LayerType type;
  const char* name;  // "Convolution": what layerTypeName() returns
  ShapeInferenceFunction inferOutputs;
  // Inputs read on the host to decide output shapes (Reshape's shape, Slice's starts/ends/axes/steps, ...).
  InputSet shapeInputs;
  LayerTraits traits;

  bool isShapeInput(int index) const {
    return index >= 0 && index <= kMaxInputSetIndex && (shapeInputs & (InputSet{1} << index)) != 0;
  }
  bool has(LayerTrait trait) const { return (traits & trait) != 0; }
};

// The row of `type`; throws kiln::Error (kInternal) for a value outside LayerType.
const LayerTypeInfo& layerInfo(LayerType type);

}  // namespace kiln::ir
