// libFuzzer target: ONNX model bytes -> OnnxParser::parse -> Builder (CPU, builder effort 0) -> one run on
// zero inputs when it builds. Any crash, sanitizer report, internal error or non-kiln exception is a finding.
#include <cstddef>
#include <cstdint>

#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kiln;
  static fuzz::SilentLogger logger;
  std::vector<uint8_t> plan;
  try {
    Builder builder(logger);
    auto network = builder.createNetwork();
    OnnxParser parser(*network, logger);
    parser.parse(data, size, fuzz::externalDataDir());
    BuilderConfig config;
    config.builderEffort = 0;
    // Tensors past the run's size cap are refused at build and, for sizes known only at run time, by the
    // context (the plan records the limit): a hostile Tile of a billion elements is a refusal, not a
    // minute of copying that reads as a timeout.
    config.maxTensorElements = fuzz::kMaxRunBytes / 8;
    plan = builder.buildSerializedNetwork(*network, config);
  } catch (const Error& e) {
    fuzz::expectCleanError(e);
    return 0;
  }
  std::shared_ptr<Engine> engine;
  try {
    engine = Runtime(logger).deserializeEngine(plan.data(), plan.size());
  } catch (const Error& e) {
    // The builder wrote this plan: the reader must take it.
    std::fprintf(stderr, "kiln fuzz: a built plan does not load: %s\n", e.what());
    std::abort();
  }
  fuzz::runOnce(*engine);
  return 0;
}
