// Determinant of batched square matrices [..., M, M]: one block per matrix, as the CPU kernel computes
// it: LU with partial pivoting in double (the matrix copied to a double scratch in the workspace), the
// pivot the first row with the largest |a| (searched by one thread), the row swap and the elimination of
// the rows below in parallel; det = sign * product of the pivots, 0 at the first zero pivot.
#include "backends/cuda/kernels/device_utils.cuh"
#include "backends/cuda/kernels/kernels.h"
#include "backends/cuda/kernels/supports.h"

namespace kiln::cuda {
namespace {

template <class T>
__global__ void determinantKernel(const T* __restrict__ x, T* __restrict__ y, double* __restrict__ scratch,
                                  int64_t matrices, int64_t m) {
  __shared__ int64_t pivot;
  __shared__ double det;
  const int64_t tid = threadIdx.x, threads = blockDim.x;
  for (int64_t k = blockIdx.x; k < matrices; k += gridDim.x) {
    const T* src = x + k * m * m;
    double* a = scratch + k * m * m;
    for (int64_t i = tid; i < m * m; i += threads) a[i] = static_cast<double>(toCompute(src[i]));
    if (tid == 0) det = 1;
    __syncthreads();
    for (int64_t col = 0; col < m; ++col) {
      if (tid == 0) {
        int64_t best = col;
        for (int64_t r = col + 1; r < m; ++r)
          if (fabs(a[r * m + col]) > fabs(a[best * m + col])) best = r;
        pivot = best;
        const double diagonal = a[best * m + col];
        if (diagonal == 0) {
          det = 0;
        } else {
          if (best != col) det = -det;
          det *= diagonal;
        }
      }
      __syncthreads();
      if (det == 0) break;  // the same shared value in every thread
      const int64_t pr = pivot;
      if (pr != col) {
        for (int64_t j = tid; j < m; j += threads) {
          const double t = a[pr * m + j];
          a[pr * m + j] = a[col * m + j];
          a[col * m + j] = t;
        }
        __syncthreads();
      }
      // Rows below: a[r][j] -= a[r][col] / a[col][col] * a[col][j] for j > col (column col is only read).
      const double diagonal = a[col * m + col];
      const int64_t rest = m - col - 1;
      for (int64_t e = tid; e < rest * rest; e += threads) {
        const int64_t r = col + 1 + e / rest, j = col + 1 + e % rest;
        const double factor = a[r * m + col] / diagonal;
        a[r * m + j] -= __dmul_rn(factor, a[col * m + j]);  // not fused: the CPU rounds the product
      }
      __syncthreads();
    }
    if (tid == 0) y[k] = fromCompute<T>(static_cast<Compute<T>>(det));
    __syncthreads();  // `det` and `pivot` are reused by the next matrix
  }
}

class DeterminantKernel final : public NamedKernel {
 public:
  DeterminantKernel(std::string name, const ir::Layer& layer)
      : NamedKernel(std::move(name)), layer_(&layer) {}
  size_t workspaceSize(const KernelArgs& args) const override {
    return static_cast<size_t>(args.inputs[0].count()) * sizeof(double);
  }
  void execute(const KernelArgs& args) const override {
    const TensorView &x = args.inputs[0], &y = args.outputs[0];
    const size_t rank = x.shape.size();
    KILN_CHECK(rank >= 2 && x.shape[rank - 1] == x.shape[rank - 2], kInvalidArgument, layer_->describe(),
               ": input ", dimsToString(x.shape), " must hold square matrices [..., M, M]");
    const int64_t m = x.shape[rank - 1], matrices = prodDims(x.shape, 0, rank - 2);
    KILN_CHECK(y.count() == matrices, kInvalidArgument, layer_->describe(), ": output ", dimsToString(y.shape),
               " does not match input ", dimsToString(x.shape));
    if (matrices == 0) return;  // (M = 0: each determinant is 1, no scratch needed)
    KILN_CHECK(args.workspaceBytes >= workspaceSize(args), kInternal, layer_->describe(), ": workspace too small");
    const int threads = m <= 8 ? 32 : 256;
    const auto blocks = static_cast<unsigned>(std::min<int64_t>(matrices, 1 << 20));
    dispatchFloat(x.type, [&](auto tag) {
      using T = typename decltype(tag)::type;
      determinantKernel<T><<<blocks, threads, 0, streamOf(args)>>>(
          x.as<const T>(), y.as<T>(), static_cast<double*>(args.workspace), matrices, m);
    });
    KILN_CUDA_CHECK_LAUNCH("determinant");
  }

 private:
  const ir::Layer* layer_;
};

}  // namespace

std::string supportsDeterminant(const ir::Layer& layer) { return floatReason(inType(layer, 0)); }
std::unique_ptr<Kernel> createDeterminant(const std::shared_ptr<DeviceContext>&, const ir::Layer& layer,
                                          const Constants&, const TacticChoice& tactic) {
  return std::make_unique<DeterminantKernel>(tactic.name, layer);
}

}  // namespace kiln::cuda
