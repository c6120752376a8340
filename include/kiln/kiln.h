// Kiln public C++ API.
//
//   Builder -> NetworkDefinition (OnnxParser or add* calls) -> BuilderConfig -> buildSerializedNetwork
//   -> Runtime::deserializeEngine -> Engine::createExecutionContext -> bind tensors by name -> execute
//
// Every failure throws kiln::Error with a message naming the file, node, tensor or shape at fault.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kiln/layers.h"
#include "kiln/types.h"

namespace kiln {

const char* version();  // "0.1.0"

// ---- network definition -------------------------------------------------------------------------

class ILayer;

// A tensor of a network under construction.
class ITensor {
 public:
  virtual ~ITensor() = default;
  virtual const std::string& name() const = 0;
  virtual void setName(const std::string& name) = 0;
  virtual DataType type() const = 0;
  // Shape as inferred at definition time; -1 where it depends on run-time shapes.
  virtual const Dims& dims() const = 0;
  virtual bool isNetworkInput() const = 0;
  virtual bool isNetworkOutput() const = 0;
  // The layer that produces this tensor; nullptr for a network input.
  virtual ILayer* producer() const = 0;
};

// A layer of a network under construction.
class ILayer {
 public:
  virtual ~ILayer() = default;
  virtual const std::string& name() const = 0;
  virtual LayerType type() const = 0;
  virtual const LayerParams& params() const = 0;
  virtual int numInputs() const = 0;
  virtual ITensor* input(int index) const = 0;  // nullptr for an omitted optional input
  virtual int numOutputs() const = 0;
  virtual ITensor* output(int index) const = 0;
};

// A network: tensors and layers in topological order. Filled by OnnxParser or by hand.
class NetworkDefinition {
 public:
  virtual ~NetworkDefinition() = default;

  // Declares a network input. Dims may hold -1 for dynamic dimensions (give them a range through an
  // OptimizationProfile); dimNames optionally names them ("batch").
  virtual ITensor* addInput(const std::string& name, DataType type, const Dims& dims,
                            const std::vector<std::string>& dimNames = {}) = 0;
  virtual void markOutput(ITensor* tensor) = 0;

  // Adds any layer. inputs may hold nullptr for omitted optional inputs. Output types and shapes are
  // inferred at once; an invalid combination throws kiln::Error naming the layer.
  virtual ILayer* addLayer(const LayerParams& params, const std::vector<ITensor*>& inputs, int numOutputs = 1,
                           const std::string& name = "") = 0;

  virtual int numLayers() const = 0;
  virtual ILayer* layer(int index) const = 0;
  virtual int numInputs() const = 0;
  virtual ITensor* input(int index) const = 0;
  virtual int numOutputs() const = 0;
  virtual ITensor* output(int index) const = 0;
  virtual ITensor* findTensor(const std::string& name) const = 0;

  // Convenience wrappers over addLayer, returning the (first) output.
  ITensor* addConstant(const Weights& weights, const std::string& name = "");
  ITensor* addElementWise(ITensor* a, ITensor* b, ElementWiseOp op, const std::string& name = "");
  ITensor* addUnary(ITensor* x, UnaryOp op, const std::string& name = "");
  ITensor* addActivation(ITensor* x, ActivationType type, float alpha = 0.f, float beta = 0.f,
                         const std::string& name = "");
  ITensor* addMatrixMultiply(ITensor* a, bool transposeA, ITensor* b, bool transposeB, const std::string& name = "");
  ITensor* addConvolution(ITensor* x, const Weights& kernel, const Weights& bias, const ConvolutionParams& params,
                          const std::string& name = "");
  ITensor* addPooling(ITensor* x, const PoolingParams& params, const std::string& name = "");
  ITensor* addSoftmax(ITensor* x, int64_t axis, const std::string& name = "");
  ITensor* addReshape(ITensor* x, const Dims& shape, const std::string& name = "");
  ITensor* addTranspose(ITensor* x, const Dims& perm, const std::string& name = "");
  ITensor* addConcatenation(const std::vector<ITensor*>& inputs, int64_t axis, const std::string& name = "");
  // Scaled dot-product attention softmax(scale q k^T + mask) v (AttentionParams: layout, scale, causal,
  // zeroMaskedRows); mask may be nullptr.
  ITensor* addAttention(ITensor* q, ITensor* k, ITensor* v, ITensor* mask = nullptr, const AttentionParams& params = {},
                        const std::string& name = "");
  // A Recurrent layer (RNN/GRU/LSTM, see RecurrentParams) with constant weights; bias and peephole may be empty
  // Weights, the tensors nullptr. Returns y; y_h (and y_c for LSTM) are y->producer()->output(1) (and (2)).
  ITensor* addRecurrent(ITensor* x, const Weights& w, const Weights& r, const Weights& bias,
                        const RecurrentParams& params, ITensor* sequenceLengths = nullptr, ITensor* initialH = nullptr,
                        ITensor* initialC = nullptr, const Weights& peephole = {}, const std::string& name = "");
};

// ---- ONNX parser ----------------------------------------------------------------------------------

// Fills a NetworkDefinition from an ONNX model.
class OnnxParser {
 public:
  OnnxParser(NetworkDefinition& network, Logger& logger = defaultLogger());
  ~OnnxParser();
  // Parses a .onnx file; external data files are looked up next to it.
  // An unsupported model throws kiln::Error (kUnsupported) listing every unsupported node.
  void parseFromFile(const std::string& path);
  // Parses a serialized ModelProto; externalDataDir is where external data files live.
  void parse(const void* data, size_t size, const std::string& externalDataDir = ".");

 private:
  NetworkDefinition& network_;
  Logger& logger_;
};

// ---- builder --------------------------------------------------------------------------------------

struct ShapeRange {
  Dims min, opt, max;
};

// Shape ranges for the dynamic inputs. The builder tunes for opt and accepts any shape in [min, max].
struct OptimizationProfile {
  std::map<std::string, ShapeRange> shapes;
  void setDimensions(const std::string& input, const Dims& min, const Dims& opt, const Dims& max) {
    shapes[input] = ShapeRange{min, opt, max};
  }
};

// ---- INT8 / FP8 calibration (implicit quantization) -----------------------------------------------

// One calibration input: float32 values in C order and their shape.
struct CalibrationTensor {
  Dims dims;
  std::vector<float> values;
};
// One calibration batch: a tensor for every network input, by input name.
using CalibrationBatch = std::map<std::string, CalibrationTensor>;

// Yields the batches the builder runs the float32 network on to find each tensor's int8/fp8 scale
// (TensorRT's IInt8Calibrator). Each batch must give every network input, with a shape inside the
// optimization profile; the builder calls nextBatch() until it returns false.
class Calibrator {
 public:
  virtual ~Calibrator() = default;
  // Fills `batch` (given empty) with the next batch and returns true, or returns false when done.
  virtual bool nextBatch(CalibrationBatch& batch) = 0;
};

// How a tensor's scale is chosen from the values seen while calibrating.
enum class CalibrationMethod : uint8_t {
  kEntropy,     // the clipping threshold minimizing the KL divergence of the int8 histogram (TensorRT's default)
  kMinMax,      // absmax / 127: nothing clipped
  kPercentile,  // the calibrationPercentile-th percentile of |x| / 127
};
const char* calibrationMethodName(CalibrationMethod method);  // "entropy", "minmax", "percentile"

// How per-layer precisions (BuilderConfig::layerPrecisions) are honored when the layer cannot run so.
enum class PrecisionConstraints : uint8_t {
  kNone,    // a hint: the layer silently keeps the precision the builder would give it
  kPrefer,  // as kNone, with a warning naming the layer
  kObey,    // the build fails naming the layer
};
const char* precisionConstraintsName(PrecisionConstraints constraints);  // "none", "prefer", "obey"

struct BuilderConfig {
  // "cpu", or "cuda" / "cuda:N" when Kiln was built with CUDA.
  std::string device = "cpu";
  bool fp16 = false;  // allow float16 kernels
  bool bf16 = false;  // allow bfloat16 kernels
  // Dynamic inputs without a profile entry fall back to 1 for each unknown dimension.
  OptimizationProfile profile;
  // Names of builder passes to skip (see Builder::passNames()).
  std::vector<std::string> disabledPasses;
  // Most activation memory (bytes) a context may plan, checked at the profile's max shapes; the build
  // fails when the network needs more. Recorded in the plan: at run time, a tensor whose size is known
  // only then (data-dependent shapes, shapes computed from values) that would take the context past it
  // fails the run with an error naming the tensor. 0: no limit.
  int64_t memoryLimit = 0;
  // Most elements one tensor may hold. Checked at build for every tensor at the profile's max shapes and,
  // recorded in the plan, at run time for sizes known only then; the error names the tensor, its layer and
  // its shape. Guards against shapes computed from (possibly hostile) values that ask for absurd memory.
  int64_t maxTensorElements = int64_t{1} << 32;
  // Tactic selection (TensorRT's builder optimization level), 0..5. 0 takes each backend's preferred
  // tactic and times nothing; from 1 on, every layer with several candidate kernels has them timed on the
  // device at the profile's opt shapes and keeps the fastest; higher efforts time more candidates (more
  // cuBLASLt algorithms, cuDNN algorithms, CPU variants) with more runs each.
  int builderEffort = 3;
  // A timing cache file. When it exists it is read first (a foreign, corrupted or other-version file is
  // an error naming the file and what is wrong), and its timings replace timing runs; at the end of the
  // build the file is written with every timing it had plus the new ones. Empty: no file.
  std::string timingCache;
  // Called while tactics are timed, for progress on a terminal: layer index (0-based) and count of the
  // layers being tuned, the layer's name and the tactics being timed (space-separated). Empty: silent.
  std::function<void(int layer, int layerCount, const std::string& layerName, const std::string& tactic)> progress;

  // Implicit quantization. With int8 (or fp8: float8 e4m3, per-tensor scales), the inputs of Convolution
  // and MatrixMultiply layers get QuantizeLinear/DequantizeLinear pairs (symmetric, zero point 0) with the
  // scales found by calibration, and constant weights get per-output-channel scales (per-tensor for fp8),
  // as an explicitly quantized model has them. A layer whose input has no scale stays in float.
  bool int8 = false;
  bool fp8 = false;  // not together with int8
  // The batches to calibrate with; needed with int8/fp8 unless calibrationCache exists.
  std::shared_ptr<Calibrator> calibrator;
  CalibrationMethod calibrationMethod = CalibrationMethod::kEntropy;
  double calibrationPercentile = 99.99;  // kPercentile: in (0, 100]
  // A calibration cache file (versioned text: method, Kiln version, one `tensor: scale` line per tensor).
  // When it exists it is read instead of calibrating (an unreadable, foreign or other-method file is an
  // error naming the file and line); otherwise it is written after calibrating. Empty: no file.
  std::string calibrationCache;
  // Per-layer precision by layer name: kFloat32 (keep out of int8/fp8 and fp16), kFloat16/kBFloat16 (run
  // in that type, also without fp16/bf16), kInt8/kFP8E4M3 (quantize it). Honored as precisionConstraints says.
  std::map<std::string, DataType> layerPrecisions;
  PrecisionConstraints precisionConstraints = PrecisionConstraints::kNone;
};

// The tactic chosen for one layer.
struct LayerTactic {
  std::string layerName;
  std::string layerType;   // "Convolution"
  std::string backend;     // "cpu", "cuda:0", or "host" for layers evaluated on the host at reshape
  std::string tactic;      // e.g. "cuda.conv.cudnn_heuristic"; empty for constants and host layers
  double milliseconds = -1.0;  // its measured time at the opt shapes; -1 when not timed
  int candidates = 0;          // tactics timed for the layer (0: not timed, a single candidate or effort 0)
  bool fromCache = false;      // the timings came from the timing cache
};
// A table with one line per layer: name, type, backend, tactic, time, candidates.
std::string formatLayerTactics(const std::vector<LayerTactic>& tactics);

// What the builder did; also printed by `kiln build`.
struct BuildSummary {
  int layersBefore = 0;
  int layersAfter = 0;
  int64_t activationBytesPlanned = 0;  // arena size at the profile's opt shapes
  int64_t activationBytesNaive = 0;    // the sum of all activation sizes at opt shapes
  int64_t weightsBytes = 0;
  double buildSeconds = 0.0;
  std::string device;
  std::vector<std::string> passLog;        // one line per pass that changed the network
  std::vector<std::string> fallbackLayers; // layers that run on another backend than requested
  DataType precision = DataType::kFloat32; // the reduced type allowed by --fp16/--bf16 (kFloat32: none)
  int reducedPrecisionLayers = 0;          // layers (besides Constants and Casts) computing in `precision`
  int castsInserted = 0;                   // Casts added at the precision boundaries
  int quantizedLayers = 0;                 // layers given Quantize/Dequantize inputs by int8/fp8 calibration
  int calibrationBatches = 0;              // batches calibrated with (0: none, or the cache was read)
  std::vector<LayerTactic> tactics;        // per layer of the optimized network, in order
  int layersTimed = 0;                     // layers whose candidates were timed in this build
  int timingCacheHits = 0;                 // layers whose choice came from the timing cache
  double tacticSeconds = 0.0;              // time spent choosing tactics
  std::string toString() const;
  // One line per layer: name, type, backend, tactic, time, candidates (kiln build --dump-layers).
  std::string layerTable() const;
};

class Builder {
 public:
  explicit Builder(Logger& logger = defaultLogger());
  std::unique_ptr<NetworkDefinition> createNetwork() const;
  // Optimizes the network (it is modified) and returns a serialized plan.
  std::vector<uint8_t> buildSerializedNetwork(NetworkDefinition& network, const BuilderConfig& config,
                                              BuildSummary* summary = nullptr) const;
  // The passes in the order they run.
  static std::vector<std::string> passNames();

 private:
  Logger& logger_;
};

// ---- runtime --------------------------------------------------------------------------------------

class Engine;
class ExecutionContext;
struct EngineImpl;
struct ContextImpl;

enum class TensorIOMode : uint8_t { kNone, kInput, kOutput };

class Runtime {
 public:
  explicit Runtime(Logger& logger = defaultLogger());
  // A truncated, corrupted or foreign plan throws kiln::Error (kInvalidPlan) saying what is wrong.
  std::shared_ptr<Engine> deserializeEngine(const void* data, size_t size) const;
  std::shared_ptr<Engine> deserializeEngineFromFile(const std::string& path) const;

 private:
  Logger& logger_;
};

// An optimized network ready to run. Immutable and shareable between threads.
class Engine : public std::enable_shared_from_this<Engine> {
 public:
  ~Engine();
  int numIOTensors() const;
  const std::string& ioTensorName(int index) const;
  TensorIOMode tensorIOMode(const std::string& name) const;
  DataType tensorDataType(const std::string& name) const;
  // kTensor, or a sequence/optional (host-only values: see ExecutionContext::setTensorAddress).
  ValueKind tensorValueKind(const std::string& name) const;
  // Declared shape, -1 for dynamic dimensions.
  Dims tensorShape(const std::string& name) const;
  // For inputs: the optimization profile's range.
  ShapeRange profileShape(const std::string& name) const;
  const std::string& device() const;
  int numLayers() const;
  // One line per layer: name, type, backend.
  std::string layerInformation() const;
  // The tactic of every layer as the plan records it (what the builder chose and measured).
  std::vector<LayerTactic> layerTactics() const;
  int64_t weightsBytes() const;

  std::unique_ptr<ExecutionContext> createExecutionContext() const;
  std::vector<uint8_t> serialize() const;

  // Internal.
  explicit Engine(std::unique_ptr<EngineImpl> impl);
  const EngineImpl& impl() const { return *impl_; }

 private:
  std::unique_ptr<EngineImpl> impl_;
};

// Activation memory of a context at its current shapes.
struct MemoryUsage {
  int64_t arenaBytes = 0;  // the planned arenas (host + device)
  int64_t naiveBytes = 0;  // what one buffer per tensor would take
};

// Receives the time of every layer run by execute()/enqueue() while set on a context (TensorRT's
// IProfiler). layerType is the core layer's name ("Convolution"), or "copy to host" / "copy to device" for the
// copies around layers that fall back to the CPU; ms is the layer's time on its stream (CUDA events on
// the GPU, the wall clock on the CPU), reported when the run ends.
class Profiler {
 public:
  virtual ~Profiler() = default;
  virtual void reportLayerTime(const std::string& layerName, const std::string& layerType, double ms) = 0;
};

// Per-inference state: shapes, bindings, activation memory. One thread at a time.
class ExecutionContext {
 public:
  ~ExecutionContext();
  const Engine& engine() const;

  // Sets the run-time shape of a dynamic input; it must lie in the profile's [min, max].
  void setInputShape(const std::string& name, const Dims& dims);
  // The current shape of any I/O tensor. Outputs whose shape depends on data (NonZero) report -1
  // until execute() has run.
  Dims tensorShape(const std::string& name) const;

  // Binds a buffer to an input or output. For the CPU backend, and for execute(), host memory;
  // for enqueue() on a GPU engine, device memory. An output left unbound is allocated by the context:
  // tensorAddress() gives host memory after execute(), device memory after enqueue() on a GPU engine.
  // Networks with data-dependent shapes (NonZero) run on the host through execute() on every backend.
  // A sequence or optional input (Engine::tensorValueKind) is bound as a `const kiln::Weights*` holding
  // the value (see Weights::container), and takes no setInputShape; such an output's tensorAddress() is a
  // `const kiln::Weights*` owned by the context. Networks with them run on the host.
  // A string (DataType::kString) input is bound as an array of std::string; a string output must stay
  // unbound, and its tensorAddress() after execute() is a context-owned std::string array (valid until
  // the next run). Networks with string tensors run on the host.
  void setTensorAddress(const std::string& name, void* address);
  void* tensorAddress(const std::string& name) const;

  // Plans memory for the current shapes (if needed) and reports it.
  MemoryUsage memoryUsage() const;

  // Runs inference synchronously on host buffers.
  void execute();
  // Enqueues inference on a stream (cudaStream_t for GPU engines, ignored by the CPU backend)
  // with the bound buffers as device buffers. Asynchronous on GPUs.
  void enqueue(void* stream);
  // Times each layer of the following runs and reports it to `profiler` (nullptr: off, the default).
  // A profiled run synchronizes its stream when it ends (enqueue() then blocks) and cannot be captured
  // into a CUDA graph. The profiler must outlive its use here.
  // Networks with data-dependent shapes (run layer by layer on the host) report nothing.
  void setProfiler(Profiler* profiler);

  // Cancellation (ONNX Runtime's RunOptions terminate flag). cancel() may be called from any thread: the run
  // in progress on this context (or, when none is, the next one) stops at its next check and throws
  // kiln::Error (kCancelled); the request is consumed by the run it stops, and one that comes too late for
  // the last check of the run in progress is dropped when that run ends. Checks are made between layers and in
  // every Loop/Scan/SequenceMap iteration (not inside other layers); a GPU enqueue() is checked while it is
  // being enqueued, not while the device runs it.
  void cancel();
  // A time limit for each execute()/enqueue() call, in milliseconds, checked where cancel() is; a run past it
  // throws kiln::Error (kCancelled) saying the limit. 0 (the default): none.
  void setTimeLimit(double milliseconds);

  // A context is used by one thread at a time: a call that overlaps a call on another thread (execute,
  // enqueue, setInputShape, setTensorAddress, tensorShape, memoryUsage, setTimeLimit) throws kiln::Error
  // (kInvalidArgument) instead of corrupting the run. Use one context per thread. cancel() is the exception.

  // Internal.
  explicit ExecutionContext(std::shared_ptr<const Engine> engine);

 private:
  std::shared_ptr<const Engine> engine_;
  std::unique_ptr<ContextImpl> impl_;
};

}  // namespace kiln
