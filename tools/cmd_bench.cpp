// kiln bench: warm-up, timed iterations, a latency/throughput summary. On CUDA engines, also GPU
// compute time (CUDA events around enqueue), host-to-device / device-to-host copy times and the host
// time spent enqueueing, optionally through a CUDA graph captured once and replayed.
#include <algorithm>
#include <chrono>
#include <cstdint>
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

#ifdef KILN_HAVE_CUDA
#include "cuda_timing.h"
#endif

namespace kiln::tools {

namespace {

using Clock = std::chrono::steady_clock;
double millisecondsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// Seeded random values of the input's type: floats in [-1, 1), integers in [0, 2), booleans.
HostTensor randomTensor(DataType type, const Dims& shape, std::mt19937& rng) {
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

// Sums layer times per layer type and per layer over the profiled runs (kiln bench --profile).
class LayerTimeProfiler final : public Profiler {
 public:
  void reportLayerTime(const std::string& layerName, const std::string& layerType, double ms) override {
    Entry& e = byType_[layerType];
    e.ms += ms;
    ++e.calls;
    Entry& l = byLayer_[layerName + " (" + layerType + ")"];
    l.ms += ms;
    ++l.calls;
  }
  // One row per layer type, slowest first (total ms per run, share, layers per run), then the slowest layers.
  void print(std::ostream& out, int64_t runs, size_t slowestLayers = 15) const {
    auto rows = sorted(byType_);
    double total = 0;
    for (const auto& row : rows) total += row.second.ms;
    out << "Layer time per run by type (" << runs << " profiled runs):\n";
    out << "  " << std::left << std::setw(24) << "layer type" << std::right << std::setw(12) << "ms" << std::setw(9)
        << "%" << std::setw(9) << "layers" << "\n";
    for (const auto& [type, e] : rows)
      out << "  " << std::left << std::setw(24) << type << std::right << std::setw(12) << e.ms / runs << std::setw(9)
          << std::setprecision(1) << 100.0 * e.ms / std::max(total, 1e-9) << std::setprecision(3) << std::setw(9)
          << e.calls / runs << "\n";
    out << "  " << std::left << std::setw(24) << "total" << std::right << std::setw(12) << total / runs << "\n";
    auto layers = sorted(byLayer_);
    out << (slowestLayers >= layers.size() ? "Layers, slowest first (ms per run):\n" : "Slowest layers (ms per run):\n");
    for (size_t i = 0; i < layers.size() && i < slowestLayers; ++i)
      out << "  " << std::right << std::setw(10) << layers[i].second.ms / runs << "  " << layers[i].first << "\n";
  }

 private:
  struct Entry {
    double ms = 0;
    int64_t calls = 0;
  };
  static std::vector<std::pair<std::string, Entry>> sorted(const std::map<std::string, Entry>& entries) {
    std::vector<std::pair<std::string, Entry>> rows(entries.begin(), entries.end());
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.ms > b.second.ms; });
    return rows;
  }
  std::map<std::string, Entry> byType_, byLayer_;
};

// Builds from --onnx; --batch fixes the first dimension of every input whose profile is not given.
std::shared_ptr<Engine> buildForBench(const Options& options, int64_t batch, std::ostream& out, BuildSummary& summary) {
  BuilderConfig config = builderConfigFrom(options);
  Builder builder;
  auto network = builder.createNetwork();
  OnnxParser(*network).parseFromFile(options.get("onnx"));
  for (int i = 0; batch > 0 && i < network->numInputs(); ++i) {
    ITensor* input = network->input(i);
    if (config.profile.shapes.count(input->name())) continue;  // --shapes / --opt-shapes win
    Dims dims = input->dims();
    KILN_CHECK(!dims.empty(), kInvalidArgument, "--batch sets the first dimension of every input, but input '",
               input->name(), "' is a scalar; give its shape with --shapes");
    KILN_CHECK(dims[0] < 0 || dims[0] == batch, kInvalidArgument, "--batch=", batch, ": input '", input->name(),
               "' has a static first dimension (shape ", dimsToString(dims), ")");
    dims[0] = batch;
    for (auto& d : dims)
      if (d < 0) d = 1;
    config.profile.setDimensions(input->name(), dims, dims, dims);
  }
  std::vector<uint8_t> plan = builder.buildSerializedNetwork(*network, config, &summary);
  out << summary.toString();
  return Runtime().deserializeEngine(plan.data(), plan.size());
}

// Per-iteration measurements, in milliseconds.
struct Samples {
  std::vector<double> latency, compute, hostToDevice, deviceToHost, enqueue;
};

void printStats(std::ostream& out, const char* label, std::vector<double> ms) {
  if (ms.empty()) return;
  std::sort(ms.begin(), ms.end());
  auto pct = [&](double q) { return ms[std::min(ms.size() - 1, static_cast<size_t>(q * (ms.size() - 1) + 0.5))]; };
  double mean = std::accumulate(ms.begin(), ms.end(), 0.0) / static_cast<double>(ms.size());
  out << "  " << std::left << std::setw(16) << label << std::right << "min " << ms.front() << "  median " << pct(0.5)
      << "  mean " << mean << "  p90 " << pct(0.9) << "  p99 " << pct(0.99) << "  max " << ms.back() << "\n";
}

struct IoBuffer {
  std::string name;
  const HostTensor* hostValue = nullptr;  // inputs
  Dims shape;
  DataType type = DataType::kFloat32;
};

#ifdef KILN_HAVE_CUDA
int deviceIndexOf(const std::string& device) {
  auto colon = device.find(':');
  return colon == std::string::npos ? 0 : std::stoi(device.substr(colon + 1));
}

// Device buffers bound to the context; per iteration: [H2D] enqueue (or graph replay) [D2H], sync.
std::string benchCuda(ExecutionContext& context, const std::vector<IoBuffer>& inputs,
                      const std::vector<IoBuffer>& outputs, bool transfers, bool useGraph, int64_t warmup,
                      int64_t iterations, Samples& samples, double& totalSeconds, Profiler* profiler) {
  CudaTiming cuda(deviceIndexOf(context.engine().device()));
  struct Copy {
    void* host;
    void* device;
    size_t bytes;
  };
  std::vector<Copy> h2d, d2h;
  for (const IoBuffer& in : inputs) {
    size_t bytes = in.hostValue->bytes->size();
    Copy c{cuda.allocatePinned(bytes), cuda.allocateDevice(bytes), bytes};
    std::memcpy(c.host, in.hostValue->data(), bytes);
    cuda.copyToDevice(c.device, c.host, bytes);  // the data is there even with --no-data-transfers
    context.setTensorAddress(in.name, c.device);
    h2d.push_back(c);
  }
  for (const IoBuffer& o : outputs) {
    KILN_CHECK(volume(o.shape) >= 0, kUnsupported, "output '", o.name,
               "' has a data-dependent shape; kiln bench on CUDA needs shapes known before the run");
    size_t bytes = static_cast<size_t>(volume(o.shape)) * dataTypeSize(o.type);
    Copy c{cuda.allocatePinned(bytes), cuda.allocateDevice(bytes), bytes};
    context.setTensorAddress(o.name, c.device);
    d2h.push_back(c);
  }
  cuda.synchronize();
  // One plain enqueue first: it plans memory and creates library handles, outside any capture.
  context.enqueue(cuda.stream());
  cuda.synchronize();
  if (useGraph) cuda.captureGraph([&] { context.enqueue(cuda.stream()); });

  auto inferOnce = [&](bool record) {
    auto start = Clock::now();
    cuda.mark(CudaTiming::kStart);
    if (transfers)
      for (auto& c : h2d) cuda.copyToDevice(c.device, c.host, c.bytes);
    cuda.mark(CudaTiming::kInputsCopied);
    auto enqueueStart = Clock::now();
    if (useGraph) cuda.launchGraph();
    else context.enqueue(cuda.stream());
    double enqueueMs = millisecondsSince(enqueueStart);
    cuda.mark(CudaTiming::kComputed);
    if (transfers)
      for (auto& c : d2h) cuda.copyToHost(c.host, c.device, c.bytes);
    cuda.mark(CudaTiming::kOutputsCopied);
    cuda.synchronize();
    double latencyMs = millisecondsSince(start);
    if (!record) return;
    samples.latency.push_back(latencyMs);
    samples.enqueue.push_back(enqueueMs);
    samples.compute.push_back(cuda.elapsedMs(CudaTiming::kInputsCopied, CudaTiming::kComputed));
    if (transfers) {
      samples.hostToDevice.push_back(cuda.elapsedMs(CudaTiming::kStart, CudaTiming::kInputsCopied));
      samples.deviceToHost.push_back(cuda.elapsedMs(CudaTiming::kComputed, CudaTiming::kOutputsCopied));
    }
  };
  for (int64_t i = 0; i < warmup; ++i) inferOnce(false);
  auto total = Clock::now();
  for (int64_t i = 0; i < iterations; ++i) inferOnce(true);
  totalSeconds = millisecondsSince(total) / 1000.0;
  if (profiler) {  // separate runs: per-layer events would skew the summary
    context.setProfiler(profiler);
    for (int64_t i = 0; i < iterations; ++i) context.enqueue(cuda.stream());
    context.setProfiler(nullptr);
  }
  return cuda.deviceDescription();
}
#endif

}  // namespace

int runBenchCommand(const std::vector<std::string>& args, std::ostream& out) {
  Options options(args, builderOptionNames({"onnx", "engine", "iterations", "warmup", "threads", "seed", "profile",
                                            "batch", "no-data-transfers", "use-cuda-graph"}));
  if (options.has("threads")) cpu::setNumThreads(static_cast<int>(options.getInt("threads", 1)));
  int64_t warmup = options.getInt("warmup", 10), iterations = options.getInt("iterations", 100);
  KILN_CHECK(iterations > 0 && warmup >= 0, kInvalidArgument, "--iterations must be > 0 and --warmup >= 0");
  int64_t batch = options.getInt("batch", 0);
  KILN_CHECK(!options.has("batch") || batch > 0, kInvalidArgument, "--batch must be > 0");
  BuildSummary summary;
  bool built = options.has("onnx");
  std::shared_ptr<Engine> engine = built && !options.has("engine") ? buildForBench(options, batch, out, summary)
                                                                   : engineFrom(options, nullptr, &summary);
  bool onDevice = engine->device() != "cpu";
  bool transfers = !options.has("no-data-transfers"), useGraph = options.has("use-cuda-graph");
  KILN_CHECK(onDevice || (transfers && !useGraph), kInvalidArgument,
             "--no-data-transfers and --use-cuda-graph need a CUDA engine (--device=cuda)");

  auto context = engine->createExecutionContext();
  auto shapes = parseShapes(options.get("shapes"));
  std::mt19937 rng(static_cast<uint32_t>(options.getInt("seed", 0)));
  std::vector<HostTensor> values;
  values.reserve(static_cast<size_t>(engine->numIOTensors()));
  std::vector<IoBuffer> inputs, outputs;
  for (int i = 0; i < engine->numIOTensors(); ++i) {
    const std::string& name = engine->ioTensorName(i);
    if (engine->tensorIOMode(name) != TensorIOMode::kInput) continue;
    Dims shape = shapes.count(name) ? shapes[name] : engine->profileShape(name).opt;
    if (batch > 0 && !shapes.count(name) && !shape.empty()) shape[0] = batch;
    context->setInputShape(name, shape);
    values.push_back(randomTensor(engine->tensorDataType(name), shape, rng));
    inputs.push_back({name, &values.back(), shape, engine->tensorDataType(name)});
  }
  for (int i = 0; i < engine->numIOTensors(); ++i) {
    const std::string& name = engine->ioTensorName(i);
    if (engine->tensorIOMode(name) == TensorIOMode::kOutput)
      outputs.push_back({name, nullptr, context->tensorShape(name), engine->tensorDataType(name)});
  }

  Samples samples;
  LayerTimeProfiler profiler;  // --profile
  std::vector<HostTensor> outputValues;  // CPU: the bound output buffers, alive until the profiled runs end
  double totalSeconds = 0;
  std::string deviceLine = engine->device();
  if (onDevice) {
#ifdef KILN_HAVE_CUDA
    deviceLine += ", " + benchCuda(*context, inputs, outputs, transfers, useGraph, warmup, iterations, samples,
                                   totalSeconds, options.has("profile") ? &profiler : nullptr);
#else
    fail(ErrorCode::kUnsupported, concat("kiln bench: this Kiln was built without CUDA"));
#endif
  } else {
    for (const IoBuffer& in : inputs) context->setTensorAddress(in.name, const_cast<void*>(in.hostValue->data()));
    outputValues.reserve(outputs.size());
    for (const IoBuffer& o : outputs) {
      if (volume(o.shape) < 0) continue;  // data-dependent: context-owned
      outputValues.push_back(Weights::zeros(o.type, o.shape));
      context->setTensorAddress(o.name, const_cast<uint8_t*>(outputValues.back().bytes->data()));
    }
    for (int64_t i = 0; i < warmup; ++i) context->execute();
    auto total = Clock::now();
    for (int64_t i = 0; i < iterations; ++i) {
      auto start = Clock::now();
      context->execute();
      samples.latency.push_back(millisecondsSince(start));
    }
    totalSeconds = millisecondsSince(total) / 1000.0;
    if (options.has("profile")) {  // separate runs: per-layer timing would skew the summary
      context->setProfiler(&profiler);
      for (int64_t i = 0; i < iterations; ++i) context->execute();
      context->setProfiler(nullptr);
    }
    deviceLine += concat(", ", cpu::numThreads(), " CPU threads");
  }

  out << std::fixed << std::setprecision(3);
  out << "Performance summary (" << deviceLine;
  if (batch > 0) out << ", batch " << batch;
  if (useGraph) out << ", CUDA graph";
  if (onDevice && !transfers) out << ", no data transfers";
  out << ", " << iterations << " iterations after " << warmup << " warm-up)\n";
  double perSecond = static_cast<double>(iterations) / totalSeconds;
  out << "  throughput:     " << perSecond << " inferences/s";
  if (batch > 0) out << " (" << perSecond * static_cast<double>(batch) << " samples/s)";
  out << "\n";
  printStats(out, "latency ms:", samples.latency);
  printStats(out, "GPU compute ms:", samples.compute);
  printStats(out, "H2D copy ms:", samples.hostToDevice);
  printStats(out, "D2H copy ms:", samples.deviceToHost);
  printStats(out, "enqueue ms:", samples.enqueue);
  if (onDevice)
    out << "  (latency: host wall clock per inference of " << (transfers ? "H2D copies + " : "")
        << (useGraph ? "graph launch" : "enqueue") << " + " << (transfers ? "D2H copies + " : "")
        << "sync; GPU compute: CUDA events around " << (useGraph ? "the graph launch" : "enqueue")
        << "; enqueue: host time to launch)\n";
  if (built) out << "  build time:     " << summary.buildSeconds * 1000.0 << " ms\n";
  // --profile: the 15 slowest layers; --profile=all: every layer.
  if (options.has("profile")) profiler.print(out, iterations, options.get("profile") == "all" ? SIZE_MAX : 15);
  return 0;
}

}  // namespace kiln::tools
