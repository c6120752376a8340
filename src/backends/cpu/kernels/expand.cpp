// Expand: a strided copy with stride 0 on the broadcast dims.
#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {

std::string supportsExpand(const ir::Layer& layer) {
  return checkTypes(layer, kBytes, kBytes);
}

void runExpand(const ir::Layer& layer, const KernelArgs& args) {
  checkInputs(layer, args, 1);
  const TensorView& in = args.inputs[0];
  const TensorView& out = args.outputs[0];
  checkSameType(layer, in, out);
  Dims strides = broadcastStridesTo(in.shape, out.shape, layer);
  stridedCopy(out.data, in.data, out.shape, strides, 0, elementSize(in.type, layer), layer);
}

}  // namespace kiln::cpu
