// Tile: the output viewed as [r0, d0, r1, d1, ...] is a strided copy of the input with stride 0 on r_i.
#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {

std::string supportsTile(const ir::Layer& layer) {
  return checkTypes(layer, kBytes, kBytes);
}

void runTile(const ir::Layer& layer, const KernelArgs& args) {
  checkInputs(layer, args, 1);
  const TensorView& in = args.inputs[0];
  const TensorView& out = args.outputs[0];
  checkSameType(layer, in, out);
  const size_t rank = in.shape.size();
  KILN_CHECK(out.shape.size() == rank, kInternal, layer.describe(), ": output rank differs");
  Dims inStrides = stridesOf(in.shape), shape, strides;
  for (size_t d = 0; d < rank; ++d) {
    int64_t reps = in.shape[d] == 0 ? 0 : out.shape[d] / in.shape[d];
    KILN_CHECK(reps * in.shape[d] == out.shape[d], kInternal, layer.describe(), ": output dim ", out.shape[d],
               " is not a multiple of ", in.shape[d]);
    if (present(args, 1)) {
      std::vector<int64_t> repeats = readInts(args.inputs[1], layer);
      KILN_CHECK(repeats.size() == rank && (in.shape[d] == 0 || repeats[d] == reps), kInvalidArgument,
                 layer.describe(), ": repeats do not match the output shape");
    }
    shape.push_back(reps);
    strides.push_back(0);
    shape.push_back(in.shape[d]);
    strides.push_back(inStrides[d]);
  }
  stridedCopy(out.data, in.data, shape, strides, 0, elementSize(in.type, layer), layer);
}

}  // namespace kiln::cpu
