// fuse_attention: the exported scaled dot-product attention becomes one Attention layer:
//
//   MatMul(Q, K^T) [-> Mul/Div by a scalar] [-> Where(causal, s, -big)] [-> Add mask] -> Softmax(last axis)
//   [-> Where(IsNaN(p), 0, p)] -> MatMul(p, V)
//
// The scale may also sit on Q and/or K before the first MatMul (torch's SDPA export multiplies both by
// sqrt(scale)). K^T is K read with MatMul's transposeB, or a Transpose: of the last two dims, or (0,2,3,1) of
// the [B,S,H,D] key projection (HuggingFace's BERT). When Q, K and V are Transposes (0,2,1,3) of [B,S,H,D]
// tensors and the output goes through a Transpose (0,2,1,3), the layer reads and writes [B,S,H,D] (kBSHD) and
// those Transposes go. A constant mask that is exactly top-left causal (a boolean lower triangle, or 0 on and
// below the diagonal and -1e4 or less above) becomes causal = true. Where(IsNaN(p), 0, p) sets
// zeroMaskedRows. Every intermediate tensor must have no other reader.
#include <algorithm>
#include <cmath>
#include <optional>
#include <unordered_set>

#include "builder/passes/passes.h"
#include "builder/passes/patterns.h"
#include "core/error.h"
#include "core/half.h"

namespace kiln::passes {
namespace {

const Dims kHeadsSwap = {0, 2, 1, 3};  // [B,S,H,D] <-> [B,H,S,D]

bool isAttentionType(DataType type) {
  return type == DataType::kFloat32 || type == DataType::kFloat16 || type == DataType::kBFloat16;
}

// A scalar at or below this, added to a score or put in its place, masks the key out as -inf would: the
// softmax's exp of it underflows to 0 for any realistic score (exports use -10000, float's lowest, -inf).
constexpr double kMaskingValue = -1e4;

// An operand of the attention as [B, H, S, D]: `tensor` when it exists in the network, and how it is read
// from a [B, S, H, D]-like `source` through one Transpose (perm empty: no Transpose, tensor == source).
struct HeadMajorOperand {
  ir::Tensor* tensor = nullptr;  // nullptr: only a Transpose of source by perm gives it
  ir::Tensor* source = nullptr;
  Dims perm;
};

HeadMajorOperand operandOf(ir::Tensor* t) {
  if (ir::Layer* transpose = producingTranspose(t))
    return {t, transpose->inputs[0], transpose->as<TransposeParams>().perm};
  return {t, t, {}};
}

Dims permuted(const Dims& dims, const Dims& perm) {
  if (perm.empty()) return dims;
  Dims out;
  for (int64_t p : perm) out.push_back(dims[static_cast<size_t>(p)]);
  return out;
}

// What the pass removes and what the Attention layer gets, found by AttentionMatcher::match.
struct AttentionMatch {
  HeadMajorOperand q, k, v;
  ir::Tensor* mask = nullptr;
  AttentionParams params;
  ir::Layer* last = nullptr;  // becomes the Attention layer: the output MatMul, or the Transpose after it
  std::vector<ir::Layer*> absorbed;  // the layers it replaces, but `last`
};

class AttentionMatcher {
 public:
  AttentionMatcher(const Consumers& consumers) : consumers_(consumers) {}

  // Matches the subgraph whose score MatMul is `scores`.
  std::optional<AttentionMatch> match(ir::Layer* scores) {
    AttentionMatch m;
    if (!isPlainMatMul(scores) || scores->outputs[0]->dims().size() != 4) return std::nullopt;
    m.absorbed.push_back(scores);
    double scale = 1.0;
    // Q and K^T, each possibly scaled first.
    ir::Tensor* q = peelScale(scores->inputs[0], scores, scale, m.absorbed);
    ir::Tensor* kOperand = peelScale(scores->inputs[1], scores, scale, m.absorbed);
    m.q = operandOf(q);
    if (scores->as<MatrixMultiplyParams>().transposeB) {
      m.k = operandOf(kOperand);
    } else {  // K^T is a Transpose of something: K is the same source read with the last two dims swapped back
      ir::Layer* transpose = producingTranspose(kOperand);
      if (!transpose || transpose->as<TransposeParams>().perm.size() != 4) return std::nullopt;
      Dims perm = transpose->as<TransposeParams>().perm;
      std::swap(perm[2], perm[3]);
      if (perm == Dims{0, 1, 2, 3}) m.k = operandOf(transpose->inputs[0]);
      else m.k = {nullptr, transpose->inputs[0], perm};
    }
    // Scores -> [scale] -> [masks] -> Softmax.
    ir::Tensor* t = scores->outputs[0];
    ir::Layer* softmax = nullptr;
    bool masked = false;
    while (!softmax) {
      ir::Layer* next = soleConsumer(consumers_, t);
      if (!next) return std::nullopt;
      if (next->type() == LayerType::kSoftmax) {
        softmax = next;
        break;
      }
      if (!absorbChainStep(next, t, scale, masked, m)) return std::nullopt;
      m.absorbed.push_back(next);
      t = next->outputs[0];
    }
    const auto& sp = softmax->as<SoftmaxParams>();
    if (sp.type != SoftmaxType::kSoftmax || (sp.axis != -1 && sp.axis != 3) || t->dims().size() != 4)
      return std::nullopt;
    m.absorbed.push_back(softmax);
    // Softmax -> [Where(IsNaN(p), 0, p)] -> MatMul(p, V).
    ir::Tensor* probs = softmax->outputs[0];
    ir::Layer* context = soleConsumer(consumers_, probs);
    if (!context) {
      ir::Tensor* cleaned = zeroedNaNs(probs, m.absorbed);
      if (!cleaned) return std::nullopt;
      m.params.zeroMaskedRows = true;
      probs = cleaned;
      context = soleConsumer(consumers_, probs);
    }
    if (!isPlainMatMul(context) || context->inputs[0] != probs || context->as<MatrixMultiplyParams>().transposeB)
      return std::nullopt;
    m.v = operandOf(context->inputs[1]);
    m.last = context;
    // [B,S,H,D] in and out when all three are (0,2,1,3) Transposes and one follows the output.
    ir::Layer* after = soleConsumer(consumers_, context->outputs[0]);
    if (m.q.perm == kHeadsSwap && m.k.perm == kHeadsSwap && m.v.perm == kHeadsSwap && after &&
        after->type() == LayerType::kTranspose && after->as<TransposeParams>().perm == kHeadsSwap) {
      m.params.layout = AttentionLayout::kBSHD;
      m.absorbed.push_back(context);
      m.last = after;
    }
    if (scale == 0.0 || !std::isfinite(scale)) return std::nullopt;  // 0 would mean 1/sqrt(D)
    m.params.scale = static_cast<float>(scale);
    return m;
  }

 private:
  static bool isPlainMatMul(const ir::Layer* layer) {
    return layer && layer->type() == LayerType::kMatrixMultiply && layer->inputs.size() == 2 &&
           !layer->as<MatrixMultiplyParams>().transposeA &&
           layer->as<MatrixMultiplyParams>().activation == MatMulActivation::kNone;
  }

  // x when `t` = x * c, c * x or x / c (c a scalar constant) is read by `reader` alone (the factor goes into
  // `scale`), else `t` itself.
  ir::Tensor* peelScale(ir::Tensor* t, ir::Layer* reader, double& scale, std::vector<ir::Layer*>& absorbed) {
    ir::Layer* producer = t->producerLayer;
    if (soleConsumer(consumers_, t) != reader) return t;
    if (isElementWise(producer, ElementWiseOp::kMul)) {
      for (int i = 0; i < 2; ++i)
        if (auto c = scalarConstantValue(producer->inputs[1 - i]); c && !constantWeights(producer->inputs[i])) {
          scale *= *c;
          absorbed.push_back(producer);
          return producer->inputs[i];
        }
    } else if (isElementWise(producer, ElementWiseOp::kDiv)) {
      if (auto c = scalarConstantValue(producer->inputs[1])) {
        scale /= *c;
        absorbed.push_back(producer);
        return producer->inputs[0];
      }
    }
    return t;
  }

  // One layer between the scores and the Softmax: a scale (before any mask), an Add of a mask, or a Where
  // that keeps the scores where a condition holds and puts a masking value elsewhere.
  bool absorbChainStep(ir::Layer* layer, ir::Tensor* scores, double& scale, bool& masked, AttentionMatch& m) {
    if (isElementWise(layer, ElementWiseOp::kMul) || isElementWise(layer, ElementWiseOp::kDiv)) {
      bool div = layer->as<ElementWiseParams>().op == ElementWiseOp::kDiv;
      if (masked || (div && layer->inputs[0] != scores)) return false;
      auto c = scalarConstantValue(otherInput(layer, scores));
      if (!c) return false;
      scale = div ? scale / *c : scale * *c;
      return true;
    }
    const Dims& dims = scores->dims();
    if (isElementWise(layer, ElementWiseOp::kAdd)) {
      ir::Tensor* mask = otherInput(layer, scores);
      masked = true;
      if (isCausalConstant(mask, dims, CausalForm::kAdditive)) {
        m.params.causal = true;
        return true;
      }
      if (m.mask || mask->type() != scores->type() || !broadcastsTo(mask->dims(), dims)) return false;
      m.mask = mask;
      return true;
    }
    if (layer->type() == LayerType::kSelect && layer->inputs.size() == 3) {
      // Where(keep, s, fill) (HuggingFace's GPT-2) or Where(hide, fill, s) (masked_fill)
      const bool keepForm = layer->inputs[1] == scores && layer->inputs[2] != scores;
      const bool hideForm = layer->inputs[2] == scores && layer->inputs[1] != scores;
      auto fill = scalarConstantValue(layer->inputs[keepForm ? 2 : 1]);
      if ((!keepForm && !hideForm) || !fill || *fill > kMaskingValue) return false;
      masked = true;
      ir::Tensor* condition = layer->inputs[0];
      if (isCausalConstant(condition, dims, keepForm ? CausalForm::kKeep : CausalForm::kHide)) {
        m.params.causal = true;
        return true;
      }
      // Any other keep condition is a boolean mask; exactly so only with -inf (a finite fill keeps a fully
      // masked row finite: uniform weights, not NaN).
      if (!keepForm || m.mask || !std::isinf(*fill) || !broadcastsTo(condition->dims(), dims)) return false;
      m.mask = condition;
      return true;
    }
    return false;
  }

  // How a constant causal mask is written: added to the scores (0 on and below the diagonal, a masking value
  // above), or a Where condition true where the scores are kept (on and below) or hidden (above).
  enum class CausalForm { kAdditive, kKeep, kHide };

  // Whether `t` is a constant [1.., S, S] mask hiding exactly the keys after each query (S = Sq = Skv).
  static bool isCausalConstant(const ir::Tensor* t, const Dims& scores, CausalForm form) {
    const bool boolean = form != CausalForm::kAdditive;
    const Weights* w = constantWeights(t);
    const int64_t n = scores[2];
    if (!w || w->data() == nullptr || n <= 0 || scores[3] != n || w->count() != n * n || w->shape.size() < 2 ||
        w->shape[w->shape.size() - 1] != n)
      return false;
    if (boolean != (w->type == DataType::kBool)) return false;
    if (!boolean && !isAttentionType(w->type)) return false;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) {
        const int64_t at = i * n + j;
        bool visible;
        if (boolean) {
          visible = w->as<bool>()[at] == (form == CausalForm::kKeep);
        } else {
          double x = w->type == DataType::kFloat32   ? w->as<float>()[at]
                     : w->type == DataType::kFloat16 ? halfToFloat(w->as<uint16_t>()[at])
                                                     : bfloat16ToFloat(w->as<uint16_t>()[at]);
          if (x != 0.0 && !(x <= kMaskingValue)) return false;
          visible = x == 0.0;
        }
        if (visible != (j <= i)) return false;
      }
    return true;
  }

  // Whether a mask of `mask` dims broadcasts to the scores as the Attention layer takes it: rank 4, the
  // keys' dim equal, the others equal or 1.
  static bool broadcastsTo(const Dims& mask, const Dims& scores) {
    if (mask.size() != 4 || scores.size() != 4 || mask[3] != scores[3] || mask[3] < 0) return false;
    for (int d = 0; d < 3; ++d)
      if (mask[d] != 1 && mask[d] != scores[d]) return false;
    return true;
  }

  // Where(IsNaN(p), 0, p) when it alone reads p (with the IsNaN): its output, else nullptr.
  ir::Tensor* zeroedNaNs(ir::Tensor* probs, std::vector<ir::Layer*>& absorbed) {
    auto it = consumers_.find(probs);
    if (probs->isOutput || it == consumers_.end() || it->second.size() != 2) return nullptr;
    ir::Layer* isNaN = nullptr;
    ir::Layer* where = nullptr;
    for (auto& [layer, index] : it->second) {
      if (layer->type() == LayerType::kUnary && layer->as<UnaryParams>().op == UnaryOp::kIsNaN) isNaN = layer;
      else if (layer->type() == LayerType::kSelect) where = layer;
    }
    if (!isNaN || !where || soleConsumer(consumers_, isNaN->outputs[0]) != where || where->inputs.size() != 3 ||
        where->inputs[0] != isNaN->outputs[0] || where->inputs[2] != probs)
      return nullptr;
    auto zero = scalarConstantValue(where->inputs[1]);
    if (!zero || *zero != 0.0) return nullptr;
    absorbed.push_back(isNaN);
    absorbed.push_back(where);
    return where->outputs[0];
  }

  const Consumers& consumers_;
};

// The operands' [B, H, S, D] dims agree as the Attention layer needs them (its shape rule's checks, plus
// equal heads: exports repeat grouped key/value heads before the MatMul).
bool shapesAgree(const AttentionMatch& m) {
  Dims q = permuted(m.q.source->dims(), m.q.perm), k = permuted(m.k.source->dims(), m.k.perm),
       v = permuted(m.v.source->dims(), m.v.perm);
  if (q.size() != 4 || k.size() != 4 || v.size() != 4) return false;
  return q[0] == k[0] && k[0] == v[0] && q[1] == k[1] && k[1] == v[1] && k[2] == v[2] && q[3] == k[3];
}

bool canRun(const PassContext& context, const ir::Layer& candidate) {
  if (context.targetCanRun(candidate)) return true;
  // reduce_precision comes later: a target whose attention takes only the reduced type gets the fused
  // layer too (reduce_precision then switches it, as the CPU fallback takes every float type).
  const PrecisionPolicy* policy = context.precision;
  if (!policy || policy->reduced == DataType::kFloat32) return false;
  std::vector<ir::Tensor> standIns;
  standIns.reserve(candidate.inputs.size() + candidate.outputs.size());
  ir::Layer trial(candidate.name(), candidate.params());
  auto standIn = [&](const ir::Tensor* t) -> ir::Tensor* {
    if (!t) return nullptr;
    standIns.emplace_back(t->name(), t->type() == DataType::kFloat32 ? policy->reduced : t->type(), t->dims());
    return &standIns.back();
  };
  for (auto* t : candidate.inputs) trial.inputs.push_back(standIn(t));
  for (auto* t : candidate.outputs) trial.outputs.push_back(standIn(t));
  return context.targetCanRun(trial);
}

}  // namespace

bool fuseAttention(PassContext& context) {
  ir::Network& net = context.network;
  if (!hasLayerOfType(net, LayerType::kSoftmax)) return false;
  Consumers consumers = net.consumers();
  AttentionMatcher matcher(consumers);
  std::vector<ir::Layer*> removed;
  std::unordered_set<const ir::Layer*> rewritten;
  int fused = 0, bshd = 0, causal = 0;
  std::vector<ir::Layer*> matmuls;
  for (auto& owned : net.layers())
    if (owned->type() == LayerType::kMatrixMultiply) matmuls.push_back(owned.get());
  for (ir::Layer* scores : matmuls) {
    std::optional<AttentionMatch> m = matcher.match(scores);
    if (!m || !isAttentionType(scores->outputs[0]->type()) || !shapesAgree(*m)) continue;
    // A layer the pass already rewrote (this subgraph overlaps an earlier match) is not matched twice.
    bool overlaps = rewritten.count(m->last) > 0;
    for (ir::Layer* l : m->absorbed) overlaps = overlaps || rewritten.count(l) > 0;
    if (overlaps) continue;
    const bool bshdLayout = m->params.layout == AttentionLayout::kBSHD;
    auto input = [&](const HeadMajorOperand& o) { return bshdLayout ? o.source : o.tensor; };
    ir::Layer candidate(m->last->name(), m->params);
    candidate.inputs = {input(m->q), input(m->k), input(m->v)};
    if (m->mask) candidate.inputs.push_back(m->mask);
    candidate.outputs = m->last->outputs;
    // K as [B,H,S,D] may exist only as a Transpose to add; the stand-in checks the kernel, not the tensor.
    ir::Tensor keyStandIn("key", m->k.source->type(), permuted(m->k.source->dims(), m->k.perm));
    if (!candidate.inputs[1]) candidate.inputs[1] = &keyStandIn;
    if (!canRun(context, candidate)) continue;
    if (candidate.inputs[1] == &keyStandIn) {
      ir::Layer* transpose = net.addLayerRaw(TransposeParams{m->k.perm}, {m->k.source}, 1,
                                             net.uniqueName(m->last->name() + "_key"));
      transpose->origin = m->last->origin;
      net.moveLayerBefore(transpose, m->last);
      transpose->outputs[0]->setType(keyStandIn.type());
      transpose->outputs[0]->setDims(keyStandIn.dims());
      candidate.inputs[1] = transpose->outputs[0];
    }
    // The last layer becomes the Attention: it already follows every input and precedes every reader.
    m->last->mutableParams() = m->params;
    m->last->inputs = candidate.inputs;
    removed.insert(removed.end(), m->absorbed.begin(), m->absorbed.end());
    rewritten.insert(m->absorbed.begin(), m->absorbed.end());
    rewritten.insert(m->last);
    ++fused;
    bshd += bshdLayout;
    causal += m->params.causal;
  }
  if (removed.empty()) return false;
  context.log.push_back(concat("fuse_attention: fused ", fused, " attention subgraphs into Attention layers (", bshd,
                               " reading [B,S,H,D], ", causal, " causal)"));
  net.removeLayers(removed);
  return true;
}

}  // namespace kiln::passes
