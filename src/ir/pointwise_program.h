// What a Pointwise layer's program (PointwiseParams, kiln/layers.h) may hold: the element-wise ops and
// types the builder's fuse_pointwise pass fuses, and the one check of a program that its shape rule,
// the plan loader (through the shape rule) and the kernels rely on.
#pragma once

#include <string>
#include <vector>

#include "kiln/layers.h"

namespace kiln::ir {

// float32, float16, bfloat16: the types of computed registers.
bool isPointwiseFloatType(DataType type);
// The types an input register may have besides float types: read only by a kCast to float32.
bool isPointwiseCastSource(DataType type);
// The ops a program may hold: float arithmetic whose result has its operands' type (no comparisons,
// logic or bit operations, which change the type or are integer-only).
bool isPointwiseElementWiseOp(ElementWiseOp op);
bool isPointwiseUnaryOp(UnaryOp op);

// Number of instructions of `p` (the length of its vectors; checkPointwiseProgram checks they agree).
inline int64_t pointwiseLength(const PointwiseParams& p) { return static_cast<int64_t>(p.kinds.size()); }

// "" when `p` is a valid program over inputs of `inputTypes`; else what is wrong, in words naming the
// instruction. A valid program reads only earlier registers, with codes in range and types as the
// PointwiseParams comment says.
std::string checkPointwiseProgram(const PointwiseParams& p, const std::vector<DataType>& inputTypes);

// checkPointwiseProgram, and that the output tensor has the program's output type (a kernel row's
// supports(): reduce_precision asks with retyped tensors).
std::string checkPointwiseLayer(const PointwiseParams& p, const std::vector<DataType>& inputTypes, DataType outputType);

}  // namespace kiln::ir
