#include <cstring>
#include <iostream>
#include <memory>
#include <mutex>
#include <new>

#include "core/checked_math.h"
#include "core/error.h"
#include "kiln/kiln.h"

namespace kiln {

size_t dataTypeSize(DataType type) {
  switch (type) {
    case DataType::kFloat32: return 4;
    case DataType::kFloat16: return 2;
    case DataType::kBFloat16: return 2;
    case DataType::kFloat64: return 8;
    case DataType::kFP8E4M3: return 1;
    case DataType::kInt8: return 1;
    case DataType::kUInt8: return 1;
    case DataType::kInt16: return 2;
    case DataType::kUInt16: return 2;
    case DataType::kInt32: return 4;
    case DataType::kUInt32: return 4;
    case DataType::kInt64: return 8;
    case DataType::kUInt64: return 8;
    case DataType::kBool: return 1;
    case DataType::kString: return sizeof(std::string);
  }
  fail(ErrorCode::kInternal, concat("unknown data type ", static_cast<int>(type)));
}

const char* dataTypeName(DataType type) {
  switch (type) {
    case DataType::kFloat32: return "float32";
    case DataType::kFloat16: return "float16";
    case DataType::kBFloat16: return "bfloat16";
    case DataType::kFloat64: return "float64";
    case DataType::kFP8E4M3: return "float8e4m3";
    case DataType::kInt8: return "int8";
    case DataType::kUInt8: return "uint8";
    case DataType::kInt16: return "int16";
    case DataType::kUInt16: return "uint16";
    case DataType::kInt32: return "int32";
    case DataType::kUInt32: return "uint32";
    case DataType::kInt64: return "int64";
    case DataType::kUInt64: return "uint64";
    case DataType::kBool: return "bool";
    case DataType::kString: return "string";
  }
  return "unknown";
}

int64_t volume(const Dims& dims) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0) return -1;
  }
  for (int64_t d : dims)
    KILN_CHECK(!__builtin_mul_overflow(n, d, &n), kInvalidArgument, "size overflow: the shape ", dimsToString(dims),
               " has more elements than fit in 64 bits");
  return n;
}

int64_t checkedVolume(const Dims& shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    if (d < 0) return -1;
  for (int64_t d : shape)
    if (__builtin_mul_overflow(n, d, &n)) return -1;
  return n;
}

int64_t checkedByteSize(DataType type, const Dims& shape) {
  int64_t n = checkedVolume(shape), bytes = 0;
  if (n < 0 || __builtin_mul_overflow(n, static_cast<int64_t>(dataTypeSize(type)), &bytes)) return -1;
  return bytes;
}

int64_t mulOrThrow(int64_t a, int64_t b, const std::string& what) {
  int64_t r = 0;
  KILN_CHECK(!__builtin_mul_overflow(a, b, &r), kInvalidArgument, "size overflow: ", what, ": ", a, " * ", b,
             " does not fit in 64 bits");
  return r;
}

int64_t addOrThrow(int64_t a, int64_t b, const std::string& what) {
  int64_t r = 0;
  KILN_CHECK(!__builtin_add_overflow(a, b, &r), kInvalidArgument, "size overflow: ", what, ": ", a, " + ", b,
             " does not fit in 64 bits");
  return r;
}

int64_t byteSizeOrThrow(DataType type, const Dims& shape, const std::string& what) {
  for (int64_t d : shape)
    if (d < 0) return -1;
  int64_t bytes = checkedByteSize(type, shape);
  KILN_CHECK(bytes >= 0, kInvalidArgument, "size overflow: ", what, " of type ", dataTypeName(type), " and shape ",
             dimsToString(shape), " needs more bytes than fit in 64 bits");
  return bytes;
}

std::string dimsToString(const Dims& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ",";
    s += dims[i] < 0 ? std::string("?") : std::to_string(dims[i]);
  }
  return s + "]";
}

namespace {

// A buffer of `n` std::string objects, copy-constructed from `src` (default-constructed when null),
// destroyed by the shared_ptr's deleter. operator new aligns the vector's data for std::string.
std::shared_ptr<std::vector<uint8_t>> makeStringBuffer(int64_t n, const std::string* src) {
  auto destroy = [n](std::vector<uint8_t>* v) {
    auto* s = reinterpret_cast<std::string*>(v->data());
    for (int64_t i = 0; i < n; ++i) s[i].~basic_string();
    delete v;
  };
  auto owned = std::make_unique<std::vector<uint8_t>>(static_cast<size_t>(n) * sizeof(std::string));
  auto* s = reinterpret_cast<std::string*>(owned->data());
  int64_t made = 0;
  try {
    for (; made < n; ++made) new (s + made) std::string(src ? src[made] : std::string());
  } catch (...) {
    for (int64_t i = 0; i < made; ++i) s[i].~basic_string();
    throw;
  }
  return std::shared_ptr<std::vector<uint8_t>>(owned.release(), destroy);
}

}  // namespace

Weights Weights::strings(Dims shape, const std::vector<std::string>& values) {
  KILN_CHECK(volume(shape) == static_cast<int64_t>(values.size()), kInvalidArgument, "string weights of shape ",
             dimsToString(shape), " need ", volume(shape), " values, got ", values.size());
  return copyOf(DataType::kString, std::move(shape), values.data());
}

Weights Weights::copyOf(DataType type, Dims shape, const void* src) {
  Weights w;
  w.type = type;
  w.shape = std::move(shape);
  int64_t n = volume(w.shape);
  KILN_CHECK(n >= 0, kInvalidArgument, "weights need a known shape, got ", dimsToString(w.shape));
  KILN_CHECK(n == 0 || src != nullptr, kInvalidArgument, "weights of shape ", dimsToString(w.shape), " have no data");
  if (type == DataType::kString) {
    w.bytes = makeStringBuffer(n, static_cast<const std::string*>(src));
    return w;
  }
  auto bytes = std::make_shared<std::vector<uint8_t>>(static_cast<size_t>(n) * dataTypeSize(type));
  if (n > 0) std::memcpy(bytes->data(), src, bytes->size());
  w.bytes = std::move(bytes);
  return w;
}

Weights Weights::zeros(DataType type, Dims shape) {
  Weights w;
  w.type = type;
  w.shape = std::move(shape);
  if (type == DataType::kString) w.bytes = makeStringBuffer(volume(w.shape), nullptr);
  else w.bytes = std::make_shared<std::vector<uint8_t>>(static_cast<size_t>(volume(w.shape)) * dataTypeSize(type));
  return w;
}

Weights Weights::container(ValueKind kind, DataType type, std::vector<Weights> elements) {
  KILN_CHECK(kind != ValueKind::kTensor, kInternal, "Weights::container needs a sequence or optional kind");
  KILN_CHECK(kind == ValueKind::kSequence || elements.size() <= 1, kInternal, "an optional holds at most one value");
  Weights w;
  w.type = type;
  w.kind = kind;
  w.shape = {static_cast<int64_t>(elements.size())};
  w.elements = std::make_shared<const std::vector<Weights>>(std::move(elements));
  return w;
}

const char* valueKindName(ValueKind kind) {
  switch (kind) {
    case ValueKind::kTensor: return "tensor";
    case ValueKind::kSequence: return "sequence";
    case ValueKind::kOptionalTensor: return "optional tensor";
    case ValueKind::kOptionalSequence: return "optional sequence";
  }
  return "unknown";
}

const char* errorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalid argument";
    case ErrorCode::kInvalidModel: return "invalid model";
    case ErrorCode::kUnsupported: return "unsupported";
    case ErrorCode::kInvalidPlan: return "invalid plan";
    case ErrorCode::kIOError: return "I/O error";
    case ErrorCode::kRuntimeError: return "runtime error";
    case ErrorCode::kCancelled: return "cancelled";
    case ErrorCode::kInternal: return "internal error";
  }
  return "error";
}

Error::Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}

void Logger::log(Severity severity, const std::string& message) {
  if (severity > minSeverity) return;
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  static const char* names[] = {"error", "warning", "info", "verbose"};
  std::cerr << "[kiln " << names[static_cast<int>(severity)] << "] " << message << "\n";
}

Logger& defaultLogger() {
  static Logger logger;
  return logger;
}

const char* version() { return "0.1.0"; }

}  // namespace kiln
