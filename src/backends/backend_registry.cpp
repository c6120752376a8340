// Maps device strings to backends: "cpu"; "cuda" or "cuda:N" when built with the CUDA backend.
#include <mutex>
#include <unordered_map>

#include "backends/backend.h"
#include "backends/cpu/cpu_backend.h"
#include "core/error.h"

#ifdef KILN_HAVE_CUDA
#include "backends/cuda/cuda_backend.h"
#endif

namespace kiln {

namespace {
std::mutex registryMutex;
std::unordered_map<std::string, std::shared_ptr<Backend>>& registry() {
  static std::unordered_map<std::string, std::shared_ptr<Backend>> backends;
  return backends;
}
bool isBuiltInDevice(const std::string& device) {
  return device == "cpu" || device == "cuda" || device.rfind("cuda:", 0) == 0;
}
}  // namespace

void registerBackend(const std::string& device, std::shared_ptr<Backend> backend) {
  KILN_CHECK(!isBuiltInDevice(device), kInvalidArgument, "cannot register a backend as '", device,
             "': cpu and cuda[:N] are built in");
  KILN_CHECK(backend != nullptr, kInvalidArgument, "cannot register a null backend as '", device, "'");
  std::lock_guard<std::mutex> lock(registryMutex);
  registry()[device] = std::move(backend);
}

std::shared_ptr<Backend> backendFor(const std::string& device) {
  std::lock_guard<std::mutex> lock(registryMutex);
  auto& cache = registry();
  auto found = cache.find(device);
  if (found != cache.end()) return found->second;
  std::shared_ptr<Backend> backend;
  if (device == "cpu") {
    backend = cpu::makeCpuBackend();
  } else if (device == "cuda" || device.rfind("cuda:", 0) == 0) {
    int index = 0;
    if (device.size() > 5) {
      try {
        index = std::stoi(device.substr(5));
      } catch (...) {
        fail(ErrorCode::kInvalidArgument, concat("invalid device '", device, "': expected cuda:N"));
      }
    }
#ifdef KILN_HAVE_CUDA
    backend = makeCudaBackend(index);
#else
    (void)index;
    fail(ErrorCode::kUnsupported, concat("device '", device, "' is not available: this Kiln was built without CUDA"));
#endif
  } else {
    fail(ErrorCode::kInvalidArgument, concat("unknown device '", device, "': expected cpu, cuda or cuda:N"));
  }
  cache[device] = backend;
  return backend;
}

}  // namespace kiln
