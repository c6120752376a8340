// Identity: copies its input (nothing when the output aliases it); on the host, passes a sequence or an
// optional through (their elements are immutable and shared).
#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {

void runIdentity(const ir::Layer& layer, const KernelArgs& args) {
  checkInputs(layer, args, 1);
  checkSameType(layer, args.inputs[0], args.outputs[0]);
  if (args.inputs[0].type != DataType::kString) elementSize(args.inputs[0].type, layer);  // strings: copyBytes
  copyBytes(layer, args.outputs[0], args.inputs[0]);
}

namespace {

class IdentityKernel final : public CpuKernel {
 public:
  using CpuKernel::CpuKernel;
  void execute(const KernelArgs& args) const override { runIdentity(layer(), args); }
  std::vector<HostTensor> evaluate(const std::vector<const HostTensor*>& inputs) const override {
    if (inputs.size() == 1 && inputs[0] && inputs[0]->kind != ValueKind::kTensor) return {*inputs[0]};
    return CpuKernel::evaluate(inputs);
  }
};

}  // namespace

std::string supportsIdentity(const ir::Layer& layer) {
  return checkTypes(layer, kBytes | kStrings, kBytes | kStrings);  // strings: copied by element
}

std::unique_ptr<CpuKernel> createIdentity(const ir::Layer& layer, const Constants&, const TacticChoice& tactic) {
  return std::make_unique<IdentityKernel>(layer, tactic);
}

}  // namespace kiln::cpu
