// What the fusion passes share to match subgraphs: constants, sole consumers, binary element-wise
// layers, and adding a Constant layer in topological order.
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "ir/network.h"

namespace kiln::passes {

using Consumers = std::unordered_map<const ir::Tensor*, std::vector<std::pair<ir::Layer*, int>>>;

// The weights behind `t` when a Constant layer produces it, else nullptr.
// Whether the network has a layer of `type`: passes anchored on one type skip building the consumer map
// (a hash map of every tensor) when it is absent, which keeps long networks' builds linear and cheap.
bool hasLayerOfType(const ir::Network& net, LayerType type);
const Weights* constantWeights(const ir::Tensor* t);
// The float32 constant behind `t` with `count` elements, else nullptr.
const Weights* floatConstant(const ir::Tensor* t, int64_t count);
// Whether `t` is a float32 constant holding the single value `value` (relative tolerance 1e-5).
bool isScalar(const ir::Tensor* t, double value);
// The value of a one-element float32/float16/bfloat16 constant of any rank, else nothing.
std::optional<double> scalarConstantValue(const ir::Tensor* t);
// The layer that alone reads `t` (and `t` is no network output), else nullptr.
ir::Layer* soleConsumer(const Consumers& consumers, const ir::Tensor* t);
// Whether `t` is a Transpose's output: that Transpose, else nullptr.
ir::Layer* producingTranspose(const ir::Tensor* t);
// Whether `layer` is a two-input ElementWise of `op`.
bool isElementWise(const ir::Layer* layer, ElementWiseOp op);
// For a commutative binary `layer` with one input `known`: the other input (nullptr if `known` is neither).
ir::Tensor* otherInput(const ir::Layer* layer, const ir::Tensor* known);
// After a fusion: `layer` now writes `absorbed`'s (first) output tensor, which keeps its name and its
// consumers; `absorbed` is left to be removed.
void takeOverOutput(ir::Layer* layer, ir::Layer* absorbed);
// Adds a Constant layer holding `weights` right before `before` (keeping topological order).
ir::Tensor* addConstantBefore(ir::Network& net, Weights weights, const std::string& name, ir::Layer* before);

// Tensors whose values the runtime computes on the host (as EngineImpl decides): constants, Shape outputs,
// network inputs read as shape values, and what is computed only from those.
std::unordered_set<const ir::Tensor*> hostValuedTensors(const ir::Network& net);

}  // namespace kiln::passes
