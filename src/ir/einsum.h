// An einsum equation resolved against its operands' shapes, as label ids: the one parser of the CPU
// and CUDA Einsum kernels (and of the CUDA backend's support check, on build-time dims).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "ir/network.h"

namespace kiln::ir {

struct EinsumLabels {
  // Label ids: 'a'-'z' 0..25, 'A'-'Z' 26..51, the broadcast ("...") dims 52..63, right-aligned.
  static constexpr int kEllipsisBase = 52;
  static constexpr int kMaxLabels = 64;
  std::vector<std::vector<int>> inputs;  // label id per dim of each operand
  std::vector<int> output;               // label id per output dim
  std::array<bool, kMaxLabels> used{};   // in some operand
  std::array<int64_t, kMaxLabels> size{};  // per used label (size-1 dims broadcast); -1 when a dim is unknown
  std::vector<int> summed;                 // used labels not in the output, ascending
};

// Parses `equation` for operands of `shapes` (explicit or implicit output, "...", repeated labels for
// diagonals, size-1 broadcasting). Dims may be -1 (unknown at build time): their sizes are not checked.
// Throws kInvalidArgument naming `layer` for a malformed equation or mismatched sizes.
EinsumLabels parseEinsum(const Layer& layer, const std::string& equation, const std::vector<Dims>& shapes);

// Element strides per label of an operand of `shape` (contiguous) whose dims carry label ids `ids`:
// summed over repeated labels (diagonals), 0 for a size-1 dim broadcast against a larger label size.
std::array<int64_t, EinsumLabels::kMaxLabels> einsumLabelStrides(const EinsumLabels& labels,
                                                                 const std::vector<int>& ids, const Dims& shape);

}  // namespace kiln::ir
