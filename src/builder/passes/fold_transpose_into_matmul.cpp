// fold_transpose_into_matmul: a Transpose that only swaps the last two dims and feeds a MatMul alone
// becomes the MatMul's transposeA/transposeB flag (attention's K^T: the GEMM reads the operand
// transposed instead of a copy being made first).
#include "builder/passes/passes.h"
#include "builder/passes/patterns.h"
#include "core/error.h"

namespace kiln::passes {
namespace {

// Whether `perm` (empty: reverse) over `rank` dims swaps the last two and keeps the others.
bool swapsLastTwo(const Dims& perm, size_t rank) {
  if (rank < 2) return false;
  if (perm.empty()) return rank == 2;
  if (perm.size() != rank) return false;
  for (size_t i = 0; i + 2 < rank; ++i)
    if (perm[i] != static_cast<int64_t>(i) && perm[i] != static_cast<int64_t>(i) - static_cast<int64_t>(rank))
      return false;
  auto norm = [&](int64_t p) { return p < 0 ? p + static_cast<int64_t>(rank) : p; };
  return norm(perm[rank - 2]) == static_cast<int64_t>(rank - 1) && norm(perm[rank - 1]) == static_cast<int64_t>(rank - 2);
}

}  // namespace

bool foldTransposeIntoMatMul(PassContext& context) {
  ir::Network& net = context.network;
  Consumers consumers = net.consumers();
  std::vector<ir::Layer*> folded;
  for (auto& owned : net.layers()) {
    ir::Layer* transpose = owned.get();
    if (transpose->type() != LayerType::kTranspose || transpose->inputs.size() != 1) continue;
    ir::Tensor* source = transpose->inputs[0];
    ir::Tensor* swapped = transpose->outputs[0];
    if (!source || !swapsLastTwo(transpose->as<TransposeParams>().perm, source->dims().size())) continue;
    ir::Layer* matmul = soleConsumer(consumers, swapped);
    if (!matmul || matmul->type() != LayerType::kMatrixMultiply || matmul->inputs.size() < 2) continue;
    if (matmul->inputs[0] == matmul->inputs[1]) continue;  // x^T x: both operands would change
    int operand = matmul->inputs[0] == swapped ? 0 : (matmul->inputs[1] == swapped ? 1 : -1);
    if (operand < 0) continue;
    MatrixMultiplyParams params = matmul->as<MatrixMultiplyParams>();
    bool& flag = operand == 0 ? params.transposeA : params.transposeB;
    flag = !flag;
    ir::Layer candidate(matmul->name(), params);
    candidate.inputs = matmul->inputs;
    candidate.inputs[operand] = source;
    candidate.outputs = matmul->outputs;
    if (!context.targetCanRun(candidate)) continue;
    matmul->mutableParams() = params;
    matmul->inputs[operand] = source;
    folded.push_back(transpose);
  }
  if (folded.empty()) return false;
  context.log.push_back(concat("fold_transpose_into_matmul: folded ", folded.size(), " Transposes into MatMul flags"));
  net.removeLayers(folded);
  return true;
}

}  // namespace kiln::passes
