// Split: each output takes its [offset, offset + size) range of the axis; sizes come from the outputs.
#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {

std::string supportsSplit(const ir::Layer& layer) {
  return checkTypes(layer, kBytes, kBytes);
}

void runSplit(const ir::Layer& layer, const KernelArgs& args) {
  checkInputs(layer, args, 1);
  const TensorView& in = args.inputs[0];
  const int64_t rank = static_cast<int64_t>(in.shape.size());
  const int64_t axis = normAxis(layer.as<SplitParams>().axis, rank, layer);
  const size_t es = elementSize(in.type, layer);
  const int64_t outer = prodDims(in.shape, 0, axis), inner = prodDims(in.shape, axis + 1, rank);
  int64_t offset = 0;
  for (const TensorView& out : args.outputs) {
    checkSameType(layer, in, out);
    KILN_CHECK(static_cast<int64_t>(out.shape.size()) == rank, kInternal, layer.describe(), ": output rank differs");
    int64_t size = out.shape[axis];
    KILN_CHECK(offset + size <= in.shape[axis], kInvalidArgument, layer.describe(), ": split sizes exceed dim ",
               in.shape[axis]);
    size_t n = static_cast<size_t>(size * inner) * es, inRow = static_cast<size_t>(in.shape[axis] * inner) * es;
    if (n > 0)
      for (int64_t o = 0; o < outer; ++o)
        std::memcpy(static_cast<uint8_t*>(out.data) + o * n,
                    static_cast<const uint8_t*>(in.data) + o * inRow + static_cast<size_t>(offset * inner) * es, n);
    offset += size;
  }
}

}  // namespace kiln::cpu
