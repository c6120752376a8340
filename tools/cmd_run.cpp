#include <filesystem>

#include "cli.h"
#include "common.h"
#include "core/error.h"
#include "onnx/tensor_proto.h"

namespace kiln::tools {

int runRunCommand(const std::vector<std::string>& args, std::ostream& out) {
  Options options(args, builderOptionNames({"onnx", "engine", "load-inputs", "save-outputs", "expect", "rtol", "atol", "timeout"}));
  KILN_CHECK(options.has("load-inputs"), kInvalidArgument, "kiln run needs --load-inputs=DIR (input_0.pb, ...)");
  // --timeout: the run stops with a kCancelled error past it.
  double timeLimitMs = options.getDouble("timeout", 0);
  KILN_CHECK(!options.has("timeout") || timeLimitMs > 0, kInvalidArgument,
             "--timeout must be a time in milliseconds > 0, got '", options.get("timeout"), "'");
  auto inputs = readTensorFiles(options.get("load-inputs"), "input");
  // Building in memory: dynamic inputs are tuned for the inputs at hand.
  std::vector<Dims> inputShapes;
  for (auto& input : inputs) inputShapes.push_back(input.second.shape);
  std::shared_ptr<Engine> engine = engineFrom(options, nullptr, nullptr, inputShapes);
  auto context = engine->createExecutionContext();
  context->setTimeLimit(timeLimitMs);
  auto outputs = runEngine(*engine, *context, inputs);
  if (options.has("save-outputs")) {
    std::filesystem::create_directories(options.get("save-outputs"));
    for (size_t i = 0; i < outputs.size(); ++i) {
      std::string path = concat(options.get("save-outputs"), "/output_", i, ".pb");
      onnx_import::writeTensorFile(path, outputs[i].first, outputs[i].second);
    }
  }
  for (auto& [name, value] : outputs) out << "output '" << name << "': " << dataTypeName(value.type) << " " << dimsToString(value.shape) << "\n";
  if (!options.has("expect")) return 0;
  auto expected = readTensorFiles(options.get("expect"), "output");
  double rtol = options.getDouble("rtol", 1e-3), atol = options.getDouble("atol", 1e-7);
  KILN_CHECK(expected.size() == outputs.size(), kInvalidArgument, "--expect holds ", expected.size(),
             " outputs but the engine has ", outputs.size());
  int failures = 0;
  for (size_t i = 0; i < outputs.size(); ++i) {
    std::string diff = compareTensors(outputs[i].second, expected[i].second, rtol, atol);
    if (diff.empty()) continue;
    out << "MISMATCH output " << i << " '" << outputs[i].first << "': " << diff << "\n";
    ++failures;
  }
  out << (failures ? "FAILED: " : "PASSED: ") << outputs.size() - failures << " of " << outputs.size()
      << " outputs match (rtol " << rtol << ", atol " << atol << ")\n";
  return failures ? 1 : 0;
}

}  // namespace kiln::tools
