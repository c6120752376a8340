// What every backend shares: the default StreamTimer (the host wall clock, for backends whose kernels
// run synchronously).
#include <chrono>

#include "backends/backend.h"

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

}  // namespace kiln
