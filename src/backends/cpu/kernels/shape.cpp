// Shape: writes the input's dims [start, end) (clamped as ONNX) as int64.
#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {

std::string supportsShape(const ir::Layer& layer) {
  return checkTypesPerIndex(layer, {kBytes}, {kSigned});
}

void runShape(const ir::Layer& layer, const KernelArgs& args) {
  KILN_CHECK(!args.inputs.empty() && !args.outputs.empty(), kInternal, layer.describe(), ": no input");
  const auto& p = layer.as<ShapeParams>();
  const Dims& dims = args.inputs[0].shape;
  const TensorView& out = args.outputs[0];
  const int64_t rank = static_cast<int64_t>(dims.size());
  int64_t start = p.start < 0 ? std::max<int64_t>(0, p.start + rank) : std::min(p.start, rank);
  int64_t end = p.end < 0 ? std::max<int64_t>(0, p.end + rank) : std::min(p.end, rank);
  int64_t n = std::max<int64_t>(0, end - start);
  checkCount(layer, out, n, "output");
  KILN_CHECK(out.type == DataType::kInt64, kInternal, layer.describe(), ": output must be int64");
  for (int64_t i = 0; i < n; ++i) out.as<int64_t>()[i] = dims[start + i];
}

}  // namespace kiln::cpu
