// What an Engine holds: the optimized network, its backends and kernels, and a static schedule of
// steps (layer runs and host<->device copies). Immutable after construction; shared by contexts.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "backends/backend.h"
#include "plan/plan_format.h"

namespace kiln {

// Where a buffer lives: host memory, or the engine device's memory.
enum MemoryKind : int { kHostMemory = 0, kDeviceMemory = 1 };

struct Step {
  enum class Kind { kRunLayer, kCopy } kind = Kind::kRunLayer;
  int layer = -1;         // kRunLayer: index into network layers
  int tensor = -1;        // kCopy: tensor index
  MemoryKind from = kHostMemory, to = kHostMemory;  // kCopy
};

struct EngineImpl {
  plan::PlanContents contents;
  std::shared_ptr<Backend> deviceBackend;  // the engine's device; the CPU backend for CPU engines
  std::shared_ptr<Backend> cpuBackend;
  MemoryKind primaryKind = kHostMemory;    // memory of I/O bindings for enqueue()

  std::vector<const ir::Tensor*> tensors;  // by tensor index
  std::unordered_map<const ir::Tensor*, int> tensorIndex;
  std::vector<const Backend*> layerBackend;     // per layer (nullptr for constants / host-evaluated layers)
  std::vector<MemoryKind> layerKind;            // per layer
  std::vector<std::unique_ptr<Kernel>> kernels; // per layer (nullptr for constants / host-evaluated layers)
  // Per tensor: known at reshape time (constants, Shape outputs and what is computed only from them,
  // inputs read as shape values); such tensors are evaluated on the host by setInputShape/reshape.
  std::vector<bool> hostEvaluated;
  std::vector<bool> hostLayer;                  // per layer: evaluated at reshape
  std::vector<bool> readsInputValues;           // per tensor: a network input whose values shape the network
  std::vector<const HostTensor*> constantValue; // per tensor: the Constant's weights, else nullptr
  std::vector<void*> constantOnDevice;          // per tensor: device copy of a constant used on the device
  std::vector<Step> steps;
  // Some layer runs on host values (control flow, sequences, optionals; ir::runsOnHostValues), or some
  // tensor holds strings: such layers get no kernel, and contexts always run the network layer by layer
  // on the host.
  bool hostValueMode = false;
  std::vector<std::string> ioNames;             // inputs then outputs
  int64_t weightsBytes = 0;

  explicit EngineImpl(plan::PlanContents contents);
  ~EngineImpl();
  const ir::Network& network() const { return *contents.network; }
  int indexOf(const ir::Tensor* t) const { return tensorIndex.at(t); }
  const ir::Tensor* ioTensor(const std::string& name) const;  // throws naming the tensor when unknown
};

// Every tensor's type and shape for the given input shapes, as a context's reshape infers them, and the
// host values known then (constants, shape tensors). For tactic selection at the profile's opt shapes.
// A network whose shapes depend on data leaves those shapes with -1 dims; inputs read as shape values
// are taken as zeros. Indexed like EngineImpl::tensors.
struct SettledShapes {
  std::vector<TensorDesc> descs;
  std::vector<HostTensor> values;  // empty HostTensor (no bytes) where no host value is known
  std::vector<bool> known;         // per tensor: values[t] holds its host value
};
SettledShapes settleShapes(const EngineImpl& engine, const std::map<std::string, Dims>& inputShapes);

}  // namespace kiln
