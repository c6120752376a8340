// One engine shared by many threads, each with its own ExecutionContext (the documented way to run in
// parallel): every thread's outputs must be bit-identical to a single-threaded run. scripts/sanitize.sh
// thread runs these tests under ThreadSanitizer.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "test_helpers.h"

using namespace kiln;

namespace {

constexpr int kThreads = 16;
constexpr int kRunsPerThread = 3;
const Dims kInputShapes[] = {{1, 3, 32, 32}, {2, 3, 32, 32}, {4, 3, 32, 32}};

std::shared_ptr<Engine> sampleEngine() {
  auto net = Builder().createNetwork();
  OnnxParser(*net).parseFromFile(std::string(KILN_SOURCE_DIR) + "/samples/small_cnn.onnx");
  BuilderConfig config;
  config.profile.setDimensions("input", {1, 3, 32, 32}, {2, 3, 32, 32}, {4, 3, 32, 32});
  return kiln::testing::buildEngine(*net, config);
}

std::vector<float> sampleInput(const Dims& shape, int seed) {
  std::vector<float> x(static_cast<size_t>(volume(shape)));
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.013f * static_cast<float>(i) + static_cast<float>(seed));
  return x;
}

std::vector<float> run(ExecutionContext& context, const Dims& shape, std::vector<float>& x) {
  context.setInputShape("input", shape);
  std::vector<float> y(static_cast<size_t>(volume(context.tensorShape("probabilities"))));
  context.setTensorAddress("input", x.data());
  context.setTensorAddress("probabilities", y.data());
  context.execute();
  return y;
}

bool bitIdentical(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST(Concurrency, SixteenThreadsWithOwnContextsGiveBitIdenticalResults) {
  auto engine = sampleEngine();
  // Every thread alternates two shapes (so contexts also re-plan their memory in parallel). The reference:
  // each (shape, input) run once on one context in this thread.
  struct Work {
    Dims shape[2];
    std::vector<float> input[2], expected[2];
  };
  std::vector<Work> work(kThreads);
  auto reference = engine->createExecutionContext();
  for (int t = 0; t < kThreads; ++t)
    for (int k = 0; k < 2; ++k) {
      Work& w = work[t];
      w.shape[k] = kInputShapes[(t + k) % 3];
      w.input[k] = sampleInput(w.shape[k], 2 * t + k);
      w.expected[k] = run(*reference, w.shape[k], w.input[k]);
    }
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      try {
        auto context = engine->createExecutionContext();
        for (int r = 0; r < kRunsPerThread; ++r)
          for (int k = 0; k < 2; ++k) {
            std::vector<float> x = work[t].input[k];
            if (!bitIdentical(run(*context, work[t].shape[k], x), work[t].expected[k])) ++mismatches[t];
          }
      } catch (const Error& e) {
        errors[t] = e.what();
      }
    });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(errors, std::vector<std::string>(kThreads));
  EXPECT_EQ(mismatches, std::vector<int>(kThreads, 0));
}

TEST(Concurrency, ContextsCreatedAndDestroyedInParallelShareOneEngine) {
  auto engine = sampleEngine();
  std::vector<float> x = sampleInput(kInputShapes[0], 7);
  auto reference = engine->createExecutionContext();
  std::vector<float> expected = run(*reference, kInputShapes[0], x);
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRunsPerThread; ++r) {
        std::vector<float> mine = x;
        auto context = engine->createExecutionContext();
        if (!bitIdentical(run(*context, kInputShapes[0], mine), expected)) ++mismatches[t];
      }
    });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(mismatches, std::vector<int>(kThreads, 0));
}
