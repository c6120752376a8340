#include "builder/tactic_selector.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

#include "core/error.h"
#include "core/half.h"
#include "ir/shape_inference.h"
#include "plan/plan_format.h"

namespace kiln::builder {
namespace {

uint64_t fnv1a64(const std::vector<uint8_t>& bytes) {
  uint64_t hash = 1469598103934665603ull;
  for (uint8_t b : bytes) hash = (hash ^ b) * 1099511628211ull;
  return hash;
}

std::string describeDesc(const TensorDesc& d) { return concat(dataTypeName(d.type), dimsToString(d.shape)); }

// Measurements per candidate, by effort (index 1..5).
int measurementsFor(int effort) {
  static const int counts[] = {0, 3, 5, 7, 11, 15};
  return counts[std::clamp(effort, 1, kMaxBuilderEffort)];
}
// Before measuring, the candidates run in turn for at least this long: a GPU idling between layers
// (kernel creation, allocations) drops its clocks, and short bursts would then time the clock ramp
// instead of the kernel (seen on the H200: isolated times 2-3x the in-network times, choices reversed).
constexpr double kWarmupMs = 10.0;
constexpr int kMaxWarmupRounds = 200;
// Each measurement repeats a kernel until it covers about this long, so short GPU kernels are not lost
// in the timer's resolution.
constexpr double kMeasurementMs = 1.0;
constexpr int kMaxRepeats = 256;

class Allocations {
 public:
  explicit Allocations(const Backend& backend) : backend_(backend) {}
  ~Allocations() {
    for (void* p : pointers_) backend_.deallocate(p);
  }
  Allocations(const Allocations&) = delete;
  Allocations& operator=(const Allocations&) = delete;
  void* allocate(size_t bytes) {
    void* p = backend_.allocate(std::max<size_t>(bytes, 1));
    pointers_.push_back(p);
    return p;
  }

 private:
  const Backend& backend_;
  std::vector<void*> pointers_;
};

// Random values in [-1, 1] for floating-point tensors; zeros (valid indices, false) for the rest.
std::vector<uint8_t> randomBytes(DataType type, int64_t count, std::mt19937& generator) {
  std::vector<uint8_t> bytes(static_cast<size_t>(count) * dataTypeSize(type), 0);
  std::uniform_real_distribution<float> uniform(-1.f, 1.f);
  for (int64_t i = 0; i < count; ++i) {
    float v = uniform(generator);
    switch (type) {
      case DataType::kFloat32: reinterpret_cast<float*>(bytes.data())[i] = v; break;
      case DataType::kFloat64: reinterpret_cast<double*>(bytes.data())[i] = v; break;
      case DataType::kFloat16: reinterpret_cast<uint16_t*>(bytes.data())[i] = floatToHalf(v); break;
      case DataType::kBFloat16: reinterpret_cast<uint16_t*>(bytes.data())[i] = floatToBfloat16(v); break;
      default: return bytes;
    }
  }
  return bytes;
}

// Times the candidate `tactics` of one layer at the settled shapes, on one set of buffers: after a warm-up
// they are measured in interleaved rounds (A B C A B C ...), so drift in clocks or load hits every
// candidate alike; each gets the median of its measurements (time per run). A candidate that cannot be
// created or run gets no timing; `failures` says why. Throws kiln::Error when the layer itself cannot be
// set up for timing (e.g. a shape input known only at run time).
std::vector<TimingCache::Timing> timeCandidates(const EngineImpl& engine, size_t li,
                                                const std::vector<std::string>& tactics, const SettledShapes& shapes,
                                                int effort, std::vector<std::string>& failures) {
  const ir::Layer& layer = *engine.network().layers()[li];
  const Backend& backend = *engine.layerBackend[li];
  bool onHost = backend.isHostMemory();
  Constants constants;
  for (auto* in : layer.inputs) constants.push_back(in ? engine.constantValue[engine.indexOf(in)] : nullptr);

  Allocations memory(backend);
  std::mt19937 generator(1234);
  KernelArgs args;
  for (int i = 0; i < layer.numInputs(); ++i) {
    const ir::Tensor* in = layer.inputs[i];
    if (!in) {
      args.inputs.push_back({});
      continue;
    }
    int t = engine.indexOf(in);
    const TensorDesc& desc = shapes.descs[t];
    void* data = nullptr;
    if (ir::isShapeInput(layer, i)) {  // read on the host, as the context passes them
      KILN_CHECK(shapes.known[t], kUnsupported, "its shape input ", i, " is known only at run time");
      data = const_cast<void*>(shapes.values[t].data());
    } else if (engine.constantValue[t] && onHost) {
      data = const_cast<void*>(engine.constantValue[t]->data());
    } else if (engine.constantValue[t] && engine.constantOnDevice[t]) {
      data = engine.constantOnDevice[t];
    } else {
      size_t bytes = static_cast<size_t>(volume(desc.shape)) * dataTypeSize(desc.type);
      data = memory.allocate(bytes);
      const void* source = nullptr;
      std::vector<uint8_t> values;
      if (engine.constantValue[t]) {
        source = engine.constantValue[t]->data();
      } else {
        values = randomBytes(desc.type, volume(desc.shape), generator);
        source = values.data();
      }
      if (bytes > 0) backend.copyFromHost(data, source, bytes, nullptr);
    }
    args.inputs.push_back({data, desc.type, desc.shape});
  }
  for (auto* out : layer.outputs) {
    const TensorDesc& desc = shapes.descs[engine.indexOf(out)];
    size_t bytes = static_cast<size_t>(volume(desc.shape)) * dataTypeSize(desc.type);
    args.outputs.push_back({memory.allocate(bytes), desc.type, desc.shape});
  }

  // Every candidate's kernel and workspace first, so no host work separates the measurements.
  struct Candidate {
    std::unique_ptr<Kernel> kernel;
    std::unique_ptr<RecordedWork> recorded;
    KernelArgs args;
    int repeats = 1;
    std::vector<double> times;
  };
  std::vector<Candidate> candidates(tactics.size());
  failures.assign(tactics.size(), "");
  auto fails = [&](size_t c, const std::string& why) {
    failures[c] = why;
    candidates[c].recorded.reset();
    candidates[c].kernel.reset();
  };
  for (size_t c = 0; c < tactics.size(); ++c) {
    try {
      candidates[c].kernel = backend.createKernel(layer, constants, tactics[c]);
      candidates[c].args = args;
      KernelArgs& a = candidates[c].args;
      a.workspaceBytes = candidates[c].kernel->workspaceSize(a);
      a.workspace = a.workspaceBytes ? memory.allocate(a.workspaceBytes) : nullptr;
    } catch (const Error& e) {
      fails(c, e.what());
    }
  }
  std::unique_ptr<StreamTimer> timer = backend.createTimer();
  // One timed stretch of `repeats` runs of candidate c; nullopt when it throws.
  auto measure = [&](size_t c, int repeats) -> std::optional<double> {
    try {
      timer->start(nullptr);
      for (int r = 0; r < repeats; ++r) candidates[c].kernel->execute(candidates[c].args);
      timer->stop(nullptr);
      backend.synchronize(nullptr);
      return timer->elapsedMs() / repeats;
    } catch (const Error& e) {
      backend.synchronize(nullptr);
      fails(c, e.what());
      return std::nullopt;
    }
  };
  double warmedMs = 0;
  for (int round = 0; round < kMaxWarmupRounds && warmedMs < kWarmupMs; ++round)
    for (size_t c = 0; c < candidates.size(); ++c)
      if (candidates[c].kernel)
        if (std::optional<double> ms = measure(c, 1)) {
          warmedMs += *ms;
          double wanted = std::ceil(kMeasurementMs / std::max(*ms, 1e-4));
          candidates[c].repeats = std::clamp(static_cast<int>(wanted), 1, kMaxRepeats);
        }
  // Where the backend records work (CUDA graphs), each candidate's repeated runs become one recorded
  // unit, so its measurements are device time as in a graph-launched network, without the host's
  // launch overhead (which would otherwise favour kernels that are cheap to launch, not fast to run).
  for (size_t c = 0; c < candidates.size(); ++c) {
    if (!candidates[c].kernel) continue;
    try {
      candidates[c].recorded = backend.record([&](void* stream) {
        KernelArgs a = candidates[c].args;
        a.stream = stream;
        for (int r = 0; r < candidates[c].repeats; ++r) candidates[c].kernel->execute(a);
      });
    } catch (const Error& e) {
      fails(c, concat("cannot be recorded for replay: ", e.what()));
    }
  }
  for (int m = 0; m < measurementsFor(effort); ++m)
    for (size_t c = 0; c < candidates.size(); ++c) {
      if (!candidates[c].kernel) continue;
      if (candidates[c].recorded) {
        try {
          candidates[c].times.push_back(candidates[c].recorded->replayMs() / candidates[c].repeats);
        } catch (const Error& e) {
          fails(c, e.what());
        }
      } else if (std::optional<double> ms = measure(c, candidates[c].repeats)) {
        candidates[c].times.push_back(*ms);
      }
    }

  std::vector<TimingCache::Timing> timings(tactics.size());
  for (size_t c = 0; c < candidates.size(); ++c) {
    std::vector<double>& times = candidates[c].times;
    if (!candidates[c].kernel || times.empty()) continue;
    std::sort(times.begin(), times.end());
    timings[c] = times[times.size() / 2];
  }
  return timings;
}

bool shapesSettled(const ir::Layer& layer, const EngineImpl& engine, const SettledShapes& shapes) {
  for (auto* in : layer.inputs)
    if (in && volume(shapes.descs[engine.indexOf(in)].shape) < 0) return false;
  for (auto* out : layer.outputs)
    if (volume(shapes.descs[engine.indexOf(out)].shape) < 0) return false;
  return true;
}

}  // namespace

int chooseFastest(const std::vector<TimingCache::Timing>& timings, double tolerance) {
  int fastest = -1;
  for (size_t i = 0; i < timings.size(); ++i)
    if (timings[i] && (fastest < 0 || *timings[i] < *timings[fastest])) fastest = static_cast<int>(i);
  if (fastest < 0) return -1;
  for (size_t i = 0; i < timings.size(); ++i)
    if (timings[i] && *timings[i] <= *timings[fastest] * (1.0 + tolerance)) return static_cast<int>(i);
  return fastest;
}

std::string layerSignature(const EngineImpl& engine, size_t layerIndex, const SettledShapes& shapes) {
  const ir::Layer& layer = *engine.network().layers()[layerIndex];
  char params[17];
  std::snprintf(params, sizeof params, "%016llx",
                static_cast<unsigned long long>(fnv1a64(plan::serializeParams(layer))));
  std::string key = concat(layerTypeName(layer.type()), " params=", params, " in=");
  for (size_t i = 0; i < layer.inputs.size(); ++i) {
    const ir::Tensor* in = layer.inputs[i];
    if (i > 0) key += ",";
    if (!in) {
      key += "none";
      continue;
    }
    int t = engine.indexOf(in);
    key += describeDesc(shapes.descs[t]);
    if (engine.constantValue[t]) key += "const";
  }
  key += " out=";
  for (size_t o = 0; o < layer.outputs.size(); ++o)
    key += (o ? "," : "") + describeDesc(shapes.descs[engine.indexOf(layer.outputs[o])]);
  key += " on=" + engine.layerBackend[layerIndex]->deviceSignature();
  for (char& c : key)
    if (c == '\t' || c == '\n' || c == '\r') c = ' ';
  return key;
}

TacticSelection selectTactics(const EngineImpl& engine, const std::map<std::string, Dims>& optShapes,
                              const TacticSelectionOptions& options) {
  KILN_CHECK(options.cache != nullptr, kInternal, "selectTactics needs a timing cache");
  const auto& layers = engine.network().layers();
  size_t n = layers.size();
  TacticSelection selection;
  selection.tactics.assign(n, "");
  selection.milliseconds.assign(n, -1.f);
  selection.candidates.assign(n, 0);
  selection.fromCache.assign(n, false);

  // The candidates of every layer with a kernel; the preferred tactic is the default choice.
  std::vector<std::vector<std::string>> candidates(n);
  int tunable = 0;
  for (size_t li = 0; li < n; ++li) {
    if (!engine.kernels[li]) continue;
    selection.tactics[li] = engine.kernels[li]->name();
    if (options.effort <= 0) continue;
    candidates[li] = engine.layerBackend[li]->tactics(*layers[li], options.effort);
    if (candidates[li].size() > 1) ++tunable;
  }
  if (tunable == 0) return selection;

  SettledShapes shapes;
  try {
    shapes = settleShapes(engine, optShapes);
  } catch (const Error& e) {
    if (options.logger)
      options.logger->log(Severity::kWarning,
                          concat("tactics not timed: the shapes at the profile's opt shapes are not known before "
                                 "run time (", e.what(), "); every layer takes its preferred tactic"));
    return selection;
  }

  int tuned = 0;
  for (size_t li = 0; li < n; ++li) {
    if (candidates[li].size() <= 1) continue;
    const ir::Layer& layer = *layers[li];
    int position = tuned++;
    if (!shapesSettled(layer, engine, shapes)) {
      if (options.logger)
        options.logger->log(Severity::kInfo, concat(layer.describe(), ": not timed (its shapes depend on data); ",
                                                    "tactic ", selection.tactics[li]));
      continue;
    }
    std::string key = layerSignature(engine, li, shapes);
    std::vector<TimingCache::Timing> timings(candidates[li].size());
    std::vector<std::string> toTime;
    for (size_t c = 0; c < candidates[li].size(); ++c) {
      if (const TimingCache::Timing* cached = options.cache->find(key, candidates[li][c])) timings[c] = *cached;
      else toTime.push_back(candidates[li][c]);
    }
    bool timedHere = !toTime.empty();
    if (timedHere) {
      if (options.progress) {
        std::string names;
        for (const std::string& t : toTime) names += (names.empty() ? "" : " ") + t;
        options.progress(position, tunable, layer.name(), names);
      }
      std::vector<TimingCache::Timing> measured;
      std::vector<std::string> failures;
      try {
        measured = timeCandidates(engine, li, toTime, shapes, options.effort, failures);
      } catch (const Error& e) {
        if (options.logger)
          options.logger->log(Severity::kInfo, concat(layer.describe(), ": not timed (", e.what(), "); tactic ",
                                                      selection.tactics[li]));
        continue;
      }
      for (size_t k = 0, c = 0; c < candidates[li].size(); ++c) {
        if (k >= toTime.size() || candidates[li][c] != toTime[k]) continue;
        timings[c] = measured[k];
        options.cache->record(key, toTime[k], measured[k]);
        if (options.logger)
          options.logger->log(Severity::kVerbose,
                              measured[k] ? concat(layer.describe(), ": ", toTime[k], " ", *measured[k], " ms")
                                          : concat(layer.describe(), ": tactic ", toTime[k], " skipped: ", failures[k]));
        ++k;
      }
    }
    int best = chooseFastest(timings);
    if (best < 0) {
      if (options.logger)
        options.logger->log(Severity::kWarning, concat(layer.describe(), ": every candidate tactic failed to run at ",
                                                       "the opt shapes; keeping ", selection.tactics[li]));
      continue;
    }
    selection.tactics[li] = candidates[li][best];
    selection.milliseconds[li] = static_cast<float>(*timings[best]);
    selection.candidates[li] = static_cast<int64_t>(timings.size());
    selection.fromCache[li] = !timedHere;
    if (timedHere) ++selection.layersTimed;
    else ++selection.cacheHits;
  }
  return selection;
}

}  // namespace kiln::builder
