// Trilu: keeps the upper (j - i >= k) or lower (j - i <= k) triangle of each trailing matrix.
#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {

std::string supportsTrilu(const ir::Layer& layer) {
  return checkTypes(layer, kBytes, kBytes);
}

void runTrilu(const ir::Layer& layer, const KernelArgs& args) {
  checkInputs(layer, args, 1);
  const TensorView& in = args.inputs[0];
  const TensorView& out = args.outputs[0];
  checkSameType(layer, in, out);
  KILN_CHECK(in.shape.size() >= 2, kInvalidArgument, layer.describe(), ": input needs rank >= 2, got ",
             dimsToString(in.shape));
  const bool upper = layer.as<TriluParams>().upper;
  const int64_t k = present(args, 1) ? readScalarInt(args.inputs[1], layer, "k") : 0;
  const size_t r = in.shape.size();
  const int64_t rows = in.shape[r - 2], cols = in.shape[r - 1], mats = prodDims(in.shape, 0, r - 2);
  copyBytes(layer, out, in);
  dispatchBytes(in.type, layer, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* o = out.as<T>();
    for (int64_t m = 0; m < mats; ++m)
      for (int64_t i = 0; i < rows; ++i) {
        T* row = o + (m * rows + i) * cols;
        for (int64_t j = 0; j < cols; ++j) {
          bool keep = upper ? (j - i >= k) : (j - i <= k);
          if (!keep) row[j] = T(0);
        }
      }
  });
}

}  // namespace kiln::cpu
