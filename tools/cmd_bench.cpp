// kiln bench: warm-up, timed iterations, a latency/throughput summary.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <iomanip>
#include <map>
#include <numeric>
#include <random>

#include "backends/cpu/cpu_backend.h"
#include "cli.h"
#include "common.h"
#include "core/error.h"
#include "core/half.h"

namespace kiln::tools {

// Seeded random values of the input's type: floats in [-1, 1), integers in [0, 2), booleans.
static HostTensor randomTensor(DataType type, const Dims& shape, std::mt19937& rng) {
  HostTensor t = Weights::zeros(type, shape);
  auto* p = const_cast<uint8_t*>(t.bytes->data());
  std::uniform_real_distribution<float> real(-1.f, 1.f);
  std::uniform_int_distribution<int> small(0, 1);
  for (int64_t i = 0; i < t.count(); ++i) {
    switch (type) {
      case DataType::kFloat32: reinterpret_cast<float*>(p)[i] = real(rng); break;
      case DataType::kFloat64: reinterpret_cast<double*>(p)[i] = real(rng); break;
      case DataType::kFloat16: reinterpret_cast<uint16_t*>(p)[i] = floatToHalf(real(rng)); break;
      case DataType::kBFloat16: reinterpret_cast<uint16_t*>(p)[i] = floatToBfloat16(real(rng)); break;
      case DataType::kInt32: reinterpret_cast<int32_t*>(p)[i] = small(rng); break;
      case DataType::kInt64: reinterpret_cast<int64_t*>(p)[i] = small(rng); break;
      case DataType::kBool:
      case DataType::kUInt8:
      case DataType::kInt8: p[i] = static_cast<uint8_t>(small(rng)); break;
      default: fail(ErrorCode::kUnsupported, concat("kiln bench cannot make random ", dataTypeName(type), " inputs"));
    }
  }
  return t;
}

// Sums layer times per layer type over the profiled runs (kiln bench --profile).
class LayerTypeProfiler final : public Profiler {
 public:
  void reportLayerTime(const std::string& /*layerName*/, const std::string& layerType, double ms) override {
    Entry& e = byType_[layerType];
    e.ms += ms;
    ++e.calls;
  }
  // One row per layer type, slowest first: total ms per run, share, layers per run.
  void print(std::ostream& out, int64_t runs) const {
    std::vector<std::pair<std::string, Entry>> rows(byType_.begin(), byType_.end());
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.ms > b.second.ms; });
    double total = 0;
    for (const auto& row : rows) total += row.second.ms;
    out << "Layer time per run by type (" << runs << " profiled runs):\n";
    out << "  " << std::left << std::setw(20) << "layer type" << std::right << std::setw(12) << "ms" << std::setw(9)
        << "%" << std::setw(9) << "layers" << "\n";
    for (const auto& [type, e] : rows)
      out << "  " << std::left << std::setw(20) << type << std::right << std::setw(12) << e.ms / runs << std::setw(9)
          << std::setprecision(1) << 100.0 * e.ms / std::max(total, 1e-9) << std::setprecision(3) << std::setw(9)
          << e.calls / runs << "\n";
    out << "  " << std::left << std::setw(20) << "total" << std::right << std::setw(12) << total / runs << "\n";
  }

 private:
  struct Entry {
    double ms = 0;
    int64_t calls = 0;
  };
  std::map<std::string, Entry> byType_;
};

int runBenchCommand(const std::vector<std::string>& args, std::ostream& out) {
  Options options(args, {"onnx", "engine", "device", "fp16", "bf16", "min-shapes", "opt-shapes", "max-shapes",
                         "shapes", "disable-passes", "iterations", "warmup", "threads", "seed", "profile"});
  if (options.has("threads")) cpu::setNumThreads(static_cast<int>(options.getInt("threads", 1)));
  BuildSummary summary;
  bool built = options.has("onnx");
  std::shared_ptr<Engine> engine = engineFrom(options, built ? &out : nullptr, &summary);
  auto context = engine->createExecutionContext();
  auto shapes = parseShapes(options.get("shapes"));
  std::mt19937 rng(static_cast<uint32_t>(options.getInt("seed", 0)));
  std::vector<HostTensor> inputs;
  std::vector<HostTensor> outputs;
  for (int i = 0; i < engine->numIOTensors(); ++i) {
    const std::string& name = engine->ioTensorName(i);
    if (engine->tensorIOMode(name) != TensorIOMode::kInput) continue;
    Dims shape = shapes.count(name) ? shapes[name] : engine->profileShape(name).opt;
    context->setInputShape(name, shape);
    inputs.push_back(randomTensor(engine->tensorDataType(name), shape, rng));
    context->setTensorAddress(name, const_cast<uint8_t*>(inputs.back().bytes->data()));
  }
  for (int i = 0; i < engine->numIOTensors(); ++i) {
    const std::string& name = engine->ioTensorName(i);
    if (engine->tensorIOMode(name) != TensorIOMode::kOutput) continue;
    Dims shape = context->tensorShape(name);
    if (volume(shape) < 0) continue;  // data-dependent: context-owned
    outputs.push_back(Weights::zeros(engine->tensorDataType(name), shape));
    context->setTensorAddress(name, const_cast<uint8_t*>(outputs.back().bytes->data()));
  }
  int64_t warmup = options.getInt("warmup", 10), iterations = options.getInt("iterations", 100);
  KILN_CHECK(iterations > 0 && warmup >= 0, kInvalidArgument, "--iterations must be > 0 and --warmup >= 0");
  for (int64_t i = 0; i < warmup; ++i) context->execute();
  std::vector<double> ms;
  auto total = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < iterations; ++i) {
    auto start = std::chrono::steady_clock::now();
    context->execute();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  double totalSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - total).count();
  std::sort(ms.begin(), ms.end());
  auto pct = [&](double q) { return ms[std::min(ms.size() - 1, static_cast<size_t>(q * (ms.size() - 1) + 0.5))]; };
  double mean = std::accumulate(ms.begin(), ms.end(), 0.0) / ms.size();
  out << std::fixed << std::setprecision(3);
  out << "Performance summary (" << engine->device() << ", " << cpu::numThreads() << " CPU threads, "
      << iterations << " iterations after " << warmup << " warm-up)\n";
  out << "  throughput: " << iterations / totalSeconds << " inferences/s\n";
  out << "  latency ms: min " << ms.front() << "  median " << pct(0.5) << "  mean " << mean << "  p90 " << pct(0.9)
      << "  p99 " << pct(0.99) << "  max " << ms.back() << "\n";
  if (built) out << "  build time: " << summary.buildSeconds * 1000.0 << " ms\n";
  if (options.has("profile")) {
    // Separate runs: per-layer timing synchronizes after every layer and would skew the summary above.
    LayerTypeProfiler profiler;
    context->setProfiler(&profiler);
    for (int64_t i = 0; i < iterations; ++i) context->execute();
    context->setProfiler(nullptr);
    profiler.print(out, iterations);
  }
  return 0;
}

}  // namespace kiln::tools
