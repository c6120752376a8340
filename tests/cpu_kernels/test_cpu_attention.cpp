// The CPU Attention kernel against a naive reference (scores, softmax and the weighted sum in double) on
// seeded random data: awkward lengths (Sq != Skv, 1, 7, 33, 130), head sizes 1 to 80, grouped-query heads,
// both layouts, boolean and additive masks with broadcasting, causal, rows with every key masked (with and
// without zeroMaskedRows), float32, float16 and bfloat16.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/kernels/kernels.h"
#include "core/half.h"
#include "cpu_kernels/kernel_test_buffers.h"

namespace kiln::cpu {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

enum class MaskKind { kNone, kBool, kAdditive };

struct AttentionCase {
  int64_t batch, heads, kvHeads, qLen, kvLen, headSize, valueSize;
  AttentionLayout layout = AttentionLayout::kBHSD;
  MaskKind mask = MaskKind::kNone;
  Dims maskDims;  // [B|1, H|1, Sq|1, Skv]
  bool causal = false;
  bool zeroMaskedRows = false;
  float scale = 0.f;
  int64_t fullyMaskedRow = -1;  // a query row whose mask hides every key (mask rows broadcast: all of them)
};

// Values rounded to what `type` holds, so the reference sees the kernel's inputs.
float roundTo(DataType type, float x) {
  if (type == DataType::kFloat16) return halfToFloat(floatToHalf(x));
  if (type == DataType::kBFloat16) return bfloat16ToFloat(floatToBfloat16(x));
  return x;
}

Buf floatBuf(DataType type, const Dims& shape, const std::vector<float>& v) {
  if (type == DataType::kFloat32) return f32(shape, v);
  std::vector<uint16_t> bits;
  for (float x : v) bits.push_back(type == DataType::kFloat16 ? floatToHalf(x) : floatToBfloat16(x));
  return make(type, shape, bits);
}

std::vector<float> floatsOf(const Buf& b) {
  if (b.type == DataType::kFloat32) return b.get<float>();
  std::vector<float> v;
  for (uint16_t h : b.get<uint16_t>()) v.push_back(b.type == DataType::kFloat16 ? halfToFloat(h) : bfloat16ToFloat(h));
  return v;
}

std::vector<float> randomRounded(DataType type, int64_t n, uint32_t seed, float lo, float hi) {
  std::vector<float> v = randomFloats(static_cast<size_t>(n), seed, lo, hi);
  for (float& x : v) x = roundTo(type, x);
  return v;
}

// The offset of element (b, h, s, d) of a rank-4 tensor in `layout` with `heads` heads, `len` rows, `size` per row.
int64_t offsetOf(AttentionLayout layout, int64_t b, int64_t h, int64_t s, int64_t d, int64_t heads, int64_t len,
                 int64_t size) {
  if (layout == AttentionLayout::kBHSD) return ((b * heads + h) * len + s) * size + d;
  return ((b * len + s) * heads + h) * size + d;
}

Dims dimsOf(AttentionLayout layout, int64_t b, int64_t h, int64_t s, int64_t d) {
  return layout == AttentionLayout::kBHSD ? Dims{b, h, s, d} : Dims{b, s, h, d};
}

// softmax(scale q k^T + mask) v per (b, h) in double; NaN (or 0 with zeroMaskedRows) where a row sees no key.
std::vector<float> reference(const AttentionCase& c, const std::vector<float>& q, const std::vector<float>& k,
                             const std::vector<float>& v, const std::vector<float>& additive,
                             const std::vector<uint8_t>& allowed) {
  const double scale = c.scale != 0.f ? c.scale : 1.0 / std::sqrt(static_cast<double>(c.headSize));
  std::vector<float> y(static_cast<size_t>(c.batch * c.heads * c.qLen * c.valueSize));
  const Dims& m = c.maskDims;
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t h = 0; h < c.heads; ++h) {
      const int64_t kvh = h / (c.heads / c.kvHeads);
      for (int64_t i = 0; i < c.qLen; ++i) {
        std::vector<double> s(static_cast<size_t>(c.kvLen));
        std::vector<bool> seen(static_cast<size_t>(c.kvLen), true);
        double mx = -INFINITY;
        for (int64_t j = 0; j < c.kvLen; ++j) {
          double dot = 0;
          for (int64_t d = 0; d < c.headSize; ++d)
            dot += double(q[offsetOf(c.layout, b, h, i, d, c.heads, c.qLen, c.headSize)]) *
                   k[offsetOf(c.layout, b, kvh, j, d, c.kvHeads, c.kvLen, c.headSize)];
          s[j] = scale * dot;
          if (c.mask != MaskKind::kNone) {
            int64_t mi = (((m[0] == 1 ? 0 : b) * m[1] + (m[1] == 1 ? 0 : h)) * m[2] + (m[2] == 1 ? 0 : i)) * m[3] + j;
            if (c.mask == MaskKind::kAdditive) s[j] += additive[mi];
            else seen[j] = allowed[mi] != 0;
          }
          if (c.causal && j > i) seen[j] = false;
          if (!seen[j] || s[j] == -INFINITY) seen[j] = false;
          else mx = std::max(mx, s[j]);
        }
        double sum = 0;
        for (int64_t j = 0; j < c.kvLen; ++j) sum += seen[j] ? std::exp(s[j] - mx) : 0.0;
        for (int64_t d = 0; d < c.valueSize; ++d) {
          double acc = 0;
          for (int64_t j = 0; j < c.kvLen; ++j)
            if (seen[j]) acc += std::exp(s[j] - mx) / sum * v[offsetOf(c.layout, b, kvh, j, d, c.kvHeads, c.kvLen, c.valueSize)];
          if (mx == -INFINITY) acc = c.zeroMaskedRows ? 0.0 : NAN;
          y[offsetOf(c.layout, b, h, i, d, c.heads, c.qLen, c.valueSize)] = static_cast<float>(acc);
        }
      }
    }
  return y;
}

void checkCase(const AttentionCase& c, DataType type, uint32_t seed) {
  SCOPED_TRACE(concat(dataTypeName(type), " B", c.batch, " H", c.heads, "/", c.kvHeads, " Sq", c.qLen, " Skv", c.kvLen,
                      " D", c.headSize, "/", c.valueSize, c.layout == AttentionLayout::kBSHD ? " BSHD" : " BHSD",
                      c.causal ? " causal" : "", c.zeroMaskedRows ? " zeroMaskedRows" : ""));
  AttentionParams params;
  params.layout = c.layout;
  params.scale = c.scale;
  params.causal = c.causal;
  params.zeroMaskedRows = c.zeroMaskedRows;
  ir::Layer layer("attention", params);
  Dims qd = dimsOf(c.layout, c.batch, c.heads, c.qLen, c.headSize);
  Dims kd = dimsOf(c.layout, c.batch, c.kvHeads, c.kvLen, c.headSize);
  Dims vd = dimsOf(c.layout, c.batch, c.kvHeads, c.kvLen, c.valueSize);
  Dims yd = dimsOf(c.layout, c.batch, c.heads, c.qLen, c.valueSize);
  std::vector<float> q = randomRounded(type, volume(qd), seed, -2.f, 2.f);
  std::vector<float> k = randomRounded(type, volume(kd), seed + 1, -2.f, 2.f);
  std::vector<float> v = randomRounded(type, volume(vd), seed + 2, -1.f, 1.f);
  std::vector<float> additive;
  std::vector<uint8_t> allowed;
  Buf qb = floatBuf(type, qd, q), kb = floatBuf(type, kd, k), vb = floatBuf(type, vd, v), mb;
  const int64_t maskCount = c.mask == MaskKind::kNone ? 0 : volume(c.maskDims);
  if (c.mask == MaskKind::kAdditive) {
    additive = randomRounded(type, maskCount, seed + 3, -3.f, 0.f);
    for (int64_t i = 0; i < maskCount; i += 5) additive[i] = -kInf;  // some keys fully masked
    if (c.fullyMaskedRow >= 0)
      for (int64_t j = 0; j < c.kvLen; ++j) additive[c.fullyMaskedRow * c.kvLen + j] = -kInf;
    mb = floatBuf(type, c.maskDims, additive);
  } else if (c.mask == MaskKind::kBool) {
    std::mt19937 rng(seed + 3);
    for (int64_t i = 0; i < maskCount; ++i) allowed.push_back(rng() % 4 != 0);
    if (c.fullyMaskedRow >= 0)
      for (int64_t j = 0; j < c.kvLen; ++j) allowed[c.fullyMaskedRow * c.kvLen + j] = 0;
    mb = make(DataType::kBool, c.maskDims, allowed);
  }
  Buf yb = outBuf(type, yd);
  runAttention(layer, argsOf({&qb, &kb, &vb, c.mask == MaskKind::kNone ? nullptr : &mb}, {&yb}));
  std::vector<float> want = reference(c, q, k, v, additive, allowed), got = floatsOf(yb);
  const float tol = type == DataType::kFloat32 ? 2e-5f : (type == DataType::kFloat16 ? 2e-3f : 1.6e-2f);
  ASSERT_EQ(got.size(), want.size());
  int nanRows = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i])) {
      ++nanRows;
      ASSERT_TRUE(std::isnan(got[i])) << "at " << i << ": " << got[i] << ", want NaN";
    } else {
      ASSERT_NEAR(got[i], want[i], tol * std::max(1.f, std::abs(want[i]))) << "at " << i;
    }
  }
  if (c.fullyMaskedRow >= 0 && !c.zeroMaskedRows) {
    EXPECT_GT(nanRows, 0);
  }
}

const DataType kTypes[] = {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16};
constexpr auto BHSD = AttentionLayout::kBHSD;
constexpr auto BSHD = AttentionLayout::kBSHD;

TEST(CpuAttention, UnmaskedAwkwardShapes) {
  const AttentionCase cases[] = {
      {1, 2, 2, 7, 7, 8, 8, BHSD},        {2, 3, 3, 33, 130, 64, 64, BSHD}, {1, 2, 2, 1, 33, 80, 80, BHSD},
      {1, 1, 1, 130, 7, 1, 1, BSHD},      {2, 2, 2, 130, 130, 64, 64, BHSD}, {1, 2, 2, 7, 33, 8, 16, BSHD},
      {1, 2, 2, 33, 1, 8, 8, BHSD},
  };
  uint32_t seed = 10;
  for (DataType type : kTypes)
    for (const AttentionCase& c : cases) checkCase(c, type, seed += 7);
}

TEST(CpuAttention, GroupedQueryHeads) {
  AttentionCase c{2, 8, 2, 33, 130, 64, 64, BSHD};
  AttentionCase d{1, 6, 3, 7, 33, 80, 80, BHSD};
  AttentionCase e{1, 4, 1, 1, 130, 64, 64, BHSD};  // decoding one token against a cache
  for (DataType type : kTypes) {
    checkCase(c, type, 101);
    checkCase(d, type, 102);
    checkCase(e, type, 103);
  }
}

TEST(CpuAttention, ExplicitScale) {
  AttentionCase c{1, 2, 2, 33, 33, 8, 8, BHSD};
  c.scale = 0.7f;
  checkCase(c, DataType::kFloat32, 201);
}

TEST(CpuAttention, AdditiveMaskBroadcasts) {
  // the padding mask of an encoder, one per batch; per head and row; shared by all
  for (Dims maskDims : {Dims{2, 1, 1, 130}, Dims{2, 3, 33, 130}, Dims{1, 1, 33, 130}, Dims{1, 3, 1, 130}}) {
    AttentionCase c{2, 3, 3, 33, 130, 64, 64, BSHD, MaskKind::kAdditive, maskDims};
    for (DataType type : kTypes) checkCase(c, type, 301);
    c.layout = BHSD;
    checkCase(c, DataType::kFloat32, 302);
  }
}

TEST(CpuAttention, BooleanMaskBroadcasts) {
  for (Dims maskDims : {Dims{2, 1, 1, 33}, Dims{2, 4, 7, 33}, Dims{1, 1, 7, 33}}) {
    AttentionCase c{2, 4, 2, 7, 33, 8, 8, BHSD, MaskKind::kBool, maskDims};
    for (DataType type : kTypes) checkCase(c, type, 401);
    c.layout = BSHD;
    checkCase(c, DataType::kFloat32, 402);
  }
}

TEST(CpuAttention, CausalTopLeftAligned) {
  const AttentionCase cases[] = {
      {2, 2, 2, 130, 130, 64, 64, BSHD, MaskKind::kNone, {}, true},
      {1, 2, 1, 33, 7, 8, 8, BHSD, MaskKind::kNone, {}, true},    // rows past Skv see every key
      {1, 2, 2, 7, 33, 8, 8, BHSD, MaskKind::kNone, {}, true},    // keys past Sq are never seen
      {1, 2, 2, 1, 7, 80, 80, BSHD, MaskKind::kNone, {}, true},   // one query: key 0 only
      {2, 2, 2, 33, 33, 8, 8, BHSD, MaskKind::kAdditive, {2, 1, 1, 33}, true},
  };
  for (DataType type : kTypes)
    for (const AttentionCase& c : cases) checkCase(c, type, 501);
}

TEST(CpuAttention, FullyMaskedRowsGiveNaNOrZeros) {
  for (bool zero : {false, true}) {
    AttentionCase boolean{1, 2, 2, 7, 33, 8, 8, BHSD, MaskKind::kBool, {1, 1, 7, 33}};
    boolean.fullyMaskedRow = 3;
    boolean.zeroMaskedRows = zero;
    AttentionCase additive{2, 2, 2, 33, 7, 8, 8, BSHD, MaskKind::kAdditive, {1, 1, 33, 7}};
    additive.fullyMaskedRow = 32;
    additive.zeroMaskedRows = zero;
    for (DataType type : kTypes) {
      checkCase(boolean, type, 601);
      checkCase(additive, type, 602);
    }
  }
}

TEST(CpuAttention, ZeroMaskedRowsLeavesOtherRowsAlone) {
  AttentionCase c{2, 3, 3, 33, 130, 64, 64, BSHD, MaskKind::kAdditive, {2, 1, 1, 130}};
  c.zeroMaskedRows = true;
  checkCase(c, DataType::kFloat32, 701);
}

TEST(CpuAttention, MismatchedShapesAreAnError) {
  ir::Layer layer("attention", AttentionParams{});
  Buf q = f32({1, 2, 3, 4}, std::vector<float>(24, 0.5f)), k = f32({1, 2, 5, 3}, std::vector<float>(30, 0.5f));
  Buf v = f32({1, 2, 5, 4}, std::vector<float>(40, 0.5f)), y = outBuf(DataType::kFloat32, {1, 2, 3, 4});
  EXPECT_THROW(runAttention(layer, argsOf({&q, &k, &v}, {&y})), Error);
  Buf mask = f32({1, 2, 3, 2}, std::vector<float>(12, 0.f));
  Buf k2 = f32({1, 2, 5, 4}, std::vector<float>(40, 0.5f));
  EXPECT_THROW(runAttention(layer, argsOf({&q, &k2, &v, &mask}, {&y})), Error);
}

}  // namespace
}  // namespace kiln::cpu
