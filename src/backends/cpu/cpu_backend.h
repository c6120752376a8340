// The CPU backend: a kernel function per layer type, listed in one table (kernel_table.cpp), and for a
// few layer types a prepared kernel holding state made once at kernel creation (packed weights).
#pragma once

#include <functional>
#include <memory>

#include "backends/backend.h"

namespace kiln::cpu {

// A CPU kernel: runs `layer` on host views. Output views are allocated with inferred shapes.
using KernelFunction = void (*)(const ir::Layer& layer, const KernelArgs& args);

// The kernel for a layer type, or nullptr when the CPU backend has none.
KernelFunction kernelFor(LayerType type);

// A kernel on whole host values, for layers whose outputs only running them can shape (control flow)
// or that hold sequences and optionals. It decides and allocates its outputs.
using HostKernelFunction = std::vector<HostTensor> (*)(const ir::Layer& layer,
                                                      const std::vector<const HostTensor*>& inputs);
// The host kernel for a layer type (If, Loop, Scan, Sequence, Optional, SequenceMap), else nullptr.
HostKernelFunction hostKernelFor(LayerType type);

// A kernel with state prepared once when the engine creates it (constant weights packed for the
// GEMM); the engine runs it instead of the layer type's KernelFunction.
class PreparedKernel {
 public:
  virtual ~PreparedKernel() = default;
  virtual void run(const ir::Layer& layer, const KernelArgs& args) const = 0;
  virtual std::string tactic() const = 0;  // e.g. "f32_packed_weights"
};
// Prepares a kernel for `layer` from its constant inputs (constants[i]; nullptr when input i is not a
// constant). Returns nullptr when there is nothing to prepare (e.g. the weights are not constant).
using PrepareFunction = std::unique_ptr<PreparedKernel> (*)(const ir::Layer& layer,
                                                             const std::vector<const HostTensor*>& constants);
// The prepare function for a layer type, or nullptr when its kernel prepares nothing.
PrepareFunction prepareFunctionFor(LayerType type);

// Why the CPU backend cannot run `layer` (unsupported dtype/mode), or empty.
std::string unsupportedReason(const ir::Layer& layer);

std::shared_ptr<Backend> makeCpuBackend();

// Runs one layer on host tensors: infers the output shapes (with the inputs' values), allocates the
// outputs and runs the CPU kernel. Used for constant folding and for shape tensors at run time.
// Layers with a host kernel (and Identity on a sequence/optional) run that instead.
std::vector<HostTensor> runLayerOnHost(const ir::Layer& layer, const std::vector<const HostTensor*>& inputs);

// Runs a whole network on host values, layer by layer with runLayerOnHost (the bodies of control-flow
// layers). inputs[i] binds network input i; returns the outputs in order. `owner` names the layer for
// messages.
std::vector<HostTensor> runNetworkOnHost(const ir::Network& network, const std::vector<const HostTensor*>& inputs,
                                         const ir::Layer& owner);

// Number of threads CPU kernels use (default: hardware concurrency; KILN_NUM_THREADS overrides).
int numThreads();
void setNumThreads(int n);
// Runs fn(begin, end) over [0, n) split into chunks of at least `grain` on the thread pool.
void parallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace kiln::cpu
