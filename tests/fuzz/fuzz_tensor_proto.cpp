// libFuzzer target: the bytes of a .pb value file -> onnx_import::parseTensorFile, read as a TensorProto,
// a SequenceProto and an OptionalProto (the kinds readTensorFile is told), external data looked up in
// fuzz::externalDataDir(). Any crash, sanitizer report, internal error or non-kiln exception is a finding.
#include <cstddef>
#include <cstdint>
#include <string>

#include <onnx/onnx.pb.h>

#include "fuzz_common.h"
#include "onnx/tensor_proto.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kiln;
  std::string bytes(reinterpret_cast<const char*>(data), size);
  for (ValueKind kind : {ValueKind::kTensor, ValueKind::kSequence, ValueKind::kOptionalTensor}) {
    try {
      auto [name, value] = onnx_import::parseTensorFile(bytes, kind, fuzz::externalDataDir());
      // What was read converts back.
      if (value.kind == ValueKind::kTensor) {
        onnx::TensorProto proto;
        onnx_import::tensorToProto(value, name, &proto);
      }
    } catch (const Error& e) {
      fuzz::expectCleanError(e);
    }
  }
  return 0;
}
