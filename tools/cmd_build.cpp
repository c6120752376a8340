#include "cli.h"
#include "common.h"
#include "core/error.h"

namespace kiln::tools {

int runBuildCommand(const std::vector<std::string>& args, std::ostream& out) {
  Options options(args, builderOptionNames({"onnx", "save-engine", "list-passes", "dump-layers"}));
  if (options.has("list-passes")) {
    for (auto& name : Builder::passNames()) out << name << "\n";
    return 0;
  }
  KILN_CHECK(options.has("onnx"), kInvalidArgument, "kiln build needs --onnx=MODEL.onnx");
  KILN_CHECK(options.has("save-engine"), kInvalidArgument, "kiln build needs --save-engine=MODEL.plan");
  bool quiet = options.has("quiet");
  BuildSummary summary;
  std::vector<uint8_t> plan = buildPlanFromOnnx(options.get("onnx"), builderConfigFrom(options), quiet ? nullptr : &out,
                                                &summary);
  writeFile(options.get("save-engine"), plan);
  if (!quiet) out << "  plan:              " << options.get("save-engine") << " (" << plan.size() << " bytes)\n";
  if (options.has("dump-layers")) out << summary.layerTable();
  return 0;
}

}  // namespace kiln::tools
