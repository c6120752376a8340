// The interface between the engine and a backend (CPU, CUDA): kernels for layers, and memory.
//
// Lifecycle (as XNNPACK's create -> reshape -> setup/run): a Kernel is created once per layer per
// engine (build time or plan load; it may pack constant weights then), asked for its workspace size
// whenever the context's shapes change, and executed with bound tensor views.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor_view.h"
#include "ir/network.h"

namespace kiln {

struct KernelArgs {
  std::vector<TensorView> inputs;   // data == nullptr for an omitted optional input
  std::vector<TensorView> outputs;  // shapes already inferred, memory allocated
  void* workspace = nullptr;
  size_t workspaceBytes = 0;
  void* stream = nullptr;  // cudaStream_t on the CUDA backend
};

class Kernel {
 public:
  virtual ~Kernel() = default;
  // Scratch memory needed for these shapes (in the backend's memory).
  virtual size_t workspaceSize(const KernelArgs& /*shapesOnly*/) const { return 0; }
  virtual void execute(const KernelArgs& args) const = 0;
  // The tactic this kernel implements, as Backend::tactics() names it (e.g. "cuda.conv.cudnn_heuristic").
  virtual std::string name() const = 0;
};

// Constant input values of a layer (constants[i]: input i's value when it comes from a Constant layer,
// else nullptr), so a kernel can pack weights once when it is created.
using Constants = std::vector<const HostTensor*>;

// The most builder effort (BuilderConfig::builderEffort): 0 takes each backend's preferred tactic
// without timing; higher efforts time more candidates (more cuBLASLt algorithms, cuDNN engines, ...).
constexpr int kMaxBuilderEffort = 5;

// Times a stretch of work enqueued on a stream: CUDA events on the GPU, the wall clock on the CPU (whose
// kernels run synchronously). Per-layer profiling keeps one per layer so a run is timed without a host
// synchronization between layers.
class StreamTimer {
 public:
  virtual ~StreamTimer() = default;
  virtual void start(void* stream) = 0;
  virtual void stop(void* stream) = 0;
  // Milliseconds from start to stop; valid once the stream has been synchronized.
  virtual double elapsedMs() const = 0;
};

// Work captured once and replayed as a unit (a CUDA graph on the GPU), so tactic timing measures the
// device's time without the host's launch overhead between kernels (which a CUDA-graph run has not).
class RecordedWork {
 public:
  virtual ~RecordedWork() = default;
  // Replays the work once and returns its device time in milliseconds (waits for it).
  virtual double replayMs() = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;  // "cpu", "cuda:0"
  // What plans built for this backend are tuned for ("sm_90" for an H200); a plan whose target differs
  // from the device it is loaded on is refused. Empty: any.
  virtual std::string target() const { return ""; }
  // What tactic timings on this backend depend on, for the timing cache: the device's name and
  // compute capability on a GPU ("NVIDIA H200 sm_90"), the CPU model, ISA and thread count on the CPU.
  virtual std::string deviceSignature() const = 0;
  // Empty when some tactic of the backend can run `layer` with its current types, params and
  // build-time shapes; else why not (each kernel row's reason).
  virtual std::string unsupportedReason(const ir::Layer& layer) const = 0;
  // The tactics that can run `layer`, the backend's preferred (heuristic) choice first. `effort`
  // (0..kMaxBuilderEffort) widens the list: 0 gives only the preferred tactic. Empty when none can
  // (unsupportedReason says why).
  virtual std::vector<std::string> tactics(const ir::Layer& layer, int effort) const = 0;
  // Creates the kernel for `layer` with `tactic`, one of tactics(layer, kMaxBuilderEffort); an empty
  // name takes the preferred tactic. Throws kiln::Error (kUnsupported) naming the layer and the tactic
  // when the backend has no such tactic or the tactic cannot run the layer.
  virtual std::unique_ptr<Kernel> createKernel(const ir::Layer& layer, const Constants& constants,
                                               const std::string& tactic = "") const = 0;

  // Memory of this backend.
  virtual bool isHostMemory() const = 0;
  virtual void* allocate(size_t bytes) const = 0;
  virtual void deallocate(void* pointer) const = 0;
  virtual void copyFromHost(void* dst, const void* src, size_t bytes, void* stream) const = 0;
  virtual void copyToHost(void* dst, const void* src, size_t bytes, void* stream) const = 0;
  virtual void copy(void* dst, const void* src, size_t bytes, void* stream) const = 0;
  virtual void synchronize(void* stream) const = 0;
  // Whether work enqueued on `stream` is being captured into a graph (CUDA graphs) rather than run:
  // allocation and host synchronization are then errors.
  virtual bool isCapturing(void* /*stream*/) const { return false; }
  // A timer for work on this backend's streams (default: the host wall clock).
  virtual std::unique_ptr<StreamTimer> createTimer() const;
  // Records what `enqueue(stream)` enqueues on a stream of this backend, for replay. nullptr when the
  // backend runs work as it is enqueued (the CPU, whose timer measures the work itself). Throws
  // kiln::Error when the work cannot be recorded.
  virtual std::unique_ptr<RecordedWork> record(const std::function<void(void* stream)>& enqueue) const {
    return nullptr;
  }
};

// The backend for a device string ("cpu", "cuda", "cuda:1", or a registered name). Throws kiln::Error
// when unavailable.
std::shared_ptr<Backend> backendFor(const std::string& device);

// Makes backendFor(device) return `backend` (tests use it for backends with fake tactics). The built-in
// names ("cpu", "cuda", "cuda:N") cannot be taken: that throws kiln::Error (kInvalidArgument).
void registerBackend(const std::string& device, std::shared_ptr<Backend> backend);

}  // namespace kiln
