// Builder: validate, optimize (passes), assign backends per layer, write the plan.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <set>
#include <sstream>
#include <unordered_map>

#include "backends/backend.h"
#include "backends/host_eval.h"
#include "builder/calibration/calibration.h"
#include "builder/pass_manager.h"
#include "builder/tactic_selector.h"
#include "core/checked_math.h"
#include "core/error.h"
#include "ir/shape_inference.h"
#include "plan/plan_format.h"

namespace kiln {

Builder::Builder(Logger& logger) : logger_(logger) {}

std::unique_ptr<NetworkDefinition> Builder::createNetwork() const { return std::make_unique<ir::Network>(); }

std::vector<std::string> Builder::passNames() {
  std::vector<std::string> names;
  for (auto& p : passes::allPasses()) names.push_back(p.name);
  return names;
}

// A complete profile: every input gets min/opt/max; dynamic dims without a range default to 1.
static OptimizationProfile completeProfile(const ir::Network& net, const OptimizationProfile& given) {
  OptimizationProfile profile;
  for (auto& [name, range] : given.shapes) {
    const ir::Tensor* t = net.tensor(name);
    KILN_CHECK(t && t->isInput, kInvalidArgument, "optimization profile names '", name,
               "', which is not a network input");
  }
  for (const ir::Tensor* in : net.inputs()) {
    const Dims& dims = in->dims();
    auto it = given.shapes.find(in->name());
    if (it == given.shapes.end()) {
      Dims fixed = dims;
      for (auto& d : fixed)
        if (d < 0) d = 1;
      profile.shapes[in->name()] = {fixed, fixed, fixed};
      continue;
    }
    const ShapeRange& r = it->second;
    for (const Dims* d : {&r.min, &r.opt, &r.max})
      KILN_CHECK(d->size() == dims.size(), kInvalidArgument, "profile for input '", in->name(), "' has rank ",
                 d->size(), " but the input is ", dimsToString(dims));
    for (size_t i = 0; i < dims.size(); ++i) {
      KILN_CHECK(r.min[i] >= 0 && r.min[i] <= r.opt[i] && r.opt[i] <= r.max[i], kInvalidArgument,
                 "profile for input '", in->name(), "' needs 0 <= min <= opt <= max, got min ", dimsToString(r.min),
                 " opt ", dimsToString(r.opt), " max ", dimsToString(r.max));
      KILN_CHECK(dims[i] < 0 || (r.min[i] == dims[i] && r.max[i] == dims[i]), kInvalidArgument,
                 "profile for input '", in->name(), "' changes static dimension ", i, " of ", dimsToString(dims));
    }
    profile.shapes[in->name()] = r;
  }
  return profile;
}

// BuilderConfig::memoryLimit: the activation memory a context plans at the profile's max shapes.
static void checkMemoryLimit(const Engine& engine, const OptimizationProfile& profile, int64_t limit) {
  auto context = engine.createExecutionContext();
  std::string shapes;
  for (auto& [name, range] : profile.shapes) {
    context->setInputShape(name, range.max);
    shapes += concat(shapes.empty() ? "" : ", ", name, " ", dimsToString(range.max));
  }
  int64_t needed = 0;
  try {
    needed = context->memoryUsage().arenaBytes;
  } catch (const Error& e) {
    fail(ErrorCode::kUnsupported, concat("BuilderConfig.memoryLimit cannot be checked: the activation memory is "
                                         "known only at run time (", e.what(), ")"));
  }
  KILN_CHECK(needed <= limit, kInvalidArgument, "the network needs ", needed, " bytes of activation memory at the ",
             "profile's max shapes (", shapes, "), over BuilderConfig.memoryLimit of ", limit,
             " bytes: raise the limit or lower the max shapes");
}

// BuilderConfig::maxTensorElements: every tensor at the profile's max shapes, inferred layer by layer before
// anything allocates one (a context would evaluate a huge ConstantOfShape on the host). Shape values (Shape,
// and small layers computed from constants and shapes) are evaluated on the host so shapes computed from them
// are known; sizes that depend on data or on input values stay unknown here and are checked at run time.
static void checkTensorElements(const ir::Network& net, const OptimizationProfile& profile, int64_t limit) {
  constexpr int64_t kMaxEvaluatedElements = 1 << 16;  // shape values are short
  auto check = [limit](const Dims& shape, const std::function<std::string()>& what) {
    if (!std::all_of(shape.begin(), shape.end(), [](int64_t d) { return d >= 0; })) return;  // known at run time
    Dims nonZero = shape;  // beside a 0 dim the product of the others must fit too (kernels multiply them)
    std::replace(nonZero.begin(), nonZero.end(), int64_t{0}, int64_t{1});
    int64_t n = checkedVolume(nonZero) < 0 ? -1 : checkedVolume(shape);
    KILN_CHECK(n >= 0 && n <= limit, kInvalidArgument, what(), " has shape ", dimsToString(shape), ": ",
               n < 0 ? std::string("more elements than fit in 64 bits") : concat(n, " elements"),
               " at the profile's max shapes, over BuilderConfig.maxTensorElements of ", limit);
  };
  std::unordered_map<const ir::Tensor*, TensorDesc> descs;
  std::unordered_map<const ir::Layer*, std::vector<HostTensor>> evaluated;  // outputs of evaluated layers
  std::unordered_map<const ir::Tensor*, const HostTensor*> values;
  for (const ir::Tensor* in : net.inputs()) {
    auto it = profile.shapes.find(in->name());
    descs[in] = {in->type(), it != profile.shapes.end() ? it->second.max : in->dims(), in->kind};
    check(descs[in].shape, [&] { return concat("input '", in->name(), "'"); });
  }
  for (auto& layer : net.layers()) {
    std::vector<const TensorDesc*> inDescs;
    ir::InputValues inValues;
    bool allValues = true;
    for (const ir::Tensor* in : layer->inputs) {
      auto d = in ? descs.find(in) : descs.end();
      inDescs.push_back(d != descs.end() ? &d->second : nullptr);
      auto v = in ? values.find(in) : values.end();
      inValues.push_back(v != values.end() ? v->second : nullptr);
      if (in && v == values.end()) allValues = false;
    }
    std::vector<TensorDesc> outs;
    if (layer->type() == LayerType::kConstant) outs = {{layer->outputs[0]->type(), layer->outputs[0]->dims()}};
    else outs = ir::inferOutputs(*layer, inDescs, inValues);
    for (size_t i = 0; i < outs.size() && i < layer->outputs.size(); ++i) {
      const ir::Tensor* out = layer->outputs[i];
      descs[out] = outs[i];
      if (outs[i].kind != ValueKind::kTensor) continue;
      check(outs[i].shape, [&] { return concat("tensor '", out->name(), "' (from ", layer->describe(), ")"); });
    }
    if (layer->type() == LayerType::kConstant) {
      values[layer->outputs[0]] = &layer->as<ConstantParams>().weights;
      continue;
    }
    bool isShape = layer->type() == LayerType::kShape && inDescs[0] && volume(inDescs[0]->shape) >= 0;
    bool small = std::all_of(outs.begin(), outs.end(), [&](const TensorDesc& d) {
      return d.kind == ValueKind::kTensor && checkedVolume(d.shape) >= 0 && volume(d.shape) <= kMaxEvaluatedElements;
    });
    bool computable = isShape || (allValues && !layer->inputs.empty() && !ir::producesRunTimeValues(*layer));
    if (!small || !computable || layer->outputs.empty()) continue;
    std::vector<HostTensor> shapeOnly;
    if (isShape) {
      shapeOnly.push_back(Weights::shapeOnly(inDescs[0]->type, inDescs[0]->shape));
      inValues = {&shapeOnly[0]};
    }
    try {
      std::vector<HostTensor>& produced = evaluated[layer.get()] = host::evaluateLayer(*layer, inValues);
      for (size_t i = 0; i < produced.size() && i < layer->outputs.size(); ++i)
        values[layer->outputs[i]] = &produced[i];
    } catch (const Error&) {
      // Left unknown: what depends on it is checked at run time, where the error has real inputs.
    }
  }
}

// BuilderConfig::layerPrecisions, checked against the network and the config, into the precision policy.
// A float16/bfloat16 pin without fp16/bf16 reduces only the pinned layers.
static void applyLayerPrecisions(const ir::Network& net, const BuilderConfig& config,
                                 passes::PrecisionPolicy& precision) {
  KILN_CHECK(!(config.int8 && config.fp8), kInvalidArgument, "int8 and fp8 cannot both be on: pick one");
  for (auto& [name, type] : config.layerPrecisions) {
    KILN_CHECK(net.findLayer(name) != nullptr, kInvalidArgument, "layer precision given for '", name,
               "', which is not a layer of the network");
    switch (type) {
      case DataType::kFloat32:
        break;
      case DataType::kInt8:
      case DataType::kFP8E4M3:
        KILN_CHECK(type == DataType::kInt8 ? config.int8 : config.fp8, kInvalidArgument, "layer '", name,
                   "' is asked to run in ", dataTypeName(type), ", which needs ", type == DataType::kInt8 ? "int8" : "fp8",
                   " on (it is calibrated)");
        break;
      case DataType::kFloat16:
      case DataType::kBFloat16:
        if (precision.reduced == DataType::kFloat32) {
          precision.reduced = type;
          precision.onlyPinnedLayers = !config.fp16 && !config.bf16;
        }
        KILN_CHECK(precision.reduced == type, kInvalidArgument, "layer '", name, "' is asked to run in ",
                   dataTypeName(type), ", but the build reduces to ", dataTypeName(precision.reduced),
                   ": one reduced float type per build");
        break;
      default:
        fail(ErrorCode::kInvalidArgument, concat("layer '", name, "' is asked to run in ", dataTypeName(type),
                                                 ": layer precisions are float32, float16, bfloat16, int8 or ",
                                                 "float8e4m3"));
    }
  }
  precision.layerPrecisions = config.layerPrecisions;
  precision.constraints = config.precisionConstraints;
}

// Whether any layer has several tactics at this effort. Without one, nothing is timed: the plan keeps no
// tactic names (each layer loads its backend's preferred tactic, what timing would have kept), and the
// build skips loading a preliminary engine and writing the plan twice (a third of a long chain's build).
static bool hasTacticChoices(const ir::Network& net, const plan::PlanInfo& info, const Backend& device,
                             const Backend& cpu, int effort) {
  if (effort <= 0) return false;
  for (size_t li = 0; li < net.layers().size(); ++li) {
    const Backend& backend = info.layerBackends[li] == "cpu" ? cpu : device;
    if (backend.tactics(*net.layers()[li], effort).size() > 1) return true;
  }
  return false;
}

std::vector<uint8_t> Builder::buildSerializedNetwork(NetworkDefinition& definition, const BuilderConfig& config,
                                                     BuildSummary* summary) const {
  auto start = std::chrono::steady_clock::now();
  ir::Network& net = ir::asNetwork(definition);
  KILN_CHECK(net.numOutputs() > 0, kInvalidModel, "network has no outputs: mark at least one with markOutput");
  BuildSummary result;
  result.device = config.device;
  result.layersBefore = net.numLayers();

  plan::PlanInfo info;
  info.kilnVersion = version();
  info.profile = completeProfile(net, config.profile);
  std::shared_ptr<Backend> device = backendFor(config.device);
  std::shared_ptr<Backend> cpu = backendFor("cpu");
  info.device = config.device == "cpu" ? "cpu" : config.device;
  info.target = device->target();
  // The limits contexts enforce at run time on sizes known only then (memoryLimit <= 0: none).
  KILN_CHECK(config.maxTensorElements > 0, kInvalidArgument, "BuilderConfig.maxTensorElements must be positive, got ",
             config.maxTensorElements);
  info.memoryLimit = std::max<int64_t>(config.memoryLimit, 0);
  info.maxTensorElements = config.maxTensorElements;

  net.inferShapes();
  // --fp16 wins over --bf16 when both are given (the CUDA backend has float16 kernels only).
  passes::PrecisionPolicy precision;
  precision.reduced = config.fp16 ? DataType::kFloat16 : config.bf16 ? DataType::kBFloat16 : DataType::kFloat32;
  precision.device = device.get();
  precision.fallback = cpu.get();
  applyLayerPrecisions(net, config, precision);
  if (config.int8 || config.fp8) {
    // Calibrated on the network as given, before any pass: the scales are named by its tensors, which the
    // passes keep (a fusion's layer takes over the fused layer's output tensor).
    calibration::Settings settings;
    settings.method = config.calibrationMethod;
    settings.percentile = config.calibrationPercentile;
    settings.type = config.int8 ? DataType::kInt8 : DataType::kFP8E4M3;
    bool cached = !config.calibrationCache.empty() && std::filesystem::exists(config.calibrationCache);
    if (cached) {
      precision.quantizationScales = calibration::readCache(config.calibrationCache, settings);
      logger_.log(Severity::kInfo, concat("calibration scales read from '", config.calibrationCache, "'"));
    } else {
      precision.quantizationScales =
          calibration::calibrate(net, config, info.profile, settings, logger_, &result.calibrationBatches);
      if (!config.calibrationCache.empty()) calibration::writeCache(config.calibrationCache, settings, precision.quantizationScales);
    }
    precision.quantizedType = settings.type;
  } else {
    KILN_CHECK(!config.calibrator && config.calibrationCache.empty(), kInvalidArgument,
               "a calibrator or calibration cache is given but neither int8 nor fp8 is on");
  }
  passes::runPasses(net, config.disabledPasses, result.passLog, /*maxRounds=*/10, device.get(), &precision);
  result.precision = precision.reduced;
  result.castsInserted = precision.castsInserted;
  result.quantizedLayers = precision.quantizedLayers;
  std::set<std::string> warned;  // the passes repeat until nothing changes: each warning once
  for (const std::string& warning : precision.warnings)
    if (warned.insert(warning).second) logger_.log(Severity::kWarning, warning);
  if (precision.reduced != DataType::kFloat32)
    for (auto& layer : net.layers()) {
      if (layer->type() == LayerType::kConstant || layer->type() == LayerType::kCast) continue;
      bool reduced = false;
      for (auto* out : layer->outputs) reduced = reduced || out->type() == precision.reduced;
      if (reduced) ++result.reducedPrecisionLayers;
    }

  // Backends per layer: the device when it can run the layer, else the CPU; list what nothing runs.
  std::string unsupported;
  for (auto& layer : net.layers()) {
    std::string backend = config.device;
    std::string reason = device->unsupportedReason(*layer);
    if (!reason.empty() && device != cpu) {
      std::string cpuReason = cpu->unsupportedReason(*layer);
      if (cpuReason.empty()) {
        backend = "cpu";
        result.fallbackLayers.push_back(concat(layer->describe(), ": ", reason));
        reason.clear();
      }
    }
    if (!reason.empty()) unsupported += concat("\n  ", layer->describe(), ": ", reason);
    info.layerBackends.push_back(backend);
  }
  KILN_CHECK(unsupported.empty(), kUnsupported, "no backend can run these layers:", unsupported);
  if (config.maxTensorElements > 0) checkTensorElements(net, info.profile, config.maxTensorElements);

  result.layersAfter = net.numLayers();
  std::vector<uint8_t> planBytes = plan::writePlan(net, info);  // with each backend's preferred tactics

  // Tactics: time the candidates of each layer at the opt shapes (see builder/tactic_selector.h).
  KILN_CHECK(config.builderEffort >= 0 && config.builderEffort <= kMaxBuilderEffort, kInvalidArgument,
             "builder effort ", config.builderEffort, " is out of range: expected 0 to ", kMaxBuilderEffort);
  auto tacticStart = std::chrono::steady_clock::now();
  builder::TimingCache cache;
  if (!config.timingCache.empty() && std::filesystem::exists(config.timingCache)) {
    std::string why;
    if (!cache.load(config.timingCache, &why)) logger_.log(Severity::kWarning, why);
  }
  builder::TacticSelection selection;
  if (hasTacticChoices(net, info, *device, *cpu, config.builderEffort)) {
    auto preliminary = Runtime(logger_).deserializeEngine(planBytes.data(), planBytes.size());
    builder::TacticSelectionOptions options;
    options.effort = config.builderEffort;
    options.cache = &cache;
    options.progress = config.progress;
    options.logger = &logger_;
    std::map<std::string, Dims> optShapes;
    for (auto& [name, range] : info.profile.shapes) optShapes[name] = range.opt;
    selection = builder::selectTactics(preliminary->impl(), optShapes, options);
    info.layerTactics = selection.tactics;
    info.layerTacticMs = selection.milliseconds;
    info.layerCandidates = selection.candidates;
    planBytes = plan::writePlan(net, info);
  }
  if (!config.timingCache.empty()) cache.save(config.timingCache);
  result.layersTimed = selection.layersTimed;
  result.timingCacheHits = selection.cacheHits;
  result.tacticSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - tacticStart).count();

  // Activation memory at the profile's opt shapes, measured by planning a real context.
  auto engine = Runtime(logger_).deserializeEngine(planBytes.data(), planBytes.size());
  result.weightsBytes = engine->weightsBytes();
  result.tactics = engine->layerTactics();
  for (size_t i = 0; i < result.tactics.size() && i < selection.fromCache.size(); ++i)
    result.tactics[i].fromCache = selection.fromCache[i];
  try {
    auto context = engine->createExecutionContext();
    for (auto& [name, range] : info.profile.shapes) context->setInputShape(name, range.opt);
    MemoryUsage usage = context->memoryUsage();
    result.activationBytesPlanned = usage.arenaBytes;
    result.activationBytesNaive = usage.naiveBytes;
  } catch (const Error& e) {
    logger_.log(Severity::kInfo, concat("activation memory not known before run time: ", e.what()));
    result.activationBytesPlanned = result.activationBytesNaive = -1;
  }
  if (config.memoryLimit > 0) checkMemoryLimit(*engine, info.profile, config.memoryLimit);
  result.buildSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (auto& line : result.fallbackLayers) logger_.log(Severity::kWarning, "runs on the CPU: " + line);
  if (summary) *summary = result;
  return planBytes;
}

static std::string megabytes(int64_t bytes) {
  if (bytes < 0) return "unknown (data-dependent)";
  std::ostringstream out;
  out.precision(3);
  out << std::fixed << bytes / 1048576.0 << " MiB";
  return out.str();
}

std::string BuildSummary::toString() const {
  std::ostringstream out;
  out << "Build summary (" << device << ")\n";
  out << "  layers:            " << layersBefore << " before optimization, " << layersAfter << " after\n";
  out << "  activation memory: " << megabytes(activationBytesPlanned) << " planned vs "
      << megabytes(activationBytesNaive) << " naive sum\n";
  out << "  weights:           " << megabytes(weightsBytes) << "\n";
  out << "  build time:        " << buildSeconds * 1000.0 << " ms\n";
  if (precision != DataType::kFloat32)
    out << "  precision:         " << reducedPrecisionLayers << " layers in " << dataTypeName(precision) << ", "
        << castsInserted << " casts inserted\n";
  if (quantizedLayers > 0 || calibrationBatches > 0)
    out << "  quantization:      " << quantizedLayers << " layers with Quantize/Dequantize inputs"
        << (calibrationBatches > 0 ? concat(" (calibrated on ", calibrationBatches, " batches)") : std::string(""))
        << "\n";
  int tuned = 0;
  for (const LayerTactic& t : tactics) tuned += t.candidates > 1 ? 1 : 0;
  out << "  tactics:           " << tuned << " layers chose among timed candidates (" << layersTimed
      << " timed now, " << timingCacheHits << " from the timing cache) in " << tacticSeconds << " s\n";
  for (auto& line : passLog) out << "  pass " << line << "\n";
  if (!fallbackLayers.empty()) {
    out << "  layers on the CPU (no " << device << " kernel): " << fallbackLayers.size() << "\n";
    for (auto& line : fallbackLayers) out << "    " << line << "\n";
  }
  return out.str();
}

std::string BuildSummary::layerTable() const { return formatLayerTactics(tactics); }

std::string formatLayerTactics(const std::vector<LayerTactic>& tactics) {
  std::ostringstream out;
  size_t nameWidth = 5, typeWidth = 4, backendWidth = 7, tacticWidth = 6;
  for (const LayerTactic& t : tactics) {
    nameWidth = std::max(nameWidth, t.layerName.size());
    typeWidth = std::max(typeWidth, t.layerType.size());
    backendWidth = std::max(backendWidth, t.backend.size());
    tacticWidth = std::max(tacticWidth, t.tactic.size());
  }
  auto pad = [](const std::string& s, size_t w) { return s + std::string(w > s.size() ? w - s.size() : 0, ' '); };
  out << pad("layer", nameWidth) << "  " << pad("type", typeWidth) << "  " << pad("backend", backendWidth) << "  "
      << pad("tactic", tacticWidth) << "  time ms  candidates\n";
  for (const LayerTactic& t : tactics) {
    out << pad(t.layerName, nameWidth) << "  " << pad(t.layerType, typeWidth) << "  " << pad(t.backend, backendWidth)
        << "  " << pad(t.tactic.empty() ? "-" : t.tactic, tacticWidth) << "  ";
    std::ostringstream ms;
    if (t.milliseconds >= 0) {
      ms.precision(4);
      ms << std::fixed << t.milliseconds;
    } else {
      ms << "-";
    }
    out << pad(ms.str(), 7) << "  " << t.candidates << (t.fromCache ? " (cache)" : "") << "\n";
  }
  return out.str();
}

}  // namespace kiln
