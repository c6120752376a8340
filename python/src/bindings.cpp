// kiln._kiln: Python bindings of Kiln's public C++ API (include/kiln/).
//
// Naming follows Python conventions (snake_case methods, UPPER_CASE enum values). Every kiln::Error
// becomes a kiln.Error exception carrying Kiln's message and its ErrorCode (`.code`).
//
// Network tensors and layers are handed out as small handle objects that keep their network alive.
// Building a network optimizes (rewrites) it, so handles taken before a build are stale afterwards:
// using one raises kiln.Error instead of touching freed memory.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kiln/kiln.h"

namespace py = pybind11;
using namespace kiln;

namespace {

// ---- errors ---------------------------------------------------------------------------------------

PyObject* gErrorType = nullptr;  // kiln.Error; owned by the module, never freed

[[noreturn]] void raise(ErrorCode code, const std::string& message) { throw Error(code, message); }

// ---- shapes ---------------------------------------------------------------------------------------

py::tuple toTuple(const Dims& dims) {
  py::tuple t(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) t[i] = py::int_(dims[i]);
  return t;
}

// ---- data types -----------------------------------------------------------------------------------

// A DataType from a kiln.DataType, a numpy dtype, or anything numpy.dtype() accepts ("float32", np.int64).
DataType toDataType(py::handle obj) {
  if (py::isinstance<DataType>(obj)) return obj.cast<DataType>();
  py::dtype dt = py::dtype::from_args(py::reinterpret_borrow<py::object>(obj));
  const char kind = dt.kind();
  const auto size = static_cast<size_t>(dt.itemsize());
  switch (kind) {
    case 'f':
      if (size == 2) return DataType::kFloat16;
      if (size == 4) return DataType::kFloat32;
      if (size == 8) return DataType::kFloat64;
      break;
    case 'i':
      if (size == 1) return DataType::kInt8;
      if (size == 2) return DataType::kInt16;
      if (size == 4) return DataType::kInt32;
      if (size == 8) return DataType::kInt64;
      break;
    case 'u':
      if (size == 1) return DataType::kUInt8;
      if (size == 2) return DataType::kUInt16;
      if (size == 4) return DataType::kUInt32;
      if (size == 8) return DataType::kUInt64;
      break;
    case 'b':
      return DataType::kBool;
    default: {
      // ml_dtypes' extension types
      std::string name = py::str(dt.attr("name"));
      if (name == "bfloat16") return DataType::kBFloat16;
      if (name == "float8_e4m3fn") return DataType::kFP8E4M3;
      break;
    }
  }
  raise(ErrorCode::kInvalidArgument,
        "numpy dtype '" + std::string(py::str(dt.attr("name"))) + "' has no Kiln data type");
}

// Host weights owning a copy of a numpy array (any layout; converted to C order).
Weights toWeights(py::handle obj, py::handle dtypeOverride) {
  py::array arr = py::array::ensure(obj, py::array::c_style);
  if (!arr) raise(ErrorCode::kInvalidArgument, "weights must be convertible to a numpy array");
  DataType type = dtypeOverride.is_none() ? toDataType(arr.dtype()) : toDataType(dtypeOverride);
  if (type == DataType::kString) raise(ErrorCode::kInvalidArgument, "string weights are not supported from Python");
  if (dataTypeSize(type) != static_cast<size_t>(arr.itemsize()))
    raise(ErrorCode::kInvalidArgument, std::string("weights of type ") + dataTypeName(type) + " need " +
                                           std::to_string(dataTypeSize(type)) + "-byte elements, the array has " +
                                           std::to_string(arr.itemsize()));
  Dims shape(arr.shape(), arr.shape() + arr.ndim());
  if (type == DataType::kBool) {
    // normalize to 0/1 bytes
    std::vector<uint8_t> bytes(static_cast<size_t>(arr.size()));
    const auto* src = static_cast<const uint8_t*>(arr.data());
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = src[i] ? 1 : 0;
    return Weights::copyOf(type, shape, bytes.data());
  }
  return Weights::copyOf(type, shape, arr.data());
}

// A numpy array copy of weights (for introspection of parameters).
py::object weightsToArray(const Weights& w) {
  if (!w.bytes || w.type == DataType::kString) return py::none();
  py::module_ np = py::module_::import("numpy");
  std::string name;
  switch (w.type) {
    case DataType::kFloat32: name = "float32"; break;
    case DataType::kFloat16: name = "float16"; break;
    case DataType::kFloat64: name = "float64"; break;
    case DataType::kBFloat16: name = "uint16"; break;
    case DataType::kFP8E4M3: name = "uint8"; break;
    case DataType::kInt8: name = "int8"; break;
    case DataType::kUInt8: name = "uint8"; break;
    case DataType::kInt16: name = "int16"; break;
    case DataType::kUInt16: name = "uint16"; break;
    case DataType::kInt32: name = "int32"; break;
    case DataType::kUInt32: name = "uint32"; break;
    case DataType::kInt64: name = "int64"; break;
    case DataType::kUInt64: name = "uint64"; break;
    case DataType::kBool: name = "bool"; break;
    default: return py::none();
  }
  py::array out(py::dtype(name), std::vector<py::ssize_t>(w.shape.begin(), w.shape.end()));
  std::memcpy(out.mutable_data(), w.data(), static_cast<size_t>(out.nbytes()));
  return out;
}

// ---- logger ---------------------------------------------------------------------------------------

class PyLogger : public Logger {
 public:
  using Logger::Logger;
  void log(Severity severity, const std::string& message) override {
    PYBIND11_OVERRIDE(void, Logger, log, severity, message);
  }
};

Logger& loggerOf(py::handle logger) { return logger.is_none() ? defaultLogger() : logger.cast<Logger&>(); }

// ---- network handles ------------------------------------------------------------------------------

struct NetworkHandle {
  std::unique_ptr<NetworkDefinition> net;
  uint64_t generation = 0;  // bumped when the builder rewrites the network
  py::object logger;        // the logger of the builder that made it (kept alive)
};
using NetworkPtr = std::shared_ptr<NetworkHandle>;

void checkFresh(const NetworkPtr& owner, uint64_t generation, const char* what) {
  if (owner->generation != generation)
    raise(ErrorCode::kInvalidArgument,
          std::string("stale ") + what +
              " handle: the network was rewritten by build_serialized_network; look it up again "
              "(network.get_tensor(name), network.layer(i))");
}

struct TensorHandle {
  NetworkPtr owner;
  ITensor* tensor;
  uint64_t generation;
  ITensor* get() const {
    checkFresh(owner, generation, "tensor");
    return tensor;
  }
};

struct LayerHandle {
  NetworkPtr owner;
  ILayer* layer;
  uint64_t generation;
  ILayer* get() const {
    checkFresh(owner, generation, "layer");
    return layer;
  }
};

py::object wrapTensor(const NetworkPtr& owner, ITensor* t) {
  if (t == nullptr) return py::none();
  return py::cast(TensorHandle{owner, t, owner->generation});
}
py::object wrapLayer(const NetworkPtr& owner, ILayer* l) {
  if (l == nullptr) return py::none();
  return py::cast(LayerHandle{owner, l, owner->generation});
}

ITensor* unwrap(const NetworkPtr& net, const TensorHandle& t) {
  if (t.owner.get() != net.get()) raise(ErrorCode::kInvalidArgument, "tensor '" + t.tensor->name() + "' belongs to another network");
  return t.get();
}
ITensor* unwrapOptional(const NetworkPtr& net, py::handle obj) {
  if (obj.is_none()) return nullptr;
  return unwrap(net, obj.cast<const TensorHandle&>());
}
std::vector<ITensor*> unwrapList(const NetworkPtr& net, const py::iterable& items) {
  std::vector<ITensor*> out;
  for (py::handle h : items) out.push_back(unwrapOptional(net, h));
  return out;
}

// ---- layer parameters -----------------------------------------------------------------------------

// Converters from bound params objects to LayerParams, one per bound params class.
std::vector<std::function<bool(py::handle, LayerParams&)>>& paramsConverters() {
  static std::vector<std::function<bool(py::handle, LayerParams&)>> converters;
  return converters;
}

LayerParams toLayerParams(py::handle obj) {
  LayerParams out;
  for (auto& convert : paramsConverters())
    if (convert(obj, out)) return out;
  raise(ErrorCode::kInvalidArgument,
        "add_layer: " + std::string(py::str(py::type::of(obj).attr("__name__"))) + " is not a Kiln layer params object");
}

template <class P>
py::class_<P> bindParams(py::module_& m, const char* name) {
  paramsConverters().push_back([](py::handle h, LayerParams& out) {
    if (!py::isinstance<P>(h)) return false;
    out = h.cast<P>();
    return true;
  });
  py::class_<P> cls(m, name);
  // P(field=value, ...): keyword arguments set fields.
  cls.def(py::init([](py::kwargs fields) {
    py::object tmp = py::cast(P{});
    for (auto item : fields) py::setattr(tmp, item.first, item.second);
    return tmp.cast<P>();
  }));
  cls.def_property_readonly_static("layer_type", [](py::object) { return P::kType; });
  return cls;
}

py::object paramsToPython(const LayerParams& params) {
  return std::visit(
      [](const auto& p) -> py::object {
        using P = std::decay_t<decltype(p)>;
        if (py::detail::get_type_info(typeid(P)) == nullptr) return py::none();
        return py::cast(p);
      },
      params);
}

// ---- DLPack (for zero-copy binding of __dlpack__ producers) -------------------------------------

struct DLDevice {
  int32_t device_type;
  int32_t device_id;
};
struct DLDataType {
  uint8_t code;
  uint8_t bits;
  uint16_t lanes;
};
struct DLTensor {
  void* data;
  DLDevice device;
  int32_t ndim;
  DLDataType dtype;
  int64_t* shape;
  int64_t* strides;
  uint64_t byte_offset;
};
struct DLManagedTensor {
  DLTensor dl_tensor;
  void* manager_ctx;
  void (*deleter)(DLManagedTensor*);
};
struct DLPackVersion {
  uint32_t major;
  uint32_t minor;
};
struct DLManagedTensorVersioned {
  DLPackVersion version;
  void* manager_ctx;
  void (*deleter)(DLManagedTensorVersioned*);
  uint64_t flags;
  DLTensor dl_tensor;
};

py::dict dlpackInfo(py::object capsule) {
  PyObject* cap = capsule.ptr();
  if (!PyCapsule_CheckExact(cap)) raise(ErrorCode::kInvalidArgument, "expected a DLPack capsule");
  const char* name = PyCapsule_GetName(cap);
  const DLTensor* t = nullptr;
  if (name && std::strcmp(name, "dltensor") == 0) {
    auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(cap, name));
    if (!m) throw py::error_already_set();
    t = &m->dl_tensor;
  } else if (name && std::strcmp(name, "dltensor_versioned") == 0) {
    auto* m = static_cast<DLManagedTensorVersioned*>(PyCapsule_GetPointer(cap, name));
    if (!m) throw py::error_already_set();
    if (m->version.major != 1) raise(ErrorCode::kInvalidArgument, "unsupported DLPack major version " + std::to_string(m->version.major));
    t = &m->dl_tensor;
  } else {
    raise(ErrorCode::kInvalidArgument, std::string("not a DLPack capsule (or already consumed): ") + (name ? name : "<unnamed>"));
  }
  py::dict d;
  d["data"] = py::int_(reinterpret_cast<uintptr_t>(t->data) + t->byte_offset);
  d["device_type"] = t->device.device_type;
  d["device_id"] = t->device.device_id;
  Dims shape(t->shape, t->shape + t->ndim);
  d["shape"] = toTuple(shape);
  if (t->strides) {
    Dims strides(t->strides, t->strides + t->ndim);
    d["strides"] = toTuple(strides);
  } else {
    d["strides"] = py::none();
  }
  d["dtype"] = py::make_tuple(t->dtype.code, t->dtype.bits, t->dtype.lanes);
  return d;
}

// config.calibrator: a Python object whose get_batch() returns {input name: array} (numpy, or anything with
// .numpy() such as a torch tensor), or None when done. Called by the builder without the GIL.
class PythonCalibrator : public Calibrator {
 public:
  explicit PythonCalibrator(py::object source)
      : source_(new py::object(std::move(source)), [](py::object* o) {
          py::gil_scoped_acquire acquire;
          delete o;
        }) {}
  bool nextBatch(CalibrationBatch& batch) override {
    py::gil_scoped_acquire acquire;
    try {
      py::object result = source_->attr("get_batch")();
      if (result.is_none()) return false;
      if (!py::isinstance<py::dict>(result))
        throw Error(ErrorCode::kInvalidArgument, "calibrator.get_batch() must return a dict {input name: array} or None");
      for (auto [key, value] : result.cast<py::dict>()) {
        py::object array = py::reinterpret_borrow<py::object>(value);
        if (!py::isinstance<py::array>(array) && py::hasattr(array, "detach"))  // a torch tensor
          array = array.attr("detach")().attr("cpu")().attr("numpy")();
        else if (!py::isinstance<py::array>(array) && py::hasattr(array, "numpy"))
          array = array.attr("numpy")();
        auto floats = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(array);
        if (!floats)
          throw Error(ErrorCode::kInvalidArgument,
                      "calibrator.get_batch(): the value of '" + py::str(key).cast<std::string>() + "' is not an array");
        CalibrationTensor& tensor = batch[py::str(key).cast<std::string>()];
        tensor.dims.assign(floats.shape(), floats.shape() + floats.ndim());
        tensor.values.assign(floats.data(), floats.data() + floats.size());
      }
      return true;
    } catch (py::error_already_set& e) {
      throw Error(ErrorCode::kInvalidArgument, std::string("calibrator.get_batch() raised ") + e.what());
    }
  }
  const py::object& source() const { return *source_; }

 private:
  std::shared_ptr<py::object> source_;
};

template <class E>
E enumFromName(const std::string& text, const std::vector<std::pair<const char*, E>>& names, const char* what) {
  std::string known;
  for (auto& [name, value] : names) {
    if (text == name) return value;
    known += (known.empty() ? "" : ", ") + std::string(name);
  }
  throw Error(ErrorCode::kInvalidArgument, std::string(what) + " '" + text + "' is not one of " + known);
}

const std::vector<std::pair<const char*, CalibrationMethod>> kCalibrationMethods = {
    {"entropy", CalibrationMethod::kEntropy}, {"minmax", CalibrationMethod::kMinMax},
    {"percentile", CalibrationMethod::kPercentile}};
const std::vector<std::pair<const char*, PrecisionConstraints>> kConstraints = {
    {"none", PrecisionConstraints::kNone}, {"prefer", PrecisionConstraints::kPrefer}, {"obey", PrecisionConstraints::kObey}};
const std::vector<std::pair<const char*, DataType>> kPrecisions = {
    {"fp32", DataType::kFloat32}, {"fp16", DataType::kFloat16}, {"bf16", DataType::kBFloat16},
    {"int8", DataType::kInt8}, {"fp8", DataType::kFP8E4M3}};

template <class E>
const char* nameOf(E value, const std::vector<std::pair<const char*, E>>& names) {
  for (auto& [name, v] : names)
    if (v == value) return name;
  return "?";
}

}  // namespace

PYBIND11_MODULE(_kiln, m) {
  m.doc() = "Kiln deep-learning inference engine: Python bindings of the C++ API";
  m.attr("__version__") = version();
  m.def("version", &version, "Kiln's version string");

  // ---- enums ----
  py::enum_<ErrorCode>(m, "ErrorCode")
      .value("INVALID_ARGUMENT", ErrorCode::kInvalidArgument)
      .value("INVALID_MODEL", ErrorCode::kInvalidModel)
      .value("UNSUPPORTED", ErrorCode::kUnsupported)
      .value("INVALID_PLAN", ErrorCode::kInvalidPlan)
      .value("IO_ERROR", ErrorCode::kIOError)
      .value("RUNTIME_ERROR", ErrorCode::kRuntimeError)
      .value("INTERNAL", ErrorCode::kInternal)
      .value("CANCELLED", ErrorCode::kCancelled);

  gErrorType = PyErr_NewExceptionWithDoc(
      "kiln.Error",
      "Raised for every failure reported by Kiln. str(e) is Kiln's message; e.code is a kiln.ErrorCode.",
      PyExc_RuntimeError, nullptr);
  m.add_object("Error", py::handle(gErrorType));
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      py::object type = py::reinterpret_borrow<py::object>(gErrorType);
      py::object exc = type(py::str(e.what()));
      exc.attr("code") = py::cast(e.code());
      exc.attr("message") = py::str(e.what());
      PyErr_SetObject(gErrorType, exc.ptr());
    }
  });

  py::enum_<DataType>(m, "DataType")
      .value("FLOAT32", DataType::kFloat32)
      .value("FLOAT16", DataType::kFloat16)
      .value("BFLOAT16", DataType::kBFloat16)
      .value("FLOAT64", DataType::kFloat64)
      .value("FP8E4M3", DataType::kFP8E4M3)
      .value("INT8", DataType::kInt8)
      .value("UINT8", DataType::kUInt8)
      .value("INT16", DataType::kInt16)
      .value("UINT16", DataType::kUInt16)
      .value("INT32", DataType::kInt32)
      .value("UINT32", DataType::kUInt32)
      .value("INT64", DataType::kInt64)
      .value("UINT64", DataType::kUInt64)
      .value("BOOL", DataType::kBool)
      .value("STRING", DataType::kString)
      .def_property_readonly("itemsize", [](DataType t) { return dataTypeSize(t); })
      .def_property_readonly("type_name", [](DataType t) { return std::string(dataTypeName(t)); });
  m.def("data_type", [](py::object obj) { return toDataType(obj); }, py::arg("dtype"),
        "The kiln.DataType of a numpy dtype (or anything numpy.dtype() accepts)");

  py::enum_<Severity>(m, "Severity")
      .value("ERROR", Severity::kError)
      .value("WARNING", Severity::kWarning)
      .value("INFO", Severity::kInfo)
      .value("VERBOSE", Severity::kVerbose);

  py::enum_<LayerType>(m, "LayerType")
      .value("CONSTANT", LayerType::kConstant)
      .value("IDENTITY", LayerType::kIdentity)
      .value("CAST", LayerType::kCast)
      .value("ELEMENTWISE", LayerType::kElementWise)
      .value("UNARY", LayerType::kUnary)
      .value("ACTIVATION", LayerType::kActivation)
      .value("MATRIX_MULTIPLY", LayerType::kMatrixMultiply)
      .value("CONVOLUTION", LayerType::kConvolution)
      .value("DECONVOLUTION", LayerType::kDeconvolution)
      .value("POOLING", LayerType::kPooling)
      .value("REDUCE", LayerType::kReduce)
      .value("SOFTMAX", LayerType::kSoftmax)
      .value("NORMALIZATION", LayerType::kNormalization)
      .value("RESHAPE", LayerType::kReshape)
      .value("TRANSPOSE", LayerType::kTranspose)
      .value("CONCATENATION", LayerType::kConcatenation)
      .value("SLICE", LayerType::kSlice)
      .value("SPLIT", LayerType::kSplit)
      .value("GATHER", LayerType::kGather)
      .value("SCATTER", LayerType::kScatter)
      .value("SHAPE", LayerType::kShape)
      .value("CONSTANT_OF_SHAPE", LayerType::kConstantOfShape)
      .value("RANGE", LayerType::kRange)
      .value("EXPAND", LayerType::kExpand)
      .value("TILE", LayerType::kTile)
      .value("SELECT", LayerType::kSelect)
      .value("PADDING", LayerType::kPadding)
      .value("RESIZE", LayerType::kResize)
      .value("TOPK", LayerType::kTopK)
      .value("ARG_MIN_MAX", LayerType::kArgMinMax)
      .value("CUMSUM", LayerType::kCumSum)
      .value("EINSUM", LayerType::kEinsum)
      .value("NONZERO", LayerType::kNonZero)
      .value("ONE_HOT", LayerType::kOneHot)
      .value("QUANTIZE", LayerType::kQuantize)
      .value("DEQUANTIZE", LayerType::kDequantize)
      .value("TRILU", LayerType::kTrilu)
      .value("LRN", LayerType::kLRN)
      .value("SPACE_DEPTH", LayerType::kSpaceDepth)
      .value("GRID_SAMPLE", LayerType::kGridSample)
      .value("NON_MAX_SUPPRESSION", LayerType::kNonMaxSuppression)
      .value("ROI_ALIGN", LayerType::kRoiAlign)
      .value("UNIQUE", LayerType::kUnique)
      .value("DETERMINANT", LayerType::kDeterminant)
      .value("TFIDF_VECTORIZER", LayerType::kTfIdfVectorizer)
      .value("DFT", LayerType::kDFT)
      .value("STFT", LayerType::kSTFT)
      .value("WINDOW", LayerType::kWindow)
      .value("MEL_WEIGHT_MATRIX", LayerType::kMelWeightMatrix)
      .value("RANDOM", LayerType::kRandom)
      .value("RECURRENT", LayerType::kRecurrent)
      .value("IF", LayerType::kIf)
      .value("LOOP", LayerType::kLoop)
      .value("SCAN", LayerType::kScan)
      .value("SEQUENCE", LayerType::kSequence)
      .value("OPTIONAL", LayerType::kOptional)
      .value("SEQUENCE_MAP", LayerType::kSequenceMap)
      .value("ATTENTION", LayerType::kAttention)
      .def_property_readonly("type_name", [](LayerType t) { return std::string(layerTypeName(t)); });

  py::enum_<ElementWiseOp>(m, "ElementWiseOp")
      .value("ADD", ElementWiseOp::kAdd)
      .value("SUB", ElementWiseOp::kSub)
      .value("MUL", ElementWiseOp::kMul)
      .value("DIV", ElementWiseOp::kDiv)
      .value("POW", ElementWiseOp::kPow)
      .value("MAX", ElementWiseOp::kMax)
      .value("MIN", ElementWiseOp::kMin)
      .value("MOD", ElementWiseOp::kMod)
      .value("FMOD", ElementWiseOp::kFMod)
      .value("AND", ElementWiseOp::kAnd)
      .value("OR", ElementWiseOp::kOr)
      .value("XOR", ElementWiseOp::kXor)
      .value("EQUAL", ElementWiseOp::kEqual)
      .value("LESS", ElementWiseOp::kLess)
      .value("GREATER", ElementWiseOp::kGreater)
      .value("LESS_OR_EQUAL", ElementWiseOp::kLessOrEqual)
      .value("GREATER_OR_EQUAL", ElementWiseOp::kGreaterOrEqual)
      .value("BIT_SHIFT_LEFT", ElementWiseOp::kBitShiftLeft)
      .value("BIT_SHIFT_RIGHT", ElementWiseOp::kBitShiftRight)
      .value("BITWISE_AND", ElementWiseOp::kBitwiseAnd)
      .value("BITWISE_OR", ElementWiseOp::kBitwiseOr)
      .value("BITWISE_XOR", ElementWiseOp::kBitwiseXor)
      .value("PRELU", ElementWiseOp::kPRelu);

  py::enum_<UnaryOp>(m, "UnaryOp")
      .value("ABS", UnaryOp::kAbs)
      .value("NEG", UnaryOp::kNeg)
      .value("EXP", UnaryOp::kExp)
      .value("LOG", UnaryOp::kLog)
      .value("SQRT", UnaryOp::kSqrt)
      .value("RECIPROCAL", UnaryOp::kReciprocal)
      .value("FLOOR", UnaryOp::kFloor)
      .value("CEIL", UnaryOp::kCeil)
      .value("ROUND", UnaryOp::kRound)
      .value("SIN", UnaryOp::kSin)
      .value("COS", UnaryOp::kCos)
      .value("TAN", UnaryOp::kTan)
      .value("ASIN", UnaryOp::kAsin)
      .value("ACOS", UnaryOp::kAcos)
      .value("ATAN", UnaryOp::kAtan)
      .value("SINH", UnaryOp::kSinh)
      .value("COSH", UnaryOp::kCosh)
      .value("ASINH", UnaryOp::kAsinh)
      .value("ACOSH", UnaryOp::kAcosh)
      .value("ATANH", UnaryOp::kAtanh)
      .value("ERF", UnaryOp::kErf)
      .value("SIGN", UnaryOp::kSign)
      .value("NOT", UnaryOp::kNot)
      .value("ISNAN", UnaryOp::kIsNaN)
      .value("ISINF", UnaryOp::kIsInf)
      .value("ISINF_POSITIVE", UnaryOp::kIsInfPositive)
      .value("ISINF_NEGATIVE", UnaryOp::kIsInfNegative)
      .value("BITWISE_NOT", UnaryOp::kBitwiseNot);

  py::enum_<ActivationType>(m, "ActivationType")
      .value("RELU", ActivationType::kRelu)
      .value("SIGMOID", ActivationType::kSigmoid)
      .value("TANH", ActivationType::kTanh)
      .value("LEAKY_RELU", ActivationType::kLeakyRelu)
      .value("ELU", ActivationType::kElu)
      .value("SELU", ActivationType::kSelu)
      .value("CLIP", ActivationType::kClip)
      .value("HARD_SIGMOID", ActivationType::kHardSigmoid)
      .value("HARD_SWISH", ActivationType::kHardSwish)
      .value("SOFTPLUS", ActivationType::kSoftplus)
      .value("SOFTSIGN", ActivationType::kSoftsign)
      .value("THRESHOLDED_RELU", ActivationType::kThresholdedRelu)
      .value("GELU", ActivationType::kGelu)
      .value("MISH", ActivationType::kMish)
      .value("CELU", ActivationType::kCelu);

  py::enum_<PaddingMode>(m, "PaddingMode")
      .value("EXPLICIT", PaddingMode::kExplicit)
      .value("SAME_UPPER", PaddingMode::kSameUpper)
      .value("SAME_LOWER", PaddingMode::kSameLower)
      .value("VALID", PaddingMode::kValid);
  py::enum_<PoolingType>(m, "PoolingType")
      .value("MAX", PoolingType::kMax)
      .value("AVERAGE", PoolingType::kAverage)
      .value("LP", PoolingType::kLp);
  py::enum_<ReduceOp>(m, "ReduceOp")
      .value("SUM", ReduceOp::kSum)
      .value("MEAN", ReduceOp::kMean)
      .value("MAX", ReduceOp::kMax)
      .value("MIN", ReduceOp::kMin)
      .value("PROD", ReduceOp::kProd)
      .value("L1", ReduceOp::kL1)
      .value("L2", ReduceOp::kL2)
      .value("LOG_SUM", ReduceOp::kLogSum)
      .value("LOG_SUM_EXP", ReduceOp::kLogSumExp)
      .value("SUM_SQUARE", ReduceOp::kSumSquare);
  py::enum_<SoftmaxType>(m, "SoftmaxType")
      .value("SOFTMAX", SoftmaxType::kSoftmax)
      .value("LOG_SOFTMAX", SoftmaxType::kLogSoftmax)
      .value("HARDMAX", SoftmaxType::kHardmax);
  py::enum_<NormalizationType>(m, "NormalizationType")
      .value("BATCH", NormalizationType::kBatch)
      .value("INSTANCE", NormalizationType::kInstance)
      .value("LAYER", NormalizationType::kLayer)
      .value("GROUP", NormalizationType::kGroup)
      .value("RMS", NormalizationType::kRMS);
  py::enum_<ReshapeMode>(m, "ReshapeMode")
      .value("SHAPE_TENSOR", ReshapeMode::kShapeTensor)
      .value("FLATTEN", ReshapeMode::kFlatten)
      .value("SQUEEZE", ReshapeMode::kSqueeze)
      .value("UNSQUEEZE", ReshapeMode::kUnsqueeze);
  py::enum_<GatherMode>(m, "GatherMode")
      .value("DEFAULT", GatherMode::kDefault)
      .value("ELEMENTS", GatherMode::kElements)
      .value("ND", GatherMode::kND);
  py::enum_<PadMode>(m, "PadMode")
      .value("CONSTANT", PadMode::kConstant)
      .value("REFLECT", PadMode::kReflect)
      .value("EDGE", PadMode::kEdge)
      .value("WRAP", PadMode::kWrap);
  py::enum_<AttentionLayout>(m, "AttentionLayout")
      .value("BHSD", AttentionLayout::kBHSD)
      .value("BSHD", AttentionLayout::kBSHD);
  py::enum_<TensorIOMode>(m, "TensorIOMode")
      .value("NONE", TensorIOMode::kNone)
      .value("INPUT", TensorIOMode::kInput)
      .value("OUTPUT", TensorIOMode::kOutput);

  // ---- layer params (for NetworkDefinition.add_layer and ILayer.params) ----
  bindParams<IdentityParams>(m, "IdentityParams");
  bindParams<CastParams>(m, "CastParams").def_readwrite("to", &CastParams::to).def_readwrite("saturate", &CastParams::saturate);
  bindParams<ElementWiseParams>(m, "ElementWiseParams").def_readwrite("op", &ElementWiseParams::op);
  bindParams<UnaryParams>(m, "UnaryParams").def_readwrite("op", &UnaryParams::op);
  bindParams<ActivationParams>(m, "ActivationParams")
      .def_readwrite("type", &ActivationParams::type)
      .def_readwrite("alpha", &ActivationParams::alpha)
      .def_readwrite("beta", &ActivationParams::beta);
  bindParams<MatrixMultiplyParams>(m, "MatrixMultiplyParams")
      .def_readwrite("transpose_a", &MatrixMultiplyParams::transposeA)
      .def_readwrite("transpose_b", &MatrixMultiplyParams::transposeB);
  bindParams<ConvolutionParams>(m, "ConvolutionParams")
      .def_readwrite("kernel_shape", &ConvolutionParams::kernelShape)
      .def_readwrite("strides", &ConvolutionParams::strides)
      .def_readwrite("dilations", &ConvolutionParams::dilations)
      .def_readwrite("pads_begin", &ConvolutionParams::padsBegin)
      .def_readwrite("pads_end", &ConvolutionParams::padsEnd)
      .def_readwrite("padding_mode", &ConvolutionParams::paddingMode)
      .def_readwrite("groups", &ConvolutionParams::groups)
      .def_readwrite("output_min", &ConvolutionParams::outputMin)
      .def_readwrite("output_max", &ConvolutionParams::outputMax);
  bindParams<DeconvolutionParams>(m, "DeconvolutionParams")
      .def_readwrite("kernel_shape", &DeconvolutionParams::kernelShape)
      .def_readwrite("strides", &DeconvolutionParams::strides)
      .def_readwrite("dilations", &DeconvolutionParams::dilations)
      .def_readwrite("pads_begin", &DeconvolutionParams::padsBegin)
      .def_readwrite("pads_end", &DeconvolutionParams::padsEnd)
      .def_readwrite("output_padding", &DeconvolutionParams::outputPadding)
      .def_readwrite("output_shape", &DeconvolutionParams::outputShape)
      .def_readwrite("padding_mode", &DeconvolutionParams::paddingMode)
      .def_readwrite("groups", &DeconvolutionParams::groups);
  bindParams<PoolingParams>(m, "PoolingParams")
      .def_readwrite("type", &PoolingParams::type)
      .def_readwrite("kernel_shape", &PoolingParams::kernelShape)
      .def_readwrite("strides", &PoolingParams::strides)
      .def_readwrite("dilations", &PoolingParams::dilations)
      .def_readwrite("pads_begin", &PoolingParams::padsBegin)
      .def_readwrite("pads_end", &PoolingParams::padsEnd)
      .def_readwrite("padding_mode", &PoolingParams::paddingMode)
      .def_readwrite("ceil_mode", &PoolingParams::ceilMode)
      .def_readwrite("count_include_pad", &PoolingParams::countIncludePad)
      .def_readwrite("p", &PoolingParams::p)
      .def_readwrite("storage_order", &PoolingParams::storageOrder);
  bindParams<ReduceParams>(m, "ReduceParams")
      .def_readwrite("op", &ReduceParams::op)
      .def_readwrite("axes", &ReduceParams::axes)
      .def_readwrite("keep_dims", &ReduceParams::keepDims)
      .def_readwrite("noop_with_empty_axes", &ReduceParams::noopWithEmptyAxes);
  bindParams<SoftmaxParams>(m, "SoftmaxParams")
      .def_readwrite("type", &SoftmaxParams::type)
      .def_readwrite("axis", &SoftmaxParams::axis)
      .def_readwrite("coerce2d", &SoftmaxParams::coerce2d);
  bindParams<NormalizationParams>(m, "NormalizationParams")
      .def_readwrite("type", &NormalizationParams::type)
      .def_readwrite("epsilon", &NormalizationParams::epsilon)
      .def_readwrite("axis", &NormalizationParams::axis)
      .def_readwrite("num_groups", &NormalizationParams::numGroups);
  bindParams<ReshapeParams>(m, "ReshapeParams")
      .def_readwrite("mode", &ReshapeParams::mode)
      .def_readwrite("axis", &ReshapeParams::axis)
      .def_readwrite("axes", &ReshapeParams::axes)
      .def_readwrite("allow_zero", &ReshapeParams::allowZero);
  bindParams<TransposeParams>(m, "TransposeParams").def_readwrite("perm", &TransposeParams::perm);
  bindParams<ConcatenationParams>(m, "ConcatenationParams").def_readwrite("axis", &ConcatenationParams::axis);
  bindParams<SliceParams>(m, "SliceParams");
  bindParams<SplitParams>(m, "SplitParams")
      .def_readwrite("axis", &SplitParams::axis)
      .def_readwrite("sizes", &SplitParams::sizes);
  bindParams<GatherParams>(m, "GatherParams")
      .def_readwrite("mode", &GatherParams::mode)
      .def_readwrite("axis", &GatherParams::axis)
      .def_readwrite("batch_dims", &GatherParams::batchDims);
  bindParams<ShapeParams>(m, "ShapeParams")
      .def_readwrite("start", &ShapeParams::start)
      .def_readwrite("end", &ShapeParams::end);
  bindParams<RangeParams>(m, "RangeParams");
  bindParams<ExpandParams>(m, "ExpandParams");
  bindParams<TileParams>(m, "TileParams");
  bindParams<SelectParams>(m, "SelectParams");
  bindParams<PaddingParams>(m, "PaddingParams").def_readwrite("mode", &PaddingParams::mode);
  bindParams<TopKParams>(m, "TopKParams")
      .def_readwrite("axis", &TopKParams::axis)
      .def_readwrite("largest", &TopKParams::largest)
      .def_readwrite("sorted", &TopKParams::sorted);
  bindParams<ArgMinMaxParams>(m, "ArgMinMaxParams")
      .def_readwrite("max", &ArgMinMaxParams::max)
      .def_readwrite("axis", &ArgMinMaxParams::axis)
      .def_readwrite("keep_dims", &ArgMinMaxParams::keepDims)
      .def_readwrite("select_last_index", &ArgMinMaxParams::selectLastIndex);
  bindParams<CumSumParams>(m, "CumSumParams")
      .def_readwrite("exclusive", &CumSumParams::exclusive)
      .def_readwrite("reverse", &CumSumParams::reverse);
  bindParams<EinsumParams>(m, "EinsumParams").def_readwrite("equation", &EinsumParams::equation);
  bindParams<NonZeroParams>(m, "NonZeroParams");
  bindParams<TriluParams>(m, "TriluParams").def_readwrite("upper", &TriluParams::upper);
  bindParams<AttentionParams>(m, "AttentionParams")
      .def_readwrite("layout", &AttentionParams::layout)
      .def_readwrite("scale", &AttentionParams::scale)
      .def_readwrite("causal", &AttentionParams::causal)
      .def_readwrite("zero_masked_rows", &AttentionParams::zeroMaskedRows);
  bindParams<ConstantParams>(m, "ConstantParams")
      .def_property_readonly("weights", [](const ConstantParams& p) { return weightsToArray(p.weights); })
      .def_property_readonly("dtype", [](const ConstantParams& p) { return p.weights.type; })
      .def_property_readonly("shape", [](const ConstantParams& p) { return toTuple(p.weights.shape); });

  // ---- logger ----
  py::class_<Logger, PyLogger>(m, "Logger",
                               "Receives Kiln's messages. Subclass and override log(severity, message) to capture "
                               "them; the default prints warnings and errors to stderr.")
      .def(py::init([](Severity minSeverity) {
             auto l = new PyLogger();
             l->minSeverity = minSeverity;
             return l;
           }),
           py::arg("min_severity") = Severity::kWarning)
      .def("log", &Logger::log, py::arg("severity"), py::arg("message"))
      .def_readwrite("min_severity", &Logger::minSeverity)
      .def_property("severity", [](const Logger& l) { return l.minSeverity; },
                    [](Logger& l, Severity s) { l.minSeverity = s; });
  m.def("default_logger", &defaultLogger, py::return_value_policy::reference,
        "The process-wide logger used when none is given");

  // ---- network ----
  py::class_<TensorHandle>(m, "ITensor", "A tensor of a network under construction")
      .def_property(
          "name", [](const TensorHandle& t) { return t.get()->name(); },
          [](const TensorHandle& t, const std::string& name) { t.get()->setName(name); })
      .def_property_readonly("dtype", [](const TensorHandle& t) { return t.get()->type(); })
      .def_property_readonly("shape", [](const TensorHandle& t) { return toTuple(t.get()->dims()); })
      .def_property_readonly("is_network_input", [](const TensorHandle& t) { return t.get()->isNetworkInput(); })
      .def_property_readonly("is_network_output", [](const TensorHandle& t) { return t.get()->isNetworkOutput(); })
      .def_property_readonly("producer", [](const TensorHandle& t) { return wrapLayer(t.owner, t.get()->producer()); })
      .def("__eq__", [](const TensorHandle& a, py::object b) {
        return py::isinstance<TensorHandle>(b) && b.cast<const TensorHandle&>().tensor == a.tensor;
      })
      .def("__hash__", [](const TensorHandle& t) { return std::hash<const void*>()(t.tensor); })
      .def("__repr__", [](const TensorHandle& t) {
        if (t.owner->generation != t.generation) return std::string("<kiln.ITensor (stale)>");
        return "<kiln.ITensor '" + t.tensor->name() + "' " + dataTypeName(t.tensor->type()) + " " +
               dimsToString(t.tensor->dims()) + ">";
      });

  py::class_<LayerHandle>(m, "ILayer", "A layer of a network under construction")
      .def_property_readonly("name", [](const LayerHandle& l) { return l.get()->name(); })
      .def_property_readonly("type", [](const LayerHandle& l) { return l.get()->type(); })
      .def_property_readonly("type_name", [](const LayerHandle& l) { return std::string(layerTypeName(l.get()->type())); })
      .def_property_readonly("params", [](const LayerHandle& l) { return paramsToPython(l.get()->params()); },
                             "A copy of the layer's parameters (None for types without Python bindings)")
      .def_property_readonly("num_inputs", [](const LayerHandle& l) { return l.get()->numInputs(); })
      .def_property_readonly("num_outputs", [](const LayerHandle& l) { return l.get()->numOutputs(); })
      .def("get_input", [](const LayerHandle& l, int i) { return wrapTensor(l.owner, l.get()->input(i)); }, py::arg("index"))
      .def("get_output", [](const LayerHandle& l, int i) { return wrapTensor(l.owner, l.get()->output(i)); }, py::arg("index"))
      .def_property_readonly("inputs", [](const LayerHandle& l) {
        py::list out;
        for (int i = 0; i < l.get()->numInputs(); ++i) out.append(wrapTensor(l.owner, l.layer->input(i)));
        return out;
      })
      .def_property_readonly("outputs", [](const LayerHandle& l) {
        py::list out;
        for (int i = 0; i < l.get()->numOutputs(); ++i) out.append(wrapTensor(l.owner, l.layer->output(i)));
        return out;
      })
      .def("__repr__", [](const LayerHandle& l) {
        if (l.owner->generation != l.generation) return std::string("<kiln.ILayer (stale)>");
        return "<kiln.ILayer '" + l.layer->name() + "' " + layerTypeName(l.layer->type()) + ">";
      });

  py::class_<NetworkHandle, NetworkPtr>(m, "NetworkDefinition",
                                        "A network: tensors and layers in topological order. Create it with "
                                        "Builder.create_network(); fill it with OnnxParser or add_* calls.")
      .def(
          "add_input",
          [](const NetworkPtr& n, const std::string& name, py::object dtype, const Dims& shape,
             const std::vector<std::string>& dimNames) {
            return wrapTensor(n, n->net->addInput(name, toDataType(dtype), shape, dimNames));
          },
          py::arg("name"), py::arg("dtype"), py::arg("shape"), py::arg("dim_names") = std::vector<std::string>{},
          "Declares a network input; -1 in shape marks a dynamic dimension. dtype: kiln.DataType or numpy dtype")
      .def("mark_output", [](const NetworkPtr& n, const TensorHandle& t) { n->net->markOutput(unwrap(n, t)); },
           py::arg("tensor"))
      .def(
          "add_layer",
          [](const NetworkPtr& n, py::object params, const py::iterable& inputs, int numOutputs, const std::string& name) {
            LayerParams p = toLayerParams(params);
            return wrapLayer(n, n->net->addLayer(p, unwrapList(n, inputs), numOutputs, name));
          },
          py::arg("params"), py::arg("inputs"), py::arg("num_outputs") = 1, py::arg("name") = "",
          "Adds any layer from a params object (kiln.ConvolutionParams(), ...); returns the ILayer")
      .def(
          "add_constant",
          [](const NetworkPtr& n, py::object array, const std::string& name, py::object dtype) {
            return wrapTensor(n, n->net->addConstant(toWeights(array, dtype), name));
          },
          py::arg("array"), py::arg("name") = "", py::arg("dtype") = py::none(),
          "A constant holding a copy of a numpy array (dtype overrides the element type, e.g. BFLOAT16 bits)")
      .def(
          "add_elementwise",
          [](const NetworkPtr& n, const TensorHandle& a, const TensorHandle& b, ElementWiseOp op, const std::string& name) {
            return wrapTensor(n, n->net->addElementWise(unwrap(n, a), unwrap(n, b), op, name));
          },
          py::arg("a"), py::arg("b"), py::arg("op"), py::arg("name") = "")
      .def(
          "add_unary",
          [](const NetworkPtr& n, const TensorHandle& x, UnaryOp op, const std::string& name) {
            return wrapTensor(n, n->net->addUnary(unwrap(n, x), op, name));
          },
          py::arg("x"), py::arg("op"), py::arg("name") = "")
      .def(
          "add_activation",
          [](const NetworkPtr& n, const TensorHandle& x, ActivationType type, float alpha, float beta,
             const std::string& name) {
            return wrapTensor(n, n->net->addActivation(unwrap(n, x), type, alpha, beta, name));
          },
          py::arg("x"), py::arg("type"), py::arg("alpha") = 0.f, py::arg("beta") = 0.f, py::arg("name") = "")
      .def(
          "add_matrix_multiply",
          [](const NetworkPtr& n, const TensorHandle& a, const TensorHandle& b, bool ta, bool tb, const std::string& name) {
            return wrapTensor(n, n->net->addMatrixMultiply(unwrap(n, a), ta, unwrap(n, b), tb, name));
          },
          py::arg("a"), py::arg("b"), py::arg("transpose_a") = false, py::arg("transpose_b") = false,
          py::arg("name") = "")
      .def(
          "add_convolution",
          [](const NetworkPtr& n, const TensorHandle& x, py::object kernel, py::object bias, const Dims& kernelShape,
             const Dims& strides, const Dims& dilations, const Dims& padsBegin, const Dims& padsEnd,
             PaddingMode paddingMode, int64_t groups, const std::string& name) {
            ConvolutionParams p;
            p.kernelShape = kernelShape;
            p.strides = strides;
            p.dilations = dilations;
            p.padsBegin = padsBegin;
            p.padsEnd = padsEnd;
            p.paddingMode = paddingMode;
            p.groups = groups;
            Weights k = toWeights(kernel, py::none());
            Weights b = bias.is_none() ? Weights{} : toWeights(bias, py::none());
            return wrapTensor(n, n->net->addConvolution(unwrap(n, x), k, b, p, name));
          },
          py::arg("x"), py::arg("kernel"), py::arg("bias") = py::none(), py::arg("kernel_shape") = Dims{},
          py::arg("strides") = Dims{}, py::arg("dilations") = Dims{}, py::arg("pads_begin") = Dims{},
          py::arg("pads_end") = Dims{}, py::arg("padding_mode") = PaddingMode::kExplicit, py::arg("groups") = 1,
          py::arg("name") = "",
          "Convolution of NC[D]HW x with kernel [M, C/groups, k...] and optional bias [M] (numpy arrays)")
      .def(
          "add_pooling",
          [](const NetworkPtr& n, const TensorHandle& x, PoolingType type, const Dims& kernelShape, const Dims& strides,
             const Dims& padsBegin, const Dims& padsEnd, const Dims& dilations, PaddingMode paddingMode, bool ceilMode,
             bool countIncludePad, const std::string& name) {
            PoolingParams p;
            p.type = type;
            p.kernelShape = kernelShape;
            p.strides = strides;
            p.padsBegin = padsBegin;
            p.padsEnd = padsEnd;
            p.dilations = dilations;
            p.paddingMode = paddingMode;
            p.ceilMode = ceilMode;
            p.countIncludePad = countIncludePad;
            return wrapTensor(n, n->net->addPooling(unwrap(n, x), p, name));
          },
          py::arg("x"), py::arg("type"), py::arg("kernel_shape"), py::arg("strides") = Dims{},
          py::arg("pads_begin") = Dims{}, py::arg("pads_end") = Dims{}, py::arg("dilations") = Dims{},
          py::arg("padding_mode") = PaddingMode::kExplicit, py::arg("ceil_mode") = false,
          py::arg("count_include_pad") = false, py::arg("name") = "")
      .def(
          "add_softmax",
          [](const NetworkPtr& n, const TensorHandle& x, int64_t axis, const std::string& name) {
            return wrapTensor(n, n->net->addSoftmax(unwrap(n, x), axis, name));
          },
          py::arg("x"), py::arg("axis") = -1, py::arg("name") = "")
      .def(
          "add_reshape",
          [](const NetworkPtr& n, const TensorHandle& x, const Dims& shape, const std::string& name) {
            return wrapTensor(n, n->net->addReshape(unwrap(n, x), shape, name));
          },
          py::arg("x"), py::arg("shape"), py::arg("name") = "")
      .def(
          "add_transpose",
          [](const NetworkPtr& n, const TensorHandle& x, const Dims& perm, const std::string& name) {
            return wrapTensor(n, n->net->addTranspose(unwrap(n, x), perm, name));
          },
          py::arg("x"), py::arg("perm"), py::arg("name") = "")
      .def(
          "add_concatenation",
          [](const NetworkPtr& n, const py::iterable& inputs, int64_t axis, const std::string& name) {
            return wrapTensor(n, n->net->addConcatenation(unwrapList(n, inputs), axis, name));
          },
          py::arg("inputs"), py::arg("axis") = 0, py::arg("name") = "")
      .def(
          "add_attention",
          [](const NetworkPtr& n, const TensorHandle& q, const TensorHandle& k, const TensorHandle& v, py::object mask,
             AttentionLayout layout, float scale, bool causal, bool zeroMaskedRows, const std::string& name) {
            AttentionParams p;
            p.layout = layout;
            p.scale = scale;
            p.causal = causal;
            p.zeroMaskedRows = zeroMaskedRows;
            return wrapTensor(n, n->net->addAttention(unwrap(n, q), unwrap(n, k), unwrap(n, v),
                                                      unwrapOptional(n, mask), p, name));
          },
          py::arg("q"), py::arg("k"), py::arg("v"), py::arg("mask") = py::none(),
          py::arg("layout") = AttentionLayout::kBHSD, py::arg("scale") = 0.f, py::arg("causal") = false,
          py::arg("zero_masked_rows") = false, py::arg("name") = "",
          "softmax(scale q k^T + mask) v per (batch, head): q [B,H,Sq,D], k/v [B,Hkv,Skv,D] (BSHD: middle dims "
          "swapped); mask bool or additive, [B|1,H|1,Sq|1,Skv]; scale 0 is 1/sqrt(D); causal is top-left aligned")
      .def_property_readonly("num_layers", [](const NetworkPtr& n) { return n->net->numLayers(); })
      .def_property_readonly("num_inputs", [](const NetworkPtr& n) { return n->net->numInputs(); })
      .def_property_readonly("num_outputs", [](const NetworkPtr& n) { return n->net->numOutputs(); })
      .def("__len__", [](const NetworkPtr& n) { return n->net->numLayers(); })
      .def(
          "layer",
          [](const NetworkPtr& n, int i) {
            if (i < 0) i += n->net->numLayers();
            if (i < 0 || i >= n->net->numLayers()) throw py::index_error("layer index out of range");
            return wrapLayer(n, n->net->layer(i));
          },
          py::arg("index"))
      .def("get_layer",
           [](const NetworkPtr& n, int i) {
             if (i < 0 || i >= n->net->numLayers()) throw py::index_error("layer index out of range");
             return wrapLayer(n, n->net->layer(i));
           })
      .def("get_input",
           [](const NetworkPtr& n, int i) {
             if (i < 0 || i >= n->net->numInputs()) throw py::index_error("input index out of range");
             return wrapTensor(n, n->net->input(i));
           })
      .def("get_output",
           [](const NetworkPtr& n, int i) {
             if (i < 0 || i >= n->net->numOutputs()) throw py::index_error("output index out of range");
             return wrapTensor(n, n->net->output(i));
           })
      .def("get_tensor", [](const NetworkPtr& n, const std::string& name) { return wrapTensor(n, n->net->findTensor(name)); },
           py::arg("name"), "The tensor with this name, or None")
      .def_property_readonly("layers", [](const NetworkPtr& n) {
        py::list out;
        for (int i = 0; i < n->net->numLayers(); ++i) out.append(wrapLayer(n, n->net->layer(i)));
        return out;
      })
      .def_property_readonly("inputs", [](const NetworkPtr& n) {
        py::list out;
        for (int i = 0; i < n->net->numInputs(); ++i) out.append(wrapTensor(n, n->net->input(i)));
        return out;
      })
      .def_property_readonly("outputs", [](const NetworkPtr& n) {
        py::list out;
        for (int i = 0; i < n->net->numOutputs(); ++i) out.append(wrapTensor(n, n->net->output(i)));
        return out;
      });

  // ---- ONNX parser ----
  struct ParserHandle {
    NetworkPtr network;
    py::object logger;
    std::unique_ptr<OnnxParser> parser;
  };
  py::class_<ParserHandle>(m, "OnnxParser", "Fills a NetworkDefinition from an ONNX model")
      .def(py::init([](NetworkPtr network, py::object logger) {
             auto h = std::make_unique<ParserHandle>();
             h->network = network;
             h->logger = logger;
             h->parser = std::make_unique<OnnxParser>(*network->net, loggerOf(logger));
             return h;
           }),
           py::arg("network"), py::arg("logger") = py::none())
      .def(
          "parse_from_file",
          [](ParserHandle& h, py::object path) {
            std::string p = py::str(py::module_::import("os").attr("fspath")(path));
            h.parser->parseFromFile(p);
            return true;
          },
          py::arg("path"), "Parses a .onnx file (external data next to it); raises kiln.Error")
      .def(
          "parse",
          [](ParserHandle& h, py::object model, std::string externalDataDir) {
            if (py::hasattr(model, "SerializeToString")) model = model.attr("SerializeToString")();
            py::buffer buf = model.cast<py::buffer>();
            py::buffer_info info = buf.request();
            h.parser->parse(info.ptr, static_cast<size_t>(info.size * info.itemsize), externalDataDir);
            return true;
          },
          py::arg("model"), py::arg("external_data_dir") = ".",
          "Parses a serialized ModelProto (bytes, or an onnx.ModelProto); raises kiln.Error");

  // ---- builder ----
  py::class_<ShapeRange>(m, "ShapeRange")
      .def(py::init([](const Dims& min, const Dims& opt, const Dims& max) { return ShapeRange{min, opt, max}; }),
           py::arg("min"), py::arg("opt"), py::arg("max"))
      .def_property("min", [](const ShapeRange& r) { return toTuple(r.min); }, [](ShapeRange& r, const Dims& d) { r.min = d; })
      .def_property("opt", [](const ShapeRange& r) { return toTuple(r.opt); }, [](ShapeRange& r, const Dims& d) { r.opt = d; })
      .def_property("max", [](const ShapeRange& r) { return toTuple(r.max); }, [](ShapeRange& r, const Dims& d) { r.max = d; })
      .def("__iter__", [](const ShapeRange& r) { return py::iter(py::make_tuple(toTuple(r.min), toTuple(r.opt), toTuple(r.max))); })
      .def("__repr__", [](const ShapeRange& r) {
        return "ShapeRange(min=" + dimsToString(r.min) + ", opt=" + dimsToString(r.opt) + ", max=" + dimsToString(r.max) + ")";
      });

  py::class_<OptimizationProfile>(m, "OptimizationProfile")
      .def(py::init<>())
      .def("set_dimensions", &OptimizationProfile::setDimensions, py::arg("input"), py::arg("min"), py::arg("opt"),
           py::arg("max"))
      .def("set_shape", &OptimizationProfile::setDimensions, py::arg("input"), py::arg("min"), py::arg("opt"), py::arg("max"))
      .def_property("shapes", [](const OptimizationProfile& p) { return p.shapes; },
                    [](OptimizationProfile& p, const std::map<std::string, ShapeRange>& s) { p.shapes = s; });

  py::class_<BuilderConfig>(m, "BuilderConfig")
      .def(py::init([](const std::string& device, bool fp16, bool bf16) {
             BuilderConfig c;
             c.device = device;
             c.fp16 = fp16;
             c.bf16 = bf16;
             return c;
           }),
           py::arg("device") = "cpu", py::arg("fp16") = false, py::arg("bf16") = false)
      .def_readwrite("device", &BuilderConfig::device)
      .def_readwrite("fp16", &BuilderConfig::fp16)
      .def_readwrite("bf16", &BuilderConfig::bf16)
      .def_readwrite("memory_limit", &BuilderConfig::memoryLimit,
                     "Most activation memory (bytes) at the profile's max shapes; 0: no limit")
      .def_readwrite("max_tensor_elements", &BuilderConfig::maxTensorElements,
                     "Most elements one tensor may hold (default 2**32), checked at the profile's max shapes "
                     "and at run time")
      .def_readwrite("profile", &BuilderConfig::profile)
      .def("set_shape", [](BuilderConfig& c, const std::string& name, const Dims& min, const Dims& opt,
                           const Dims& max) { c.profile.setDimensions(name, min, opt, max); },
           py::arg("name"), py::arg("min"), py::arg("opt"), py::arg("max"),
           "Sets the optimization profile range of a dynamic input")
      .def_property("disabled_passes", [](const BuilderConfig& c) { return c.disabledPasses; },
                    [](BuilderConfig& c, const std::vector<std::string>& v) { c.disabledPasses = v; },
                    "Names of builder passes to skip (assign a list; see Builder.pass_names())")
      .def_readwrite("builder_effort", &BuilderConfig::builderEffort,
                     "Tactic selection 0..5: 0 takes each layer's preferred kernel and times nothing; higher times "
                     "more candidate kernels at the profile's opt shapes (default 3)")
      .def_readwrite("timing_cache", &BuilderConfig::timingCache,
                     "Path of a timing cache file: read when it exists, then written with the new timings; '' for none")
      .def_property(
          "progress", [](const BuilderConfig&) { return py::none(); },
          [](BuilderConfig& c, py::object callback) {
            if (callback.is_none()) {
              c.progress = nullptr;
              return;
            }
            // The builder copies the std::function without the GIL: copies share one holder, whose
            // py::object is released with the GIL held.
            std::shared_ptr<py::object> holder(new py::object(callback), [](py::object* o) {
              py::gil_scoped_acquire acquire;
              delete o;
            });
            c.progress = [holder](int layer, int count, const std::string& name, const std::string& tactic) {
              py::gil_scoped_acquire acquire;
              (*holder)(layer, count, name, tactic);
            };
          },
          "A callable(layer, layer_count, layer_name, tactic) called while tactics are timed, or None")
      .def_readwrite("int8", &BuilderConfig::int8,
                     "Implicit int8 quantization: Conv/MatMul inputs get Q/DQ pairs with calibrated scales")
      .def_readwrite("fp8", &BuilderConfig::fp8, "As int8 with float8 e4m3 and per-tensor scales")
      .def_property(
          "calibrator",
          [](const BuilderConfig& c) -> py::object {
            auto* python = dynamic_cast<PythonCalibrator*>(c.calibrator.get());
            return python ? python->source() : py::none();
          },
          [](BuilderConfig& c, py::object source) {
            if (source.is_none()) {
              c.calibrator = nullptr;
              return;
            }
            if (!py::hasattr(source, "get_batch"))
              throw Error(ErrorCode::kInvalidArgument, "a calibrator needs a get_batch() method");
            c.calibrator = std::make_shared<PythonCalibrator>(source);
          },
          "An object whose get_batch() returns {input name: numpy array or torch tensor}, or None when done")
      .def_property(
          "calibration_method", [](const BuilderConfig& c) { return nameOf(c.calibrationMethod, kCalibrationMethods); },
          [](BuilderConfig& c, const std::string& name) {
            c.calibrationMethod = enumFromName(name, kCalibrationMethods, "calibration_method");
          },
          "'entropy' (default), 'minmax' or 'percentile'")
      .def_readwrite("calibration_percentile", &BuilderConfig::calibrationPercentile,
                     "With calibration_method 'percentile': the percentile of |x| kept (default 99.99)")
      .def_readwrite("calibration_cache", &BuilderConfig::calibrationCache,
                     "Calibration cache file: read instead of calibrating when it exists, else written; '' for none")
      .def_property(
          "layer_precisions",
          [](const BuilderConfig& c) {
            std::map<std::string, std::string> names;
            for (auto& [layer, type] : c.layerPrecisions) names[layer] = nameOf(type, kPrecisions);
            return names;
          },
          [](BuilderConfig& c, const std::map<std::string, std::string>& names) {
            std::map<std::string, DataType> types;
            for (auto& [layer, name] : names) types[layer] = enumFromName(name, kPrecisions, "layer precision");
            c.layerPrecisions = types;
          },
          "{layer name: 'fp32' | 'fp16' | 'bf16' | 'int8' | 'fp8'} (assign a dict)")
      .def_property(
          "precision_constraints", [](const BuilderConfig& c) { return nameOf(c.precisionConstraints, kConstraints); },
          [](BuilderConfig& c, const std::string& name) {
            c.precisionConstraints = enumFromName(name, kConstraints, "precision_constraints");
          },
          "How layer_precisions hold: 'none' (a hint), 'prefer' (warn when not honored), 'obey' (fail)");

  py::class_<LayerTactic>(m, "LayerTactic")
      .def_readonly("layer_name", &LayerTactic::layerName)
      .def_readonly("layer_type", &LayerTactic::layerType)
      .def_readonly("backend", &LayerTactic::backend)
      .def_readonly("tactic", &LayerTactic::tactic)
      .def_readonly("milliseconds", &LayerTactic::milliseconds, "Measured time at the opt shapes; -1 when not timed")
      .def_readonly("candidates", &LayerTactic::candidates, "Tactics timed for the layer (0: not timed)")
      .def_readonly("from_cache", &LayerTactic::fromCache)
      .def("__repr__", [](const LayerTactic& t) {
        return "<kiln.LayerTactic " + t.layerName + " " + t.layerType + " " + t.backend + " " +
               (t.tactic.empty() ? std::string("-") : t.tactic) + ">";
      });

  py::class_<BuildSummary>(m, "BuildSummary")
      .def(py::init<>())
      .def_readonly("layers_before", &BuildSummary::layersBefore)
      .def_readonly("layers_after", &BuildSummary::layersAfter)
      .def_readonly("activation_bytes_planned", &BuildSummary::activationBytesPlanned)
      .def_readonly("activation_bytes_naive", &BuildSummary::activationBytesNaive)
      .def_readonly("weights_bytes", &BuildSummary::weightsBytes)
      .def_readonly("build_seconds", &BuildSummary::buildSeconds)
      .def_readonly("device", &BuildSummary::device)
      .def_readonly("pass_log", &BuildSummary::passLog)
      .def_readonly("fallback_layers", &BuildSummary::fallbackLayers)
      .def_readonly("reduced_precision_layers", &BuildSummary::reducedPrecisionLayers)
      .def_readonly("casts_inserted", &BuildSummary::castsInserted)
      .def_readonly("quantized_layers", &BuildSummary::quantizedLayers)
      .def_readonly("calibration_batches", &BuildSummary::calibrationBatches)
      .def_readonly("tactics", &BuildSummary::tactics, "The chosen tactic of every layer (LayerTactic list)")
      .def_readonly("layers_timed", &BuildSummary::layersTimed)
      .def_readonly("timing_cache_hits", &BuildSummary::timingCacheHits)
      .def_readonly("tactic_seconds", &BuildSummary::tacticSeconds)
      .def("layer_table", &BuildSummary::layerTable)
      .def("__str__", &BuildSummary::toString);

  struct BuilderHandle {
    py::object logger;
    std::unique_ptr<Builder> builder;
  };
  py::class_<BuilderHandle>(m, "Builder")
      .def(py::init([](py::object logger) {
             auto h = std::make_unique<BuilderHandle>();
             h->logger = logger;
             h->builder = std::make_unique<Builder>(loggerOf(logger));
             return h;
           }),
           py::arg("logger") = py::none())
      .def("create_network",
           [](const BuilderHandle& b) {
             auto n = std::make_shared<NetworkHandle>();
             n->net = b.builder->createNetwork();
             n->logger = b.logger;
             return n;
           })
      .def(
          "build_serialized_network",
          [](const BuilderHandle& b, const NetworkPtr& network, const BuilderConfig& config, BuildSummary* summary) {
            std::vector<uint8_t> plan;
            ++network->generation;  // the builder rewrites the network: handles taken so far go stale
            {
              py::gil_scoped_release release;
              plan = b.builder->buildSerializedNetwork(*network->net, config, summary);
            }
            return py::bytes(reinterpret_cast<const char*>(plan.data()), plan.size());
          },
          py::arg("network"), py::arg("config"), py::arg("summary") = nullptr,
          "Optimizes the network (it is modified) and returns the serialized plan as bytes. A BuildSummary "
          "passed as summary is filled in.")
      .def_static("pass_names", &Builder::passNames, "The builder passes in the order they run");

  // ---- runtime ----
  py::class_<ExecutionContext>(m, "ExecutionContext",
                               "Per-inference state: shapes, bindings, activation memory. One thread at a time.")
      .def_property_readonly("engine",
                             [](const ExecutionContext& c) {
                               return std::const_pointer_cast<Engine>(c.engine().shared_from_this());
                             })
      .def("set_input_shape", &ExecutionContext::setInputShape, py::arg("name"), py::arg("shape"))
      .def("get_tensor_shape", [](const ExecutionContext& c, const std::string& name) { return toTuple(c.tensorShape(name)); },
           py::arg("name"), "Current shape; -1 for data-dependent outputs until execute() ran")
      .def(
          "set_tensor_address",
          [](ExecutionContext& c, const std::string& name, py::object address) {
            uintptr_t a = address.is_none() ? 0 : address.cast<uintptr_t>();
            c.setTensorAddress(name, reinterpret_cast<void*>(a));
          },
          py::arg("name"), py::arg("address"), "Binds a buffer by address (an int, e.g. arr.ctypes.data)")
      .def(
          "get_tensor_address",
          [](const ExecutionContext& c, const std::string& name) {
            return reinterpret_cast<uintptr_t>(c.tensorAddress(name));
          },
          py::arg("name"))
      .def("execute", [](ExecutionContext& c) {
        py::gil_scoped_release release;
        c.execute();
      }, "Runs inference synchronously on host buffers")
      // Cancellation: cancel() from any thread (execute() releases the GIL); the run raises kiln.Error with
      // code CANCELLED.
      .def("cancel", &ExecutionContext::cancel,
           "Stops the run in progress (or, when none is, the next one) at its next check: it raises kiln.Error "
           "with code ErrorCode.CANCELLED. Callable from any thread")
      .def("set_time_limit", &ExecutionContext::setTimeLimit, py::arg("milliseconds"),
           "A time limit for each run in milliseconds (0: none); a run past it raises kiln.Error with code "
           "ErrorCode.CANCELLED")
      .def(
          "execute_async",
          [](ExecutionContext& c, py::object stream) {
            uintptr_t s = stream.is_none() ? 0 : stream.cast<uintptr_t>();
            py::gil_scoped_release release;
            c.enqueue(reinterpret_cast<void*>(s));
          },
          py::arg("stream") = py::none(),
          "Enqueues inference on a CUDA stream handle (int, e.g. torch.cuda.current_stream().cuda_stream) with "
          "device buffers; ignored by the CPU backend")
      .def(
          "enqueue",
          [](ExecutionContext& c, py::object stream) {
            uintptr_t s = stream.is_none() ? 0 : stream.cast<uintptr_t>();
            py::gil_scoped_release release;
            c.enqueue(reinterpret_cast<void*>(s));
          },
          py::arg("stream") = py::none());

  py::class_<Engine, std::shared_ptr<Engine>>(m, "Engine", "An optimized network ready to run")
      .def_property_readonly("num_io_tensors", &Engine::numIOTensors)
      .def("get_tensor_name", [](const Engine& e, int i) {
        if (i < 0 || i >= e.numIOTensors()) throw py::index_error("I/O tensor index out of range");
        return e.ioTensorName(i);
      }, py::arg("index"))
      .def_property_readonly("io_tensor_names", [](const Engine& e) {
        std::vector<std::string> names;
        for (int i = 0; i < e.numIOTensors(); ++i) names.push_back(e.ioTensorName(i));
        return names;
      })
      .def_property_readonly("input_names", [](const Engine& e) {
        std::vector<std::string> names;
        for (int i = 0; i < e.numIOTensors(); ++i)
          if (e.tensorIOMode(e.ioTensorName(i)) == TensorIOMode::kInput) names.push_back(e.ioTensorName(i));
        return names;
      })
      .def_property_readonly("output_names", [](const Engine& e) {
        std::vector<std::string> names;
        for (int i = 0; i < e.numIOTensors(); ++i)
          if (e.tensorIOMode(e.ioTensorName(i)) == TensorIOMode::kOutput) names.push_back(e.ioTensorName(i));
        return names;
      })
      .def("get_tensor_mode", &Engine::tensorIOMode, py::arg("name"))
      .def("get_tensor_dtype", &Engine::tensorDataType, py::arg("name"))
      .def("get_tensor_shape", [](const Engine& e, const std::string& name) { return toTuple(e.tensorShape(name)); },
           py::arg("name"), "Declared shape; -1 for dynamic dimensions")
      .def("get_profile_shape", &Engine::profileShape, py::arg("name"), "The (min, opt, max) range of an input")
      .def_property_readonly("device", &Engine::device)
      .def_property_readonly("num_layers", &Engine::numLayers)
      .def_property_readonly("layer_information", &Engine::layerInformation)
      .def_property_readonly("layer_tactics", &Engine::layerTactics,
                             "Each layer's backend and tactic as the plan records them (LayerTactic list)")
      .def_property_readonly("weights_bytes", &Engine::weightsBytes)
      .def("create_execution_context", &Engine::createExecutionContext, py::keep_alive<0, 1>())
      .def("serialize", [](const Engine& e) {
        std::vector<uint8_t> plan = e.serialize();
        return py::bytes(reinterpret_cast<const char*>(plan.data()), plan.size());
      })
      .def("__repr__", [](const Engine& e) {
        return "<kiln.Engine device=" + e.device() + " layers=" + std::to_string(e.numLayers()) +
               " io=" + std::to_string(e.numIOTensors()) + ">";
      });

  struct RuntimeHandle {
    py::object logger;
    std::unique_ptr<Runtime> runtime;
  };
  py::class_<RuntimeHandle>(m, "Runtime")
      .def(py::init([](py::object logger) {
             auto h = std::make_unique<RuntimeHandle>();
             h->logger = logger;
             h->runtime = std::make_unique<Runtime>(loggerOf(logger));
             return h;
           }),
           py::arg("logger") = py::none())
      .def(
          "deserialize_engine",
          [](const RuntimeHandle& r, py::buffer plan) {
            py::buffer_info info = plan.request();
            return r.runtime->deserializeEngine(info.ptr, static_cast<size_t>(info.size * info.itemsize));
          },
          py::arg("plan"), py::keep_alive<0, 1>(),  // the engine may log through the runtime's logger
          "An Engine from plan bytes (bytes, bytearray, memoryview, numpy uint8 array)")
      .def(
          "deserialize_engine_from_file",
          [](const RuntimeHandle& r, py::object path) {
            std::string p = py::str(py::module_::import("os").attr("fspath")(path));
            return r.runtime->deserializeEngineFromFile(p);
          },
          py::arg("path"), py::keep_alive<0, 1>());

  // ---- helpers for the pure-Python layer ----
  m.def("_dlpack_info", &dlpackInfo, py::arg("capsule"),
        "Data pointer, device, shape, strides and dtype of a DLPack capsule (the capsule is not consumed)");
#ifdef KILN_PY_WITH_CUDA
  m.attr("built_with_cuda") = true;
#else
  m.attr("built_with_cuda") = false;
#endif
}
