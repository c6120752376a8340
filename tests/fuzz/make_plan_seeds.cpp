// Builds seed plans for the plan fuzzers (scripts/fuzz.sh): each ONNX model given that imports and builds
// on the CPU (builder effort 0) is written as <output folder>/<n>.plan; the others are skipped.
//   kiln_fuzz_plan_seeds OUTPUT_DIR MODEL.onnx...
#include <cstdio>
#include <fstream>
#include <string>

#include "fuzz_common.h"

int main(int argc, char** argv) {
  using namespace kiln;
  if (argc < 2) {
    std::fprintf(stderr, "usage: kiln_fuzz_plan_seeds OUTPUT_DIR MODEL.onnx...\n");
    return 2;
  }
  fuzz::SilentLogger logger;
  int written = 0;
  for (int i = 2; i < argc; ++i) {
    try {
      Builder builder(logger);
      auto network = builder.createNetwork();
      OnnxParser(*network, logger).parseFromFile(argv[i]);
      BuilderConfig config;
      config.builderEffort = 0;
      std::vector<uint8_t> plan = builder.buildSerializedNetwork(*network, config);
      std::ofstream out(std::string(argv[1]) + "/" + std::to_string(written++) + ".plan", std::ios::binary);
      out.write(reinterpret_cast<const char*>(plan.data()), static_cast<std::streamsize>(plan.size()));
    } catch (const Error&) {
      // Not every model builds (unsupported ops, training-only models): not a seed.
    }
  }
  std::printf("%d seed plans from %d models\n", written, argc - 2);
  return 0;
}
