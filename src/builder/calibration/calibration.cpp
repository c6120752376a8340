// Calibration: a float32 engine of the network with the candidate tensors as outputs, run on the
// calibrator's batches, one |x| histogram per tensor (histogram.h), a threshold per method, and the cache.
#include "builder/calibration/calibration.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "backends/backend.h"
#include "builder/calibration/histogram.h"
#include "core/error.h"
#include "core/half.h"
#include "plan/plan_format.h"

namespace kiln {

const char* calibrationMethodName(CalibrationMethod method) {
  switch (method) {
    case CalibrationMethod::kEntropy: return "entropy";
    case CalibrationMethod::kMinMax: return "minmax";
    case CalibrationMethod::kPercentile: return "percentile";
  }
  return "?";
}

const char* precisionConstraintsName(PrecisionConstraints constraints) {
  switch (constraints) {
    case PrecisionConstraints::kNone: return "none";
    case PrecisionConstraints::kPrefer: return "prefer";
    case PrecisionConstraints::kObey: return "obey";
  }
  return "?";
}

}  // namespace kiln

namespace kiln::calibration {

float quantizedMax(DataType type) { return type == DataType::kFP8E4M3 ? 448.f : 127.f; }

std::vector<int> quantizedInputs(const ir::Layer& layer) {
  switch (layer.type()) {
    case LayerType::kConvolution:
    case LayerType::kMatrixMultiply:
      return {0, 1};
    default:
      return {};
  }
}

static bool isLayoutView(const ir::Layer* layer) {
  return layer && (layer->type() == LayerType::kTranspose || layer->type() == LayerType::kReshape);
}

std::vector<const ir::Tensor*> candidateTensors(const ir::Network& net) {
  std::vector<const ir::Tensor*> result;
  std::set<const ir::Tensor*> seen;
  for (auto& layer : net.layers())
    for (int index : quantizedInputs(*layer)) {
      const ir::Tensor* t = index < layer->numInputs() ? layer->inputs[index] : nullptr;
      // Walk up through views: each is measured, so the scale is found under whichever name remains.
      while (t && t->type() == DataType::kFloat32 && t->kind == ValueKind::kTensor &&
             !(t->producerLayer && t->producerLayer->type() == LayerType::kConstant)) {
        if (seen.insert(t).second) result.push_back(t);
        t = isLayoutView(t->producerLayer) ? t->producerLayer->inputs[0] : nullptr;
      }
    }
  return result;
}

namespace {

// A float32 copy of `net` whose candidate tensors are outputs, as a plan for the config's device.
std::vector<uint8_t> calibrationPlan(const ir::Network& net, const BuilderConfig& config,
                                     const OptimizationProfile& profile,
                                     const std::vector<const ir::Tensor*>& candidates) {
  plan::PlanInfo info;
  info.kilnVersion = version();
  info.profile = profile;
  std::shared_ptr<Backend> device = backendFor(config.device);
  std::shared_ptr<Backend> cpu = backendFor("cpu");
  info.device = config.device;
  info.target = device->target();
  info.maxTensorElements = config.maxTensorElements;
  for (auto& layer : net.layers()) {
    std::string reason = device->unsupportedReason(*layer);
    if (reason.empty()) {
      info.layerBackends.push_back(config.device);
      continue;
    }
    KILN_CHECK(cpu->unsupportedReason(*layer).empty(), kUnsupported, "calibration: no backend can run ",
               layer->describe(), ": ", reason);
    info.layerBackends.push_back("cpu");
  }
  // The plan format is the network's copy: read back, the candidates are marked as outputs on it.
  std::vector<uint8_t> original = plan::writePlan(net, info);
  plan::PlanContents copy = plan::readPlan(original.data(), original.size());
  for (const ir::Tensor* t : candidates)
    if (!t->isInput) copy.network->markOutput(copy.network->tensor(t->name()));
  return plan::writePlan(*copy.network, info);
}

// The batch's values of `input`, checked, as bytes of the input's type.
std::vector<uint8_t> inputBytes(const ir::Tensor& input, const CalibrationTensor& given, int batchIndex) {
  auto where = [&] { return concat("calibration batch ", batchIndex, ", input '", input.name(), "'"); };
  int64_t count = volume(given.dims);
  KILN_CHECK(count >= 0 && count == static_cast<int64_t>(given.values.size()), kInvalidArgument, where(),
             ": shape ", dimsToString(given.dims), " holds ", count, " values, but ", given.values.size(),
             " were given");
  const Dims& declared = input.dims();
  bool fits = declared.size() == given.dims.size();
  for (size_t i = 0; fits && i < declared.size(); ++i) fits = declared[i] < 0 || declared[i] == given.dims[i];
  KILN_CHECK(fits, kInvalidArgument, where(), " has shape ", dimsToString(given.dims), " but the input is ",
             dimsToString(declared));
  std::vector<uint8_t> bytes(count * dataTypeSize(input.type()));
  for (int64_t i = 0; i < count; ++i) {
    float v = given.values[i];
    switch (input.type()) {
      case DataType::kFloat32: reinterpret_cast<float*>(bytes.data())[i] = v; break;
      case DataType::kFloat16: reinterpret_cast<uint16_t*>(bytes.data())[i] = floatToHalf(v); break;
      case DataType::kInt32: reinterpret_cast<int32_t*>(bytes.data())[i] = static_cast<int32_t>(v); break;
      case DataType::kInt64: reinterpret_cast<int64_t*>(bytes.data())[i] = static_cast<int64_t>(v); break;
      default:
        fail(ErrorCode::kUnsupported, concat(where(), ": calibration supports float32, float16, int32 and int64 ",
                                             "inputs, not ", dataTypeName(input.type())));
    }
  }
  return bytes;
}

double threshold(const AbsHistogram& histogram, const Settings& settings) {
  switch (settings.method) {
    case CalibrationMethod::kMinMax: return histogram.absMax();
    case CalibrationMethod::kPercentile: return percentileThreshold(histogram, settings.percentile);
    case CalibrationMethod::kEntropy: return entropyThreshold(histogram);
  }
  return 0.0;
}

}  // namespace

Scales calibrate(const ir::Network& net, const BuilderConfig& config, const OptimizationProfile& profile,
                 const Settings& settings, Logger& logger, int* batches) {
  KILN_CHECK(config.calibrator != nullptr, kInvalidArgument,
             "int8/fp8 needs calibration: set BuilderConfig.calibrator (kiln build --calib=DIR), or a "
             "calibrationCache file that exists");
  if (settings.method == CalibrationMethod::kPercentile)
    KILN_CHECK(settings.percentile > 0.0 && settings.percentile <= 100.0, kInvalidArgument,
               "calibration percentile must be in (0, 100], got ", settings.percentile);
  std::vector<const ir::Tensor*> candidates = candidateTensors(net);
  std::vector<uint8_t> planBytes = calibrationPlan(net, config, profile, candidates);
  auto engine = Runtime(logger).deserializeEngine(planBytes.data(), planBytes.size());
  auto context = engine->createExecutionContext();
  std::map<std::string, AbsHistogram> histograms;
  int count = 0;
  for (;;) {
    CalibrationBatch batch;
    if (!config.calibrator->nextBatch(batch)) break;
    ++count;
    for (auto& [name, tensor] : batch) {
      const ir::Tensor* t = net.tensor(name);
      KILN_CHECK(t && t->isInput, kInvalidArgument, "calibration batch ", count, " gives '", name,
                 "', which is not a network input");
    }
    std::map<std::string, std::vector<uint8_t>> inputs;
    for (const ir::Tensor* in : net.inputs()) {
      auto given = batch.find(in->name());
      KILN_CHECK(given != batch.end(), kInvalidArgument, "calibration batch ", count, " lacks input '", in->name(),
                 "' ", dimsToString(in->dims()));
      inputs[in->name()] = inputBytes(*in, given->second, count);
      context->setInputShape(in->name(), given->second.dims);
      context->setTensorAddress(in->name(), inputs[in->name()].data());
    }
    context->execute();
    for (const ir::Tensor* t : candidates) {
      if (t->isInput) {
        const CalibrationTensor& given = batch.at(t->name());
        histograms[t->name()].add(given.values.data(), static_cast<int64_t>(given.values.size()));
        continue;
      }
      const float* values = static_cast<const float*>(context->tensorAddress(t->name()));
      histograms[t->name()].add(values, volume(context->tensorShape(t->name())));
    }
  }
  KILN_CHECK(count > 0, kInvalidArgument, "the calibrator gave no batch: calibration needs at least one");
  Scales scales;
  for (auto& [name, histogram] : histograms) {
    double limit = threshold(histogram, settings);
    if (limit > 0.0) scales[name] = static_cast<float>(limit / quantizedMax(settings.type));
  }
  logger.log(Severity::kInfo, concat("calibration (", calibrationMethodName(settings.method), "): ", count,
                                     " batches, ", scales.size(), " of ", candidates.size(), " tensors scaled"));
  if (batches) *batches = count;
  return scales;
}

// ---- cache file ----

static const char* kCacheMagic = "kiln-calibration-cache";
static const int kCacheFormat = 1;

static std::string settingsLine(const Settings& settings) {
  std::string line = concat("method ", calibrationMethodName(settings.method));
  if (settings.method == CalibrationMethod::kPercentile) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, " %.17g", settings.percentile);
    line += buffer;
  }
  return concat(line, " type ", dataTypeName(settings.type));
}

void writeCache(const std::string& path, const Settings& settings, const Scales& scales) {
  std::ostringstream out;
  out << kCacheMagic << " " << kCacheFormat << "\n";
  out << "kiln " << version() << "\n";
  out << settingsLine(settings) << "\n";
  for (auto& [name, scale] : scales) {
    KILN_CHECK(name.find('\n') == std::string::npos, kInvalidArgument, "calibration cache: tensor name '", name,
               "' holds a line break");
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%a", static_cast<double>(scale));
    out << name << ": " << buffer << "\n";
  }
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  KILN_CHECK(file.good(), kIOError, "cannot write calibration cache '", path, "'");
  file << out.str();
  file.close();
  KILN_CHECK(file.good(), kIOError, "cannot write calibration cache '", path, "'");
}

Scales readCache(const std::string& path, const Settings& settings) {
  std::ifstream file(path, std::ios::binary);
  KILN_CHECK(file.good(), kIOError, "cannot open calibration cache '", path, "'");
  auto bad = [&](int line, const std::string& why) {
    fail(ErrorCode::kInvalidArgument, concat("calibration cache '", path, "' line ", line, ": ", why));
  };
  std::string line;
  std::string header = concat(kCacheMagic, " ", kCacheFormat);
  if (!std::getline(file, line) || line != header) {
    if (line.rfind(kCacheMagic, 0) == 0) bad(1, concat("format '", line, "', this Kiln reads '", header, "'"));
    bad(1, concat("not a Kiln calibration cache (expected '", header, "')"));
  }
  std::string kilnLine = concat("kiln ", version());
  if (!std::getline(file, line) || line != kilnLine)
    bad(2, concat("made by '", line, "', this is '", kilnLine, "': delete the file to calibrate again"));
  std::string wanted = settingsLine(settings);
  if (!std::getline(file, line) || line != wanted)
    bad(3, concat("made with '", line, "', this build asks for '", wanted, "': delete the file or change the options"));
  Scales scales;
  for (int number = 4; std::getline(file, line); ++number) {
    if (line.empty()) continue;
    size_t colon = line.rfind(": ");
    if (colon == std::string::npos || colon == 0) bad(number, concat("expected 'tensor name: scale', got '", line, "'"));
    std::string name = line.substr(0, colon);
    std::string text = line.substr(colon + 2);
    char* end = nullptr;
    double scale = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !std::isfinite(scale) || scale <= 0.0 ||
        static_cast<float>(scale) <= 0.f)
      bad(number, concat("scale of '", name, "' is '", text, "', not a positive finite number"));
    if (!scales.emplace(name, static_cast<float>(scale)).second) bad(number, concat("tensor '", name, "' repeats"));
  }
  return scales;
}

}  // namespace kiln::calibration
