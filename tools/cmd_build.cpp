#include "cli.h"
#include "common.h"
#include "core/error.h"

namespace kiln::tools {

int runBuildCommand(const std::vector<std::string>& args, std::ostream& out) {
  Options options(args, {"onnx", "save-engine", "device", "fp16", "bf16", "min-shapes", "opt-shapes", "max-shapes",
                         "shapes", "disable-passes", "memory-limit", "list-passes"});
  if (options.has("list-passes")) {
    for (auto& name : Builder::passNames()) out << name << "\n";
    return 0;
  }
  KILN_CHECK(options.has("onnx"), kInvalidArgument, "kiln build needs --onnx=MODEL.onnx");
  KILN_CHECK(options.has("save-engine"), kInvalidArgument, "kiln build needs --save-engine=MODEL.plan");
  std::vector<uint8_t> plan = buildPlanFromOnnx(options.get("onnx"), builderConfigFrom(options), &out);
  writeFile(options.get("save-engine"), plan);
  out << "  plan:              " << options.get("save-engine") << " (" << plan.size() << " bytes)\n";
  return 0;
}

}  // namespace kiln::tools
