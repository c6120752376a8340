// Per-layer type and shape inference on possibly-unknown (-1) dims. Each layer type's rule, shape inputs
// and traits are its row of the layer table (ir/layer_table.h); these functions are what callers use.
#pragma once

#include <vector>

#include "core/tensor_view.h"
#include "ir/network.h"

namespace kiln::ir {

// Host values of a layer's inputs where known (constants, evaluated shape tensors); nullptr where not.
using InputValues = std::vector<const HostTensor*>;

// Infers the types and shapes of `layer`'s outputs with its layer type's shape rule.
//   inputs[i]: the desc of input i, nullptr for an omitted optional input.
//   values[i]: the host value of input i when known (always given for constants); may be shorter than inputs.
// Dims that cannot be known yet are -1 (e.g. a Reshape whose shape input has no value yet, NonZero).
// Throws kiln::Error naming the layer when the inputs are invalid for it.
std::vector<TensorDesc> inferOutputs(const Layer& layer, const std::vector<const TensorDesc*>& inputs,
                                     const InputValues& values);

// True when input `index` of a layer of this type is read on the host to decide output shapes
// (Reshape's shape, Slice's starts/ends/axes/steps, ...: the row's shapeInputs). Those tensors are
// "shape tensors".
bool isShapeInput(const Layer& layer, int index);

// True for control flow, sequence and optional layers (trait kRunsOnHostValues), and any layer reading or
// producing a sequence or an optional: they run only through host::evaluateLayer (the context's host,
// layer-by-layer mode).
bool runsOnHostValues(const Layer& layer);

// True for layers whose outputs exist only when the network runs: Random (trait kProducesRunTimeValues:
// draws on every execution) and runsOnHostValues layers. They are never folded into constants nor
// evaluated ahead at reshape.
bool producesRunTimeValues(const Layer& layer);

// True when the output shape depends on the values of non-shape inputs (trait kDataDependentShape:
// NonZero, NonMaxSuppression, Unique, StringNormalizer; and runsOnHostValues layers).
bool hasDataDependentShape(const Layer& layer);

// Normalizes a possibly negative axis for a tensor of `rank` dims; throws naming `layer` when out of range.
int64_t normalizeAxis(int64_t axis, int64_t rank, const Layer& layer);

// Numpy broadcast of two shapes; throws naming `layer` when they are incompatible. -1 dims stay unknown.
Dims broadcastShapes(const Dims& a, const Dims& b, const Layer& layer);

// Reads an integer tensor (int32 or int64) as int64 values.
std::vector<int64_t> readIntegers(const HostTensor& value);

}  // namespace kiln::ir
