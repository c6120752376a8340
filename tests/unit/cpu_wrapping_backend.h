// A test backend that is the CPU backend in everything it does not override: tests derive from it to
// change one thing (a missing kernel, fake tactics) and run the rest for real.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"

namespace kiln::testing {

class CpuWrappingBackend : public Backend {
 public:
  std::string name() const override { return "test"; }
  std::string deviceSignature() const override { return "test device"; }
  std::string unsupportedReason(const ir::Layer& layer) const override { return cpu_->unsupportedReason(layer); }
  std::vector<std::string> tactics(const ir::Layer& layer, int effort) const override {
    return cpu_->tactics(layer, effort);
  }
  std::unique_ptr<Kernel> createKernel(const ir::Layer& layer, const Constants& constants,
                                       const std::string& tactic) const override {
    return cpu_->createKernel(layer, constants, tactic);
  }
  bool isHostMemory() const override { return true; }
  void* allocate(size_t bytes) const override { return cpu_->allocate(bytes); }
  void deallocate(void* p) const override { cpu_->deallocate(p); }
  void copyFromHost(void* d, const void* s, size_t n, void* st) const override { cpu_->copyFromHost(d, s, n, st); }
  void copyToHost(void* d, const void* s, size_t n, void* st) const override { cpu_->copyToHost(d, s, n, st); }
  void copy(void* d, const void* s, size_t n, void* st) const override { cpu_->copy(d, s, n, st); }
  void synchronize(void* st) const override { cpu_->synchronize(st); }

 protected:
  std::shared_ptr<Backend> cpu_ = backendFor("cpu");
};

}  // namespace kiln::testing
