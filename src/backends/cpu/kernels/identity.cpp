// Identity: copies its input (nothing when the output aliases it).
#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"

namespace kiln::cpu {

void runIdentity(const ir::Layer& layer, const KernelArgs& args) {
  checkInputs(layer, args, 1);
  checkSameType(layer, args.inputs[0], args.outputs[0]);
  if (args.inputs[0].type != DataType::kString) elementSize(args.inputs[0].type, layer);  // strings: copyBytes
  copyBytes(layer, args.outputs[0], args.inputs[0]);
}

}  // namespace kiln::cpu
