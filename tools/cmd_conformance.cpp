// kiln conformance: runs ONNX backend test cases (model.onnx + test_data_set_*/{input,output}_N.pb).
// Each case runs in a child process, so a crash or a hang fails that case and never the run.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include <onnx/onnx.pb.h>

#include "cli.h"
#include "common.h"
#include "core/error.h"
#include "random_outputs.h"
#include "onnx/tensor_proto.h"

namespace kiln::tools {

namespace fs = std::filesystem;

namespace {

struct CaseResult {
  std::string name, path;
  std::string status;  // "pass", "fail", "unsupported"
  std::string reason;
};

using NamedTensors = std::vector<std::pair<std::string, HostTensor>>;

// The shapes every test set feeds one graph input: the optimization profile spans them (min and max
// over all sets, opt from the first), so a dynamic case whose sets differ in shape runs every set.
struct InputShapes {
  Dims min, opt, max;
  bool varies = false;  // the sets disagree on some dim (same rank)
};

// The shapes of data input `position` over all sets; nullopt when a set lacks it or the ranks differ.
std::optional<InputShapes> inputShapesOverSets(const std::vector<NamedTensors>& sets, size_t position) {
  for (const NamedTensors& set : sets)
    if (position >= set.size() || set[position].second.shape.size() != sets[0][position].second.shape.size())
      return std::nullopt;
  InputShapes shapes;
  shapes.min = shapes.opt = shapes.max = sets[0][position].second.shape;
  for (const NamedTensors& set : sets) {
    const Dims& d = set[position].second.shape;
    for (size_t i = 0; i < d.size(); ++i) {
      shapes.min[i] = std::min(shapes.min[i], d[i]);
      shapes.max[i] = std::max(shapes.max[i], d[i]);
    }
  }
  shapes.varies = shapes.min != shapes.max;
  return shapes;
}

// The model as the test data runs it, and the profile of its inputs whose shape differs between sets.
// Each static graph input shape that the data contradicts is replaced by the data's shape, with the dims
// that differ between sets made dynamic. The test data is what the case runs (ONNX's reference
// evaluator does not check declared shapes); e.g. test_castlike_*BFLOAT16* declare 'like' as [3,4] and
// feed [1] (CastLike reads only its type).
std::string modelMatchingData(const fs::path& modelPath, const std::vector<NamedTensors>& sets,
                              OptimizationProfile& profile) {
  std::ifstream file(modelPath, std::ios::binary);
  std::stringstream bytes;
  bytes << file.rdbuf();
  onnx::ModelProto model;
  KILN_CHECK(file.good() && model.ParseFromString(bytes.str()), kIOError, "cannot read ONNX model '",
             modelPath.string(), "'");
  std::set<std::string> initializers;
  for (const auto& init : model.graph().initializer()) initializers.insert(init.name());
  const NamedTensors& first = sets.front();
  size_t position = 0;
  for (auto& input : *model.mutable_graph()->mutable_input()) {
    if (initializers.count(input.name())) continue;
    size_t dataPosition = position++;
    for (size_t i = 0; i < first.size(); ++i)
      if (first[i].first == input.name()) dataPosition = i;
    std::optional<InputShapes> shapes = inputShapesOverSets(sets, dataPosition);
    if (!shapes || !input.type().has_tensor_type()) continue;
    if (shapes->varies) profile.setDimensions(input.name(), shapes->min, shapes->opt, shapes->max);
    if (!input.type().tensor_type().has_shape()) continue;
    auto* shape = input.mutable_type()->mutable_tensor_type()->mutable_shape();
    Dims declared;
    for (const auto& d : shape->dim()) declared.push_back(d.has_dim_value() ? d.dim_value() : -1);
    if (volume(declared) < 0 || (declared == shapes->opt && !shapes->varies)) continue;
    shape->clear_dim();
    for (size_t i = 0; i < shapes->opt.size(); ++i) {
      if (shapes->min[i] == shapes->max[i]) shape->add_dim()->set_dim_value(shapes->opt[i]);
      else shape->add_dim()->set_dim_param(concat(input.name(), "_dim", i));
    }
  }
  return model.SerializeAsString();
}

// Runs one case in this process: "pass", or "fail: why", or "unsupported: what".
CaseResult runCase(const fs::path& dir, const Options& options) {
  CaseResult result{dir.filename().string(), dir.string(), "pass", ""};
  double rtol = options.getDouble("rtol", 1e-3), atol = options.getDouble("atol", 1e-7);
  std::vector<fs::path> dataSets;
  for (auto& entry : fs::directory_iterator(dir))
    if (entry.is_directory() && entry.path().filename().string().rfind("test_data_set_", 0) == 0)
      dataSets.push_back(entry.path());
  std::sort(dataSets.begin(), dataSets.end());
  if (dataSets.empty()) return {result.name, result.path, "fail", "no test_data_set_* folder"};
  try {
    std::string model = (dir / "model.onnx").string();
    std::vector<ValueKind> inputKinds = onnx_import::modelValueKinds(model, false);
    std::vector<ValueKind> outputKinds = onnx_import::modelValueKinds(model, true);
    std::vector<NamedTensors> setInputs;
    for (auto& set : dataSets) setInputs.push_back(readTensorFiles(set.string(), "input", inputKinds));
    std::vector<Dims> shapes;  // fix the profile of dynamic inputs whose shape all sets share
    for (auto& in : setInputs[0]) shapes.push_back(in.second.shape);
    BuilderConfig config = builderConfigFrom(options);
    config.progress = nullptr;  // one line per case is the output
    std::string runnable = modelMatchingData(dir / "model.onnx", setInputs, config.profile);
    std::vector<uint8_t> plan = buildPlanFromOnnxBytes(runnable, dir.string(), config, nullptr, nullptr, shapes);
    auto engine = Runtime().deserializeEngine(plan.data(), plan.size());
    // Outputs of a model that draws random numbers that differ from the reference are judged by their support.
    auto randomRules = randomOutputRules((dir / "model.onnx").string());
    std::vector<std::string> judged;
    for (size_t s = 0; s < dataSets.size(); ++s) {
      const fs::path& set = dataSets[s];
      auto context = engine->createExecutionContext();
      const NamedTensors& inputs = setInputs[s];
      auto outputs = runEngine(*engine, *context, inputs);
      auto expected = readTensorFiles(set.string(), "output", outputKinds);
      if (expected.size() != outputs.size())
        return {result.name, result.path, "fail",
                concat(set.filename().string(), ": ", outputs.size(), " outputs, expected ", expected.size())};
      std::map<std::string, HostTensor> inputsByName(inputs.begin(), inputs.end());
      for (size_t i = 0; i < outputs.size(); ++i) {
        std::string diff = compareTensors(outputs[i].second, expected[i].second, rtol, atol);
        if (!diff.empty() && randomRules && i < randomRules->size()) {
          const RandomOutputRule& rule = (*randomRules)[i];
          std::string why = judgeRandomOutput(rule, outputs[i].second, expected[i].second, inputsByName, rtol, atol);
          if (why.empty()) {
            judged.push_back(concat("output ", i, " '", outputs[i].first, "' ", rule.describe()));
            continue;
          }
          diff = concat("judged statistically (random op): ", why);
        }
        if (!diff.empty())
          return {result.name, result.path, "fail",
                  concat(set.filename().string(), " output ", i, " '", outputs[i].first, "': ", diff)};
      }
    }
    if (!judged.empty()) {
      result.reason = "judged statistically (random op): ";
      for (size_t i = 0; i < judged.size(); ++i) result.reason += (i ? "; " : "") + judged[i];
    }
  } catch (const Error& e) {
    std::string message = e.what();
    std::replace(message.begin(), message.end(), '\n', ' ');
    return {result.name, result.path, e.code() == ErrorCode::kUnsupported ? "unsupported" : "fail", message};
  } catch (const std::exception& e) {
    return {result.name, result.path, "fail", concat("exception: ", e.what())};
  }
  return result;
}

// Runs a case in a child process with a time limit.
CaseResult runCaseIsolated(const fs::path& dir, const Options& options, int timeoutSeconds) {
  int pipeFds[2];
  if (pipe(pipeFds) != 0) return runCase(dir, options);
  pid_t pid = fork();
  if (pid == 0) {
    close(pipeFds[0]);
    CaseResult r = runCase(dir, options);
    std::string message = r.status + "\n" + r.reason;
    ssize_t ignored = write(pipeFds[1], message.data(), message.size());
    (void)ignored;
    close(pipeFds[1]);
    _exit(0);
  }
  close(pipeFds[1]);
  std::string message;
  char buffer[4096];
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeoutSeconds);
  bool timedOut = false;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timedOut = true;
      break;
    }
    pollfd p{pipeFds[0], POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    ssize_t n = read(pipeFds[0], buffer, sizeof buffer);
    if (n <= 0) break;
    message.append(buffer, static_cast<size_t>(n));
  }
  close(pipeFds[0]);
  if (timedOut) kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  CaseResult r{dir.filename().string(), dir.string(), "fail", ""};
  if (timedOut) {
    r.reason = concat("timed out after ", timeoutSeconds, " s");
  } else if (WIFSIGNALED(status)) {
    r.reason = concat("crashed with signal ", WTERMSIG(status), " (", strsignal(WTERMSIG(status)), ")");
  } else if (size_t nl = message.find('\n'); nl != std::string::npos) {
    r.status = message.substr(0, nl);
    r.reason = message.substr(nl + 1);
  } else {
    r.reason = "the case process ended without a result";
  }
  return r;
}

std::string jsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\', out += c;
    else if (static_cast<unsigned char>(c) < 0x20) out += concat("\\u00", "0123456789abcdef"[(c >> 4) & 0xf], "0123456789abcdef"[c & 0xf]);
    else out += c;
  }
  return out;
}

}  // namespace

int runConformanceCommand(const std::vector<std::string>& args, std::ostream& out) {
  Options options(args, {"report", "device", "fp16", "bf16", "filter", "rtol", "atol", "timeout", "disable-passes",
                         "builder-effort"});
  KILN_CHECK(!options.positional().empty(), kInvalidArgument,
             "kiln conformance needs one or more folders of test cases (each with model.onnx)");
  std::vector<fs::path> cases;
  for (const std::string& root : options.positional()) {
    KILN_CHECK(fs::exists(root), kIOError, "'", root, "' does not exist");
    if (fs::exists(fs::path(root) / "model.onnx")) {
      cases.push_back(root);
      continue;
    }
    for (auto& entry : fs::recursive_directory_iterator(root))
      if (entry.is_regular_file() && entry.path().filename() == "model.onnx") cases.push_back(entry.path().parent_path());
  }
  std::sort(cases.begin(), cases.end());
  std::string filter = options.get("filter");
  int timeout = static_cast<int>(options.getInt("timeout", 120));
  int passed = 0, failed = 0, skipped = 0;
  std::vector<CaseResult> results;
  for (const fs::path& dir : cases) {
    if (!filter.empty() && dir.string().find(filter) == std::string::npos) continue;
    CaseResult r = runCaseIsolated(dir, options, timeout);
    if (r.status == "pass") ++passed;
    else if (r.status == "unsupported") ++skipped;
    else ++failed;
    out << r.status << " " << r.name << (r.reason.empty() ? "" : ": " + r.reason) << "\n" << std::flush;
    results.push_back(std::move(r));
  }
  if (options.has("report")) {
    std::ofstream report(options.get("report"));
    KILN_CHECK(report.good(), kIOError, "cannot write '", options.get("report"), "'");
    report << "{\n  \"passed\": " << passed << ", \"failed\": " << failed << ", \"skipped\": " << skipped
           << ",\n  \"cases\": [\n";
    for (size_t i = 0; i < results.size(); ++i)
      report << "    {\"case\": \"" << jsonEscape(results[i].name) << "\", \"path\": \"" << jsonEscape(results[i].path)
             << "\", \"status\": \"" << results[i].status << "\", \"reason\": \"" << jsonEscape(results[i].reason)
             << "\"}" << (i + 1 < results.size() ? "," : "") << "\n";
    report << "  ]\n}\n";
  }
  out << passed << " passed, " << failed << " failed, " << skipped << " skipped\n";
  return failed ? 1 : 0;
}

}  // namespace kiln::tools
