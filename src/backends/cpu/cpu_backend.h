// The CPU backend: host memory, synchronous kernels, and one kernel table (kernel_table.cpp) whose rows
// {layer type, tactic, supports, create} come from the kernel files (kernels/*.cpp): several rows for a
// layer type are its tactic candidates, the first supporting one the preferred. The host evaluation of
// layers (backends/host_eval.h) runs the preferred rows on host values.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/host_eval.h"
#include "backends/kernel_table.h"

namespace kiln::cpu {

// A CPU kernel: one layer with one tactic. execute() runs on host views whose output shapes are inferred
// and memory allocated (with workspaceSize() bytes of workspace); evaluate() runs on whole host values.
class CpuKernel : public Kernel {
 public:
  CpuKernel(const ir::Layer& layer, const TacticChoice& tactic) : layer_(layer), tactic_(tactic.name) {}
  std::string name() const override { return tactic_; }
  // Infers the output shapes from the inputs (their values too), allocates the outputs and a workspace,
  // and executes. Layers on whole host values (control flow, sequences, optionals) override it.
  virtual std::vector<HostTensor> evaluate(const std::vector<const HostTensor*>& inputs) const;
  const ir::Layer& layer() const { return layer_; }

 protected:
  // For a layer whose output shape depends on its input values (ir::hasDataDependentShape): the size of
  // its unknown output dims, from the inputs alone (args.outputs is empty). evaluate() calls it.
  virtual int64_t dataDependentCount(const KernelArgs& args) const;

 private:
  ir::Layer layer_;  // a copy: params and name stay valid for the kernel's life
  std::string tactic_;
};

// A CPU kernel row's create(): the kernel of `tactic` for `layer`; constants[i] is input i's value when
// it is constant (weights to pack once), else nullptr.
using CreateFunction = std::unique_ptr<CpuKernel> (*)(const ir::Layer& layer, const Constants& constants,
                                                      const TacticChoice& tactic);
using CpuKernelTable = KernelTable<CreateFunction>;

// The CPU backend's rows, every layer type's (kernel_table.cpp).
const CpuKernelTable& kernelTable();

std::shared_ptr<Backend> makeCpuBackend();

// Number of threads CPU kernels use (default: hardware concurrency; KILN_NUM_THREADS overrides).
int numThreads();
void setNumThreads(int n);
// Runs fn(begin, end) over [0, n) split into chunks of at least `grain` on the thread pool.
void parallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace kiln::cpu
