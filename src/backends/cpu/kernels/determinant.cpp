// Determinant: LU decomposition with partial pivoting in double per matrix; det = sign * prod(diagonal).
// O(M^3) per matrix, matrices in parallel.
#include <cmath>

#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {

std::string supportsDeterminant(const ir::Layer& layer) {
  return checkTypes(layer, kFloats, kFloats);
}

void runDeterminant(const ir::Layer& layer, const KernelArgs& args) {
  checkInputs(layer, args, 1);
  const TensorView &x = args.inputs[0], &y = args.outputs[0];
  const size_t rank = x.shape.size();
  KILN_CHECK(rank >= 2 && x.shape[rank - 1] == x.shape[rank - 2], kInvalidArgument, layer.describe(),
             ": input ", dimsToString(x.shape), " must hold square matrices [..., M, M]");
  const int64_t m = x.shape[rank - 1], matrices = prodDims(x.shape, 0, rank - 2);
  checkCount(layer, y, matrices, "output");
  dispatchType<kFloats>(x.type, layer, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* in = x.as<const T>();
    T* out = y.as<T>();
    parallelFor(matrices, 1, [&](int64_t begin, int64_t end) {
      std::vector<double> a(static_cast<size_t>(m * m));
      for (int64_t k = begin; k < end; ++k) {
        const T* src = in + k * m * m;
        for (int64_t i = 0; i < m * m; ++i) a[i] = static_cast<double>(static_cast<ComputeType<T>>(src[i]));
        double det = 1;
        for (int64_t col = 0; col < m && det != 0; ++col) {
          int64_t pivot = col;
          for (int64_t r = col + 1; r < m; ++r)
            if (std::fabs(a[r * m + col]) > std::fabs(a[pivot * m + col])) pivot = r;
          if (a[pivot * m + col] == 0) {
            det = 0;
            break;
          }
          if (pivot != col) {
            for (int64_t j = 0; j < m; ++j) std::swap(a[pivot * m + j], a[col * m + j]);
            det = -det;
          }
          const double diagonal = a[col * m + col];
          det *= diagonal;
          for (int64_t r = col + 1; r < m; ++r) {
            const double factor = a[r * m + col] / diagonal;
            for (int64_t j = col + 1; j < m; ++j) a[r * m + j] -= factor * a[col * m + j];
          }
        }
        out[k] = static_cast<T>(static_cast<ComputeType<T>>(det));
      }
    });
  });
}

}  // namespace kiln::cpu
