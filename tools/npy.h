// A strict reader of NumPy .npy files (format 1.0-3.0): little-endian float32, float16 or int64 in C order.
#pragma once

#include <string>

#include "core/tensor_view.h"

namespace kiln::tools {

// Reads `path` into a host tensor (float32, float16 or int64). Throws kiln::Error naming the file and the
// fault: not an .npy file, an unsupported version, a malformed header, another dtype (the message names
// it), Fortran order, or a data size that does not match the shape.
HostTensor readNpy(const std::string& path);
// Parses the bytes of an .npy file; `what` names it in errors.
HostTensor parseNpy(const std::string& bytes, const std::string& what);

}  // namespace kiln::tools
