// Kiln public value types: data types, dims, weights, errors, logging.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace kiln {

// Element types. Values are stable: they are written into plans.
enum class DataType : uint8_t {
  kFloat32 = 0,
  kFloat16 = 1,
  kBFloat16 = 2,
  kFloat64 = 3,
  kFP8E4M3 = 4,
  kInt8 = 5,
  kUInt8 = 6,
  kInt16 = 7,
  kUInt16 = 8,
  kInt32 = 9,
  kUInt32 = 10,
  kInt64 = 11,
  kUInt64 = 12,
  kBool = 13,
  kString = 14,  // host-only; one std::string per element
};

// What a value is: a dense tensor, or one of the host-only containers of ONNX (a sequence of tensors,
// an optional tensor or sequence). Values are stable: they are written into plans.
enum class ValueKind : uint8_t {
  kTensor = 0,
  kSequence = 1,          // Weights::elements: the tensors in order
  kOptionalTensor = 2,    // Weights::elements: empty (no value) or one tensor
  kOptionalSequence = 3,  // Weights::elements: empty (no value) or one sequence
};
const char* valueKindName(ValueKind kind);

// Bytes per element (sizeof(std::string) for kString).
size_t dataTypeSize(DataType type);
// "float32", "float16", ...
const char* dataTypeName(DataType type);

// A shape. A dimension of -1 is unknown until run time (a dynamic dimension).
using Dims = std::vector<int64_t>;
// Number of elements (1 for a scalar); -1 if any dimension is unknown. A count that does not fit in int64
// throws kiln::Error (kInvalidArgument) naming the shape.
int64_t volume(const Dims& dims);
// "[1,3,224,224]" with "?" for unknown dimensions.
std::string dimsToString(const Dims& dims);

// Host-resident weights: a type, a shape and bytes shared between copies.
// A sequence or optional value (kind != kTensor) has no bytes: `elements` holds its values, `type` is
// their element type and `shape` is {number of elements}.
struct Weights {
  DataType type = DataType::kFloat32;
  Dims shape;
  std::shared_ptr<const std::vector<uint8_t>> bytes;
  ValueKind kind = ValueKind::kTensor;
  std::shared_ptr<const std::vector<Weights>> elements;

  int64_t count() const { return volume(shape); }
  const void* data() const { return bytes ? bytes->data() : nullptr; }
  template <class T>
  const T* as() const { return reinterpret_cast<const T*>(data()); }
  // Makes weights owning a copy of `count` elements at `src` (strings: std::string array).
  static Weights copyOf(DataType type, Dims shape, const void* src);
  // Zeros; for kString, `count` empty strings.
  static Weights zeros(DataType type, Dims shape);
  // Type and shape without data: what a Shape layer reads of its input.
  static Weights shapeOnly(DataType type, Dims shape) {
    Weights w;
    w.type = type;
    w.shape = std::move(shape);
    return w;
  }
  // String weights (kString): `bytes` holds `count` constructed std::string objects, made by
  // copyOf/zeros/strings and destroyed with the buffer. Never memcpy them: copy element by element.
  static Weights strings(Dims shape, const std::vector<std::string>& values);
  // A sequence or optional value of `kind` holding `elements` (of element type `type`).
  static Weights container(ValueKind kind, DataType type, std::vector<Weights> elements);
};

// Error codes carried by kiln::Error.
enum class ErrorCode : uint8_t {
  kInvalidArgument,  // bad input from the caller: wrong name, shape, type, null address
  kInvalidModel,     // the model or network is malformed
  kUnsupported,      // a valid model uses something Kiln cannot run
  kInvalidPlan,      // a plan file is truncated, corrupted, or from another version or device
  kIOError,          // a file could not be read or written
  kRuntimeError,     // failure while running (device errors, allocation)
  kInternal,         // a bug in Kiln
  kCancelled,        // a run stopped by ExecutionContext::cancel() or its time limit
};
const char* errorCodeName(ErrorCode code);

// The one exception type Kiln throws. what() names the problem (file, node, tensor, shape).
class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message);
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

enum class Severity : uint8_t { kError = 0, kWarning = 1, kInfo = 2, kVerbose = 3 };

// Receives Kiln's messages. The default prints warnings and errors to stderr.
class Logger {
 public:
  virtual ~Logger() = default;
  virtual void log(Severity severity, const std::string& message);
  Severity minSeverity = Severity::kWarning;
};
// A process-wide logger used when none is given.
Logger& defaultLogger();

}  // namespace kiln
