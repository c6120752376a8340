// The host-evaluation seam: how the ONNX importer, the builder's passes and the runtime evaluate layers
// on host values (constant folding, shape tensors, control-flow bodies, data-dependent layers) without
// depending on a backend's internals. The CPU backend implements it (backends/cpu/host_eval.cpp).
#pragma once

#include <vector>

#include "core/tensor_view.h"
#include "ir/network.h"

namespace kiln::host {

// Runs one layer on host tensors: infers the output shapes (with the inputs' values), allocates the
// outputs and runs the layer's CPU kernel (its host kernel for control flow, sequences and optionals).
// Throws kiln::Error naming the layer when it cannot run.
std::vector<HostTensor> evaluateLayer(const ir::Layer& layer, const std::vector<const HostTensor*>& inputs);

// Runs a whole network on host values, layer by layer: inputs[i] binds network input i; returns the
// outputs in order. `owner` names the layer (If, Loop, ...) for messages.
std::vector<HostTensor> evaluateNetwork(const ir::Network& network, const std::vector<const HostTensor*>& inputs,
                                        const ir::Layer& owner);

// Whether evaluateLayer can run `layer` (a CPU kernel exists for its types); else why not.
std::string unsupportedReason(const ir::Layer& layer);

}  // namespace kiln::host
