// Tests of the CPU signal, text and random kernels (DFT, STFT, Window, MelWeightMatrix, TfIdfVectorizer,
// Random): naive references written here on seeded random data with awkward sizes, and ONNX examples.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <limits>
#include <map>
#include <random>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/host_eval.h"
#include "ir/network.h"

using namespace kiln;

namespace {

std::vector<float> randomFloats(int64_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}

HostTensor floats(Dims shape, const std::vector<float>& v) { return Weights::copyOf(DataType::kFloat32, shape, v.data()); }
HostTensor int64Scalar(int64_t v) { return Weights::copyOf(DataType::kInt64, {}, &v); }
HostTensor int32Scalar(int32_t v) { return Weights::copyOf(DataType::kInt32, {}, &v); }
HostTensor floatScalar(float v) { return Weights::copyOf(DataType::kFloat32, {}, &v); }

std::vector<float> valuesOf(const HostTensor& t) {
  EXPECT_EQ(t.type, DataType::kFloat32);
  return std::vector<float>(t.as<float>(), t.as<float>() + t.count());
}

HostTensor run1(const LayerParams& params, const std::vector<const HostTensor*>& inputs) {
  ir::Layer layer("layer", params);
  return host::evaluateLayer(layer, inputs).at(0);
}

// Naive DFT of n complex values (padded/truncated to `length`), k < outCount.
std::vector<std::complex<double>> naiveDft(const std::vector<std::complex<double>>& x, int64_t length, bool inverse,
                                           int64_t outCount) {
  std::vector<std::complex<double>> y(static_cast<size_t>(outCount));
  for (int64_t k = 0; k < outCount; ++k) {
    std::complex<double> s = 0;
    for (int64_t j = 0; j < length && j < static_cast<int64_t>(x.size()); ++j)
      s += x[j] * std::polar(1.0, (inverse ? 2 : -2) * M_PI * static_cast<double>(j * k) / static_cast<double>(length));
    y[k] = inverse ? s / static_cast<double>(length) : s;
  }
  return y;
}

// ---- DFT ------------------------------------------------------------------------------------------

struct DftCase {
  Dims shape;  // input, last dim 1 or 2
  int64_t axis;
  int64_t length;  // -1: the input's
  bool inverse, onesided;
};

TEST(CpuDft, MatchesNaiveTransformOnAwkwardShapes) {
  std::vector<DftCase> cases = {
      {{2, 7, 3, 1}, 1, -1, false, false}, {{3, 5, 2}, 0, -1, false, false}, {{2, 7, 3, 2}, 2, -1, true, false},
      {{1, 10, 1}, 1, -1, false, true},    {{4, 9, 2}, 1, 12, false, false}, {{4, 9, 1}, 1, 4, false, true},
      {{2, 3, 11, 2}, -2, 5, true, false}, {{1, 1, 1}, 1, -1, false, false}, {{5, 1, 6, 1}, 2, 13, false, true},
  };
  uint32_t seed = 1;
  for (const DftCase& c : cases) {
    SCOPED_TRACE(dimsToString(c.shape) + " axis " + std::to_string(c.axis));
    HostTensor x = floats(c.shape, randomFloats(volume(c.shape), seed++));
    HostTensor n = int64Scalar(c.length);
    DFTParams p;
    p.axis = c.axis;
    p.inverse = c.inverse;
    p.onesided = c.onesided;
    HostTensor y = run1(p, {&x, c.length > 0 ? &n : nullptr});
    const int64_t rank = static_cast<int64_t>(c.shape.size()), axis = c.axis < 0 ? c.axis + rank : c.axis;
    const int64_t inLength = c.shape[axis], length = c.length > 0 ? c.length : inLength;
    const int64_t outLength = c.onesided ? length / 2 + 1 : length, parts = c.shape.back();
    Dims want = c.shape;
    want[axis] = outLength;
    want.back() = 2;
    ASSERT_EQ(y.shape, want);
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= c.shape[d];
    for (int64_t d = axis + 1; d < rank - 1; ++d) inner *= c.shape[d];
    const float* xv = x.as<float>();
    const float* yv = y.as<float>();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) {
        std::vector<std::complex<double>> signal;
        for (int64_t j = 0; j < inLength; ++j) {
          const float* v = xv + ((o * inLength + j) * inner + i) * parts;
          signal.emplace_back(v[0], parts == 2 ? v[1] : 0.f);
        }
        auto ref = naiveDft(signal, length, c.inverse, outLength);
        for (int64_t k = 0; k < outLength; ++k) {
          const float* v = yv + ((o * outLength + k) * inner + i) * 2;
          ASSERT_NEAR(v[0], ref[k].real(), 1e-4 * (1 + std::abs(ref[k]))) << "o " << o << " i " << i << " k " << k;
          ASSERT_NEAR(v[1], ref[k].imag(), 1e-4 * (1 + std::abs(ref[k]))) << "o " << o << " i " << i << " k " << k;
        }
      }
  }
}

TEST(CpuDft, RejectsTheComplexAxis) {
  HostTensor x = floats({2, 3, 2}, randomFloats(12, 3));
  DFTParams p;
  p.axis = 2;
  EXPECT_THROW(run1(p, {&x}), Error);
}

// ---- STFT -----------------------------------------------------------------------------------------

TEST(CpuStft, MatchesFramedNaiveTransform) {
  struct Case {
    int64_t batch, length, parts, step, frameLength;
    bool window, onesided, lengthInput;
  };
  std::vector<Case> cases = {{2, 37, 1, 5, 11, true, true, false}, {1, 128, 1, 8, 16, false, true, true},
                             {3, 20, 2, 3, 7, true, false, true},  {1, 9, 1, 9, 9, false, false, true},
                             {2, 15, 1, 4, 6, true, true, true}};
  uint32_t seed = 10;
  for (const Case& c : cases) {
    SCOPED_TRACE("length " + std::to_string(c.length) + " frame " + std::to_string(c.frameLength));
    HostTensor signal = floats({c.batch, c.length, c.parts}, randomFloats(c.batch * c.length * c.parts, seed++));
    HostTensor step = int64Scalar(c.step), frame = int64Scalar(c.frameLength);
    HostTensor window = floats({c.frameLength}, randomFloats(c.frameLength, seed++, 0.f, 1.f));
    STFTParams p;
    p.onesided = c.onesided;
    HostTensor y = run1(p, {&signal, &step, c.window ? &window : nullptr, c.lengthInput ? &frame : nullptr});
    const int64_t frames = (c.length - c.frameLength) / c.step + 1;
    const int64_t bins = c.onesided ? c.frameLength / 2 + 1 : c.frameLength;
    ASSERT_EQ(y.shape, (Dims{c.batch, frames, bins, 2}));
    for (int64_t b = 0; b < c.batch; ++b)
      for (int64_t f = 0; f < frames; ++f) {
        std::vector<std::complex<double>> x;
        for (int64_t j = 0; j < c.frameLength; ++j) {
          const float* v = signal.as<float>() + (b * c.length + f * c.step + j) * c.parts;
          double w = c.window ? window.as<float>()[j] : 1.0;
          x.emplace_back(v[0] * w, c.parts == 2 ? v[1] * w : 0.0);
        }
        auto ref = naiveDft(x, c.frameLength, false, bins);
        for (int64_t k = 0; k < bins; ++k) {
          const float* v = y.as<float>() + ((b * frames + f) * bins + k) * 2;
          ASSERT_NEAR(v[0], ref[k].real(), 1e-4 * (1 + std::abs(ref[k])));
          ASSERT_NEAR(v[1], ref[k].imag(), 1e-4 * (1 + std::abs(ref[k])));
        }
      }
  }
}

TEST(CpuStft, RejectsFramesLongerThanTheSignal) {
  HostTensor signal = floats({1, 5, 1}, randomFloats(5, 1));
  HostTensor step = int64Scalar(1), frame = int64Scalar(6);
  EXPECT_THROW(run1(STFTParams{}, {&signal, &step, nullptr, &frame}), Error);
}

// ---- Window, MelWeightMatrix ----------------------------------------------------------------------

TEST(CpuWindow, GeneralizedCosineWindows) {
  for (WindowType type : {WindowType::kHann, WindowType::kHamming, WindowType::kBlackman})
    for (bool periodic : {true, false})
      for (int32_t size : {1, 2, 7, 10, 33}) {
        WindowParams p;
        p.type = type;
        p.periodic = periodic;
        p.outputType = DataType::kFloat64;
        HostTensor n = int32Scalar(size);
        HostTensor y = run1(p, {&n});
        ASSERT_EQ(y.shape, (Dims{size}));
        ASSERT_EQ(y.type, DataType::kFloat64);
        double N = periodic ? size : size - 1;
        for (int32_t i = 0; i < size; ++i) {
          double want = 1.0;
          if (N > 0) {
            double t = 2 * M_PI * i / N;
            if (type == WindowType::kHann) want = 0.5 - 0.5 * std::cos(t);
            if (type == WindowType::kHamming) want = 25.0 / 46 - 21.0 / 46 * std::cos(t);
            if (type == WindowType::kBlackman) want = 0.42 - 0.5 * std::cos(t) + 0.08 * std::cos(2 * t);
          }
          ASSERT_NEAR(y.as<double>()[i], want, 1e-12) << "size " << size << " i " << i;
        }
        if (!periodic && size > 1)  // symmetric windows are symmetric
          for (int32_t i = 0; i < size; ++i) ASSERT_NEAR(y.as<double>()[i], y.as<double>()[size - 1 - i], 1e-12);
      }
}

TEST(CpuMelWeightMatrix, OnnxExampleAndTriangles) {
  HostTensor bins = int32Scalar(8), length = int32Scalar(16), rate = int32Scalar(8192);
  HostTensor low = floatScalar(0.f), high = floatScalar(4096.f);
  HostTensor y = run1(MelWeightMatrixParams{}, {&bins, &length, &rate, &low, &high});
  ASSERT_EQ(y.shape, (Dims{9, 8}));
  // The expected output listed with the ONNX MelWeightMatrix example: rows of the spectrogram bins.
  std::vector<float> want(72, 0.f);
  for (auto [row, col] : std::vector<std::pair<int, int>>{{0, 0}, {0, 1}, {1, 2}, {1, 3}, {2, 4}, {3, 5}, {4, 6}, {5, 7}})
    want[row * 8 + col] = 1.f;
  EXPECT_EQ(valuesOf(y), want);

  // A finer bank: every column is a triangle (rises to 1, falls to 0) over consecutive bins.
  HostTensor bins2 = int64Scalar(5), length2 = int64Scalar(255), rate2 = int64Scalar(16000);
  HostTensor low2 = floatScalar(100.f), high2 = floatScalar(7000.f);
  HostTensor y2 = run1(MelWeightMatrixParams{}, {&bins2, &length2, &rate2, &low2, &high2});
  ASSERT_EQ(y2.shape, (Dims{128, 5}));
  for (int m = 0; m < 5; ++m) {
    int peak = -1;
    for (int r = 0; r < 128; ++r)
      if (y2.as<float>()[r * 5 + m] == 1.f) peak = r;
    ASSERT_GE(peak, 0) << "column " << m;
    for (int r = 1; r <= peak; ++r) EXPECT_GE(y2.as<float>()[r * 5 + m], y2.as<float>()[(r - 1) * 5 + m]);
    for (int r = peak + 1; r < 128; ++r) EXPECT_LE(y2.as<float>()[r * 5 + m], y2.as<float>()[(r - 1) * 5 + m]);
  }
}

// ---- TfIdfVectorizer ------------------------------------------------------------------------------

// Brute force: every n-gram of length [min, max] with one skip distance, looked up in the pool.
std::vector<float> naiveTfIdf(const TfIdfVectorizerParams& p, const std::vector<int64_t>& row, int64_t outputSize) {
  std::map<std::vector<int64_t>, int64_t> pool;
  int64_t number = 0;
  for (size_t n = 1; n <= p.ngramCounts.size(); ++n) {
    int64_t begin = p.ngramCounts[n - 1];
    int64_t end = n < p.ngramCounts.size() ? p.ngramCounts[n] : static_cast<int64_t>(p.pool.size());
    for (int64_t i = begin; i < end; i += static_cast<int64_t>(n))
      pool[std::vector<int64_t>(p.pool.begin() + i, p.pool.begin() + i + static_cast<int64_t>(n))] = number++;
  }
  std::vector<int64_t> counts(static_cast<size_t>(number), 0);
  const int64_t C = static_cast<int64_t>(row.size());
  for (int64_t n = p.minGramLength; n <= p.maxGramLength; ++n)
    for (int64_t skip = 0; skip <= (n == 1 ? 0 : p.maxSkipCount); ++skip)
      for (int64_t s = 0; s + (n - 1) * (skip + 1) < C; ++s) {
        std::vector<int64_t> g;
        for (int64_t i = 0; i < n; ++i) g.push_back(row[s + i * (skip + 1)]);
        if (auto it = pool.find(g); it != pool.end()) ++counts[it->second];
      }
  std::vector<float> out(static_cast<size_t>(outputSize), 0.f);
  for (int64_t k = 0; k < number; ++k) {
    if (!counts[k]) continue;
    float w = p.weights.count() ? p.weights.as<float>()[k] : 1.f;
    float v = p.mode == TfIdfMode::kTF ? counts[k] : p.mode == TfIdfMode::kIDF ? w : counts[k] * w;
    out[p.ngramIndexes[k]] = v;
  }
  return out;
}

TfIdfVectorizerParams onnxExampleParams(int64_t minGram, int64_t maxGram, int64_t skip) {
  TfIdfVectorizerParams p;
  p.minGramLength = minGram;
  p.maxGramLength = maxGram;
  p.maxSkipCount = skip;
  p.ngramCounts = {0, 4};
  p.ngramIndexes = {0, 1, 2, 3, 4, 5, 6};
  p.pool = {2, 3, 5, 4, 5, 6, 7, 8, 6, 7};  // unigrams 2 3 5 4, bigrams (5 6) (7 8) (6 7)
  return p;
}

TEST(CpuTfIdfVectorizer, OnnxExamples) {
  std::vector<int32_t> input = {1, 1, 3, 3, 3, 7, 8, 6, 7, 5, 6, 8};
  HostTensor x = Weights::copyOf(DataType::kInt32, {12}, input.data());
  EXPECT_EQ(valuesOf(run1(onnxExampleParams(2, 2, 0), {&x})), (std::vector<float>{0, 0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(valuesOf(run1(onnxExampleParams(2, 2, 5), {&x})), (std::vector<float>{0, 0, 0, 0, 1, 3, 1}));
  EXPECT_EQ(valuesOf(run1(onnxExampleParams(1, 2, 5), {&x})), (std::vector<float>{0, 3, 1, 0, 1, 3, 1}));
  HostTensor batch = Weights::copyOf(DataType::kInt32, {2, 6}, input.data());
  EXPECT_EQ(valuesOf(run1(onnxExampleParams(1, 2, 5), {&batch})),
            (std::vector<float>{0, 3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 1, 1}));
}

TEST(CpuTfIdfVectorizer, MatchesBruteForceOnRandomRows) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int64_t> token(0, 5);
  for (int trial = 0; trial < 40; ++trial) {
    TfIdfVectorizerParams p;
    p.mode = static_cast<TfIdfMode>(trial % 3);
    p.minGramLength = 1 + trial % 2;
    p.maxGramLength = p.minGramLength + trial % 3;
    p.maxSkipCount = trial % 4;
    // Pool: 4 unigrams, 5 bigrams, 3 trigrams, random tokens (duplicates in a level are allowed).
    p.ngramCounts = {0, 4, 14};
    for (int i = 0; i < 4 + 10 + 9; ++i) p.pool.push_back(token(rng));
    std::vector<float> weights;
    for (int64_t k = 0; k < 12; ++k) {
      p.ngramIndexes.push_back((k * 5) % 13);
      weights.push_back(0.25f * static_cast<float>(k + 1));
    }
    p.weights = Weights::copyOf(DataType::kFloat32, {12}, weights.data());
    const int64_t rows = 1 + trial % 3, columns = trial % 11;
    std::vector<int64_t> data(static_cast<size_t>(rows * columns));
    for (auto& v : data) v = token(rng);
    HostTensor x = Weights::copyOf(DataType::kInt64, {rows, columns}, data.data());
    HostTensor y = run1(p, {&x});
    ASSERT_EQ(y.shape, (Dims{rows, 13}));
    for (int64_t r = 0; r < rows; ++r) {
      std::vector<int64_t> row(data.begin() + r * columns, data.begin() + (r + 1) * columns);
      std::vector<float> want = naiveTfIdf(p, row, 13);
      std::vector<float> got(y.as<float>() + r * 13, y.as<float>() + (r + 1) * 13);
      // A duplicated pool n-gram keeps the last pool position in both maps.
      EXPECT_EQ(got, want) << "trial " << trial << " row " << r;
    }
  }
}

// Fuzzer regression: mutated skip counts and gram lengths (up to INT64_MAX) ran for minutes. The work is
// bounded by the row: the result equals the one with the largest skip and length that can matter.
TEST(CpuTfIdfVectorizer, HugeSkipCountAndGramLengthAreBoundedByTheRow) {
  std::vector<int32_t> input = {1, 1, 3, 3, 3, 7, 8, 6, 7, 5, 6, 8};
  HostTensor x = Weights::copyOf(DataType::kInt32, {12}, input.data());
  std::vector<float> bounded = valuesOf(run1(onnxExampleParams(1, 2, 10), {&x}));
  TfIdfVectorizerParams huge = onnxExampleParams(1, std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(valuesOf(run1(huge, {&x})), bounded);
  huge.minGramLength = 3;  // longer than every pool n-gram: nothing counts
  EXPECT_EQ(valuesOf(run1(huge, {&x})), std::vector<float>(7, 0.f));
}

// Attributes that disagree with each other are an invalid-model error naming the layer.
TEST(CpuTfIdfVectorizer, InconsistentAttributesAreInvalidModel) {
  std::vector<int32_t> input = {2, 3, 5, 4};
  HostTensor x = Weights::copyOf(DataType::kInt32, {4}, input.data());
  auto expectInvalid = [&](const TfIdfVectorizerParams& p, const std::string& what) {
    try {
      ir::Layer layer("tfidf_layer", p);
      std::vector<HostTensor> out = host::evaluateLayer(layer, {&x});
      ADD_FAILURE() << what << ": no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidModel) << what << ": " << e.what();
      EXPECT_NE(std::string(e.what()).find("tfidf_layer"), std::string::npos) << what << ": " << e.what();
    }
  };
  TfIdfVectorizerParams p = onnxExampleParams(1, 2, 0);
  p.ngramIndexes = {0, 1, 2, 3, 4, 5};  // 7 pool n-grams
  expectInvalid(p, "too few ngram_indexes");
  p.ngramIndexes = {0, 1, 2, 3, 4, 5, 6, 7};
  expectInvalid(p, "too many ngram_indexes");
  p = onnxExampleParams(1, 2, 0);
  p.ngramCounts = {0, std::numeric_limits<int64_t>::max()};
  expectInvalid(p, "ngram_counts past the pool");
  p.ngramCounts = {0, 3};  // 7 values left for bigrams
  expectInvalid(p, "ngram_counts splitting a bigram");
  p = onnxExampleParams(1, 2, 0);
  std::vector<float> weights(3, 1.f);
  p.weights = Weights::copyOf(DataType::kFloat32, {3}, weights.data());
  expectInvalid(p, "weights for 3 of 7 n-grams");
  p = onnxExampleParams(1, 2, 0);
  p.maxSkipCount = -1;
  expectInvalid(p, "negative skip count");
}

// ---- Random ---------------------------------------------------------------------------------------

TEST(CpuRandom, SeededUniformIsRepeatableAndInRange) {
  RandomParams p;
  p.distribution = RandomDistribution::kUniform;
  p.a = -2.f;
  p.b = 3.f;
  p.shape = {7, 13};
  p.hasSeed = true;
  p.seed = 5.f;
  std::vector<float> a = valuesOf(run1(p, {})), b = valuesOf(run1(p, {}));
  EXPECT_EQ(a, b);
  double mean = 0;
  for (float v : a) {
    EXPECT_GE(v, -2.f);
    EXPECT_LT(v, 3.f);
    mean += v / a.size();
  }
  EXPECT_NEAR(mean, 0.5, 0.5);
  p.seed = 6.f;
  EXPECT_NE(valuesOf(run1(p, {})), a);
}

TEST(CpuRandom, NormalLikeStatistics) {
  RandomParams p;
  p.distribution = RandomDistribution::kNormal;
  p.a = 10.f;
  p.b = 2.f;
  p.outputType = DataType::kFloat64;
  p.hasSeed = true;
  p.seed = 1.f;
  HostTensor like = floats({100, 101}, std::vector<float>(10100, 0.f));
  HostTensor y = run1(p, {&like});
  ASSERT_EQ(y.shape, (Dims{100, 101}));
  ASSERT_EQ(y.type, DataType::kFloat64);
  double sum = 0, sq = 0;
  for (int64_t i = 0; i < y.count(); ++i) sum += y.as<double>()[i], sq += y.as<double>()[i] * y.as<double>()[i];
  double mean = sum / y.count(), sd = std::sqrt(sq / y.count() - mean * mean);
  EXPECT_NEAR(mean, 10.0, 0.1);
  EXPECT_NEAR(sd, 2.0, 0.1);
}

TEST(CpuRandom, BernoulliFollowsProbabilities) {
  RandomParams p;
  p.distribution = RandomDistribution::kBernoulli;
  p.outputType = DataType::kInt32;
  std::vector<float> prob(3001);
  for (size_t i = 0; i < prob.size(); ++i) prob[i] = i % 3 == 0 ? 0.f : i % 3 == 1 ? 1.f : 0.5f;
  HostTensor x = floats({3001}, prob);
  HostTensor y = run1(p, {&x});
  ASSERT_EQ(y.type, DataType::kInt32);
  int ones = 0;
  for (size_t i = 0; i < prob.size(); ++i) {
    int32_t v = y.as<int32_t>()[i];
    ASSERT_TRUE(v == 0 || v == 1);
    if (i % 3 == 0) EXPECT_EQ(v, 0);
    if (i % 3 == 1) EXPECT_EQ(v, 1);
    if (i % 3 == 2) ones += v;
  }
  EXPECT_NEAR(ones / 1000.0, 0.5, 0.08);
  HostTensor bad = floats({1}, {1.5f});
  EXPECT_THROW(run1(p, {&bad}), Error);
}

TEST(CpuRandom, MultinomialSamplesClassesByWeight) {
  RandomParams p;
  p.distribution = RandomDistribution::kMultinomial;
  p.outputType = DataType::kInt64;
  p.sampleSize = 2000;
  p.hasSeed = true;
  p.seed = 3.f;
  // Row 0: class 2 only; row 1: classes 0 and 1 at 1:3 (log weights), class 2 never.
  HostTensor x = floats({2, 3}, {-100.f, -100.f, 0.f, 0.f, std::log(3.f), -100.f});
  HostTensor y = run1(p, {&x});
  ASSERT_EQ(y.shape, (Dims{2, 2000}));
  int counts[3] = {0, 0, 0};
  for (int64_t s = 0; s < 2000; ++s) {
    EXPECT_EQ(y.as<int64_t>()[s], 2);
    int64_t c = y.as<int64_t>()[2000 + s];
    ASSERT_TRUE(c >= 0 && c < 3);
    ++counts[c];
  }
  EXPECT_EQ(counts[2], 0);
  EXPECT_NEAR(counts[1] / 2000.0, 0.75, 0.05);
}

}  // namespace
