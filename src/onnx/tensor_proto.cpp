#include "onnx/tensor_proto.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <onnx/onnx.pb.h>

#include "core/error.h"
#include "ir/network.h"

namespace kiln::onnx_import {

using TP = onnx::TensorProto;

const char* onnxTypeName(int32_t t) {
  switch (t) {
    case TP::UNDEFINED: return "UNDEFINED";
    case TP::FLOAT: return "FLOAT";
    case TP::UINT8: return "UINT8";
    case TP::INT8: return "INT8";
    case TP::UINT16: return "UINT16";
    case TP::INT16: return "INT16";
    case TP::INT32: return "INT32";
    case TP::INT64: return "INT64";
    case TP::STRING: return "STRING";
    case TP::BOOL: return "BOOL";
    case TP::FLOAT16: return "FLOAT16";
    case TP::DOUBLE: return "DOUBLE";
    case TP::UINT32: return "UINT32";
    case TP::UINT64: return "UINT64";
    case TP::COMPLEX64: return "COMPLEX64";
    case TP::COMPLEX128: return "COMPLEX128";
    case TP::BFLOAT16: return "BFLOAT16";
    case TP::FLOAT8E4M3FN: return "FLOAT8E4M3FN";
    case TP::FLOAT8E4M3FNUZ: return "FLOAT8E4M3FNUZ";
    case TP::FLOAT8E5M2: return "FLOAT8E5M2";
    case TP::FLOAT8E5M2FNUZ: return "FLOAT8E5M2FNUZ";
    case TP::UINT4: return "UINT4";
    case TP::INT4: return "INT4";
    case TP::FLOAT4E2M1: return "FLOAT4E2M1";
  }
  return "unknown";
}

DataType fromOnnxType(int32_t t, const std::string& what) {
  switch (t) {
    case TP::FLOAT: return DataType::kFloat32;
    case TP::UINT8: return DataType::kUInt8;
    case TP::INT8: return DataType::kInt8;
    case TP::UINT16: return DataType::kUInt16;
    case TP::INT16: return DataType::kInt16;
    case TP::INT32: return DataType::kInt32;
    case TP::INT64: return DataType::kInt64;
    case TP::BOOL: return DataType::kBool;
    case TP::FLOAT16: return DataType::kFloat16;
    case TP::DOUBLE: return DataType::kFloat64;
    case TP::UINT32: return DataType::kUInt32;
    case TP::UINT64: return DataType::kUInt64;
    case TP::BFLOAT16: return DataType::kBFloat16;
    case TP::FLOAT8E4M3FN: return DataType::kFP8E4M3;
    case TP::STRING: return DataType::kString;
    default: break;
  }
  fail(ErrorCode::kUnsupported,
       concat(what, ": ONNX data type ", onnxTypeName(t), " (", t, ") is not supported by Kiln"));
}

int32_t toOnnxType(DataType type) {
  switch (type) {
    case DataType::kFloat32: return TP::FLOAT;
    case DataType::kFloat16: return TP::FLOAT16;
    case DataType::kBFloat16: return TP::BFLOAT16;
    case DataType::kFloat64: return TP::DOUBLE;
    case DataType::kFP8E4M3: return TP::FLOAT8E4M3FN;
    case DataType::kInt8: return TP::INT8;
    case DataType::kUInt8: return TP::UINT8;
    case DataType::kInt16: return TP::INT16;
    case DataType::kUInt16: return TP::UINT16;
    case DataType::kInt32: return TP::INT32;
    case DataType::kUInt32: return TP::UINT32;
    case DataType::kInt64: return TP::INT64;
    case DataType::kUInt64: return TP::UINT64;
    case DataType::kBool: return TP::BOOL;
    case DataType::kString: return TP::STRING;
  }
  fail(ErrorCode::kInternal, concat("unknown kiln data type ", static_cast<int>(type)));
}

namespace {

std::string tensorLabel(const TP& proto) {
  return proto.name().empty() ? std::string("unnamed tensor") : concat("tensor '", proto.name(), "'");
}

// The file an external data location names: relative to baseDir, without '..', and, with every symbolic
// link resolved, a regular file inside baseDir (itself resolved). Checked before the file is opened, so a
// model folder unpacked from an archive cannot make Kiln read other files, or block on a FIFO.
std::filesystem::path resolveExternal(const std::string& location, const std::string& baseDir,
                                      const std::string& label) {
  namespace fs = std::filesystem;
  KILN_CHECK(!location.empty(), kInvalidModel, label, ": external data without a 'location' key");
  fs::path rel(location);
  KILN_CHECK(!rel.is_absolute() && !rel.has_root_name() && !rel.has_root_directory(), kInvalidModel, label,
             ": external data location '", location, "' must be a relative path");
  for (const auto& part : rel)
    KILN_CHECK(part != "..", kInvalidModel, label, ": external data location '", location,
               "' must not leave the model directory ('..')");
  std::error_code error;
  fs::path folder = fs::canonical(baseDir.empty() ? "." : baseDir, error);
  KILN_CHECK(!error, kIOError, label, ": cannot resolve the model folder '", baseDir, "' of external data location '",
             location, "': ", error.message());
  fs::path path = fs::weakly_canonical(folder / rel, error);
  KILN_CHECK(!error, kIOError, label, ": cannot resolve external data location '", location, "' in '",
             folder.string(), "': ", error.message());
  fs::path inside = path.lexically_relative(folder);
  KILN_CHECK(!inside.empty() && *inside.begin() != "..", kInvalidModel, label, ": external data location '",
             location, "' resolves to '", path.string(), "' (through a symbolic link), outside the model folder '",
             folder.string(), "'");
  fs::file_status status = fs::status(path, error);
  KILN_CHECK(fs::exists(status), kIOError, label, ": cannot open external data file '", path.string(),
             "' (location '", location, "'): it does not exist");
  KILN_CHECK(fs::is_regular_file(status), kInvalidModel, label, ": external data location '", location,
             "' is not a regular file ('", path.string(), "' is a ",
             fs::is_directory(status) ? "directory" : fs::is_fifo(status) ? "FIFO" : "special file", ")");
  return path;
}

// Reads `expected` bytes of external data (checked against the file before anything is allocated).
std::vector<uint8_t> readExternal(const TP& proto, const std::string& baseDir, const std::string& label,
                                  size_t expected) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& kv : proto.external_data()) {
    try {
      if (kv.key() == "location") location = kv.value();
      else if (kv.key() == "offset") offset = std::stoll(kv.value());
      else if (kv.key() == "length") length = std::stoll(kv.value());
    } catch (const std::exception&) {
      fail(ErrorCode::kInvalidModel, concat(label, ": bad external data value '", kv.value(), "' for key '",
                                            kv.key(), "'"));
    }
  }
  std::filesystem::path path = resolveExternal(location, baseDir, label);
  KILN_CHECK(offset >= 0, kInvalidModel, label, ": negative external data offset ", offset);
  if (length >= 0)
    KILN_CHECK(static_cast<uint64_t>(length) == expected, kInvalidModel, label, ": external data length ", length,
               " does not match the ", expected, " bytes its type and shape need (file '", path.string(), "')");
  std::ifstream in(path, std::ios::binary);
  KILN_CHECK(in.good(), kIOError, label, ": cannot open external data file '", path.string(), "'");
  in.seekg(0, std::ios::end);
  auto fileSize = static_cast<uint64_t>(in.tellg());
  KILN_CHECK(static_cast<uint64_t>(offset) <= fileSize && expected <= fileSize - static_cast<uint64_t>(offset),
             kInvalidModel, label, ": external data file '", path.string(), "' has ", fileSize, " bytes, too few for ",
             expected, " bytes at offset ", offset);
  std::vector<uint8_t> bytes(expected);
  in.seekg(offset);
  if (expected) in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(expected));
  KILN_CHECK(in.good() || expected == 0, kIOError, label, ": failed reading external data file '", path.string(),
             "'");
  return bytes;
}

template <class Dst, class Src>
void convertInto(uint8_t* dst, const Src* src, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    Dst v = static_cast<Dst>(src[i]);
    std::memcpy(dst + i * sizeof(Dst), &v, sizeof(Dst));
  }
}

}  // namespace

HostTensor tensorFromProto(const TP& proto, const std::string& baseDir) {
  std::string label = tensorLabel(proto);
  KILN_CHECK(proto.has_data_type() && proto.data_type() != TP::UNDEFINED, kInvalidModel, label,
             " has no data type");
  DataType type = fromOnnxType(proto.data_type(), label);
  KILN_CHECK(!proto.has_segment(), kUnsupported, label, ": segmented tensors are not supported");
  Dims shape(proto.dims().begin(), proto.dims().end());
  for (int64_t d : shape) KILN_CHECK(d >= 0, kInvalidModel, label, " has a negative dimension in ", dimsToString(shape));
  int64_t count = checkedVolume(shape), byteSize = checkedByteSize(type, shape);
  KILN_CHECK(count >= 0 && byteSize >= 0, kInvalidArgument, "size overflow: ", label, " of shape ",
             dimsToString(shape), " has more elements than 64 bits can count");
  if (type == DataType::kString) {  // string_data only: raw_data and external data cannot hold strings
    KILN_CHECK(proto.data_location() != TP::EXTERNAL && !proto.has_raw_data(), kInvalidModel, label,
               ": string tensors keep their values in string_data");
    KILN_CHECK(static_cast<int64_t>(proto.string_data_size()) == count, kInvalidModel, label, " of shape ",
               dimsToString(shape), " has ", proto.string_data_size(), " values in string_data, expected ", count);
    return Weights::strings(shape, {proto.string_data().begin(), proto.string_data().end()});
  }
  size_t elem = dataTypeSize(type);
  size_t bytes = static_cast<size_t>(byteSize);
  HostTensor t;
  t.type = type;
  t.shape = shape;
  // Every path checks that the proto holds the data before the buffer is allocated.
  if (proto.data_location() == TP::EXTERNAL) {
    t.bytes = std::make_shared<std::vector<uint8_t>>(readExternal(proto, baseDir, label, bytes));
    return t;
  }
  if (proto.has_raw_data()) {
    KILN_CHECK(proto.raw_data().size() == bytes, kInvalidModel, label, " of type ", dataTypeName(type), " and shape ",
               dimsToString(shape), " has ", proto.raw_data().size(), " bytes of raw_data, expected ", bytes);
    t.bytes = std::make_shared<std::vector<uint8_t>>(proto.raw_data().begin(), proto.raw_data().end());
    return t;
  }
  auto checkCount = [&](int n, const char* field) {
    KILN_CHECK(static_cast<int64_t>(n) == count, kInvalidModel, label, " of shape ", dimsToString(shape), " has ", n,
               " values in ", field, ", expected ", count);
  };
  switch (type) {
    case DataType::kFloat32: checkCount(proto.float_data_size(), "float_data"); break;
    case DataType::kFloat64: checkCount(proto.double_data_size(), "double_data"); break;
    case DataType::kInt64: checkCount(proto.int64_data_size(), "int64_data"); break;
    case DataType::kUInt32: case DataType::kUInt64: checkCount(proto.uint64_data_size(), "uint64_data"); break;
    default: checkCount(proto.int32_data_size(), "int32_data"); break;  // the narrower integer, float16/8 and bool types
  }
  auto buffer = std::make_shared<std::vector<uint8_t>>(bytes);
  uint8_t* dst = buffer->data();
  switch (type) {
    case DataType::kFloat32:
      if (bytes) std::memcpy(dst, proto.float_data().data(), bytes);
      break;
    case DataType::kFloat64:
      if (bytes) std::memcpy(dst, proto.double_data().data(), bytes);
      break;
    case DataType::kInt64:
      if (bytes) std::memcpy(dst, proto.int64_data().data(), bytes);
      break;
    case DataType::kUInt32: convertInto<uint32_t>(dst, proto.uint64_data().data(), bytes / elem); break;
    case DataType::kUInt64:
      if (bytes) std::memcpy(dst, proto.uint64_data().data(), bytes);
      break;
    case DataType::kInt32:
      if (bytes) std::memcpy(dst, proto.int32_data().data(), bytes);
      break;
    case DataType::kInt16: convertInto<int16_t>(dst, proto.int32_data().data(), bytes / elem); break;
    case DataType::kUInt16: case DataType::kFloat16: case DataType::kBFloat16:
      convertInto<uint16_t>(dst, proto.int32_data().data(), bytes / elem);
      break;
    case DataType::kInt8: convertInto<int8_t>(dst, proto.int32_data().data(), bytes / elem); break;
    case DataType::kUInt8: case DataType::kFP8E4M3:
      convertInto<uint8_t>(dst, proto.int32_data().data(), bytes / elem);
      break;
    case DataType::kBool:
      for (int i = 0; i < proto.int32_data_size(); ++i) dst[i] = proto.int32_data(i) != 0 ? 1 : 0;
      break;
    case DataType::kString: break;  // read above
  }
  t.bytes = std::move(buffer);
  return t;
}

void tensorToProto(const HostTensor& tensor, const std::string& name, TP* proto) {
  int64_t byteSize = byteSizeOrThrow(tensor.type, tensor.shape, concat("tensor '", name, "'"));
  KILN_CHECK(byteSize >= 0, kInvalidArgument, "tensor '", name, "' has an unknown shape ", dimsToString(tensor.shape));
  int64_t count = volume(tensor.shape);  // fits: the byte size does
  size_t bytes = static_cast<size_t>(byteSize);
  KILN_CHECK(bytes == 0 || (tensor.bytes && tensor.bytes->size() >= bytes), kInvalidArgument, "tensor '", name,
             "' has fewer bytes than its shape ", dimsToString(tensor.shape), " needs");
  proto->Clear();
  proto->set_name(name);
  proto->set_data_type(toOnnxType(tensor.type));
  for (int64_t d : tensor.shape) proto->add_dims(d);
  if (tensor.type == DataType::kString) {
    const auto* values = tensor.as<std::string>();
    for (int64_t i = 0; i < count; ++i) proto->add_string_data(values[i]);
    return;
  }
  proto->set_raw_data(bytes ? std::string(reinterpret_cast<const char*>(tensor.bytes->data()), bytes)
                            : std::string());
}

namespace {

std::string readFileBytes(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  KILN_CHECK(in.good(), kIOError, "cannot open ", what, " '", path, "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

HostTensor sequenceFromProto(const onnx::SequenceProto& proto, const std::string& baseDir) {
  KILN_CHECK(proto.elem_type() == onnx::SequenceProto::TENSOR || proto.elem_type() == onnx::SequenceProto::UNDEFINED,
             kUnsupported, "sequence '", proto.name(), "': only sequences of tensors are supported");
  std::vector<HostTensor> elements;
  for (const auto& t : proto.tensor_values()) elements.push_back(tensorFromProto(t, baseDir));
  DataType type = elements.empty() ? DataType::kFloat32 : elements[0].type;
  for (const auto& e : elements)
    KILN_CHECK(e.type == type, kInvalidModel, "sequence '", proto.name(), "' mixes ", dataTypeName(type), " and ",
               dataTypeName(e.type), " tensors");
  return Weights::container(ValueKind::kSequence, type, std::move(elements));
}

HostTensor optionalFromProto(const onnx::OptionalProto& proto, ValueKind kind, const std::string& baseDir) {
  if (proto.has_tensor_value()) {
    HostTensor t = tensorFromProto(proto.tensor_value(), baseDir);
    DataType type = t.type;
    return Weights::container(ValueKind::kOptionalTensor, type, {std::move(t)});
  }
  if (proto.has_sequence_value()) {
    HostTensor seq = sequenceFromProto(proto.sequence_value(), baseDir);
    DataType type = seq.type;
    return Weights::container(ValueKind::kOptionalSequence, type, {std::move(seq)});
  }
  KILN_CHECK(!proto.has_optional_value(), kUnsupported, "optional '", proto.name(),
             "': optionals of optionals are not supported");
  if (proto.elem_type() == onnx::OptionalProto::SEQUENCE) kind = ValueKind::kOptionalSequence;
  else if (proto.elem_type() == onnx::OptionalProto::TENSOR) kind = ValueKind::kOptionalTensor;
  return Weights::container(kind, DataType::kFloat32, {});
}

void sequenceToProto(const HostTensor& value, const std::string& name, onnx::SequenceProto* proto) {
  proto->set_name(name);
  proto->set_elem_type(onnx::SequenceProto::TENSOR);
  for (const auto& e : *value.elements) tensorToProto(e, "", proto->add_tensor_values());
}

}  // namespace

std::pair<std::string, HostTensor> parseTensorFile(const std::string& data, ValueKind kind, const std::string& baseDir) {
  if (kind == ValueKind::kSequence) {
    onnx::SequenceProto proto;
    KILN_CHECK(proto.ParseFromString(data), kInvalidModel, "not a valid ONNX SequenceProto (truncated or corrupt)");
    return {proto.name(), sequenceFromProto(proto, baseDir)};
  }
  if (kind == ValueKind::kOptionalTensor || kind == ValueKind::kOptionalSequence) {
    onnx::OptionalProto proto;
    KILN_CHECK(proto.ParseFromString(data), kInvalidModel, "not a valid ONNX OptionalProto (truncated or corrupt)");
    HostTensor value = optionalFromProto(proto, kind, baseDir);
    KILN_CHECK(value.kind == kind, kInvalidModel, "holds an ", valueKindName(value.kind), ", expected an ",
               valueKindName(kind));
    return {proto.name(), value};
  }
  TP proto;
  KILN_CHECK(proto.ParseFromString(data), kInvalidModel, "not a valid ONNX TensorProto (truncated or corrupt)");
  return {proto.name(), tensorFromProto(proto, baseDir)};
}

std::pair<std::string, HostTensor> readTensorFile(const std::string& path, ValueKind kind) {
  std::string data = readFileBytes(path, "tensor file");
  std::string dir = std::filesystem::path(path).parent_path().string();
  try {
    return parseTensorFile(data, kind, dir.empty() ? "." : dir);
  } catch (const Error& e) {
    throw Error(e.code(), concat("tensor file '", path, "': ", e.what()));
  }
}

void writeTensorFile(const std::string& path, const std::string& name, const HostTensor& value) {
  std::string data;
  bool ok = false;
  if (value.kind == ValueKind::kTensor) {
    TP proto;
    tensorToProto(value, name, &proto);
    ok = proto.SerializeToString(&data);
  } else if (value.kind == ValueKind::kSequence) {
    onnx::SequenceProto proto;
    sequenceToProto(value, name, &proto);
    ok = proto.SerializeToString(&data);
  } else {
    onnx::OptionalProto proto;
    proto.set_name(name);
    bool ofSequence = value.kind == ValueKind::kOptionalSequence;
    proto.set_elem_type(ofSequence ? onnx::OptionalProto::SEQUENCE : onnx::OptionalProto::TENSOR);
    if (!value.elements->empty()) {
      if (ofSequence) sequenceToProto((*value.elements)[0], "", proto.mutable_sequence_value());
      else tensorToProto((*value.elements)[0], "", proto.mutable_tensor_value());
    }
    ok = proto.SerializeToString(&data);
  }
  KILN_CHECK(ok, kInternal, "cannot serialize value '", name, "'");
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  KILN_CHECK(out.good(), kIOError, "cannot open '", path, "' for writing");
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  KILN_CHECK(out.good(), kIOError, "failed writing '", path, "'");
}

std::vector<ValueKind> modelValueKinds(const std::string& modelPath, bool outputs) {
  std::string data = readFileBytes(modelPath, "ONNX model");
  onnx::ModelProto model;
  KILN_CHECK(model.ParseFromString(data), kInvalidModel, "'", modelPath, "' is not a valid ONNX model");
  std::set<std::string> initializers;
  for (const auto& init : model.graph().initializer()) initializers.insert(init.name());
  std::vector<ValueKind> kinds;
  for (const auto& vi : outputs ? model.graph().output() : model.graph().input()) {
    if (!outputs && initializers.count(vi.name())) continue;
    const onnx::TypeProto& type = vi.type();
    ValueKind kind = ValueKind::kTensor;
    if (type.has_sequence_type()) kind = ValueKind::kSequence;
    else if (type.has_optional_type())
      kind = type.optional_type().elem_type().has_sequence_type() ? ValueKind::kOptionalSequence
                                                                 : ValueKind::kOptionalTensor;
    kinds.push_back(kind);
  }
  return kinds;
}

}  // namespace kiln::onnx_import
