// The CUDA source the cuda.pointwise.nvrtc kernel generates for a Pointwise program: a function of the
// params alone (deterministic), so a plan's params regenerate it exactly.
#pragma once

#include <string>

#include "kiln/layers.h"

namespace kiln::cuda {

// The CUDA C source of `program` (a valid program, ir::checkPointwiseProgram). Entry points, all with
// the parameters (inputs..., output, element count, geometry): kiln_pointwise_u32 / _u64 (one element
// per thread, 32- or 64-bit indices) and kiln_pointwise_vec4_u32 / _u64 (four consecutive elements per
// thread, vector loads of the inputs that have the output's shape).
std::string pointwiseSource(const PointwiseParams& program, int numInputs);

}  // namespace kiln::cuda
