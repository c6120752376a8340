// fuse_attention as before -> after networks: each exported attention form (HuggingFace BERT, torch's SDPA
// export, the scale after a transposeB MatMul as in ViT, GPT-2's constant causal masks, a boolean Where
// mask) becomes one Attention layer with the right params and operands, and computes what it replaced on
// the CPU; subgraphs whose intermediates have other readers stay. Also NetworkDefinition::addAttention.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <unordered_map>

#include "backends/host_eval.h"
#include "builder/pass_manager.h"
#include "ir/network.h"
#include "test_helpers.h"

using namespace kiln;
using kiln::testing::floats;
using kiln::testing::int64s;

namespace {

constexpr int64_t B = 2, S = 7, H = 3, D = 8;
const float kNegInf = -std::numeric_limits<float>::infinity();

Weights randomWeights(const Dims& shape, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(static_cast<size_t>(volume(shape)));
  for (float& x : v) x = d(rng);
  return floats(shape, v);
}

int countLayers(const ir::Network& net, LayerType type) {
  int n = 0;
  for (auto& l : net.layers()) n += l->type() == type;
  return n;
}

const ir::Layer* onlyAttention(const ir::Network& net) {
  const ir::Layer* found = nullptr;
  for (auto& l : net.layers())
    if (l->type() == LayerType::kAttention) {
      EXPECT_EQ(found, nullptr) << "more than one Attention layer";
      found = l.get();
    }
  return found;
}

// Runs the network layer by layer with the CPU kernels; returns every output.
std::vector<std::vector<float>> evaluate(const ir::Network& net, const Weights& input) {
  std::unordered_map<const ir::Tensor*, HostTensor> values;
  values[net.inputs()[0]] = input;
  for (auto& layer : net.layers()) {
    std::vector<const HostTensor*> inputs;
    for (auto* in : layer->inputs) inputs.push_back(in ? &values.at(in) : nullptr);
    auto outputs = host::evaluateLayer(*layer, inputs);
    for (size_t i = 0; i < outputs.size(); ++i) values[layer->outputs[i]] = outputs[i];
  }
  std::vector<std::vector<float>> result;
  for (auto* out : net.outputs()) {
    const HostTensor& t = values.at(out);
    result.emplace_back(t.as<float>(), t.as<float>() + t.count());
  }
  return result;
}

void expectSame(const std::vector<std::vector<float>>& got, const std::vector<std::vector<float>>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t o = 0; o < got.size(); ++o) {
    ASSERT_EQ(got[o].size(), want[o].size());
    for (size_t i = 0; i < got[o].size(); ++i) {
      if (std::isnan(want[o][i])) EXPECT_TRUE(std::isnan(got[o][i])) << "output " << o << " at " << i;
      else ASSERT_NEAR(got[o][i], want[o][i], 1e-5f * std::max(1.f, std::abs(want[o][i]))) << "output " << o << " at " << i;
    }
  }
}

// The fusion passes in the builder's order (fuse_attention needs fold_transpose_into_matmul's flags).
bool fuse(ir::Network& net) {
  std::vector<std::string> log;
  passes::PassContext context{net, log};
  passes::foldTransposeIntoMatMul(context);
  bool fused = passes::fuseAttention(context);
  passes::eliminateDeadLayers(context);
  net.inferShapes();
  return fused;
}

// x [B, S, H*D] and its three projections as [B, S, H, D] (Reshape of a MatMul by constant weights).
struct Projections {
  ir::Network net;
  ITensor* x = nullptr;
  ITensor* q = nullptr;
  ITensor* k = nullptr;
  ITensor* v = nullptr;
  Projections() {
    x = net.addInput("x", DataType::kFloat32, {B, S, H * D});
    auto project = [&](uint32_t seed) {
      ITensor* y = net.addMatrixMultiply(x, false, net.addConstant(randomWeights({H * D, H * D}, seed, -0.5f, 0.5f)), false);
      return net.addReshape(y, {B, S, H, D});
    };
    q = project(1);
    k = project(2);
    v = project(3);
  }
  ITensor* scalar(float value) { return net.addConstant(floats({}, {value})); }
  ITensor* headsFirst(ITensor* t) { return net.addTranspose(t, {0, 2, 1, 3}); }
  // softmax(scores) v, then [B, S, H*D] as HuggingFace merges the heads.
  ITensor* finish(ITensor* scores, ITensor* vHeads, bool merge = true) {
    ITensor* context = net.addMatrixMultiply(net.addSoftmax(scores, -1), false, vHeads, false);
    if (!merge) return context;
    return net.addReshape(net.addTranspose(context, {0, 2, 1, 3}), {B, S, H * D});
  }
  Weights input() const { return randomWeights({B, S, H * D}, 9, -1.f, 1.f); }
};

// A constant [1, 1, S, S] lower triangle: 0 / fill (additive) or true / false (boolean).
Weights triangle(bool boolean, float fill) {
  std::vector<float> additive;
  std::vector<uint8_t> keep;
  for (int64_t i = 0; i < S; ++i)
    for (int64_t j = 0; j < S; ++j) {
      additive.push_back(j <= i ? 0.f : fill);
      keep.push_back(j <= i);
    }
  if (boolean) return Weights::copyOf(DataType::kBool, {1, 1, S, S}, keep.data());
  return floats({1, 1, S, S}, additive);
}

TEST(FuseAttention, HuggingFaceBertBecomesOneBshdLayer) {
  Projections p;
  // K^T straight from the projection: Transpose (0,2,3,1); an additive padding mask [B,1,1,S].
  ITensor* scores = p.net.addMatrixMultiply(p.headsFirst(p.q), false, p.net.addTranspose(p.k, {0, 2, 3, 1}), false);
  scores = p.net.addElementWise(scores, p.scalar(std::sqrt(float(D))), ElementWiseOp::kDiv);
  std::vector<float> padding(B * S, 0.f);
  padding[S - 1] = padding[S - 2] = -10000.f;
  ITensor* mask = p.net.addConstant(floats({B, 1, 1, S}, padding));
  scores = p.net.addElementWise(scores, mask, ElementWiseOp::kAdd);
  p.net.markOutput(p.finish(scores, p.headsFirst(p.v)));
  p.net.inferShapes();
  auto before = evaluate(p.net, p.input());
  const int layersBefore = p.net.numLayers();

  ASSERT_TRUE(fuse(p.net));
  const ir::Layer* attention = onlyAttention(p.net);
  ASSERT_NE(attention, nullptr);
  const auto& params = attention->as<AttentionParams>();
  EXPECT_EQ(params.layout, AttentionLayout::kBSHD);
  EXPECT_NEAR(params.scale, 1.f / std::sqrt(float(D)), 1e-7f);
  EXPECT_FALSE(params.causal);
  EXPECT_FALSE(params.zeroMaskedRows);
  EXPECT_EQ(attention->inputs[0], p.q);
  EXPECT_EQ(attention->inputs[1], p.k);
  EXPECT_EQ(attention->inputs[2], p.v);
  ASSERT_EQ(attention->inputs.size(), 4u);
  EXPECT_EQ(attention->inputs[3], mask);
  // Transposes (4), MatMuls (2), Div, Add, Softmax and the scale constant become one layer.
  EXPECT_EQ(countLayers(p.net, LayerType::kTranspose), 0);
  EXPECT_EQ(countLayers(p.net, LayerType::kSoftmax), 0);
  EXPECT_EQ(p.net.numLayers(), layersBefore - 9);
  expectSame(evaluate(p.net, p.input()), before);
}

TEST(FuseAttention, TorchSdpaExportScalesQueryAndKey) {
  Projections p;
  // sqrt(scale) on Q and on K^T, K^T a last-two-dims Transpose, Where(IsNaN(p), 0, p) after the Softmax,
  // the output left as [B, H, S, D].
  const float rootScale = std::sqrt(0.3f);
  ITensor* q = p.net.addElementWise(p.headsFirst(p.q), p.scalar(rootScale), ElementWiseOp::kMul);
  ITensor* kT = p.net.addTranspose(p.headsFirst(p.k), {0, 1, 3, 2});
  kT = p.net.addElementWise(p.scalar(rootScale), kT, ElementWiseOp::kMul);
  ITensor* scores = p.net.addMatrixMultiply(q, false, kT, false);
  ITensor* probs = p.net.addSoftmax(scores, -1);
  ITensor* isNaN = p.net.addUnary(probs, UnaryOp::kIsNaN);
  ITensor* cleaned = p.net.addLayer(SelectParams{}, {isNaN, p.scalar(0.f), probs})->output(0);
  ITensor* vHeads = p.headsFirst(p.v);
  p.net.markOutput(p.net.addMatrixMultiply(cleaned, false, vHeads, false));
  p.net.inferShapes();
  auto before = evaluate(p.net, p.input());

  ASSERT_TRUE(fuse(p.net));
  const ir::Layer* attention = onlyAttention(p.net);
  ASSERT_NE(attention, nullptr);
  const auto& params = attention->as<AttentionParams>();
  EXPECT_EQ(params.layout, AttentionLayout::kBHSD);  // no Transpose after the output
  EXPECT_NEAR(params.scale, 0.3f, 1e-6f);
  EXPECT_TRUE(params.zeroMaskedRows);
  EXPECT_EQ(attention->inputs.size(), 3u);
  EXPECT_EQ(attention->inputs[2], vHeads);
  EXPECT_EQ(countLayers(p.net, LayerType::kSoftmax), 0);
  EXPECT_EQ(countLayers(p.net, LayerType::kSelect), 0);
  EXPECT_EQ(countLayers(p.net, LayerType::kUnary), 0);
  EXPECT_EQ(countLayers(p.net, LayerType::kTranspose), 3);  // Q, K, V to [B, H, S, D]
  expectSame(evaluate(p.net, p.input()), before);
}

TEST(FuseAttention, ScaleAfterTransposedMatMulWithoutMask) {
  Projections p;
  // ViT: K^T a last-two-dims Transpose that fold_transpose_into_matmul turns into transposeB; Mul after it.
  ITensor* kT = p.net.addTranspose(p.headsFirst(p.k), {0, 1, 3, 2});
  ITensor* scores = p.net.addMatrixMultiply(p.headsFirst(p.q), false, kT, false);
  scores = p.net.addElementWise(scores, p.scalar(0.125f), ElementWiseOp::kMul);
  p.net.markOutput(p.finish(scores, p.headsFirst(p.v)));
  p.net.inferShapes();
  auto before = evaluate(p.net, p.input());

  ASSERT_TRUE(fuse(p.net));
  const ir::Layer* attention = onlyAttention(p.net);
  ASSERT_NE(attention, nullptr);
  EXPECT_EQ(attention->as<AttentionParams>().layout, AttentionLayout::kBSHD);
  EXPECT_FLOAT_EQ(attention->as<AttentionParams>().scale, 0.125f);
  EXPECT_EQ(attention->inputs.size(), 3u);
  EXPECT_EQ(countLayers(p.net, LayerType::kTranspose), 0);
  expectSame(evaluate(p.net, p.input()), before);
}

TEST(FuseAttention, ConstantCausalMasksBecomeCausal) {
  // GPT-2: Where(triangle, scores, lowest float) then an additive padding mask; a 0/-inf triangle added;
  // masked_fill's Where(upper triangle, -inf, scores).
  for (int form = 0; form < 3; ++form) {
    SCOPED_TRACE(form);
    Projections p;
    ITensor* scores = p.net.addMatrixMultiply(p.headsFirst(p.q), false, p.net.addTranspose(p.k, {0, 2, 3, 1}), false);
    scores = p.net.addElementWise(scores, p.scalar(std::sqrt(float(D))), ElementWiseOp::kDiv);
    ITensor* padding = nullptr;
    if (form == 0) {
      ITensor* keep = p.net.addConstant(triangle(true, 0.f));
      scores = p.net.addLayer(SelectParams{}, {keep, scores, p.scalar(-3.4028235e38f)})->output(0);
      padding = p.net.addConstant(randomWeights({B, 1, 1, S}, 4, -2.f, 0.f));
      scores = p.net.addElementWise(scores, padding, ElementWiseOp::kAdd);
    } else if (form == 1) {
      scores = p.net.addElementWise(p.net.addConstant(triangle(false, kNegInf)), scores, ElementWiseOp::kAdd);
    } else {
      std::vector<uint8_t> upper;
      for (int64_t i = 0; i < S; ++i)
        for (int64_t j = 0; j < S; ++j) upper.push_back(j > i);
      ITensor* hidden = p.net.addConstant(Weights::copyOf(DataType::kBool, {1, 1, S, S}, upper.data()));
      scores = p.net.addLayer(SelectParams{}, {hidden, p.scalar(kNegInf), scores})->output(0);
    }
    p.net.markOutput(p.finish(scores, p.headsFirst(p.v)));
    p.net.inferShapes();
    auto before = evaluate(p.net, p.input());

    ASSERT_TRUE(fuse(p.net));
    const ir::Layer* attention = onlyAttention(p.net);
    ASSERT_NE(attention, nullptr);
    EXPECT_TRUE(attention->as<AttentionParams>().causal);
    EXPECT_EQ(attention->as<AttentionParams>().layout, AttentionLayout::kBSHD);
    if (padding) {
      ASSERT_EQ(attention->inputs.size(), 4u);
      EXPECT_EQ(attention->inputs[3], padding);
    } else {
      EXPECT_EQ(attention->inputs.size(), 3u);
    }
    expectSame(evaluate(p.net, p.input()), before);
  }
}

TEST(FuseAttention, OtherWhereConditionIsABooleanMask) {
  Projections p;
  std::vector<uint8_t> keep(B * S * S);
  std::mt19937 rng(5);
  for (auto& k : keep) k = rng() % 3 != 0;
  for (int64_t j = 0; j < S; ++j) keep[j] = 0;  // batch 0, query 0 sees nothing: NaN before and after
  ITensor* condition = p.net.addConstant(Weights::copyOf(DataType::kBool, {B, 1, S, S}, keep.data()));
  ITensor* scores = p.net.addMatrixMultiply(p.headsFirst(p.q), false, p.headsFirst(p.k), true);
  scores = p.net.addLayer(SelectParams{}, {condition, scores, p.scalar(kNegInf)})->output(0);
  p.net.markOutput(p.finish(scores, p.headsFirst(p.v)));
  p.net.inferShapes();
  auto before = evaluate(p.net, p.input());

  ASSERT_TRUE(fuse(p.net));
  const ir::Layer* attention = onlyAttention(p.net);
  ASSERT_NE(attention, nullptr);
  EXPECT_FALSE(attention->as<AttentionParams>().causal);
  EXPECT_EQ(attention->as<AttentionParams>().scale, 1.f);  // no scale in the graph: 1, not 1/sqrt(D)
  ASSERT_EQ(attention->inputs.size(), 4u);
  EXPECT_EQ(attention->inputs[3], condition);
  expectSame(evaluate(p.net, p.input()), before);
}

TEST(FuseAttention, BertKeyWithoutBshdQueryGetsAKeyTranspose) {
  Projections p;
  // Q and V already [B, H, S, D] (a Transpose the pass cannot drop: it is an output too), K^T by (0,2,3,1).
  ITensor* qHeads = p.headsFirst(p.q);
  p.net.markOutput(qHeads);
  ITensor* scores = p.net.addMatrixMultiply(qHeads, false, p.net.addTranspose(p.k, {0, 2, 3, 1}), false);
  ITensor* y = p.finish(scores, p.headsFirst(p.v), false);
  p.net.markOutput(y);
  p.net.inferShapes();
  auto before = evaluate(p.net, p.input());

  ASSERT_TRUE(fuse(p.net));
  const ir::Layer* attention = onlyAttention(p.net);
  ASSERT_NE(attention, nullptr);
  EXPECT_EQ(attention->as<AttentionParams>().layout, AttentionLayout::kBHSD);
  const ir::Layer* keyTranspose = attention->inputs[1]->producerLayer;
  ASSERT_EQ(keyTranspose->type(), LayerType::kTranspose);
  EXPECT_EQ(keyTranspose->as<TransposeParams>().perm, (Dims{0, 2, 1, 3}));
  EXPECT_EQ(keyTranspose->inputs[0], p.k);
  expectSame(evaluate(p.net, p.input()), before);
}

TEST(FuseAttention, IntermediatesWithOtherReadersStay) {
  // The scores, the probabilities and the scaled scores each also a network output.
  for (int reader = 0; reader < 3; ++reader) {
    SCOPED_TRACE(reader);
    Projections p;
    ITensor* scores = p.net.addMatrixMultiply(p.headsFirst(p.q), false, p.headsFirst(p.k), true);
    ITensor* scaled = p.net.addElementWise(scores, p.scalar(0.5f), ElementWiseOp::kMul);
    ITensor* probs = p.net.addSoftmax(scaled, -1);
    p.net.markOutput(p.net.addMatrixMultiply(probs, false, p.headsFirst(p.v), false));
    p.net.markOutput(reader == 0 ? scores : reader == 1 ? probs : scaled);
    p.net.inferShapes();
    const int layers = p.net.numLayers();
    EXPECT_FALSE(fuse(p.net));
    EXPECT_EQ(p.net.numLayers(), layers);
  }
}

TEST(FuseAttention, UnsupportedFormsStay) {
  // A mask added before the scale, a Softmax over another axis, a non-scalar scale.
  for (int form = 0; form < 3; ++form) {
    SCOPED_TRACE(form);
    Projections p;
    ITensor* scores = p.net.addMatrixMultiply(p.headsFirst(p.q), false, p.headsFirst(p.k), true);
    ITensor* probs;
    if (form == 0) {
      scores = p.net.addElementWise(scores, p.net.addConstant(randomWeights({B, 1, 1, S}, 3, -1.f, 0.f)),
                                    ElementWiseOp::kAdd);
      probs = p.net.addSoftmax(p.net.addElementWise(scores, p.scalar(0.5f), ElementWiseOp::kMul), -1);
    } else if (form == 1) {
      probs = p.net.addSoftmax(scores, 2);
    } else {
      probs = p.net.addSoftmax(
          p.net.addElementWise(scores, p.net.addConstant(randomWeights({S}, 3, 0.1f, 1.f)), ElementWiseOp::kMul), -1);
    }
    p.net.markOutput(p.net.addMatrixMultiply(probs, false, p.headsFirst(p.v), false));
    p.net.inferShapes();
    EXPECT_FALSE(fuse(p.net));
    EXPECT_EQ(countLayers(p.net, LayerType::kAttention), 0);
  }
}

TEST(FuseAttention, RunsInThePassManagerOrder) {
  // fuse_attention follows fold_transpose_into_matmul and precedes fuse_matmul_bias and reduce_precision.
  std::vector<std::string> names;
  for (const auto& pass : passes::allPasses()) names.push_back(pass.name);
  auto at = [&](const char* name) { return std::find(names.begin(), names.end(), name) - names.begin(); };
  EXPECT_LT(at("fold_transpose_into_matmul"), at("fuse_attention"));
  EXPECT_LT(at("fuse_attention"), at("fuse_matmul_bias"));
  EXPECT_LT(at("fuse_attention"), at("reduce_precision"));
  EXPECT_LT(at("fuse_attention"), static_cast<std::ptrdiff_t>(names.size()));
}

TEST(AttentionLayer, AddAttentionMatchesTheComposite) {
  // NetworkDefinition::addAttention with a boolean mask and causal, against the same computation spelled out.
  ir::Network fused, composite;
  const Dims qDims{B, H, S, D}, kvDims{B, H, S + 2, D};
  Weights k = randomWeights(kvDims, 21, -1.f, 1.f), v = randomWeights(kvDims, 22, -1.f, 1.f);
  std::vector<uint8_t> keep(B * (S + 2));
  for (size_t i = 0; i < keep.size(); ++i) keep[i] = i % 4 != 1;
  Weights mask = Weights::copyOf(DataType::kBool, {B, 1, 1, S + 2}, keep.data());
  AttentionParams params;
  params.scale = 0.4f;
  params.causal = true;
  ITensor* y = fused.addAttention(fused.addInput("q", DataType::kFloat32, qDims), fused.addConstant(k),
                                  fused.addConstant(v), fused.addConstant(mask), params, "attention");
  fused.markOutput(y);
  ASSERT_EQ(y->dims(), qDims);
  const ir::Layer* layer = fused.findLayer("attention");
  ASSERT_NE(layer, nullptr);
  EXPECT_EQ(layer->type(), LayerType::kAttention);
  EXPECT_TRUE(layer->as<AttentionParams>().causal);
  EXPECT_EQ(layer->inputs.size(), 4u);

  ITensor* q = composite.addInput("q", DataType::kFloat32, qDims);
  ITensor* scores = composite.addMatrixMultiply(q, false, composite.addConstant(k), true);
  scores = composite.addElementWise(scores, composite.addConstant(floats({}, {0.4f})), ElementWiseOp::kMul);
  std::vector<float> bias(static_cast<size_t>(B * S * (S + 2)));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < S; ++i)
      for (int64_t j = 0; j < S + 2; ++j)
        bias[(b * S + i) * (S + 2) + j] = keep[b * (S + 2) + j] && j <= i ? 0.f : kNegInf;
  scores = composite.addElementWise(scores, composite.addConstant(floats({B, 1, S, S + 2}, bias)), ElementWiseOp::kAdd);
  composite.markOutput(
      composite.addMatrixMultiply(composite.addSoftmax(scores, -1), false, composite.addConstant(v), false));
  Weights input = randomWeights(qDims, 23, -1.f, 1.f);
  expectSame(evaluate(fused, input), evaluate(composite, input));
}

}  // namespace
