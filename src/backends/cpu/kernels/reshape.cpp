// Reshape (shape tensor, flatten, squeeze, unsqueeze): a row-major copy; the output shape is already set.
#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {

std::string supportsReshape(const ir::Layer& layer) {
  return checkTypes(layer, kBytes | kStrings, kBytes | kStrings);  // strings: copied by element
}

void runReshape(const ir::Layer& layer, const KernelArgs& args) {
  checkInputs(layer, args, 1);
  checkSameType(layer, args.inputs[0], args.outputs[0]);
  if (args.inputs[0].type != DataType::kString) elementSize(args.inputs[0].type, layer);  // strings: copyBytes
  KILN_CHECK(args.inputs[0].count() == args.outputs[0].count(), kInvalidArgument, layer.describe(),
             ": cannot reshape ", dimsToString(args.inputs[0].shape), " to ", dimsToString(args.outputs[0].shape));
  copyBytes(layer, args.outputs[0], args.inputs[0]);
}

}  // namespace kiln::cpu
