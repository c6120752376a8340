// Transpose: a strided copy of the input with permuted strides (tiled when it swaps the two inner dims).
#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {

std::string supportsTranspose(const ir::Layer& layer) {
  return checkTypes(layer, kBytes, kBytes);
}

void runTranspose(const ir::Layer& layer, const KernelArgs& args) {
  checkInputs(layer, args, 1);
  const TensorView& in = args.inputs[0];
  const TensorView& out = args.outputs[0];
  checkSameType(layer, in, out);
  const int64_t rank = static_cast<int64_t>(in.shape.size());
  Dims perm = layer.as<TransposeParams>().perm;
  if (perm.empty())
    for (int64_t i = rank - 1; i >= 0; --i) perm.push_back(i);
  KILN_CHECK(static_cast<int64_t>(perm.size()) == rank, kInvalidArgument, layer.describe(), ": perm has ",
             perm.size(), " entries for a rank-", rank, " input");
  std::vector<bool> seen(rank, false);
  Dims inStrides = stridesOf(in.shape), strides(rank), shape(rank);
  for (int64_t i = 0; i < rank; ++i) {
    int64_t p = perm[i] < 0 ? perm[i] + rank : perm[i];
    KILN_CHECK(p >= 0 && p < rank && !seen[p], kInvalidArgument, layer.describe(), ": invalid perm ",
               dimsToString(perm));
    seen[p] = true;
    strides[i] = inStrides[p];
    shape[i] = in.shape[p];
  }
  KILN_CHECK(shape == out.shape, kInternal, layer.describe(), ": output shape ", dimsToString(out.shape),
             ", expected ", dimsToString(shape));
  stridedCopy(out.data, in.data, shape, strides, 0, elementSize(in.type, layer), layer);
}

}  // namespace kiln::cpu
