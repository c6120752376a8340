// kiln inspect: what a plan holds: its device, inputs and outputs, and each layer's backend and tactic
// with the time the builder measured for it.
#include "cli.h"
#include "common.h"
#include "core/error.h"

namespace kiln::tools {

int runInspectCommand(const std::vector<std::string>& args, std::ostream& out) {
  Options options(args, {"engine"});
  KILN_CHECK(options.has("engine"), kInvalidArgument, "kiln inspect needs --engine=MODEL.plan");
  auto engine = Runtime().deserializeEngineFromFile(options.get("engine"));
  out << "plan:    " << options.get("engine") << "\n";
  out << "device:  " << engine->device() << "\n";
  out << "weights: " << engine->weightsBytes() << " bytes\n";
  for (int i = 0; i < engine->numIOTensors(); ++i) {
    const std::string& name = engine->ioTensorName(i);
    bool input = engine->tensorIOMode(name) == TensorIOMode::kInput;
    out << (input ? "input:   " : "output:  ") << name << " " << dataTypeName(engine->tensorDataType(name)) << " "
        << dimsToString(engine->tensorShape(name));
    if (input) {
      ShapeRange r = engine->profileShape(name);
      if (r.min != r.max)
        out << " (min " << dimsToString(r.min) << ", opt " << dimsToString(r.opt) << ", max " << dimsToString(r.max)
            << ")";
    }
    out << "\n";
  }
  out << "layers:  " << engine->numLayers() << "\n" << formatLayerTactics(engine->layerTactics());
  return 0;
}

}  // namespace kiln::tools
