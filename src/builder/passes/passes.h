// Builder passes. Each returns true when it changed the network. They run in the order listed in
// pass_manager.cpp, repeated until none changes anything.
#pragma once

#include <string>
#include <vector>

#include "ir/network.h"

namespace kiln {
class Backend;
}

namespace kiln::passes {

// What reduce_precision may do: run float32 layers in `reduced` (float16 or bfloat16) where the backend
// that runs the layer (the device, else the CPU fallback) has a kernel for the reduced types.
struct PrecisionPolicy {
  DataType reduced = DataType::kFloat32;  // kFloat32: every layer keeps its types
  const Backend* device = nullptr;
  const Backend* fallback = nullptr;      // the CPU; may equal device
  int castsInserted = 0;                  // out: Cast layers added at the precision boundaries
};

struct PassContext {
  ir::Network& network;
  std::vector<std::string>& log;         // one line per change worth reporting
  PrecisionPolicy* precision = nullptr;  // null: reduce_precision does nothing
};

// Evaluates layers whose inputs are all constants (and Shape layers whose input shape is static)
// with the CPU kernels, replacing them by Constant layers.
bool foldConstants(PassContext& context);
// Removes layers that do nothing: Identity, Cast to the same type, Reshape to the same static shape,
// Transpose by the identity permutation, Concatenation of one input.
bool removeNoOps(PassContext& context);
// Removes layers whose outputs nothing uses.
bool eliminateDeadLayers(PassContext& context);
// Switches float32 activations of layers that can run in reduced precision (context.precision) to
// float16/bfloat16: network inputs and outputs keep their types, Casts are inserted only where a
// reduced tensor meets a float32 reader (or the reverse), float32 constants read only by reduced layers
// are converted once, and host-evaluated shape arithmetic stays float32.
bool reducePrecision(PassContext& context);

}  // namespace kiln::passes
