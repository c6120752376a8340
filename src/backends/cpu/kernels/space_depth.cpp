// DepthToSpace (DCR/CRD) and SpaceToDepth: a 6-d reshape of NCHW and a permutation, as one strided copy.
#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {

std::string supportsSpaceDepth(const ir::Layer& layer) {
  return checkTypes(layer, kBytes, kBytes);
}

void runSpaceDepth(const ir::Layer& layer, const KernelArgs& args) {
  checkInputs(layer, args, 1);
  const auto& p = layer.as<SpaceDepthParams>();
  const TensorView& in = args.inputs[0];
  const TensorView& out = args.outputs[0];
  checkSameType(layer, in, out);
  KILN_CHECK(in.shape.size() == 4, kInvalidArgument, layer.describe(), ": expects a 4-d NCHW input, got ",
             dimsToString(in.shape));
  const int64_t b = p.blockSize, n = in.shape[0], c = in.shape[1], h = in.shape[2], w = in.shape[3];
  KILN_CHECK(b >= 1, kInvalidArgument, layer.describe(), ": block size ", b);
  Dims view, perm;
  if (p.toDepth) {
    KILN_CHECK(h % b == 0 && w % b == 0, kInvalidArgument, layer.describe(), ": H and W must be multiples of ", b);
    view = {n, c, h / b, b, w / b, b};
    perm = {0, 3, 5, 1, 2, 4};
  } else {
    KILN_CHECK(c % (b * b) == 0, kInvalidArgument, layer.describe(), ": C must be a multiple of ", b * b);
    if (p.crd) {
      view = {n, c / (b * b), b, b, h, w};
      perm = {0, 1, 4, 2, 5, 3};
    } else {
      view = {n, b, b, c / (b * b), h, w};
      perm = {0, 3, 4, 1, 5, 2};
    }
  }
  Dims viewStrides = stridesOf(view), shape(6), strides(6);
  for (int i = 0; i < 6; ++i) {
    shape[i] = view[perm[i]];
    strides[i] = viewStrides[perm[i]];
  }
  KILN_CHECK(volume(shape) == out.count(), kInternal, layer.describe(), ": output shape ", dimsToString(out.shape));
  stridedCopy(out.data, in.data, shape, strides, 0, elementSize(in.type, layer), layer);
}

}  // namespace kiln::cpu
