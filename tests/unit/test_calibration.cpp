// Calibration: histograms, the three methods' thresholds on known data, scales measured through the
// builder on a hand-made network, and the cache file.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <fstream>

#include <unistd.h>

#include "builder/calibration/calibration.h"
#include "builder/calibration/histogram.h"
#include "core/error.h"
#include "ir/network.h"
#include "test_helpers.h"

using namespace kiln;
using kiln::testing::floats;

namespace {

// Yields the given batches of input "x", counting calls.
class ListCalibrator : public Calibrator {
 public:
  ListCalibrator(Dims dims, std::vector<std::vector<float>> batches) : dims_(std::move(dims)), batches_(std::move(batches)) {}
  bool nextBatch(CalibrationBatch& batch) override {
    ++calls;
    if (next_ >= batches_.size()) return false;
    batch["x"] = {dims_, batches_[next_++]};
    return true;
  }
  int calls = 0;

 private:
  Dims dims_;
  std::vector<std::vector<float>> batches_;
  size_t next_ = 0;
};

// x [1, 4] -> Mul 2 -> y -> MatMul W1 (0.5 * identity) -> z -> MatMul W2 -> out.
// y = 2x and z = x, so their absmax follow from x's.
std::unique_ptr<ir::Network> twoMatMuls() {
  auto net = std::make_unique<ir::Network>();
  ITensor* x = net->addInput("x", DataType::kFloat32, {1, 4});
  ITensor* y = net->addElementWise(x, net->addConstant(floats({1}, {2.f})), ElementWiseOp::kMul, "double");
  y->setName("y");
  std::vector<float> half(16, 0.f), w2(16, 0.f);
  for (int i = 0; i < 4; ++i) half[i * 4 + i] = 0.5f;
  for (int i = 0; i < 16; ++i) w2[i] = 0.1f * static_cast<float>(i - 8);
  ITensor* z = net->addMatrixMultiply(y, false, net->addConstant(floats({4, 4}, half)), false, "matmul1");
  z->setName("z");
  ITensor* out = net->addMatrixMultiply(z, false, net->addConstant(floats({4, 4}, w2)), false, "matmul2");
  out->setName("out");
  net->markOutput(out);
  return net;
}

calibration::Scales calibrateTwoMatMuls(CalibrationMethod method, double percentile,
                                        std::vector<std::vector<float>> batches) {
  auto net = twoMatMuls();
  net->inferShapes();
  BuilderConfig config;
  config.calibrator = std::make_shared<ListCalibrator>(Dims{1, 4}, std::move(batches));
  calibration::Settings settings;
  settings.method = method;
  settings.percentile = percentile;
  OptimizationProfile profile;
  profile.setDimensions("x", {1, 4}, {1, 4}, {1, 4});
  int batchCount = 0;
  return calibration::calibrate(*net, config, profile, settings, defaultLogger(), &batchCount);
}

std::string errorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string tempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() / concat("kiln_calib_", ::getpid(), "_", name)).string();
}

}  // namespace

TEST(Calibration, HistogramRebinsExactlyWhenTheRangeGrows) {
  calibration::AbsHistogram h;
  std::vector<float> first = {0.f, 0.25f, -0.5f};
  h.add(first.data(), 3);
  EXPECT_DOUBLE_EQ(h.range(), 0.5);
  std::vector<float> second = {3.f, NAN};  // 6x the range: runs of 6 bins merge; NaN ignored
  h.add(second.data(), 2);
  EXPECT_FLOAT_EQ(h.absMax(), 3.f);
  EXPECT_DOUBLE_EQ(h.range(), 3.0);
  double total = 0.0;
  for (double c : h.bins()) total += c;
  EXPECT_EQ(total, 4.0);
  EXPECT_EQ(h.bins()[0], 1.0);                                     // 0
  EXPECT_EQ(h.bins()[1024 / 6], 1.0);                              // 0.25 was bin 1024 of [0, 0.5]
  EXPECT_EQ(h.bins()[2047 / 6], 1.0);                              // 0.5 was the old top bin
  EXPECT_EQ(h.bins()[calibration::AbsHistogram::kBins - 1], 1.0);  // 3
}

TEST(Calibration, MinMaxScaleIsAbsMaxOver127) {
  // x's absmax over both batches is 3 (second batch): y = 2x -> 6, z = x -> 3.
  auto scales = calibrateTwoMatMuls(CalibrationMethod::kMinMax, 0,
                                    {{0.5f, -1.f, 0.25f, 0.f}, {1.f, 2.f, -3.f, 0.5f}});
  ASSERT_EQ(scales.size(), 2u);  // the MatMul inputs; x is read only by the Mul
  EXPECT_FLOAT_EQ(scales.at("y"), 6.f / 127.f);
  EXPECT_FLOAT_EQ(scales.at("z"), 3.f / 127.f);
}

TEST(Calibration, PercentileScaleClipsTheTopValues) {
  // |x| = k / 2 for k = 1..1000 over 250 batches of 4, so |y| = k: its 99th percentile is 990.
  std::vector<std::vector<float>> batches;
  for (int b = 0; b < 250; ++b) {
    std::vector<float> v;
    for (int i = 0; i < 4; ++i) v.push_back(static_cast<float>((b * 4 + i + 1)) * ((i % 2) ? -0.5f : 0.5f));
    batches.push_back(v);
  }
  auto scales = calibrateTwoMatMuls(CalibrationMethod::kPercentile, 99.0, batches);
  // The range grew batch by batch by whole factors: it ends below twice the absmax, a bin below 2 * 1000 / 2048.
  double binWidth = 2 * 1000.0 / calibration::AbsHistogram::kBins;
  EXPECT_GE(scales.at("y") * 127.0, 990.0 - 1e-3);
  EXPECT_LE(scales.at("y") * 127.0, 990.0 + binWidth + 1e-3);
  EXPECT_NEAR(scales.at("z") * 127.0, 495.0, binWidth);  // z = y / 2
}

TEST(Calibration, EntropyKeepsTheWholeRangeOfUniformData) {
  calibration::AbsHistogram h;
  const int n = calibration::AbsHistogram::kBins * 50;
  std::vector<float> v(n);
  for (int i = 0; i < n; ++i) v[i] = (i % 2 ? -1.f : 1.f) * 4.f * (static_cast<float>(i) + 0.5f) / n;
  h.add(v.data(), n);
  EXPECT_NEAR(calibration::entropyThreshold(h), h.absMax(), 0.01 * h.absMax());
}

TEST(Calibration, EntropyClipsARareOutlier) {
  // 100k values uniform in [0, 1] and one at 100: min-max would spend the int8 range on the outlier.
  calibration::AbsHistogram h;
  std::vector<float> v;
  for (int i = 0; i < 100000; ++i) v.push_back(static_cast<float>(i) / 100000.f);
  v.push_back(100.f);
  h.add(v.data(), static_cast<int64_t>(v.size()));
  double threshold = calibration::entropyThreshold(h);
  EXPECT_LT(threshold, 10.0);  // at least 128 bins of 100/2048 are kept: 6.25
  EXPECT_GE(threshold, 1.0);
  EXPECT_NEAR(calibration::percentileThreshold(h, 100.0), 100.0, 1e-9);
}

TEST(Calibration, EntropyScalesThroughTheBuilderNetwork) {
  std::vector<std::vector<float>> batches;
  for (int b = 0; b < 512; ++b) {
    std::vector<float> v;
    for (int i = 0; i < 4; ++i) v.push_back(static_cast<float>(b * 4 + i) / 2048.f - 0.5f);
    batches.push_back(v);
  }
  auto scales = calibrateTwoMatMuls(CalibrationMethod::kEntropy, 0, batches);
  EXPECT_NEAR(scales.at("y") * 127.0, 1.0, 0.02);  // uniform |y| in [0, 1]
}

TEST(Calibration, BatchErrorsNameTheInput) {
  EXPECT_NE(errorOf([] { calibrateTwoMatMuls(CalibrationMethod::kMinMax, 0, {{1.f, 2.f, 3.f}}); })
                .find("holds 4 values, but 3 were given"),
            std::string::npos);
  EXPECT_NE(errorOf([] { calibrateTwoMatMuls(CalibrationMethod::kMinMax, 0, {}); }).find("gave no batch"),
            std::string::npos);
}

TEST(Calibration, CacheRoundTripsScalesExactly) {
  std::string path = tempPath("roundtrip.cache");
  calibration::Settings settings;
  settings.method = CalibrationMethod::kPercentile;
  settings.percentile = 99.9;
  calibration::Scales scales = {{"conv1:0 out", 0.1f}, {"y", 6.f / 127.f}, {"tiny", 1e-30f}};
  calibration::writeCache(path, settings, scales);
  EXPECT_EQ(calibration::readCache(path, settings), scales);
  settings.percentile = 99.99;
  EXPECT_NE(errorOf([&] { calibration::readCache(path, settings); }).find("line 3: made with 'method percentile 99.9"),
            std::string::npos);
  settings.method = CalibrationMethod::kEntropy;
  settings.type = DataType::kFP8E4M3;
  EXPECT_NE(errorOf([&] { calibration::readCache(path, settings); }).find("this build asks for 'method entropy type float8e4m3'"),
            std::string::npos);
  std::filesystem::remove(path);
}

TEST(Calibration, BadCacheFilesAreClearErrors) {
  std::string path = tempPath("bad.cache");
  calibration::Settings settings;
  std::string header = concat("kiln-calibration-cache 1\nkiln ", version(), "\nmethod entropy type int8\n");
  auto errorFor = [&](const std::string& text) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
    return errorOf([&] { calibration::readCache(path, settings); });
  };
  EXPECT_NE(errorFor("hello\n").find("line 1: not a Kiln calibration cache"), std::string::npos);
  EXPECT_NE(errorFor("kiln-calibration-cache 7\n").find("line 1: format 'kiln-calibration-cache 7'"), std::string::npos);
  EXPECT_NE(errorFor("kiln-calibration-cache 1\nkiln 0.0.1\n").find("line 2: made by 'kiln 0.0.1'"), std::string::npos);
  EXPECT_NE(errorFor(header + "x: 0x1p-7\nno scale here\n").find("line 5: expected 'tensor name: scale'"),
            std::string::npos);
  EXPECT_NE(errorFor(header + "x: -0x1p-7\n").find("scale of 'x' is '-0x1p-7', not a positive finite number"),
            std::string::npos);
  EXPECT_NE(errorFor(header + "x: nan\n").find("not a positive finite number"), std::string::npos);
  EXPECT_NE(errorFor(header + "x: 0x1p-7\nx: 0x1p-6\n").find("line 5: tensor 'x' repeats"), std::string::npos);
  EXPECT_EQ(errorFor(header + "x: 0x1p-7\n"), "");
  std::filesystem::remove(path);
  EXPECT_NE(errorOf([&] { calibration::readCache(path, settings); }).find("cannot open calibration cache"),
            std::string::npos);
}

TEST(Calibration, RebuildWithTheCacheDoesNotCalibrate) {
  std::string path = tempPath("rebuild.cache");
  std::filesystem::remove(path);
  std::vector<std::vector<float>> batches = {{0.5f, -1.f, 0.25f, 0.f}, {1.f, 2.f, -3.f, 0.5f}};
  auto calibrator = std::make_shared<ListCalibrator>(Dims{1, 4}, batches);
  BuilderConfig config;
  config.int8 = true;
  config.calibrationMethod = CalibrationMethod::kMinMax;
  config.calibrator = calibrator;
  config.calibrationCache = path;
  config.builderEffort = 0;  // no timings: the two plans must be byte-identical
  BuildSummary first, second;
  auto net = twoMatMuls();
  std::vector<uint8_t> plan = Builder().buildSerializedNetwork(*net, config, &first);
  EXPECT_EQ(calibrator->calls, 3);  // two batches and the end
  EXPECT_EQ(first.calibrationBatches, 2);
  EXPECT_EQ(first.quantizedLayers, 2);
  ASSERT_TRUE(std::filesystem::exists(path));
  auto again = twoMatMuls();
  std::vector<uint8_t> rebuilt = Builder().buildSerializedNetwork(*again, config, &second);
  EXPECT_EQ(calibrator->calls, 3);
  EXPECT_EQ(second.calibrationBatches, 0);
  EXPECT_EQ(second.quantizedLayers, 2);
  EXPECT_EQ(plan, rebuilt);
  // The int8 engine computes what fp32 does within the quantization error.
  auto fp32 = kiln::testing::buildEngine(*twoMatMuls());
  auto int8 = Runtime().deserializeEngine(plan.data(), plan.size());
  std::vector<float> x = {1.f, -2.f, 0.7f, 3.f}, expected(4), actual(4);
  for (auto [engine, out] : {std::pair{fp32, &expected}, std::pair{int8, &actual}}) {
    auto context = engine->createExecutionContext();
    context->setTensorAddress("x", x.data());
    context->setTensorAddress("out", out->data());
    context->execute();
  }
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(actual[i], expected[i], 0.05);
  std::filesystem::remove(path);
}

TEST(Calibration, ConfigMistakesAreRefused) {
  BuilderConfig config;
  config.int8 = true;
  auto net = twoMatMuls();
  EXPECT_NE(errorOf([&] { Builder().buildSerializedNetwork(*net, config); }).find("set BuilderConfig.calibrator"),
            std::string::npos);
  config.fp8 = true;
  EXPECT_NE(errorOf([&] { Builder().buildSerializedNetwork(*net, config); }).find("int8 and fp8 cannot both be on"),
            std::string::npos);
  BuilderConfig noInt8;
  noInt8.calibrationCache = "x.cache";
  EXPECT_NE(errorOf([&] { Builder().buildSerializedNetwork(*net, noInt8); }).find("neither int8 nor fp8 is on"),
            std::string::npos);
  BuilderConfig pinned;
  pinned.layerPrecisions["nope"] = DataType::kFloat16;
  EXPECT_NE(errorOf([&] { Builder().buildSerializedNetwork(*net, pinned); }).find("'nope', which is not a layer"),
            std::string::npos);
  pinned.layerPrecisions = {{"matmul1", DataType::kInt8}};
  EXPECT_NE(errorOf([&] { Builder().buildSerializedNetwork(*net, pinned); }).find("needs int8 on"), std::string::npos);
}

TEST(LayerPrecisions, AFloat16PinReducesThatLayerAloneWithoutFp16) {
  BuilderConfig config;
  config.builderEffort = 0;
  config.layerPrecisions = {{"double", DataType::kFloat16}};
  config.precisionConstraints = PrecisionConstraints::kObey;
  // fuse_pointwise would merge the float16 Mul with its two boundary Casts into one float32-out layer.
  config.disabledPasses = {"fuse_pointwise"};
  BuildSummary summary;
  auto net = twoMatMuls();
  Builder().buildSerializedNetwork(*net, config, &summary);
  EXPECT_EQ(summary.precision, DataType::kFloat16);
  EXPECT_EQ(summary.reducedPrecisionLayers, 1);
  config.fp16 = false;
  config.bf16 = true;
  auto other = twoMatMuls();
  EXPECT_NE(errorOf([&] { Builder().buildSerializedNetwork(*other, config); }).find("one reduced float type per build"),
            std::string::npos);
}

TEST(Calibration, Fp8BuildUsesFloat8PairsAndStaysClose) {
  std::vector<std::vector<float>> batches = {{0.5f, -1.f, 0.25f, 0.f}, {1.f, 2.f, -3.f, 0.5f}};
  BuilderConfig config;
  config.fp8 = true;
  config.builderEffort = 0;
  config.calibrationMethod = CalibrationMethod::kMinMax;
  config.calibrator = std::make_shared<ListCalibrator>(Dims{1, 4}, batches);
  BuildSummary summary;
  auto net = twoMatMuls();
  std::vector<uint8_t> plan = Builder().buildSerializedNetwork(*net, config, &summary);
  EXPECT_EQ(summary.quantizedLayers, 2);
  auto fp8 = Runtime().deserializeEngine(plan.data(), plan.size());
  EXPECT_NE(fp8->layerInformation().find("Quantize"), std::string::npos);
  auto fp32 = kiln::testing::buildEngine(*twoMatMuls());
  std::vector<float> x = {1.f, -2.f, 0.7f, 3.f}, expected(4), actual(4);
  for (auto [engine, out] : {std::pair{fp32, &expected}, std::pair{fp8, &actual}}) {
    auto context = engine->createExecutionContext();
    context->setTensorAddress("x", x.data());
    context->setTensorAddress("out", out->data());
    context->execute();
  }
  // e4m3 keeps 3 mantissa bits: about 6% relative error per value.
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(actual[i], expected[i], 0.1 * std::fabs(expected[i]) + 0.05);
}
