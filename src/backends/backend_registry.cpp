// Maps device strings to backends: "cpu"; "cuda" or "cuda:N" when built with the CUDA backend.
#include <chrono>
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
class WallClockTimer final : public StreamTimer {
 public:
  void start(void*) override { start_ = std::chrono::steady_clock::now(); }
  void stop(void*) override { stop_ = std::chrono::steady_clock::now(); }
  double elapsedMs() const override { return std::chrono::duration<double, std::milli>(stop_ - start_).count(); }

 private:
  std::chrono::steady_clock::time_point start_, stop_;
};
}  // namespace

std::unique_ptr<StreamTimer> Backend::createTimer() const { return std::make_unique<WallClockTimer>(); }

std::shared_ptr<Backend> backendFor(const std::string& device) {
  static std::mutex mutex;
  static std::unordered_map<std::string, std::shared_ptr<Backend>> cache;
  std::lock_guard<std::mutex> lock(mutex);
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
