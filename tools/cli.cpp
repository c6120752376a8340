#include "cli.h"

#include "kiln/kiln.h"

namespace kiln::tools {

static const char* kUsage =
    "usage: kiln <command> [options]\n"
    "commands:\n"
    "  build        --onnx=MODEL --save-engine=PLAN [--device=cpu|cuda[:N]] [--fp16] [--bf16]\n"
    "               [--min-shapes=x:1x3x8x8 --opt-shapes=... --max-shapes=...] [--disable-passes=a,b] [--list-passes]\n"
    "               [--memory-limit=MiB (activation memory at the max shapes)]\n"
    "               [--max-tensor-elements=N (most elements of one tensor; default 2^32)]\n"
    "               [--builder-effort=0..5 (0: no tactic timing; default 3)] [--timing-cache=FILE (read, then updated)]\n"
    "               [--dump-layers (each layer's tactic, time, candidates)] [--quiet (no progress, no summary)]\n"
    "               [--int8 | --fp8] [--calib=DIR (one folder per batch, one .npy/.pb per input)]\n"
    "               [--calib-method=entropy|minmax|percentile] [--calib-percentile=99.99] [--calib-cache=FILE]\n"
    "               [--layer-precisions=name:fp32|fp16|bf16|int8|fp8,...] [--precision-constraints=none|prefer|obey]\n"
    "  inspect      --engine=PLAN  (inputs, outputs, and each layer's backend, tactic, time, candidates)\n"
    "  run          --engine=PLAN | --onnx=MODEL  --load-inputs=DIR [--save-outputs=DIR] [--expect=DIR]\n"
    "               [--rtol=1e-3] [--atol=1e-7] [--timeout=MS (the run stops with an error past it)]\n"
    "  bench        --engine=PLAN | --onnx=MODEL  [--device=cpu|cuda[:N]] [--fp16] [--iterations=100] [--warmup=10]\n"
    "               [--batch=N] [--shapes=x:1x3x224x224] [--threads=N] [--seed=0] [--profile[=all] (time per layer type and the slowest (all) layers)]\n"
    "               CUDA: [--no-data-transfers] [--use-cuda-graph] (prints GPU compute, H2D/D2H copy, enqueue times)\n"
    "  conformance  PATH... [--report=FILE.json] [--device=...] [--filter=TEXT] [--rtol --atol] [--timeout=SECONDS]\n"
    "  version\n";

int runCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    (args.empty() ? err : out) << kUsage;
    return args.empty() ? 2 : 0;
  }
  const std::string& command = args[0];
  std::vector<std::string> rest(args.begin() + 1, args.end());
  try {
    if (command == "build") return runBuildCommand(rest, out);
    if (command == "run") return runRunCommand(rest, out);
    if (command == "inspect") return runInspectCommand(rest, out);
    if (command == "bench") return runBenchCommand(rest, out);
    if (command == "conformance") return runConformanceCommand(rest, out);
    if (command == "version") {
      out << "kiln " << version() << "\n";
      return 0;
    }
    err << "kiln: unknown command '" << command << "'\n" << kUsage;
    return 2;
  } catch (const Error& e) {
    err << "kiln " << command << ": " << errorCodeName(e.code()) << ": " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    err << "kiln " << command << ": internal error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace kiln::tools
