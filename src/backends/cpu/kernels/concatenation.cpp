// Concatenation: for each outer index, copies each input's contiguous [axis..] block in turn.
#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {

std::string supportsConcatenation(const ir::Layer& layer) {
  return checkTypes(layer, kBytes, kBytes);
}

void runConcatenation(const ir::Layer& layer, const KernelArgs& args) {
  KILN_CHECK(!args.inputs.empty() && !args.outputs.empty(), kInternal, layer.describe(), ": no inputs");
  const TensorView& out = args.outputs[0];
  const int64_t rank = static_cast<int64_t>(out.shape.size());
  const int64_t axis = normAxis(layer.as<ConcatenationParams>().axis, rank, layer);
  const size_t es = elementSize(out.type, layer);
  const int64_t outer = prodDims(out.shape, 0, axis), inner = prodDims(out.shape, axis + 1, rank);
  int64_t axisTotal = 0;
  for (const TensorView& in : args.inputs) {
    checkSameType(layer, in, out);
    KILN_CHECK(static_cast<int64_t>(in.shape.size()) == rank, kInvalidArgument, layer.describe(),
               ": inputs have different ranks");
    for (int64_t d = 0; d < rank; ++d)
      KILN_CHECK(d == axis || in.shape[d] == out.shape[d], kInvalidArgument, layer.describe(), ": input shape ",
                 dimsToString(in.shape), " does not match ", dimsToString(out.shape), " outside axis ", axis);
    KILN_CHECK(in.count() == 0 || in.data != nullptr, kInvalidArgument, layer.describe(), ": missing input");
    axisTotal += in.shape[axis];
  }
  KILN_CHECK(axisTotal == out.shape[axis], kInternal, layer.describe(), ": output axis ", out.shape[axis],
             ", inputs sum to ", axisTotal);
  const size_t outRow = static_cast<size_t>(out.shape[axis] * inner) * es;
  auto body = [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) {
      auto* dst = static_cast<uint8_t*>(out.data) + o * outRow;
      for (const TensorView& in : args.inputs) {
        size_t n = static_cast<size_t>(in.shape[axis] * inner) * es;
        if (n == 0) continue;
        std::memcpy(dst, static_cast<const uint8_t*>(in.data) + o * n, n);
        dst += n;
      }
    }
  };
  if (outer * static_cast<int64_t>(outRow) > (1 << 18))
    parallelFor(outer, std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(1, outRow)), body);
  else
    body(0, outer);
}

}  // namespace kiln::cpu
