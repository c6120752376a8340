// Helpers shared by the kiln commands: building or loading engines, tensor files, comparisons.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <ostream>
#include <string>
#include <vector>

#include "core/tensor_view.h"
#include "kiln/kiln.h"
#include "options.h"

namespace kiln::tools {

// The options of every command that builds a plan: --device, --fp16, --bf16, --min/opt/max-shapes,
// --shapes, --disable-passes, --memory-limit, --max-tensor-elements, --builder-effort, --timing-cache, --quiet,
// and quantization: --int8, --fp8, --calib, --calib-method, --calib-percentile, --calib-cache,
// --layer-precisions, --precision-constraints; followed by `own`.
std::set<std::string> builderOptionNames(std::set<std::string> own);
// Builder settings from those options. Tactic timing shows its progress on a terminal (stderr) unless
// --quiet.
BuilderConfig builderConfigFrom(const Options& options);
// Parses and builds an ONNX model; prints the build summary to `out` when given.
// inputShapes (by input position) fix the profile of dynamic inputs the config leaves open.
std::vector<uint8_t> buildPlanFromOnnx(const std::string& onnxPath, BuilderConfig config, std::ostream* out,
                                       BuildSummary* summary = nullptr, const std::vector<Dims>& inputShapes = {});
// The same from a serialized ModelProto; external data files are looked up in externalDataDir.
std::vector<uint8_t> buildPlanFromOnnxBytes(const std::string& model, const std::string& externalDataDir,
                                            BuilderConfig config, std::ostream* out, BuildSummary* summary = nullptr,
                                            const std::vector<Dims>& inputShapes = {});
// --engine=PLAN or --onnx=MODEL (built in memory, see buildPlanFromOnnx for inputShapes).
std::shared_ptr<Engine> engineFrom(const Options& options, std::ostream* buildLog, BuildSummary* summary = nullptr,
                                   const std::vector<Dims>& inputShapes = {});

void writeFile(const std::string& path, const std::vector<uint8_t>& bytes);

// Values of a test-data folder: input_N.pb / output_N.pb in index order; kinds[N] says which are
// sequences or optionals (tensors where not given).
std::vector<std::pair<std::string, HostTensor>> readTensorFiles(const std::string& dir, const std::string& prefix,
                                                                const std::vector<ValueKind>& kinds = {});

// Runs the engine on named inputs (bound by name when the names match, else by position) and
// returns the outputs in engine order.
std::vector<std::pair<std::string, HostTensor>> runEngine(const Engine& engine, ExecutionContext& context,
                                                         const std::vector<std::pair<std::string, HostTensor>>& inputs);

// Element i of a numeric or bool tensor as double.
double elementAsDouble(const HostTensor& t, int64_t i);

// Compares actual with expected: |a - e| <= atol + rtol * |e| (NaN matches NaN); exact for integers.
// Sequences and optionals match when they hold as many values and each matches.
// Returns an empty string when they match, else what differs (shape, type, worst element).
std::string compareTensors(const HostTensor& actual, const HostTensor& expected, double rtol, double atol);

}  // namespace kiln::tools
