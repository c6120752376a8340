// ONNX TensorProto <-> kiln HostTensor, and the .pb tensor files of the ONNX test suites.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/tensor_view.h"
#include "kiln/types.h"

namespace onnx {
class TensorProto;
}

namespace kiln::onnx_import {

// ONNX TensorProto.DataType <-> kiln::DataType. `what` names the tensor/value for the error message.
// Throws kUnsupported for types Kiln has no equivalent of (string, complex, float8 variants, 4-bit).
DataType fromOnnxType(int32_t onnxType, const std::string& what);
int32_t toOnnxType(DataType type);
// "FLOAT", "INT64", ... for messages.
const char* onnxTypeName(int32_t onnxType);

// Converts a TensorProto (typed fields, raw_data or external data) to a host tensor.
// External data files are looked up relative to baseDir: absolute paths and paths with '..' are refused, and
// so is a location that is not a regular file inside baseDir once symbolic links are resolved.
HostTensor tensorFromProto(const onnx::TensorProto& proto, const std::string& baseDir = ".");
// Converts a host tensor to a TensorProto with raw_data (little endian) and the given name.
void tensorToProto(const HostTensor& tensor, const std::string& name, onnx::TensorProto* proto);

// Reads / writes a .pb value file (input_0.pb, output_0.pb, ...): a TensorProto, or for sequences and
// optionals a SequenceProto / OptionalProto. The file does not say which, so the reader is told `kind`.
std::pair<std::string, HostTensor> readTensorFile(const std::string& path, ValueKind kind = ValueKind::kTensor);
// The same from the file's bytes; external data files are looked up in baseDir.
std::pair<std::string, HostTensor> parseTensorFile(const std::string& data, ValueKind kind, const std::string& baseDir);
void writeTensorFile(const std::string& path, const std::string& name, const HostTensor& value);

// The kinds of an ONNX model's graph inputs (initializers excluded) or outputs, to read its .pb files.
std::vector<ValueKind> modelValueKinds(const std::string& modelPath, bool outputs);

}  // namespace kiln::onnx_import
