// The serialized plan: a header, a metadata section (the optimized network and how to run it) and an
// aligned weights section.
//
//   offset 0   magic "KILNPLAN" (8 bytes)
//              u32 format version, u32 reserved
//              u64 metadata offset, u64 metadata size, u64 weights offset, u64 weights size
//              u32 checksum (FNV-1a over metadata and weights), u32 reserved
//   metadata   kiln version, device, profile, tensors, layers (typed params), I/O order, layer backends
//   weights    every Constant's bytes, each aligned to kWeightsAlignment from the start of the file
//
// Format version history (bump on any change; older versions are refused with a message saying so):
//   1  first format.
//   2  tensors carry a value kind (tensor, sequence, optional); layers may hold subnetworks (If, Loop,
//      Scan, SequenceMap), written in place as nested networks (tensors, layers, inputs, outputs).
//   3  ConvolutionParams gains outputMin/outputMax (the fused activation clamp).
//   4  string constants: their weights hold each element as a u64 byte length and the bytes.
//   5  per layer, after the backends: the chosen tactic, its measured time (ms, -1 when not timed) and
//      the number of candidates timed (tactic selection and the timing cache).
//   6  after the tactics: the run-time limits memoryLimit and maxTensorElements (BuilderConfig). A version 5
//      plan is refused rather than read with no limits, so every plan that loads enforces its limits.
//   7  layer types Attention, Pointwise, QuantizedConvolution, QuantizedMatrixMultiply; NormalizationParams
//      gains addsResidual, MatrixMultiplyParams an epilogue activation.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ir/network.h"

namespace kiln::plan {

constexpr char kPlanMagic[8] = {'K', 'I', 'L', 'N', 'P', 'L', 'A', 'N'};
constexpr uint32_t kPlanFormatVersion = 7;
constexpr size_t kWeightsAlignment = 64;
constexpr size_t kHeaderSize = 8 + 4 + 4 + 8 * 4 + 4 + 4;

// What a plan says besides the network.
struct PlanInfo {
  std::string kilnVersion;
  std::string device;                      // "cpu" or "cuda"
  std::string target;                      // what the device was tuned for: "x86_64", "sm_90", ...
  OptimizationProfile profile;             // a complete range for every network input
  std::vector<std::string> layerBackends;  // per layer, in network order: "cpu" or the device
  // Per layer, in network order: the tactic its backend creates ("" for layers without a kernel:
  // constants and host-evaluated layers), the tactic's measured time in ms (-1: not timed) and how
  // many candidates were timed.
  std::vector<std::string> layerTactics;
  std::vector<float> layerTacticMs;
  Dims layerCandidates;
  // The run-time limits (BuilderConfig::memoryLimit, 0: none, and maxTensorElements), enforced by contexts on
  // sizes known only at run time.
  int64_t memoryLimit = 0;
  int64_t maxTensorElements = int64_t{1} << 32;
};

// Everything an engine is made from.
struct PlanContents {
  std::unique_ptr<ir::Network> network;
  PlanInfo info;
};

// A layer's type and params as the plan writes them (without weight bytes): a layer's identity for
// the timing cache.
std::vector<uint8_t> serializeParams(const ir::Layer& layer);

std::vector<uint8_t> writePlan(const ir::Network& network, const PlanInfo& info);
// Throws kiln::Error(kInvalidPlan) naming what is wrong: not a plan, version, truncated, corrupted, or a
// network the builder could not have written (a layer input read before it is produced, an enum value out of
// range, weights that do not fill their shape, a layer whose shape rule refuses it or infers other outputs
// than the plan stores, a profile that does not fit the inputs, per-layer lists of the wrong length). A plan
// that reads can be loaded and run.
PlanContents readPlan(const void* data, size_t size);

}  // namespace kiln::plan
