// Exact GELU (erf form) of float32 arrays, compiled for AVX-512 and AVX2 besides the baseline (activation.cpp).
// The Activation kernel, the Pointwise interpreter and the GEMM epilogue all call these, so a fused float32
// GELU gives the same bits as the Activation layer it replaced.
#pragma once

#include <cstdint>

namespace kiln::cpu {

void geluErfFloat(const float* __restrict x, float* __restrict y, int64_t n);  // x and y do not overlap
void geluErfFloatInPlace(float* v, int64_t n);

}  // namespace kiln::cpu
