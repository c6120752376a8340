// kiln bench on the CPU: options, --batch through the profile, and CUDA-only options refused.
#include <gtest/gtest.h>

#include <sstream>

#include "cli.h"
#include "kiln/kiln.h"

using namespace kiln;

namespace {
const std::string kSample = std::string(KILN_SOURCE_DIR) + "/samples/small_cnn.onnx";
}

TEST(BenchCommand, BatchSetsTheFirstDimensionAndReportsSamplesPerSecond) {
  std::ostringstream out;
  EXPECT_EQ(tools::runBenchCommand({"--onnx=" + kSample, "--batch=3", "--iterations=3", "--warmup=1"}, out), 0);
  std::string text = out.str();
  EXPECT_NE(text.find("batch 3"), std::string::npos) << text;
  EXPECT_NE(text.find("samples/s"), std::string::npos) << text;
  EXPECT_NE(text.find("latency ms:"), std::string::npos) << text;
  EXPECT_NE(text.find("median"), std::string::npos) << text;
  EXPECT_NE(text.find("p99"), std::string::npos) << text;
  EXPECT_EQ(text.find("GPU compute"), std::string::npos) << text;  // CPU engine: no device timings
}

TEST(BenchCommand, Fp16BuildPrintsPrecisionSummary) {
  std::ostringstream out;
  EXPECT_EQ(tools::runBenchCommand({"--onnx=" + kSample, "--fp16", "--iterations=2", "--warmup=0"}, out), 0);
  EXPECT_NE(out.str().find("layers in float16"), std::string::npos) << out.str();
}

TEST(BenchCommand, CudaOnlyOptionsNeedACudaEngine) {
  std::ostringstream out;
  for (const char* option : {"--use-cuda-graph", "--no-data-transfers"}) {
    try {
      tools::runBenchCommand({"--onnx=" + kSample, option, "--iterations=1"}, out);
      ADD_FAILURE() << option << " was accepted on a CPU engine";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("need a CUDA engine"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(tools::runBenchCommand({"--onnx=" + kSample, "--batch=0"}, out), Error);
}

TEST(BenchCommand, ProfilePrintsTimePerLayerType) {
  std::ostringstream out;
  EXPECT_EQ(tools::runBenchCommand({"--onnx=" + kSample, "--iterations=3", "--warmup=1", "--profile"}, out), 0);
  std::string text = out.str();
  EXPECT_NE(text.find("Layer time per run by type (3 profiled runs)"), std::string::npos) << text;
  EXPECT_NE(text.find("Convolution"), std::string::npos) << text;
  EXPECT_NE(text.find("total"), std::string::npos) << text;
}
