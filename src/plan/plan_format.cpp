#include "plan/plan_format.h"

#include <cstring>
#include <exception>
#include <type_traits>
#include <unordered_set>

#include "core/error.h"
#include "ir/shape_inference.h"

namespace kiln::plan {
namespace {

uint32_t fnv1a(const uint8_t* data, size_t size, uint32_t hash = 2166136261u) {
  for (size_t i = 0; i < size; ++i) hash = (hash ^ data[i]) * 16777619u;
  return hash;
}

// ---- writing ----

class Writer {
 public:
  explicit Writer(std::vector<uint8_t>& weights) : weights_(weights) {}
  std::vector<uint8_t> bytes;

  void raw(const void* p, size_t n) {
    auto* b = static_cast<const uint8_t*>(p);
    bytes.insert(bytes.end(), b, b + n);
  }
  template <class T>
  void pod(T v) {
    static_assert(std::is_trivially_copyable_v<T>);
    raw(&v, sizeof v);
  }
  void operator()(bool v) { pod<uint8_t>(v); }
  void operator()(int64_t v) { pod(v); }
  void operator()(float v) { pod(v); }
  void operator()(const std::string& s) {
    pod<uint64_t>(s.size());
    raw(s.data(), s.size());
  }
  void operator()(const Dims& d) {
    pod<uint64_t>(d.size());
    for (int64_t x : d) pod(x);
  }
  void operator()(const std::vector<std::string>& v) {
    pod<uint64_t>(v.size());
    for (auto& s : v) (*this)(s);
  }
  template <class E, std::enable_if_t<std::is_enum_v<E>, int> = 0>
  void operator()(E e) { pod<uint8_t>(static_cast<uint8_t>(e)); }
  // Lists of floats or enums.
  template <class T, std::enable_if_t<std::is_enum_v<T> || std::is_same_v<T, float>, int> = 0>
  void operator()(const std::vector<T>& v) {
    pod<uint64_t>(v.size());
    for (T x : v) (*this)(x);
  }
  void operator()(const Subnetwork& net) {
    KILN_CHECK(net != nullptr, kInternal, "plan writer: a layer has no subnetwork");
    network(ir::asNetwork(*net));
  }
  void network(const ir::Network& net);
  void operator()(const Weights& w) {
    KILN_CHECK(w.kind == ValueKind::kTensor, kInternal, "plan writer: constants hold tensors, not a ",
               valueKindName(w.kind));
    (*this)(w.type);
    (*this)(w.shape);
    // Offsets are relative to the weights section, which itself starts aligned.
    size_t offset = (weights_.size() + kWeightsAlignment - 1) / kWeightsAlignment * kWeightsAlignment;
    weights_.resize(offset);
    if (w.type == DataType::kString && w.bytes) {  // length-prefixed elements: std::string objects are not bytes
      for (int64_t i = 0; i < w.count(); ++i) {
        const std::string& s = w.as<std::string>()[i];
        uint64_t length = s.size();
        const auto* l = reinterpret_cast<const uint8_t*>(&length);
        weights_.insert(weights_.end(), l, l + sizeof length);
        weights_.insert(weights_.end(), s.begin(), s.end());
      }
    } else if (w.bytes) {
      weights_.insert(weights_.end(), w.bytes->begin(), w.bytes->end());
    }
    size_t size = weights_.size() - offset;
    pod<uint64_t>(offset);
    pod<uint64_t>(size);
  }
  template <class A, class B, class... Rest>
  void operator()(const A& a, const B& b, const Rest&... rest) {
    (*this)(a);
    (*this)(b);
    ((*this)(rest), ...);
  }

 private:
  std::vector<uint8_t>& weights_;
};

// ---- reading ----

// The last value of each enum a plan holds: a byte above it is refused, so no switch over the enum meets a
// value it does not know. Enums are append-only (kiln/layers.h): a new value moves its row here; a new
// enum type in a params struct needs a row (the reader does not compile without one).
template <class E>
struct EnumLast;
#define KILN_ENUM_LAST(E, last) \
  template <>                   \
  struct EnumLast<E> {          \
    static constexpr E value = E::last; \
  }
KILN_ENUM_LAST(DataType, kString);
KILN_ENUM_LAST(ValueKind, kOptionalSequence);
KILN_ENUM_LAST(ElementWiseOp, kPRelu);
KILN_ENUM_LAST(UnaryOp, kBitwiseNot);
KILN_ENUM_LAST(ActivationType, kCelu);
KILN_ENUM_LAST(PaddingMode, kValid);
KILN_ENUM_LAST(ConvActivation, kGelu);
KILN_ENUM_LAST(MatMulActivation, kGeluTanh);
KILN_ENUM_LAST(PoolingType, kLp);
KILN_ENUM_LAST(ReduceOp, kSumSquare);
KILN_ENUM_LAST(SoftmaxType, kHardmax);
KILN_ENUM_LAST(NormalizationType, kRMS);
KILN_ENUM_LAST(ReshapeMode, kUnsqueeze);
KILN_ENUM_LAST(GatherMode, kND);
KILN_ENUM_LAST(ScatterMode, kND);
KILN_ENUM_LAST(ScatterReduction, kMin);
KILN_ENUM_LAST(PadMode, kWrap);
KILN_ENUM_LAST(ResizeMode, kCubic);
KILN_ENUM_LAST(ResizeCoordinateTransform, kTfHalfPixelForNn);
KILN_ENUM_LAST(ResizeNearestRounding, kCeil);
KILN_ENUM_LAST(ResizeAspectPolicy, kNotSmaller);
KILN_ENUM_LAST(GridSampleMode, kCubic);
KILN_ENUM_LAST(GridSamplePadding, kReflection);
KILN_ENUM_LAST(RoiAlignMode, kMax);
KILN_ENUM_LAST(TfIdfMode, kTFIDF);
KILN_ENUM_LAST(WindowType, kBlackman);
KILN_ENUM_LAST(RandomDistribution, kMultinomial);
KILN_ENUM_LAST(RecurrentCell, kLSTM);
KILN_ENUM_LAST(RecurrentDirection, kBidirectional);
KILN_ENUM_LAST(RecurrentActivation, kSoftplus);
KILN_ENUM_LAST(SequenceOp, kConcat);
KILN_ENUM_LAST(OptionalOp, kHasElement);
KILN_ENUM_LAST(StringCaseChange, kUpper);
KILN_ENUM_LAST(AttentionLayout, kBSHD);
KILN_ENUM_LAST(PointwiseOpKind, kCast);
#undef KILN_ENUM_LAST
template <>
struct EnumLast<LayerType> {
  static constexpr LayerType value = static_cast<LayerType>(static_cast<int>(LayerType::kCount) - 1);
};

class Reader {
 public:
  Reader(const uint8_t* data, size_t size, const uint8_t* weights, size_t weightsSize)
      : data_(data), size_(size), weights_(weights), weightsSize_(weightsSize) {}

  void raw(void* p, size_t n) {
    KILN_CHECK(n <= size_ - pos_, kInvalidPlan, "plan is truncated or corrupted: metadata ends early at byte ", pos_);
    std::memcpy(p, data_ + pos_, n);
    pos_ += n;
  }
  template <class T>
  T pod() {
    T v;
    raw(&v, sizeof v);
    return v;
  }
  uint64_t count(uint64_t elementSize) {
    auto n = pod<uint64_t>();
    KILN_CHECK(n <= (size_ - pos_) / elementSize, kInvalidPlan, "plan is corrupted: a count of ", n,
               " exceeds the metadata size");
    return n;
  }
  void operator()(bool& v) { v = pod<uint8_t>() != 0; }
  void operator()(int64_t& v) { v = pod<int64_t>(); }
  void operator()(float& v) { v = pod<float>(); }
  void operator()(std::string& s) {
    s.resize(count(1));
    raw(s.data(), s.size());
  }
  void operator()(Dims& d) {
    d.resize(count(8));
    for (auto& x : d) x = pod<int64_t>();
  }
  void operator()(std::vector<std::string>& v) {
    v.resize(count(8));
    for (auto& s : v) (*this)(s);
  }
  template <class E, std::enable_if_t<std::is_enum_v<E>, int> = 0>
  void operator()(E& e) {
    static_assert(std::is_same_v<std::underlying_type_t<E>, uint8_t>, "plans store enums as one byte");
    auto value = pod<uint8_t>();
    KILN_CHECK(value <= static_cast<uint8_t>(EnumLast<E>::value), kInvalidPlan, "plan is corrupted: enum value ",
               static_cast<int>(value), " at byte ", pos_ - 1, " is out of range");
    e = static_cast<E>(value);
  }
  template <class T, std::enable_if_t<std::is_enum_v<T> || std::is_same_v<T, float>, int> = 0>
  void operator()(std::vector<T>& v) {
    v.resize(count(std::is_enum_v<T> ? 1 : sizeof(T)));
    for (T& x : v) (*this)(x);
  }
  void operator()(Subnetwork& net) { net = network(); }
  std::unique_ptr<ir::Network> network();
  // Weights: type, shape, then their place in the weights section. Zero bytes for a shape that needs some
  // are absent weights (null bytes: ConstantOfShape's default value); a Constant's must be present
  // (checked with the network).
  void operator()(Weights& w) {
    (*this)(w.type, w.shape);
    auto offset = pod<uint64_t>(), size = pod<uint64_t>();
    KILN_CHECK(offset <= weightsSize_ && size <= weightsSize_ - offset, kInvalidPlan,
               "plan is truncated or corrupted: weights at ", offset, "+", size, " lie outside the weights section (",
               weightsSize_, " bytes)");
    int64_t n = checkedVolume(w.shape);
    KILN_CHECK(n >= 0, kInvalidPlan, "plan is corrupted: weights of shape ", dimsToString(w.shape),
               " (unknown or too many elements)");
    const uint8_t* at = weights_ + offset;
    if (size == 0 && n > 0) return;  // absent
    if (w.type == DataType::kString) {
      w = Weights::strings(w.shape, readStrings(at, size, n));
      return;
    }
    KILN_CHECK(static_cast<uint64_t>(checkedByteSize(w.type, w.shape)) == size, kInvalidPlan,
               "plan is corrupted: weights of type ", dataTypeName(w.type), " and shape ", dimsToString(w.shape),
               " hold ", size, " bytes");
    w.bytes = std::make_shared<const std::vector<uint8_t>>(at, at + size);
  }
  // `n` string elements, each a u64 length and the bytes, filling exactly `size` bytes at `at`.
  static std::vector<std::string> readStrings(const uint8_t* at, uint64_t size, int64_t n) {
    KILN_CHECK(static_cast<uint64_t>(n) <= size / sizeof(uint64_t), kInvalidPlan, "plan is corrupted: ", n,
               " strings cannot fit in ", size, " bytes of weights");
    std::vector<std::string> values(static_cast<size_t>(n));
    uint64_t used = 0;
    for (std::string& v : values) {
      uint64_t length = 0;
      KILN_CHECK(size - used >= sizeof length, kInvalidPlan, "plan is corrupted: string weights end early");
      std::memcpy(&length, at + used, sizeof length);
      used += sizeof length;
      KILN_CHECK(length <= size - used, kInvalidPlan, "plan is corrupted: a string of ", length,
                 " bytes runs past its weights");
      v.assign(reinterpret_cast<const char*>(at + used), length);
      used += length;
    }
    KILN_CHECK(used == size, kInvalidPlan, "plan is corrupted: string weights hold ", size - used, " extra bytes");
    return values;
  }
  template <class A, class B, class... Rest>
  void operator()(A& a, B& b, Rest&... rest) {
    (*this)(a);
    (*this)(b);
    ((*this)(rest), ...);
  }
  bool atEnd() const { return pos_ == size_; }

 private:
  static constexpr int kMaxNesting = 64;
  int depth_ = 0;
  const uint8_t* data_;
  size_t size_, pos_ = 0;
  const uint8_t* weights_;
  size_t weightsSize_;
};

// Visits a LayerParams alternative chosen by index (for reading).
template <size_t I = 0>
LayerParams defaultParams(size_t index) {
  if constexpr (I < std::variant_size_v<LayerParams>) {
    if (index == I) return LayerParams(std::in_place_index<I>);
    return defaultParams<I + 1>(index);
  } else {
    fail(ErrorCode::kInvalidPlan, concat("plan is corrupted: unknown layer type ", index));
  }
}

// A network: tensors, layers (typed params, subnetworks nested), inputs, outputs.
void Writer::network(const ir::Network& net) {
  Writer& w = *this;
  std::unordered_map<const ir::Tensor*, int64_t> ids;
  w.pod<uint64_t>(net.tensors().size());
  for (auto& t : net.tensors()) {
    ids[t.get()] = static_cast<int64_t>(ids.size());
    w(t->name(), t->type(), t->kind, t->dims(), t->dimNames);
  }
  auto id = [&](const ir::Tensor* t) -> int64_t { return t ? ids.at(t) : -1; };
  w.pod<uint64_t>(net.layers().size());
  for (auto& l : net.layers()) {
    w(l->name(), l->origin);
    w.pod<uint8_t>(static_cast<uint8_t>(l->type()));
    std::visit([&](auto& p) { const_cast<std::decay_t<decltype(p)>&>(p).visit(w); }, l->params());
    w.pod<uint64_t>(l->inputs.size());
    for (auto* t : l->inputs) w(id(t));
    w.pod<uint64_t>(l->outputs.size());
    for (auto* t : l->outputs) w(id(t));
  }
  w.pod<uint64_t>(net.inputs().size());
  for (auto* t : net.inputs()) w(id(t));
  w.pod<uint64_t>(net.outputs().size());
  for (auto* t : net.outputs()) w(id(t));
}

std::unique_ptr<ir::Network> Reader::network() {
  KILN_CHECK(++depth_ <= kMaxNesting, kInvalidPlan, "plan is corrupted: subnetworks nest deeper than ", kMaxNesting);
  Reader& r = *this;
  auto owned = std::make_unique<ir::Network>();
  ir::Network& net = *owned;
  std::vector<ir::Tensor*> tensors(r.count(8));
  for (auto& t : tensors) {
    std::string name;
    DataType type;
    ValueKind kind;
    Dims dims;
    std::vector<std::string> dimNames;
    r(name, type, kind, dims, dimNames);
    t = net.addTensor(name, type, dims);
    t->kind = kind;
    t->dimNames = dimNames;
  }
  auto tensorAt = [&](int64_t id) -> ir::Tensor* {
    if (id == -1) return nullptr;
    KILN_CHECK(id >= 0 && static_cast<size_t>(id) < tensors.size(), kInvalidPlan, "plan is corrupted: tensor id ",
               id, " out of range");
    return tensors[id];
  };
  for (uint64_t n = r.count(8); n > 0; --n) {
    std::string name, origin;
    r(name, origin);
    LayerType type;
    r(type);
    LayerParams params = defaultParams(static_cast<size_t>(type));
    std::visit([&](auto& p) { p.visit(r); }, params);
    std::vector<ir::Tensor*> inputs(r.count(8));
    for (auto& t : inputs) t = tensorAt(r.pod<int64_t>());
    ir::Layer* layer = net.addLayerRaw(std::move(params), inputs, 0, name);
    layer->origin = origin;
    for (uint64_t k = r.count(8); k > 0; --k) {
      ir::Tensor* t = tensorAt(r.pod<int64_t>());
      KILN_CHECK(t != nullptr && t->producerLayer == nullptr, kInvalidPlan, "plan is corrupted: layer '", name,
                 "' has an invalid output");
      t->producerLayer = layer;
      t->producerOutputIndex = static_cast<int>(layer->outputs.size());
      layer->outputs.push_back(t);
    }
  }
  for (uint64_t n = r.count(8); n > 0; --n) {
    ir::Tensor* t = tensorAt(r.pod<int64_t>());
    KILN_CHECK(t != nullptr, kInvalidPlan, "plan is corrupted: null network input");
    net.markInput(t);
  }
  for (uint64_t n = r.count(8); n > 0; --n) {
    ir::Tensor* t = tensorAt(r.pod<int64_t>());
    KILN_CHECK(t != nullptr, kInvalidPlan, "plan is corrupted: null network output");
    KILN_CHECK(!t->isOutput, kInvalidPlan, "plan is invalid: network output '", t->name(), "' is listed twice");
    net.markOutput(t);
  }
  --depth_;
  return owned;
}

// ---- validation: a plan that loads can run ----
//
// The reader restores what the writer wrote without judging it; these checks make sure the network is one
// the builder could have written: tensors in range, every layer input produced before it is read, layer
// arities, types and shapes as the layer's shape rule infers them (which checks its params against its
// inputs), Constant weights present, subnetworks valid in turn, a complete profile and per-layer lists.

[[noreturn]] void invalid(const std::string& message) { fail(ErrorCode::kInvalidPlan, "plan is invalid: " + message); }

std::string describeDesc(const TensorDesc& d) {
  std::string s = concat(dataTypeName(d.type), " ", dimsToString(d.shape));
  if (d.kind != ValueKind::kTensor) s = concat(valueKindName(d.kind), " of ", s);
  return s;
}

// The subnetworks held by a layer's params.
struct SubnetworkList {
  std::vector<const ir::Network*> networks;
  void operator()(const Subnetwork& net) {
    if (!net) invalid("a control-flow layer has no subnetwork");
    networks.push_back(&ir::asNetwork(*net));
  }
  template <class T>
  void operator()(const T&) {}
  template <class A, class B, class... Rest>
  void operator()(const A& a, const B& b, const Rest&... rest) {
    (*this)(a);
    (*this)(b);
    ((*this)(rest), ...);
  }
};

void validateNetwork(const ir::Network& net);

void validateLayer(const ir::Layer& layer, const std::unordered_set<const ir::Tensor*>& available) {
  for (size_t i = 0; i < layer.inputs.size(); ++i) {
    const ir::Tensor* in = layer.inputs[i];
    if (in && !available.count(in))
      invalid(concat(layer.describe(), " reads tensor '", in->name(), "' (input ", i,
                     ") before any layer produces it, or it is never produced"));
  }
  if (layer.type() == LayerType::kConstant) {
    if (!layer.inputs.empty() || layer.outputs.size() != 1)
      invalid(concat(layer.describe(), " has ", layer.inputs.size(), " inputs and ", layer.outputs.size(),
                     " outputs; a Constant has none and one"));
    const Weights& w = layer.as<ConstantParams>().weights;
    if (w.kind != ValueKind::kTensor || (!w.bytes && checkedVolume(w.shape) != 0))
      invalid(concat(layer.describe(), " has no weight bytes for its shape ", dimsToString(w.shape)));
  }
  SubnetworkList subnetworks;
  std::visit([&](auto& p) { const_cast<std::decay_t<decltype(p)>&>(p).visit(subnetworks); }, layer.params());
  for (const ir::Network* sub : subnetworks.networks) {
    try {
      validateNetwork(*sub);
    } catch (const Error& e) {
      fail(ErrorCode::kInvalidPlan, concat(e.what(), " (in a subnetwork of ", layer.describe(), ")"));
    }
  }
  // The shape rule checks the params against the inputs; its result must be what the plan stored.
  std::vector<TensorDesc> descs(layer.inputs.size());
  std::vector<const TensorDesc*> inputs(layer.inputs.size(), nullptr);
  ir::InputValues values(layer.inputs.size(), nullptr);
  for (size_t i = 0; i < layer.inputs.size(); ++i) {
    const ir::Tensor* t = layer.inputs[i];
    if (!t) continue;
    descs[i] = {t->type(), t->dims(), t->kind};
    inputs[i] = &descs[i];
    if (t->producerLayer && t->producerLayer->type() == LayerType::kConstant)
      values[i] = &t->producerLayer->as<ConstantParams>().weights;
  }
  std::vector<TensorDesc> inferred;
  try {
    inferred = ir::inferOutputs(layer, inputs, values);
  } catch (const Error& e) {
    invalid(e.what());
  } catch (const std::exception& e) {
    invalid(concat(layer.describe(), ": ", e.what()));
  }
  if (inferred.size() != layer.outputs.size())
    invalid(concat(layer.describe(), " has ", layer.outputs.size(), " outputs, its inputs give ", inferred.size()));
  for (size_t o = 0; o < inferred.size(); ++o) {
    const ir::Tensor* out = layer.outputs[o];
    TensorDesc stored{out->type(), out->dims(), out->kind};
    if (!(stored == inferred[o]))
      invalid(concat(layer.describe(), ": output ", o, " '", out->name(), "' is stored as ", describeDesc(stored),
                     " but its inputs give ", describeDesc(inferred[o])));
  }
}

void validateNetwork(const ir::Network& net) {
  for (const auto& t : net.tensors()) {
    for (int64_t d : t->dims())
      if (d < -1) invalid(concat("tensor '", t->name(), "' has dimension ", d, " in ", dimsToString(t->dims())));
    if (t->dimNames.size() > t->dims().size())
      invalid(concat("tensor '", t->name(), "' has ", t->dimNames.size(), " dimension names for rank ",
                     t->dims().size()));
  }
  std::unordered_set<const ir::Tensor*> available;
  for (const ir::Tensor* in : net.inputs()) {
    if (in->producerLayer) invalid(concat("network input '", in->name(), "' is also a layer output"));
    if (!available.insert(in).second) invalid(concat("network input '", in->name(), "' is listed twice"));
  }
  for (const auto& layer : net.layers()) {
    validateLayer(*layer, available);
    for (const ir::Tensor* out : layer->outputs) available.insert(out);
  }
  for (const ir::Tensor* out : net.outputs())
    if (!available.count(out)) invalid(concat("network output '", out->name(), "' is not produced by any layer"));
  // I/O tensors are bound by name: distinct tensors need distinct names.
  std::unordered_map<std::string, const ir::Tensor*> ioNames;
  for (const auto* list : {&net.inputs(), &net.outputs()})
    for (const ir::Tensor* t : *list)
      if (!ioNames.emplace(t->name(), t).second && ioNames.at(t->name()) != t)
        invalid(concat("two network inputs/outputs are named '", t->name(), "'"));
}

// The profile gives every network input a range of its rank: 0 <= min <= opt <= max, static dims fixed.
void validateProfile(const ir::Network& net, const OptimizationProfile& profile) {
  for (const auto& [name, range] : profile.shapes) {
    const ir::Tensor* t = net.tensor(name);
    if (!t || !t->isInput) invalid(concat("the profile names '", name, "', which is not a network input"));
  }
  for (const ir::Tensor* in : net.inputs()) {
    auto it = profile.shapes.find(in->name());
    if (it == profile.shapes.end()) invalid(concat("the profile has no range for input '", in->name(), "'"));
    const ShapeRange& r = it->second;
    const Dims& dims = in->dims();
    std::string range = concat("min ", dimsToString(r.min), " opt ", dimsToString(r.opt), " max ", dimsToString(r.max));
    for (const Dims* d : {&r.min, &r.opt, &r.max})
      if (d->size() != dims.size())
        invalid(concat("the profile of input '", in->name(), "' ", dimsToString(dims), " has rank ", d->size(), " (",
                       range, ")"));
    for (size_t i = 0; i < dims.size(); ++i) {
      if (!(r.min[i] >= 0 && r.min[i] <= r.opt[i] && r.opt[i] <= r.max[i]))
        invalid(concat("the profile of input '", in->name(), "' needs 0 <= min <= opt <= max (", range, ")"));
      if (dims[i] >= 0 && (r.min[i] != dims[i] || r.max[i] != dims[i]))
        invalid(concat("the profile of input '", in->name(), "' changes static dimension ", i, " of ",
                       dimsToString(dims), " (", range, ")"));
    }
  }
}

void validatePlan(const PlanContents& contents) {
  const ir::Network& net = *contents.network;
  const PlanInfo& info = contents.info;
  validateNetwork(net);
  validateProfile(net, info.profile);
  size_t layers = net.layers().size();
  if (info.layerBackends.size() != layers || info.layerTactics.size() != layers ||
      info.layerTacticMs.size() != layers || info.layerCandidates.size() != layers)
    invalid(concat("the per-layer lists (backends ", info.layerBackends.size(), ", tactics ", info.layerTactics.size(),
                   ", times ", info.layerTacticMs.size(), ", candidates ", info.layerCandidates.size(),
                   ") do not match the ", layers, " layers"));
  if (info.memoryLimit < 0 || info.maxTensorElements <= 0)
    invalid(concat("the run-time limits (memoryLimit ", info.memoryLimit, ", maxTensorElements ",
                   info.maxTensorElements, ") are out of range"));
  for (size_t i = 0; i < layers; ++i)
    if (info.layerBackends[i] != "cpu" && info.layerBackends[i] != info.device)
      invalid(concat(net.layers()[i]->describe(), " runs on '", info.layerBackends[i], "', neither the cpu nor the plan's device '",
                     info.device, "'"));
}

template <class T>
void putU32(std::vector<uint8_t>& out, size_t at, T v) {
  std::memcpy(out.data() + at, &v, sizeof v);
}

}  // namespace

std::vector<uint8_t> serializeParams(const ir::Layer& layer) {
  std::vector<uint8_t> weights;  // weight bytes inside params (Constant) are left out: only their offsets count
  Writer w(weights);
  w(layer.type());
  std::visit([&](auto& p) { const_cast<std::decay_t<decltype(p)>&>(p).visit(w); }, layer.params());
  return std::move(w.bytes);
}

std::vector<uint8_t> writePlan(const ir::Network& net, const PlanInfo& c) {
  std::vector<uint8_t> weights;
  Writer w(weights);
  w(c.kilnVersion, c.device, c.target);
  w.pod<uint64_t>(c.profile.shapes.size());
  for (auto& [name, range] : c.profile.shapes) w(name, range.min, range.opt, range.max);

  w.network(net);
  w(c.layerBackends);
  // A plan written before tactics were chosen (or by hand) has none: the preferred tactics.
  size_t layers = net.layers().size();
  std::vector<std::string> tactics = c.layerTactics;
  std::vector<float> ms = c.layerTacticMs;
  Dims candidates = c.layerCandidates;
  tactics.resize(layers);
  ms.resize(layers, -1.f);
  candidates.resize(layers, 0);
  w(tactics, ms, candidates);
  w(c.memoryLimit, c.maxTensorElements);

  size_t metadataOffset = kHeaderSize;
  size_t weightsOffset = (metadataOffset + w.bytes.size() + kWeightsAlignment - 1) / kWeightsAlignment * kWeightsAlignment;
  std::vector<uint8_t> out(weightsOffset + weights.size(), 0);
  std::memcpy(out.data(), kPlanMagic, 8);
  putU32(out, 8, kPlanFormatVersion);
  putU32<uint64_t>(out, 16, metadataOffset);
  putU32<uint64_t>(out, 24, w.bytes.size());
  putU32<uint64_t>(out, 32, weightsOffset);
  putU32<uint64_t>(out, 40, weights.size());
  std::memcpy(out.data() + metadataOffset, w.bytes.data(), w.bytes.size());
  if (!weights.empty()) std::memcpy(out.data() + weightsOffset, weights.data(), weights.size());
  uint32_t checksum = fnv1a(out.data() + metadataOffset, out.size() - metadataOffset);
  putU32(out, 48, checksum);
  return out;
}

PlanContents readPlan(const void* data, size_t size) {
  auto* bytes = static_cast<const uint8_t*>(data);
  KILN_CHECK(bytes != nullptr && size >= 8 && std::memcmp(bytes, kPlanMagic, 8) == 0, kInvalidPlan,
             "not a Kiln plan (the file does not start with the KILNPLAN magic)");
  KILN_CHECK(size >= kHeaderSize, kInvalidPlan, "plan is truncated: ", size, " bytes is shorter than the header");
  auto get = [&](size_t at, auto v) {
    std::memcpy(&v, bytes + at, sizeof v);
    return v;
  };
  uint32_t formatVersion = get(8, uint32_t{});
  KILN_CHECK(formatVersion == kPlanFormatVersion, kInvalidPlan, "plan format version ", formatVersion,
             " is not supported: this Kiln (", version(), ") reads format version ", kPlanFormatVersion,
             "; rebuild the plan");
  uint64_t metadataOffset = get(16, uint64_t{}), metadataSize = get(24, uint64_t{});
  uint64_t weightsOffset = get(32, uint64_t{}), weightsSize = get(40, uint64_t{});
  uint32_t checksum = get(48, uint32_t{});
  KILN_CHECK(metadataOffset == kHeaderSize && metadataSize <= size && weightsOffset <= size &&
                 weightsSize <= size - weightsOffset && metadataOffset + metadataSize <= weightsOffset,
             kInvalidPlan, "plan is truncated or corrupted: its sections (metadata ", metadataSize, " bytes, weights ",
             weightsSize, " bytes at ", weightsOffset, ") do not fit in ", size, " bytes");
  KILN_CHECK(weightsOffset + weightsSize == size, kInvalidPlan, "plan is truncated or has trailing bytes: expected ",
             weightsOffset + weightsSize, " bytes, got ", size);
  KILN_CHECK(fnv1a(bytes + metadataOffset, size - metadataOffset) == checksum, kInvalidPlan,
             "plan is corrupted: checksum mismatch");

  Reader r(bytes + metadataOffset, metadataSize, bytes + weightsOffset, weightsSize);
  PlanContents contents;
  PlanInfo& c = contents.info;
  r(c.kilnVersion, c.device, c.target);
  KILN_CHECK(c.kilnVersion == version(), kInvalidPlan, "plan was built by Kiln ", c.kilnVersion,
             " but this is Kiln ", version(), "; rebuild the plan");
  for (uint64_t n = r.count(8); n > 0; --n) {
    std::string name;
    ShapeRange range;
    r(name, range.min, range.opt, range.max);
    c.profile.shapes[name] = range;
  }
  contents.network = r.network();
  r(c.layerBackends);
  r(c.layerTactics, c.layerTacticMs, c.layerCandidates);
  r(c.memoryLimit, c.maxTensorElements);
  KILN_CHECK(r.atEnd(), kInvalidPlan, "plan is corrupted: unexpected bytes after the metadata");
  validatePlan(contents);
  return contents;
}

}  // namespace kiln::plan
