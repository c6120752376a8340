// Constant: copies the layer's weights into the output.
#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {

std::string supportsConstant(const ir::Layer& layer) {
  return checkTypes(layer, kBytes | kStrings, kBytes | kStrings);  // strings: copied by element
}

void runConstant(const ir::Layer& layer, const KernelArgs& args) {
  checkInputs(layer, args, 0);
  const Weights& w = layer.as<ConstantParams>().weights;
  const TensorView& out = args.outputs[0];
  KILN_CHECK(out.type == w.type && out.count() == w.count(), kInternal, layer.describe(), ": output ",
             dataTypeName(out.type), dimsToString(out.shape), " does not match the weights ", dataTypeName(w.type),
             dimsToString(w.shape));
  TensorView value;
  value.data = const_cast<void*>(w.data());
  value.type = w.type;
  value.shape = w.shape;
  if (w.type != DataType::kString) elementSize(w.type, layer);  // strings: copyBytes copies by element
  if (out.count() > 0) copyBytes(layer, out, value);
}

}  // namespace kiln::cpu
