// Builder passes. Each returns true when it changed the network. They run in the order listed in
// pass_manager.cpp, repeated until none changes anything.
#pragma once

#include <string>
#include <vector>

#include "ir/network.h"

namespace kiln::passes {

struct PassContext {
  ir::Network& network;
  std::vector<std::string>& log;  // one line per change worth reporting
};

// Evaluates layers whose inputs are all constants (and Shape layers whose input shape is static)
// with the CPU kernels, replacing them by Constant layers.
bool foldConstants(PassContext& context);
// Removes layers that do nothing: Identity, Cast to the same type, Reshape to the same static shape,
// Transpose by the identity permutation, Concatenation of one input.
bool removeNoOps(PassContext& context);
// Removes layers whose outputs nothing uses.
bool eliminateDeadLayers(PassContext& context);

}  // namespace kiln::passes
