// NonZero: the indices of non-zero elements as int64 [rank, n], in row-major order.
#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {

int64_t countNonZero(const ir::Layer& layer, const KernelArgs& args) {
  checkInputs(layer, args, 1, 0);
  const TensorView& in = args.inputs[0];
  int64_t count = 0;
  if (in.count() <= 0) return 0;
  if (in.type == DataType::kFP8E4M3) {
    for (int64_t i = 0; i < in.count(); ++i) count += (in.as<const uint8_t>()[i] & 0x7f) != 0;
    return count;
  }
  dispatchType(in.type, layer, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* p = in.as<const T>();
    for (int64_t i = 0; i < in.count(); ++i) count += static_cast<ComputeType<T>>(p[i]) != ComputeType<T>(0);
  });
  return count;
}

std::string supportsNonZero(const ir::Layer& layer) {
  return checkTypes(layer, kBytes, kBytes);
}

void runNonZero(const ir::Layer& layer, const KernelArgs& args) {
  checkInputs(layer, args, 1);
  const TensorView& in = args.inputs[0];
  const TensorView& out = args.outputs[0];
  KILN_CHECK(out.type == DataType::kInt64, kInternal, layer.describe(), ": output must be int64");
  const int64_t rank = static_cast<int64_t>(in.shape.size()), total = in.count();
  const int64_t n = countNonZero(layer, args);
  const int64_t rows = std::max<int64_t>(rank, out.shape.empty() ? 0 : out.shape[0]);
  KILN_CHECK(out.shape.size() == 2 && out.shape[1] == n && (out.shape[0] == rank || (rank == 0 && out.shape[0] <= 1)),
             kInternal, layer.describe(), ": output shape ", dimsToString(out.shape), ", expected [", rank, ",", n, "]");
  int64_t* o = out.as<int64_t>();
  std::vector<int64_t> idx(rank, 0);
  int64_t k = 0;
  auto isNonZero = [&](int64_t i) {
    if (in.type == DataType::kFP8E4M3) return (in.as<const uint8_t>()[i] & 0x7f) != 0;
    return dispatchType(in.type, layer, [&](auto tag) {
      using T = typename decltype(tag)::type;
      return static_cast<ComputeType<T>>(in.as<const T>()[i]) != ComputeType<T>(0);
    });
  };
  for (int64_t i = 0; i < total; ++i) {
    if (isNonZero(i)) {
      for (int64_t d = 0; d < rank; ++d) o[d * n + k] = idx[d];
      if (rank == 0 && rows == 1) o[k] = 0;
      ++k;
    }
    for (int64_t d = rank - 1; d >= 0; --d) {
      if (++idx[d] < in.shape[d]) break;
      idx[d] = 0;
    }
  }
}

}  // namespace kiln::cpu
