// Range: out[i] = start + i * delta for the output's length.
#include <cmath>

#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {

std::string supportsRange(const ir::Layer& layer) {
  return checkTypes(layer, kNumeric, kNumeric, /*shapeInputs=*/kNumeric);  // float ranges too
}

void runRange(const ir::Layer& layer, const KernelArgs& args) {
  checkInputs(layer, args, 3);
  const TensorView& out = args.outputs[0];
  for (int i = 0; i < 3; ++i) {
    checkSameType(layer, args.inputs[i], out);
    checkCount(layer, args.inputs[i], 1, "start/limit/delta");
  }
  dispatchType<kNumeric>(out.type, layer, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = ComputeType<T>;
    C start = static_cast<C>(args.inputs[0].as<const T>()[0]);
    C limit = static_cast<C>(args.inputs[1].as<const T>()[0]);
    C delta = static_cast<C>(args.inputs[2].as<const T>()[0]);
    KILN_CHECK(delta != C(0), kInvalidArgument, layer.describe(), ": delta is 0");
    double expected = std::ceil((static_cast<double>(limit) - static_cast<double>(start)) / static_cast<double>(delta));
    int64_t n = std::max<int64_t>(0, static_cast<int64_t>(expected));
    checkCount(layer, out, n, "output");
    T* o = out.as<T>();
    for (int64_t i = 0; i < n; ++i) o[i] = T(static_cast<C>(start + static_cast<C>(i) * delta));
  });
}

}  // namespace kiln::cpu
