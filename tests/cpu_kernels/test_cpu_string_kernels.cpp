// Tests of the CPU kernels on string tensors (StringNormalizer, Cast to and from string, Identity,
// Reshape and sequence copies) through host::evaluateLayer: seeded random words on awkward shapes against naive references.
#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/host_eval.h"
#include "ir/network.h"

namespace kiln::cpu {
namespace {

std::vector<std::string> stringsOf(const HostTensor& t) {
  EXPECT_EQ(t.type, DataType::kString);
  return std::vector<std::string>(t.as<std::string>(), t.as<std::string>() + t.count());
}

// Random words from a small vocabulary, each letter randomly upper or lower case (so case-insensitive
// stopwords hit often), plus some digits and punctuation that no case change touches.
std::vector<std::string> randomWords(int64_t n, std::mt19937& rng) {
  static const char* vocabulary[] = {"monday", "tuesday", "the", "a", "kiln", "x1-y2", "", "Zz9"};
  std::uniform_int_distribution<int> pick(0, 7), coin(0, 1);
  std::vector<std::string> words;
  for (int64_t i = 0; i < n; ++i) {
    std::string w = vocabulary[pick(rng)];
    for (char& c : w) c = coin(rng) ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    words.push_back(w);
  }
  return words;
}

std::string lowerAscii(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
std::string upperAscii(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

struct NormalizerCase {
  Dims shape;
  StringCaseChange caseChange;
  bool caseSensitive;
};

// Readable case names (ctest lists parameterized tests with their printed value).
void PrintTo(const NormalizerCase& c, std::ostream* out) {
  static const char* names[] = {"none", "lower", "upper"};
  *out << "x" << dimsToString(c.shape) << "_" << names[static_cast<int>(c.caseChange)]
       << (c.caseSensitive ? "_sensitive" : "_insensitive");
}

class StringNormalizerKernel : public ::testing::TestWithParam<NormalizerCase> {};

TEST_P(StringNormalizerKernel, MatchesNaiveReference) {
  const NormalizerCase& tc = GetParam();
  std::mt19937 rng(11);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<std::string> words = randomWords(volume(tc.shape), rng);
    HostTensor x = Weights::strings(tc.shape, words);
    StringNormalizerParams p;
    p.caseChange = tc.caseChange;
    p.caseSensitive = tc.caseSensitive;
    p.stopwords = {"monday", "THE", ""};
    ir::Network net;
    ITensor* xT = net.addInput("x", DataType::kString, tc.shape);
    auto* layer = static_cast<ir::Layer*>(net.addLayer(p, {xT}));
    std::vector<HostTensor> outs = host::evaluateLayer(*layer, {&x});
    ASSERT_EQ(outs.size(), 1u);

    std::vector<std::string> expected;
    for (const std::string& w : words) {
      bool stop = false;
      for (const std::string& s : p.stopwords) stop |= tc.caseSensitive ? w == s : lowerAscii(w) == lowerAscii(s);
      if (stop) continue;
      expected.push_back(tc.caseChange == StringCaseChange::kLower   ? lowerAscii(w)
                         : tc.caseChange == StringCaseChange::kUpper ? upperAscii(w)
                                                                     : w);
    }
    if (expected.empty()) expected.push_back("");  // every element dropped: one empty string
    Dims expectedShape = {static_cast<int64_t>(expected.size())};
    if (tc.shape.size() == 2) expectedShape.insert(expectedShape.begin(), 1);
    EXPECT_EQ(outs[0].shape, expectedShape);
    EXPECT_EQ(stringsOf(outs[0]), expected);
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, StringNormalizerKernel,
                         ::testing::Values(NormalizerCase{{7}, StringCaseChange::kNone, true},
                                           NormalizerCase{{1, 13}, StringCaseChange::kLower, false},
                                           NormalizerCase{{13}, StringCaseChange::kUpper, true},
                                           NormalizerCase{{1, 1}, StringCaseChange::kUpper, false},
                                           NormalizerCase{{2}, StringCaseChange::kLower, true},
                                           NormalizerCase{{0}, StringCaseChange::kNone, false}));

TEST(StringNormalizerKernelErrors, RejectsNonStringInput) {
  ir::Network net;
  ITensor* x = net.addInput("x", DataType::kFloat32, {3});
  EXPECT_THROW(net.addLayer(StringNormalizerParams{}, {x}), Error);
}

std::vector<HostTensor> runCast(const HostTensor& x, DataType to) {
  ir::Network net;
  ITensor* xT = net.addInput("x", x.type, x.shape);
  CastParams p;
  p.to = to;
  auto* layer = static_cast<ir::Layer*>(net.addLayer(p, {xT}));
  return host::evaluateLayer(*layer, {&x});
}

TEST(CastStrings, FloatPrintsLikeNumpyStr) {
  std::vector<float> values = {0.9767611f, 0.039187793f, 1e-5f, 100.f, 0.0001f, 1e16f, -0.5f, 0.f,
                               123456.f,   NAN,          INFINITY, -INFINITY, 3.4028235e38f, 1.5e-7f};
  std::vector<std::string> expected = {"0.9767611", "0.039187793", "1e-05", "100.0", "0.0001", "1e+16", "-0.5",
                                       "0.0",       "123456.0",    "NaN",   "INF",   "-INF",   "3.4028235e+38",
                                       "1.5e-07"};
  HostTensor x = Weights::copyOf(DataType::kFloat32, {2, 7}, values.data());
  std::vector<HostTensor> outs = runCast(x, DataType::kString);
  EXPECT_EQ(outs[0].shape, (Dims{2, 7}));
  EXPECT_EQ(stringsOf(outs[0]), expected);
}

TEST(CastStrings, RandomFloatsRoundTripThroughStrings) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> exponent(-30.f, 30.f);
  std::vector<float> values(257);
  for (float& v : values) v = (rng() % 2 ? -1.f : 1.f) * std::pow(10.f, exponent(rng));
  HostTensor x = Weights::copyOf(DataType::kFloat32, {257}, values.data());
  HostTensor s = runCast(x, DataType::kString)[0];
  HostTensor back = runCast(s, DataType::kFloat32)[0];
  for (size_t i = 0; i < values.size(); ++i)
    EXPECT_EQ(back.as<float>()[i], values[i]) << "element " << i << " printed as " << s.as<std::string>()[i];
  // Doubles too, with their own shortest digits.
  std::vector<double> doubles = {0.1, 1.0 / 3.0, 2.5e-300, -7e22};
  HostTensor d = Weights::copyOf(DataType::kFloat64, {4}, doubles.data());
  EXPECT_EQ(stringsOf(runCast(d, DataType::kString)[0]),
            (std::vector<std::string>{"0.1", "0.3333333333333333", "2.5e-300", "-7e+22"}));
}

TEST(CastStrings, StringsParseAsNumbers) {
  HostTensor x = Weights::strings({2, 3}, {"0.47892547", "NaN", "INF", "+INF", "-INF", "-2.5e3"});
  HostTensor f = runCast(x, DataType::kFloat32)[0];
  EXPECT_EQ(f.shape, (Dims{2, 3}));
  EXPECT_EQ(f.as<float>()[0], 0.47892547f);
  EXPECT_TRUE(std::isnan(f.as<float>()[1]));
  EXPECT_EQ(f.as<float>()[2], INFINITY);
  EXPECT_EQ(f.as<float>()[3], INFINITY);
  EXPECT_EQ(f.as<float>()[4], -INFINITY);
  EXPECT_EQ(f.as<float>()[5], -2500.f);

  HostTensor ints = Weights::strings({3}, {"-7", "42", "0"});
  HostTensor i = runCast(ints, DataType::kInt32)[0];
  EXPECT_EQ(std::vector<int32_t>(i.as<int32_t>(), i.as<int32_t>() + 3), (std::vector<int32_t>{-7, 42, 0}));
  std::vector<int64_t> big = {-9007199254740993LL, 12};
  HostTensor printed = runCast(Weights::copyOf(DataType::kInt64, {2}, big.data()), DataType::kString)[0];
  EXPECT_EQ(stringsOf(printed), (std::vector<std::string>{"-9007199254740993", "12"}));

  HostTensor bad = Weights::strings({2}, {"1.5", "one"});
  EXPECT_THROW(runCast(bad, DataType::kFloat32), Error);
  HostTensor partly = Weights::strings({1}, {"3 apples"});
  EXPECT_THROW(runCast(partly, DataType::kInt64), Error);
}

TEST(StringCopies, IdentityReshapeAndCastToStringCopyElements) {
  std::mt19937 rng(3);
  std::vector<std::string> words = randomWords(12, rng);
  words[5] = std::string(100, 'k');  // longer than any small-string buffer
  HostTensor x = Weights::strings({3, 4}, words);
  ir::Network net;
  ITensor* xT = net.addInput("x", DataType::kString, {3, 4});
  auto* identity = static_cast<ir::Layer*>(net.addLayer(IdentityParams{}, {xT}));
  EXPECT_EQ(stringsOf(host::evaluateLayer(*identity, {&x})[0]), words);
  std::vector<int64_t> newShape = {2, 6};
  HostTensor shape = Weights::copyOf(DataType::kInt64, {2}, newShape.data());
  auto* reshape = static_cast<ir::Layer*>(net.addReshape(xT, {2, 6})->producer());
  HostTensor r = host::evaluateLayer(*reshape, {&x, &shape})[0];
  EXPECT_EQ(r.shape, (Dims{2, 6}));
  EXPECT_EQ(stringsOf(r), words);
  EXPECT_EQ(stringsOf(runCast(x, DataType::kString)[0]), words);
  // The copies own their strings: the source is unchanged after the copy goes away.
  EXPECT_EQ(stringsOf(x), words);
}

TEST(StringCopies, SequenceSplitAndConcatCopyStrings) {
  std::mt19937 rng(9);
  std::vector<std::string> words = randomWords(6, rng);
  words[4] = std::string(64, 'w');  // heap-allocated: a byte copy would share (then double free) it
  HostTensor x = Weights::strings({2, 3}, words);
  ir::Network net;
  ITensor* xT = net.addInput("x", DataType::kString, {2, 3});
  SequenceParams split;
  split.op = SequenceOp::kSplit;
  split.axis = 1;
  split.keepDims = false;
  auto* splitLayer = static_cast<ir::Layer*>(net.addLayer(split, {xT}));
  HostTensor seq = host::evaluateLayer(*splitLayer, {&x})[0];
  ASSERT_EQ(seq.elements->size(), 3u);
  for (int64_t k = 0; k < 3; ++k)
    EXPECT_EQ(stringsOf((*seq.elements)[k]), (std::vector<std::string>{words[k], words[3 + k]})) << "column " << k;
  SequenceParams concat;
  concat.op = SequenceOp::kConcat;
  concat.axis = 1;
  concat.newAxis = true;
  auto* concatLayer = static_cast<ir::Layer*>(net.addLayer(concat, {splitLayer->output(0)}));
  HostTensor back = host::evaluateLayer(*concatLayer, {&seq})[0];
  EXPECT_EQ(back.shape, (Dims{2, 3}));
  EXPECT_EQ(stringsOf(back), words);
}

}  // namespace
}  // namespace kiln::cpu
