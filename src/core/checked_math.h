// Overflow-checked size arithmetic, in one place. Every element count, byte size and offset computed from
// sizes that come from outside (model files, plans, input shapes, shape values computed at run time) goes
// through these, so a product that wraps around is an error and never a small size.
#pragma once

#include <cstdint>
#include <string>

#include "kiln/types.h"

namespace kiln {

// The element count of `shape` when every dim is known and the count fits in int64; -1 otherwise
// (unknown dim or overflow). For callers that report their own error (plan reader, .pb reader).
int64_t checkedVolume(const Dims& shape);
// The bytes a tensor of `type` and `shape` holds (sizeof(std::string) per string), or -1 when the shape is
// unknown or the size does not fit in int64.
int64_t checkedByteSize(DataType type, const Dims& shape);

// a * b and a + b; throw kiln::Error(kInvalidArgument) "size overflow: <what> ..." when the result does not
// fit in int64.
int64_t mulOrThrow(int64_t a, int64_t b, const std::string& what);
int64_t addOrThrow(int64_t a, int64_t b, const std::string& what);
// The byte size of a tensor; throws kInvalidArgument naming `what` (a tensor or layer) and the shape when it
// overflows. -1 when a dim is unknown.
int64_t byteSizeOrThrow(DataType type, const Dims& shape, const std::string& what);

}  // namespace kiln
