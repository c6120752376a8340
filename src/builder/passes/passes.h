// Builder passes. Each returns true when it changed the network. They run in the order listed in
// pass_manager.cpp, repeated until none changes anything.
#pragma once

#include <string>
#include <vector>

#include "backends/backend.h"
#include "ir/network.h"

namespace kiln::passes {

struct PassContext {
  ir::Network& network;
  std::vector<std::string>& log;  // one line per change worth reporting
  // The backend the network is built for; passes that make layers some backends cannot run (fusions)
  // ask it first. nullptr: any backend (unit tests).
  const Backend* target = nullptr;
  bool targetCanRun(const ir::Layer& layer) const { return target == nullptr || target->unsupportedReason(layer).empty(); }
};

// Evaluates layers whose inputs are all constants (and Shape layers whose input shape is static)
// with the CPU kernels, replacing them by Constant layers.
bool foldConstants(PassContext& context);
// Removes layers that do nothing: Identity, Cast to the same type, Reshape to the same static shape,
// Transpose by the identity permutation, Concatenation of one input.
bool removeNoOps(PassContext& context);
// Folds a BatchNormalization whose input is a Convolution with constant weights (and bias), used by
// nothing else, into the convolution's weights and bias.
bool foldBatchNormIntoConv(PassContext& context);
// Fuses a Relu or Clip that alone reads a Convolution's output into the convolution's output clamp,
// when the target backend runs such a convolution.
bool fuseConvActivation(PassContext& context);
// Replaces the erf form of GELU (Div/Mul by sqrt 2, Erf, Add 1, two Muls) by one Activation(kGelu),
// when the target backend runs it.
bool fuseGelu(PassContext& context);
// Removes layers whose outputs nothing uses.
bool eliminateDeadLayers(PassContext& context);

}  // namespace kiln::passes
