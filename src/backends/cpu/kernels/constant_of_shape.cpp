// ConstantOfShape: fills the output with the one value of the params (float 0 when none is given).
#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {

std::string supportsConstantOfShape(const ir::Layer& layer) {
  return checkTypes(layer, kBytes, kBytes);
}

void runConstantOfShape(const ir::Layer& layer, const KernelArgs& args) {
  KILN_CHECK(!args.outputs.empty(), kInternal, layer.describe(), ": no output");
  const Weights& value = layer.as<ConstantOfShapeParams>().value;
  const TensorView& out = args.outputs[0];
  const size_t es = elementSize(out.type, layer);
  uint64_t bits = 0;
  if (value.data() != nullptr && value.count() > 0) {
    KILN_CHECK(value.count() == 1 && value.type == out.type, kInvalidArgument, layer.describe(),
               ": value must be one element of the output type");
    std::memcpy(&bits, value.data(), es);
  } else {
    KILN_CHECK(out.type == DataType::kFloat32 || bits == 0, kInternal, layer.describe(), ": no value");
  }
  dispatchBytes(out.type, layer, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T v;
    std::memcpy(&v, &bits, sizeof(T));
    std::fill(out.as<T>(), out.as<T>() + out.count(), v);
  });
}

}  // namespace kiln::cpu
