#include "common.h"

#include "calibration_data.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "core/error.h"
#include "core/half.h"
#include "ir/network.h"
#include "onnx/tensor_proto.h"

namespace kiln::tools {

namespace fs = std::filesystem;

std::set<std::string> builderOptionNames(std::set<std::string> own) {
  std::set<std::string> names = {"device", "fp16", "bf16", "min-shapes", "opt-shapes", "max-shapes", "shapes",
                                    "disable-passes", "memory-limit", "max-tensor-elements", "builder-effort", "timing-cache", "quiet",
                                    "int8", "fp8", "calib", "calib-method", "calib-percentile", "calib-cache",
                                    "layer-precisions", "precision-constraints"};
  names.insert(own.begin(), own.end());
  return names;
}

namespace {
// "[tactics] layer 12/53 conv1: cuda.conv.cudnn.winograd" rewritten in place on a terminal.
void printTacticProgress(int layer, int count, const std::string& name, const std::string& tactic) {
  // One terminal line: \r rewrites it only while it does not wrap.
  std::string line = concat("[tactics] layer ", layer + 1, "/", count, " ", name, ": timing ", tactic);
  if (line.size() > 100) line = line.substr(0, 97) + "...";
  std::fprintf(stderr, "\r%s\x1b[K", line.c_str());
  std::fflush(stderr);
}
}  // namespace

namespace {
// "fp32", "fp16", "bf16", "int8", "fp8" (--layer-precisions).
DataType precisionFromName(const std::string& text, const std::string& layer) {
  static const std::pair<const char*, DataType> kNames[] = {{"fp32", DataType::kFloat32}, {"fp16", DataType::kFloat16},
                                                            {"bf16", DataType::kBFloat16}, {"int8", DataType::kInt8},
                                                            {"fp8", DataType::kFP8E4M3}};
  for (auto& [name, type] : kNames)
    if (text == name) return type;
  fail(ErrorCode::kInvalidArgument,
       concat("--layer-precisions: '", text, "' for layer '", layer, "' is not fp32, fp16, bf16, int8 or fp8"));
}

// --int8, --fp8, --calib, --calib-method, --calib-percentile, --calib-cache, --layer-precisions,
// --precision-constraints.
void applyQuantizationOptions(const Options& options, BuilderConfig& config) {
  config.int8 = options.has("int8");
  config.fp8 = options.has("fp8");
  if (options.has("calib")) config.calibrator = std::make_shared<DirectoryCalibrator>(options.get("calib"));
  config.calibrationCache = options.get("calib-cache");
  std::string method = options.get("calib-method", "entropy");
  if (method == "entropy") config.calibrationMethod = CalibrationMethod::kEntropy;
  else if (method == "minmax") config.calibrationMethod = CalibrationMethod::kMinMax;
  else if (method == "percentile") config.calibrationMethod = CalibrationMethod::kPercentile;
  else fail(ErrorCode::kInvalidArgument, concat("--calib-method must be entropy, minmax or percentile, got '", method, "'"));
  if (options.has("calib-percentile")) {
    KILN_CHECK(config.calibrationMethod == CalibrationMethod::kPercentile, kInvalidArgument,
               "--calib-percentile needs --calib-method=percentile");
    config.calibrationPercentile = options.getDouble("calib-percentile", config.calibrationPercentile);
    KILN_CHECK(config.calibrationPercentile > 0 && config.calibrationPercentile <= 100, kInvalidArgument,
               "--calib-percentile must be in (0, 100], got ", config.calibrationPercentile);
  }
  KILN_CHECK(config.int8 || config.fp8 || (!options.has("calib") && !options.has("calib-method") &&
                                           !options.has("calib-cache")),
             kInvalidArgument, "--calib, --calib-method and --calib-cache need --int8 or --fp8");
  for (const std::string& item : splitList(options.get("layer-precisions"))) {
    size_t colon = item.rfind(':');
    KILN_CHECK(colon != std::string::npos && colon > 0, kInvalidArgument, "--layer-precisions: expected ",
               "name:precision, got '", item, "'");
    std::string layer = item.substr(0, colon);
    KILN_CHECK(!config.layerPrecisions.count(layer), kInvalidArgument, "--layer-precisions names layer '", layer,
               "' twice");
    config.layerPrecisions[layer] = precisionFromName(item.substr(colon + 1), layer);
  }
  std::string constraints = options.get("precision-constraints", "none");
  if (constraints == "none") config.precisionConstraints = PrecisionConstraints::kNone;
  else if (constraints == "prefer") config.precisionConstraints = PrecisionConstraints::kPrefer;
  else if (constraints == "obey") config.precisionConstraints = PrecisionConstraints::kObey;
  else fail(ErrorCode::kInvalidArgument, concat("--precision-constraints must be obey, prefer or none, got '",
                                                constraints, "'"));
}
}  // namespace

BuilderConfig builderConfigFrom(const Options& options) {
  BuilderConfig config;
  config.builderEffort = static_cast<int>(options.getInt("builder-effort", 3));
  KILN_CHECK(config.builderEffort >= 0 && config.builderEffort <= 5, kInvalidArgument,
             "--builder-effort must be 0 to 5 (0: no timing), got ", config.builderEffort);
  config.timingCache = options.get("timing-cache");
  if (!options.has("quiet") && isatty(fileno(stderr))) config.progress = printTacticProgress;
  config.device = options.get("device", "cpu");
  config.fp16 = options.has("fp16");
  config.bf16 = options.has("bf16");
  config.disabledPasses = splitList(options.get("disable-passes"));
  config.memoryLimit = static_cast<int64_t>(options.getDouble("memory-limit", 0) * (1 << 20));  // MiB
  config.maxTensorElements = options.getInt("max-tensor-elements", config.maxTensorElements);
  KILN_CHECK(config.maxTensorElements >= 1, kInvalidArgument, "--max-tensor-elements must be >= 1, got ",
             config.maxTensorElements);
  applyQuantizationOptions(options, config);
  auto mins = parseShapes(options.get("min-shapes"));
  auto opts = parseShapes(options.get("opt-shapes"));
  auto maxs = parseShapes(options.get("max-shapes"));
  for (auto& [name, dims] : parseShapes(options.get("shapes"))) {  // one shape: min = opt = max
    mins[name] = opts[name] = maxs[name] = dims;
  }
  for (auto& [name, opt] : opts) {
    Dims min = mins.count(name) ? mins[name] : opt;
    Dims max = maxs.count(name) ? maxs[name] : opt;
    config.profile.setDimensions(name, min, opt, max);
  }
  for (auto& [name, dims] : mins)
    KILN_CHECK(opts.count(name), kInvalidArgument, "--min-shapes names '", name, "' but --opt-shapes does not");
  for (auto& [name, dims] : maxs)
    KILN_CHECK(opts.count(name), kInvalidArgument, "--max-shapes names '", name, "' but --opt-shapes does not");
  return config;
}

namespace {
std::vector<uint8_t> buildParsed(NetworkDefinition& network, Builder& builder, BuilderConfig config, std::ostream* out,
                                 BuildSummary* summary, const std::vector<Dims>& inputShapes) {
  for (int i = 0; i < network.numInputs() && i < static_cast<int>(inputShapes.size()); ++i) {
    ITensor* input = network.input(i);
    if (ir::asTensor(input)->kind != ValueKind::kTensor) continue;  // sequences and optionals take no shape
    if (volume(input->dims()) < 0 && !config.profile.shapes.count(input->name()))
      config.profile.setDimensions(input->name(), inputShapes[i], inputShapes[i], inputShapes[i]);
  }
  BuildSummary local;
  bool showsProgress = static_cast<bool>(config.progress);
  std::vector<uint8_t> plan;
  try {
    plan = builder.buildSerializedNetwork(network, config, &local);
  } catch (...) {
    if (showsProgress) std::fprintf(stderr, "\r\x1b[K");
    throw;
  }
  if (showsProgress) std::fprintf(stderr, "\r\x1b[K");  // clears the progress line
  if (out) *out << local.toString();
  if (summary) *summary = local;
  return plan;
}
}  // namespace

std::vector<uint8_t> buildPlanFromOnnx(const std::string& onnxPath, BuilderConfig config, std::ostream* out,
                                       BuildSummary* summary, const std::vector<Dims>& inputShapes) {
  Builder builder;
  auto network = builder.createNetwork();
  OnnxParser parser(*network);
  parser.parseFromFile(onnxPath);
  return buildParsed(*network, builder, std::move(config), out, summary, inputShapes);
}

std::vector<uint8_t> buildPlanFromOnnxBytes(const std::string& model, const std::string& externalDataDir,
                                            BuilderConfig config, std::ostream* out, BuildSummary* summary,
                                            const std::vector<Dims>& inputShapes) {
  Builder builder;
  auto network = builder.createNetwork();
  OnnxParser parser(*network);
  parser.parse(model.data(), model.size(), externalDataDir);
  return buildParsed(*network, builder, std::move(config), out, summary, inputShapes);
}

std::shared_ptr<Engine> engineFrom(const Options& options, std::ostream* buildLog, BuildSummary* summary,
                                   const std::vector<Dims>& inputShapes) {
  Runtime runtime;
  if (options.has("engine")) {
    KILN_CHECK(!options.has("onnx"), kInvalidArgument, "give either --engine or --onnx, not both");
    return runtime.deserializeEngineFromFile(options.get("engine"));
  }
  KILN_CHECK(options.has("onnx"), kInvalidArgument, "give a model: --onnx=MODEL.onnx or --engine=MODEL.plan");
  std::vector<uint8_t> plan = buildPlanFromOnnx(options.get("onnx"), builderConfigFrom(options), buildLog, summary, inputShapes);
  return runtime.deserializeEngine(plan.data(), plan.size());
}

void writeFile(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream file(path, std::ios::binary);
  KILN_CHECK(file.good(), kIOError, "cannot write '", path, "'");
  file.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  KILN_CHECK(file.good(), kIOError, "failed writing '", path, "'");
}

std::vector<std::pair<std::string, HostTensor>> readTensorFiles(const std::string& dir, const std::string& prefix,
                                                                const std::vector<ValueKind>& kinds) {
  KILN_CHECK(fs::is_directory(dir), kIOError, "'", dir, "' is not a directory");
  std::vector<std::pair<std::string, HostTensor>> tensors;
  for (int i = 0;; ++i) {
    fs::path path = fs::path(dir) / concat(prefix, "_", i, ".pb");
    if (!fs::exists(path)) break;
    ValueKind kind = static_cast<size_t>(i) < kinds.size() ? kinds[i] : ValueKind::kTensor;
    tensors.push_back(onnx_import::readTensorFile(path.string(), kind));
  }
  return tensors;
}

std::vector<std::pair<std::string, HostTensor>> runEngine(const Engine& engine, ExecutionContext& context,
                                                         const std::vector<std::pair<std::string, HostTensor>>& inputs) {
  std::vector<std::string> inputNames, outputNames;
  for (int i = 0; i < engine.numIOTensors(); ++i) {
    const std::string& name = engine.ioTensorName(i);
    (engine.tensorIOMode(name) == TensorIOMode::kInput ? inputNames : outputNames).push_back(name);
  }
  KILN_CHECK(inputs.size() == inputNames.size(), kInvalidArgument, "the engine has ", inputNames.size(),
             " inputs but ", inputs.size(), " were given");
  bool byName = true;
  for (auto& [name, value] : inputs)
    if (std::find(inputNames.begin(), inputNames.end(), name) == inputNames.end()) byName = false;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::string& name = byName ? inputs[i].first : inputNames[i];
    if (engine.tensorValueKind(name) != ValueKind::kTensor) {
      const HostTensor& container = inputs[i].second;
      KILN_CHECK(container.kind == engine.tensorValueKind(name), kInvalidArgument, "input '", name, "' must be a ",
                 valueKindName(engine.tensorValueKind(name)), ", got a ", valueKindName(container.kind));
      context.setTensorAddress(name, const_cast<HostTensor*>(&container));  // a Weights holding the value
      continue;
    }
    HostTensor value = inputs[i].second;
    // ONNX test data stores bfloat16 tensors as uint16 (numpy has no bfloat16): the bits are the same.
    if (value.type == DataType::kUInt16 && engine.tensorDataType(name) == DataType::kBFloat16)
      value.type = DataType::kBFloat16;
    KILN_CHECK(value.type == engine.tensorDataType(name), kInvalidArgument, "input '", name, "' must be ",
               dataTypeName(engine.tensorDataType(name)), ", got ", dataTypeName(value.type));
    context.setInputShape(name, value.shape);
    context.setTensorAddress(name, const_cast<void*>(value.data()));  // null for an empty tensor: allowed
  }
  for (auto& name : outputNames) context.setTensorAddress(name, nullptr);  // context-owned outputs
  context.execute();
  std::vector<std::pair<std::string, HostTensor>> outputs;
  for (auto& name : outputNames) {
    if (engine.tensorValueKind(name) != ValueKind::kTensor) {
      const auto* value = static_cast<const HostTensor*>(context.tensorAddress(name));
      KILN_CHECK(value != nullptr, kInternal, "output '", name, "' has no value after execute()");
      outputs.push_back({name, *value});
      continue;
    }
    Dims shape = context.tensorShape(name);
    outputs.push_back({name, Weights::copyOf(engine.tensorDataType(name), shape, context.tensorAddress(name))});
  }
  return outputs;
}

double elementAsDouble(const HostTensor& t, int64_t i) {
  const void* p = t.data();
  switch (t.type) {
    case DataType::kFloat32: return static_cast<const float*>(p)[i];
    case DataType::kFloat64: return static_cast<const double*>(p)[i];
    case DataType::kFloat16: return halfToFloat(static_cast<const uint16_t*>(p)[i]);
    case DataType::kBFloat16: return bfloat16ToFloat(static_cast<const uint16_t*>(p)[i]);
    case DataType::kInt8: return static_cast<const int8_t*>(p)[i];
    case DataType::kUInt8: return static_cast<const uint8_t*>(p)[i];
    case DataType::kInt16: return static_cast<const int16_t*>(p)[i];
    case DataType::kUInt16: return static_cast<const uint16_t*>(p)[i];
    case DataType::kInt32: return static_cast<const int32_t*>(p)[i];
    case DataType::kUInt32: return static_cast<const uint32_t*>(p)[i];
    case DataType::kInt64: return static_cast<double>(static_cast<const int64_t*>(p)[i]);
    case DataType::kUInt64: return static_cast<double>(static_cast<const uint64_t*>(p)[i]);
    case DataType::kBool: return static_cast<const uint8_t*>(p)[i] ? 1.0 : 0.0;
    default: fail(ErrorCode::kUnsupported, concat("cannot compare ", dataTypeName(t.type), " tensors"));
  }
}

namespace {
// The spacing of bfloat16 values around `v`.
double bfloat16Ulp(double v) {
  if (!std::isfinite(v)) return 0.0;
  if (v == 0.0) return std::ldexp(1.0, -133);
  int exponent = 0;
  std::frexp(v, &exponent);                        // |v| in [2^(exponent-1), 2^exponent)
  return std::ldexp(1.0, std::max(exponent - 8, -133));  // 7 stored fraction bits; subnormals below 2^-126
}
bool isFloat(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat64 || t == DataType::kFloat16 || t == DataType::kBFloat16;
}
}  // namespace

std::string compareTensors(const HostTensor& actual, const HostTensor& expectedIn, double rtol, double atol) {
  HostTensor expected = expectedIn;
  // ONNX test data stores bfloat16 tensors as uint16 (numpy has no bfloat16): the bits are the same.
  if (actual.type == DataType::kBFloat16 && expected.type == DataType::kUInt16) expected.type = DataType::kBFloat16;
  if (actual.kind != expected.kind)
    return concat("a ", valueKindName(actual.kind), ", expected a ", valueKindName(expected.kind));
  if (actual.kind != ValueKind::kTensor) {
    if (actual.elements->size() != expected.elements->size())
      return concat(actual.elements->size(), " values, expected ", expected.elements->size());
    for (size_t i = 0; i < actual.elements->size(); ++i) {
      std::string diff = compareTensors((*actual.elements)[i], (*expected.elements)[i], rtol, atol);
      if (!diff.empty()) return concat("value ", i, ": ", diff);
    }
    return "";
  }
  if (actual.type != expected.type)
    return concat("type ", dataTypeName(actual.type), " differs from expected ", dataTypeName(expected.type));
  if (actual.shape != expected.shape)
    return concat("shape ", dimsToString(actual.shape), " differs from expected ", dimsToString(expected.shape));
  if (actual.type == DataType::kString) {  // exact
    const auto *a = actual.as<std::string>(), *e = expected.as<std::string>();
    for (int64_t i = 0; i < actual.count(); ++i)
      if (a[i] != e[i]) return concat("element ", i, " is \"", a[i], "\", expected \"", e[i], "\"");
    return "";
  }
  if (actual.type == DataType::kInt64 || actual.type == DataType::kUInt64) {  // exact, without double rounding
    size_t n = static_cast<size_t>(actual.count()) * 8;
    if (n && std::memcmp(actual.data(), expected.data(), n) != 0) {
      auto* a = actual.as<int64_t>();
      auto* e = expected.as<int64_t>();
      for (int64_t i = 0; i < actual.count(); ++i)
        if (a[i] != e[i]) return concat("element ", i, " is ", a[i], ", expected ", e[i]);
    }
    return "";
  }
  bool floating = isFloat(actual.type);
  int64_t worst = -1, mismatches = 0;
  double worstExcess = 0;
  for (int64_t i = 0; i < actual.count(); ++i) {
    double a = elementAsDouble(actual, i), e = elementAsDouble(expected, i);
    if (std::isnan(a) && std::isnan(e)) continue;
    if (std::isinf(e) && a == e) continue;
    double error = std::fabs(a - e), allowed = floating ? atol + rtol * std::fabs(e) : 0.0;
    // bfloat16 has 8 significant bits, coarser than typical tolerances, and reference data converts from
    // float32 by truncation or by rounding (onnx/onnx#3876): one unit in the last place is allowed.
    if (actual.type == DataType::kBFloat16) allowed = std::max(allowed, bfloat16Ulp(e));
    if (!(error <= allowed)) {
      ++mismatches;
      double excess = std::isnan(error) ? INFINITY : error - allowed;
      if (worst < 0 || excess > worstExcess) {
        worst = i;
        worstExcess = excess;
      }
    }
  }
  if (worst < 0) return "";
  double a = elementAsDouble(actual, worst), e = elementAsDouble(expected, worst);
  std::ostringstream out;
  out.precision(9);
  out << mismatches << " of " << actual.count() << " elements differ; worst at index " << worst << ": got " << a
      << ", expected " << e << " (abs error " << std::fabs(a - e) << ", rtol " << rtol << ", atol " << atol << ")";
  return out.str();
}

}  // namespace kiln::tools
