// Attention: per (batch, head, block of up to 64 query rows), the scores Q K^T come from the packed GEMM,
// are scaled, masked and soft-maxed row by row (max, then exp and sum), and P V goes from the GEMM straight
// into the output rows; causal blocks stop at their last visible key. Float16/bfloat16 compute in float32
// (inputs converted once). A block holds its whole score rows: 64 x Skv floats per thread.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "backends/cpu/kernels/compute_common.h"
#include "backends/cpu/kernels/softmax_math.h"
#include "backends/cpu/kernels/gemm.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {
namespace {

constexpr int64_t kQueryBlock = 64;

// Where one (batch, head) of a rank-4 q/k/v/y tensor starts, and how far apart its sequence rows are.
struct HeadStrides {
  int64_t batch = 0, head = 0, row = 0;
};

// dims are [B, H, S, D] (kBHSD) or [B, S, H, D] (kBSHD).
HeadStrides headStrides(const Dims& d, AttentionLayout layout) {
  if (layout == AttentionLayout::kBHSD) return {d[1] * d[2] * d[3], d[2] * d[3], d[3]};
  return {d[1] * d[2] * d[3], d[3], d[2] * d[3]};
}

struct AttentionProblem {
  int64_t batch, heads, kvHeads, qLen, kvLen, headSize, valueSize;
  HeadStrides q, k, v, y;
  float scale;
  bool causal, zeroMaskedRows;
  const float* additiveMask = nullptr;  // at most one of the two masks
  const bool* booleanMask = nullptr;
  int64_t maskStrides[3] = {0, 0, 0};   // batch, head, query row (0 where the mask broadcasts); keys contiguous
};

// Scales and masks one score row in place, then turns its first `visible` entries into probabilities
// (the rest 0). Returns false (the row all 0) when every key is masked out: the row max is -inf. A NaN
// score is no masked key: it makes the row's outputs NaN.
bool softmaxRow(const AttentionProblem& p, float* __restrict row, int64_t visible, int64_t used,
                const float* additive, const bool* allowed) {
  const float negInf = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < visible; ++j) row[j] *= p.scale;
  if (additive)
    for (int64_t j = 0; j < visible; ++j) row[j] += additive[j];
  if (allowed)
    for (int64_t j = 0; j < visible; ++j) row[j] = allowed[j] ? row[j] : negInf;
  std::fill(row + visible, row + used, 0.f);
  const float mx = visible > 0 ? detail::rowMax(row, visible) : negInf;
  if (mx == negInf) {
    std::fill(row, row + visible, 0.f);
    return false;
  }
  for (int64_t j = 0; j < visible; ++j) row[j] = detail::fastExp(row[j] - mx);
  const float sum = detail::rowSum(row, visible);
  const float inv = 1.f / sum;
  for (int64_t j = 0; j < visible; ++j) row[j] *= inv;
  return true;
}

void attentionBlock(const AttentionProblem& p, const float* Q, const float* K, const float* V, float* Y, int64_t b,
                    int64_t h, int64_t firstRow, std::vector<float>& scores) {
  const int64_t rows = std::min(kQueryBlock, p.qLen - firstRow);
  const int64_t kvHead = h / (p.heads / p.kvHeads);
  // Causal rows see keys up to their own index: the block needs no key past its last row's.
  const int64_t used = p.causal ? std::min(p.kvLen, firstRow + rows) : p.kvLen;
  const float* q = Q + b * p.q.batch + h * p.q.head + firstRow * p.q.row;
  const float* k = K + b * p.k.batch + kvHead * p.k.head;
  const float* v = V + b * p.v.batch + kvHead * p.v.head;
  float* y = Y + b * p.y.batch + h * p.y.head + firstRow * p.y.row;
  scores.resize(static_cast<size_t>(rows * std::max<int64_t>(used, 1)));
  float* s = scores.data();
  if (used > 0 && p.headSize > 0) {
    sgemm(false, true, rows, used, p.headSize, q, p.q.row, k, p.k.row, s, used, false, nullptr, false);
  } else {
    std::fill(scores.begin(), scores.end(), 0.f);
  }
  bool masked[kQueryBlock];
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t i = firstRow + r;
    const int64_t visible = p.causal ? std::min(used, i + 1) : used;
    const int64_t maskOffset = b * p.maskStrides[0] + h * p.maskStrides[1] + i * p.maskStrides[2];
    masked[r] = !softmaxRow(p, s + r * used, visible, used, p.additiveMask ? p.additiveMask + maskOffset : nullptr,
                            p.booleanMask ? p.booleanMask + maskOffset : nullptr);
  }
  if (used > 0) {
    sgemm(false, false, rows, p.valueSize, used, s, used, v, p.v.row, y, p.y.row, false, nullptr, false);
  } else {
    for (int64_t r = 0; r < rows; ++r) std::fill(y + r * p.y.row, y + r * p.y.row + p.valueSize, 0.f);
  }
  // No keys at all is an empty sum (zeros), not a masked row.
  const float fill = p.zeroMaskedRows ? 0.f : std::numeric_limits<float>::quiet_NaN();
  for (int64_t r = 0; r < rows; ++r)
    if (masked[r] && used > 0) std::fill(y + r * p.y.row, y + r * p.y.row + p.valueSize, fill);
}

void attentionCompute(const AttentionProblem& p, const float* Q, const float* K, const float* V, float* Y) {
  const int64_t blocks = (p.qLen + kQueryBlock - 1) / kQueryBlock;
  const int64_t tasks = p.batch * p.heads * blocks;
  // A task is one block of GEMM-sized work; a few per grain keeps short sequences from being pure overhead.
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, p.kvLen * p.headSize));
  parallelFor(tasks, grain, [&](int64_t t0, int64_t t1) {
    thread_local std::vector<float> scores;
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t block = t % blocks, bh = t / blocks;
      attentionBlock(p, Q, K, V, Y, bh / p.heads, bh % p.heads, block * kQueryBlock, scores);
    }
  });
}

// Strides of a mask [B|1, H|1, Sq|1, Skv] over (batch, head, query row), 0 where it broadcasts.
void setMaskStrides(AttentionProblem& p, const Dims& m) {
  const int64_t rowStride = m[3], headStride = m[2] * m[3], batchStride = m[1] * m[2] * m[3];
  p.maskStrides[0] = m[0] == 1 ? 0 : batchStride;
  p.maskStrides[1] = m[1] == 1 ? 0 : headStride;
  p.maskStrides[2] = m[2] == 1 ? 0 : rowStride;
}

}  // namespace

std::string supportsAttention(const ir::Layer& layer) {
  if (layer.numInputs() < 3) return "needs query, key and value";
  DataType type = layer.inputs[0]->type();
  if (type != DataType::kFloat32 && type != DataType::kFloat16 && type != DataType::kBFloat16)
    return concat("no CPU kernel for ", dataTypeName(type), " attention (float32, float16, bfloat16)");
  for (int i = 1; i < layer.numInputs(); ++i) {
    const ir::Tensor* t = layer.inputs[i];
    if (t && t->type() != type && !(i == 3 && t->type() == DataType::kBool))
      return concat("input ", i, " is ", dataTypeName(t->type()), ", not ", dataTypeName(type));
  }
  return {};
}

void runAttention(const ir::Layer& layer, const KernelArgs& args) {
  const auto& params = layer.as<AttentionParams>();
  KILN_CHECK(args.inputs.size() >= 3 && !args.outputs.empty(), kInvalidArgument, layer.describe(),
             ": attention needs query, key and value");
  const TensorView* mask = detail::optionalInput(args, 3);
  for (size_t i = 0; i < args.inputs.size(); ++i)
    if (args.inputs[i].data)
      KILN_CHECK(args.inputs[i].shape.size() == 4, kInvalidArgument, layer.describe(), ": input ", i, " ",
                 dimsToString(args.inputs[i].shape), " must have rank 4");
  if (args.outputs[0].count() == 0) return;
  auto headMajor = [&](Dims d) {  // [B, H, S, D] whatever the layout
    if (params.layout == AttentionLayout::kBSHD) std::swap(d[1], d[2]);
    return d;
  };
  const Dims q = headMajor(args.inputs[0].shape), k = headMajor(args.inputs[1].shape),
             v = headMajor(args.inputs[2].shape);
  KILN_CHECK(k[1] > 0 && q[1] % k[1] == 0 && v[1] == k[1] && k[2] == v[2] && q[3] == k[3] && q[0] == k[0] &&
                 q[0] == v[0],
             kInvalidArgument, layer.describe(), ": query ", dimsToString(args.inputs[0].shape), ", key ",
             dimsToString(args.inputs[1].shape), " and value ", dimsToString(args.inputs[2].shape), " do not match");
  AttentionProblem p{q[0], q[1], k[1], q[2], k[2], q[3], v[3], {}, {}, {}, {}, 0.f, params.causal,
                     params.zeroMaskedRows};
  p.q = headStrides(args.inputs[0].shape, params.layout);
  p.k = headStrides(args.inputs[1].shape, params.layout);
  p.v = headStrides(args.inputs[2].shape, params.layout);
  p.y = headStrides(args.outputs[0].shape, params.layout);
  p.scale = params.scale != 0.f ? params.scale : 1.f / std::sqrt(static_cast<float>(std::max<int64_t>(p.headSize, 1)));
  if (mask) {
    KILN_CHECK(mask->type == DataType::kBool || mask->type == args.inputs[0].type, kInvalidArgument,
               layer.describe(), ": mask type ", dataTypeName(mask->type), " must be bool or the query type ",
               dataTypeName(args.inputs[0].type));
    const Dims& m = mask->shape;
    const int64_t full[] = {p.batch, p.heads, p.qLen, p.kvLen};
    for (int d = 0; d < 4; ++d)
      KILN_CHECK(m[d] == full[d] || (m[d] == 1 && d < 3), kInvalidArgument, layer.describe(), ": mask ",
                 dimsToString(m), " does not broadcast to the scores [", full[0], ", ", full[1], ", ", full[2], ", ",
                 full[3], "]");
    setMaskStrides(p, m);
  }
  auto run = [&](const KernelArgs& a) {
    AttentionProblem problem = p;
    if (mask && mask->type == DataType::kBool) problem.booleanMask = a.inputs[3].as<const bool>();
    else if (mask) problem.additiveMask = a.inputs[3].as<const float>();
    attentionCompute(problem, a.inputs[0].as<const float>(), a.inputs[1].as<const float>(),
                     a.inputs[2].as<const float>(), a.outputs[0].as<float>());
  };
  switch (args.inputs[0].type) {
    case DataType::kFloat32: run(args); break;
    case DataType::kFloat16:
    case DataType::kBFloat16: detail::runInFloat(args, {0, 1, 2, 3}, {0}, run); break;
    default: unsupportedType(args.inputs[0].type, layer);
  }
}

}  // namespace kiln::cpu
