// Post-training calibration (implicit quantization): the per-tensor scales of the tensors int8/fp8
// layers read, measured by running the float32 network on the calibrator's batches, and the cache file
// that stores them.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ir/network.h"
#include "kiln/kiln.h"

namespace kiln::calibration {

// Tensor name -> quantization scale (x ~ scale * q).
using Scales = std::map<std::string, float>;

// What the scales are for: they depend on the method (and percentile) and on the quantized type.
struct Settings {
  CalibrationMethod method = CalibrationMethod::kEntropy;
  double percentile = 99.99;
  DataType type = DataType::kInt8;  // kInt8 or kFP8E4M3
};

// The largest magnitude of `type`: 127 for int8, 448 for float8 e4m3.
float quantizedMax(DataType type);

// The input indices of `layer` that an int8/fp8 version of it reads quantized: data and weights of a
// Convolution and both operands of a MatrixMultiply; none for other layers.
std::vector<int> quantizedInputs(const ir::Layer& layer);

// The tensors calibration measures: the non-constant float32 tensors read at quantizedInputs(), and the
// tensors those are a Transpose/Reshape of (a pass may fold the view away; the scale is the same).
std::vector<const ir::Tensor*> candidateTensors(const ir::Network& net);

// Runs the calibrator's batches through a float32 engine of `net` (a copy with every candidate tensor
// marked as an output, built for config.device, layers it cannot run on the CPU) and returns the scale
// of every candidate that held a nonzero finite value. `batches` receives the number of batches.
Scales calibrate(const ir::Network& net, const BuilderConfig& config, const OptimizationProfile& profile,
                 const Settings& settings, Logger& logger, int* batches);

// The cache file: a versioned text file naming the Kiln version, method and type, then one
// `tensor name: scale` line per tensor (scale as a C99 hex float). readCache throws kiln::Error naming the
// file and line when it is not such a file, is from another Kiln version, or was made with other settings.
void writeCache(const std::string& path, const Settings& settings, const Scales& scales);
Scales readCache(const std::string& path, const Settings& settings);

}  // namespace kiln::calibration
