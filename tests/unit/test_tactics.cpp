// Tactic selection and the timing cache, through the public Builder on a registered backend whose
// Softmax has two fake tactics: "fake.softmax.slow" (preferred, but sleeps) and "fake.softmax.fast".
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include <unistd.h>

#include "backends/backend.h"
#include "core/error.h"
#include "builder/tactic_selector.h"
#include "builder/timing_cache.h"
#include "plan/plan_format.h"
#include "unit/cpu_wrapping_backend.h"
#include "unit/test_helpers.h"

namespace kiln {
namespace {

std::atomic<int> fakeRuns{0};  // executions of the fake Softmax kernels

class FakeSoftmaxKernel final : public Kernel {
 public:
  FakeSoftmaxKernel(std::unique_ptr<Kernel> real, std::string name, bool slow)
      : real_(std::move(real)), name_(std::move(name)), slow_(slow) {}
  void execute(const KernelArgs& args) const override {
    ++fakeRuns;
    if (slow_) std::this_thread::sleep_for(std::chrono::milliseconds(3));
    real_->execute(args);
  }
  std::string name() const override { return name_; }

 private:
  std::unique_ptr<Kernel> real_;
  std::string name_;
  bool slow_;
};

// The CPU backend, except that Softmax has two tactics, the slow one preferred.
class FakeTacticBackend final : public kiln::testing::CpuWrappingBackend {
 public:
  std::string name() const override { return "fake"; }
  std::string deviceSignature() const override { return "fake device"; }
  std::vector<std::string> tactics(const ir::Layer& layer, int effort) const override {
    if (layer.type() != LayerType::kSoftmax) return cpu_->tactics(layer, effort);
    if (effort == 0) return {"fake.softmax.slow"};
    return {"fake.softmax.slow", "fake.softmax.fast"};
  }
  std::unique_ptr<Kernel> createKernel(const ir::Layer& layer, const Constants& constants,
                                       const std::string& tactic) const override {
    if (layer.type() != LayerType::kSoftmax) return cpu_->createKernel(layer, constants, tactic);
    KILN_CHECK(tactic.empty() || tactic == "fake.softmax.slow" || tactic == "fake.softmax.fast", kUnsupported,
               layer.describe(), ": no tactic '", tactic, "'");
    bool slow = tactic != "fake.softmax.fast";
    return std::make_unique<FakeSoftmaxKernel>(cpu_->createKernel(layer, constants, ""),
                                               slow ? "fake.softmax.slow" : "fake.softmax.fast", slow);
  }
};

class TacticsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registerBackend("fake", std::make_shared<FakeTacticBackend>());
    cachePath_ = (std::filesystem::temp_directory_path() /
                  ("kiln_test_timing_cache_" + std::to_string(::getpid()) + ".txt"))
                     .string();
    std::filesystem::remove(cachePath_);
    fakeRuns = 0;
  }
  void TearDown() override { std::filesystem::remove(cachePath_); }

  // x[2, 7] -> Relu -> Softmax(axis 1) -> y
  static std::unique_ptr<NetworkDefinition> network() {
    Builder builder;
    auto net = builder.createNetwork();
    ITensor* x = net->addInput("x", DataType::kFloat32, {2, 7});
    ITensor* r = net->addActivation(x, ActivationType::kRelu, 0, 0, "relu");
    ITensor* y = net->addSoftmax(r, 1, "softmax");
    y->setName("y");
    net->markOutput(y);
    return net;
  }
  std::vector<uint8_t> build(int effort, BuildSummary* summary = nullptr, bool useCache = false) {
    BuilderConfig config;
    config.device = "fake";
    config.builderEffort = effort;
    if (useCache) config.timingCache = cachePath_;
    auto net = network();
    return Builder().buildSerializedNetwork(*net, config, summary);
  }
  static const LayerTactic& softmaxOf(const std::vector<LayerTactic>& tactics) {
    for (const LayerTactic& t : tactics)
      if (t.layerType == "Softmax") return t;
    throw std::runtime_error("no Softmax layer");
  }
  std::string cachePath_;
};

TEST_F(TacticsTest, TimingPicksTheFasterOfTwoTactics) {
  BuildSummary summary;
  std::vector<uint8_t> plan = build(3, &summary);
  EXPECT_GT(fakeRuns.load(), 0);
  const LayerTactic& chosen = softmaxOf(summary.tactics);
  EXPECT_EQ(chosen.tactic, "fake.softmax.fast");
  EXPECT_EQ(chosen.candidates, 2);
  EXPECT_GE(chosen.milliseconds, 0.0);
  EXPECT_LT(chosen.milliseconds, 3.0);  // the fast one does not sleep
  EXPECT_EQ(summary.layersTimed, 1);
  EXPECT_NE(summary.layerTable().find("fake.softmax.fast"), std::string::npos);

  // The plan records the choice; the engine runs it and gives the right values.
  auto engine = Runtime().deserializeEngine(plan.data(), plan.size());
  EXPECT_EQ(softmaxOf(engine->layerTactics()).tactic, "fake.softmax.fast");
  EXPECT_EQ(softmaxOf(engine->layerTactics()).candidates, 2);
  auto context = engine->createExecutionContext();
  std::vector<float> x(14), y(14, -1.f);
  for (int i = 0; i < 14; ++i) x[i] = static_cast<float>(i % 5) - 2.f;
  context->setTensorAddress("x", x.data());
  context->setTensorAddress("y", y.data());
  context->execute();
  for (int row = 0; row < 2; ++row) {
    float sum = 0;
    for (int i = 0; i < 7; ++i) sum += y[row * 7 + i];
    EXPECT_NEAR(sum, 1.f, 1e-5f);
  }
  EXPECT_GT(y[4], y[0]);  // relu(2) > relu(-2)
}

TEST_F(TacticsTest, EffortZeroTimesNothingAndTakesThePreferredTactic) {
  BuildSummary summary;
  std::vector<uint8_t> plan = build(0, &summary);
  EXPECT_EQ(fakeRuns.load(), 0);
  EXPECT_EQ(summary.layersTimed, 0);
  const LayerTactic& chosen = softmaxOf(summary.tactics);
  EXPECT_EQ(chosen.tactic, "fake.softmax.slow");
  EXPECT_EQ(chosen.candidates, 0);
  EXPECT_LT(chosen.milliseconds, 0.0);
}

TEST_F(TacticsTest, EffortOutOfRangeIsAnError) {
  try {
    build(6);
    FAIL() << "effort 6 was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("effort"), std::string::npos);
  }
}

TEST_F(TacticsTest, CacheRoundTripsAndASecondBuildTimesNothing) {
  BuildSummary first, second;
  std::vector<uint8_t> plan1 = build(3, &first, /*useCache=*/true);
  ASSERT_TRUE(std::filesystem::exists(cachePath_));
  EXPECT_EQ(first.layersTimed, 1);
  builder::TimingCache cache;
  ASSERT_TRUE(cache.load(cachePath_));
  EXPECT_GE(cache.size(), 2u);  // both Softmax tactics (and the CPU candidates of other layers, if any)

  fakeRuns = 0;
  std::vector<uint8_t> plan2 = build(3, &second, /*useCache=*/true);
  EXPECT_EQ(fakeRuns.load(), 0);  // no timing run
  EXPECT_EQ(second.layersTimed, 0);
  EXPECT_EQ(second.timingCacheHits, 1);
  EXPECT_TRUE(softmaxOf(second.tactics).fromCache);
  EXPECT_EQ(softmaxOf(second.tactics).tactic, softmaxOf(first.tactics).tactic);
  EXPECT_EQ(plan1, plan2);  // the same choices, the same bytes
}

TEST_F(TacticsTest, CacheTextRoundTrips) {
  builder::TimingCache cache;
  cache.record("Softmax params=00 in=float32[2,7] on=x", "fake.softmax.fast", 0.125);
  cache.record("Softmax params=00 in=float32[2,7] on=x", "fake.softmax.slow", std::nullopt);
  std::string mismatch;
  builder::TimingCache back = builder::TimingCache::parse(builder::TimingCache::text(cache), "mem", &mismatch);
  EXPECT_TRUE(mismatch.empty());
  ASSERT_EQ(back.size(), 2u);
  const auto* fast = back.find("Softmax params=00 in=float32[2,7] on=x", "fake.softmax.fast");
  ASSERT_NE(fast, nullptr);
  ASSERT_TRUE(fast->has_value());
  EXPECT_DOUBLE_EQ(**fast, 0.125);
  const auto* slow = back.find("Softmax params=00 in=float32[2,7] on=x", "fake.softmax.slow");
  ASSERT_NE(slow, nullptr);
  EXPECT_FALSE(slow->has_value());  // a failed tactic stays failed
}

void expectCacheRefused(const std::string& path, const std::string& content, const std::string& what) {
  {
    std::ofstream file(path, std::ios::binary | std::ios::trunc);
    file << content;
  }
  builder::TimingCache cache;
  try {
    cache.load(path);
    FAIL() << "a cache with " << what << " was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
  }
}

TEST_F(TacticsTest, CorruptedCacheIsRefusedNamingTheFile) {
  build(3, nullptr, /*useCache=*/true);
  std::ifstream in(cachePath_, std::ios::binary);
  std::string good((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  expectCacheRefused(cachePath_, "PK\x03\x04 not a cache", "does not start with");
  std::string damaged = good;
  size_t at = damaged.find("fake.softmax.fast");
  ASSERT_NE(at, std::string::npos);
  damaged[at] = 'F';
  expectCacheRefused(cachePath_, damaged, "checksum mismatch");
  expectCacheRefused(cachePath_, good.substr(0, good.size() / 2), "truncated");

  // Through the builder too: the build stops with the same message, nothing is overwritten.
  {
    std::ofstream file(cachePath_, std::ios::binary | std::ios::trunc);
    file << damaged;
  }
  EXPECT_THROW(build(3, nullptr, /*useCache=*/true), Error);
  std::ifstream after(cachePath_, std::ios::binary);
  std::string kept((std::istreambuf_iterator<char>(after)), std::istreambuf_iterator<char>());
  EXPECT_EQ(kept, damaged);
}

TEST_F(TacticsTest, CacheOfAnotherVersionIsIgnoredWithAReason) {
  builder::TimingCache cache;
  cache.record("k", "t", 1.0);
  std::string text = builder::TimingCache::text(cache);
  size_t at = text.find("kiln ");
  text.replace(at, text.find('\n', at) - at, "kiln 0.0.0-other");
  {
    std::ofstream file(cachePath_, std::ios::binary | std::ios::trunc);
    file << text;
  }
  builder::TimingCache loaded;
  std::string why;
  EXPECT_FALSE(loaded.load(cachePath_, &why));
  EXPECT_EQ(loaded.size(), 0u);
  EXPECT_NE(why.find("0.0.0-other"), std::string::npos);
}

TEST_F(TacticsTest, PlanWithAnUnknownTacticIsRefused) {
  std::vector<uint8_t> plan = build(0);
  plan::PlanContents contents = plan::readPlan(plan.data(), plan.size());
  for (size_t i = 0; i < contents.network->layers().size(); ++i)
    if (contents.network->layers()[i]->type() == LayerType::kSoftmax) contents.info.layerTactics[i] = "fake.softmax.gone";
  std::vector<uint8_t> edited = plan::writePlan(*contents.network, contents.info);
  try {
    Runtime().deserializeEngine(edited.data(), edited.size());
    FAIL() << "a plan naming an unknown tactic loaded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidPlan);
    EXPECT_NE(std::string(e.what()).find("fake.softmax.gone"), std::string::npos) << e.what();
  }
}

TEST(ChooseFastest, PrefersEarlierCandidatesWithinTheTolerance) {
  using T = builder::TimingCache::Timing;
  EXPECT_EQ(builder::chooseFastest({T(2.0), T(1.0)}), 1);
  EXPECT_EQ(builder::chooseFastest({T(1.01), T(1.0)}), 0);  // within 2%: the preferred one
  EXPECT_EQ(builder::chooseFastest({std::nullopt, T(5.0)}), 1);
  EXPECT_EQ(builder::chooseFastest({std::nullopt, std::nullopt}), -1);
  EXPECT_EQ(builder::chooseFastest({}), -1);
}

TEST(RegisterBackend, BuiltInNamesCannotBeTaken) {
  EXPECT_THROW(registerBackend("cpu", std::make_shared<FakeTacticBackend>()), Error);
  EXPECT_THROW(registerBackend("cuda:0", std::make_shared<FakeTacticBackend>()), Error);
}

}  // namespace
}  // namespace kiln
