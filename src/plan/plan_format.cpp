#include "plan/plan_format.h"

#include <cstring>
#include <type_traits>

#include "core/error.h"

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
    if (w.type == DataType::kString) {  // length-prefixed elements: std::string objects are not bytes
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
  void operator()(E& e) { e = static_cast<E>(pod<uint8_t>()); }
  template <class T, std::enable_if_t<std::is_enum_v<T> || std::is_same_v<T, float>, int> = 0>
  void operator()(std::vector<T>& v) {
    v.resize(count(std::is_enum_v<T> ? 1 : sizeof(T)));
    for (T& x : v) (*this)(x);
  }
  void operator()(Subnetwork& net) { net = network(); }
  std::unique_ptr<ir::Network> network();
  void operator()(Weights& w) {
    (*this)(w.type);
    KILN_CHECK(static_cast<int>(w.type) <= static_cast<int>(DataType::kString), kInvalidPlan,
               "plan is corrupted: unknown data type ", static_cast<int>(w.type));
    (*this)(w.shape);
    auto offset = pod<uint64_t>(), size = pod<uint64_t>();
    KILN_CHECK(offset <= weightsSize_ && size <= weightsSize_ - offset, kInvalidPlan,
               "plan is truncated or corrupted: weights at ", offset, "+", size, " lie outside the weights section (",
               weightsSize_, " bytes)");
    int64_t n = volume(w.shape);
    KILN_CHECK(n >= 0, kInvalidPlan, "plan is corrupted: weights of shape ", dimsToString(w.shape));
    if (w.type == DataType::kString) {
      std::vector<std::string> values(static_cast<size_t>(n));
      uint64_t at = 0;
      for (std::string& v : values) {
        uint64_t length = 0;
        KILN_CHECK(size - at >= sizeof length, kInvalidPlan, "plan is corrupted: string weights end early");
        std::memcpy(&length, weights_ + offset + at, sizeof length);
        at += sizeof length;
        KILN_CHECK(length <= size - at, kInvalidPlan, "plan is corrupted: a string of ", length,
                   " bytes runs past its weights");
        v.assign(reinterpret_cast<const char*>(weights_ + offset + at), length);
        at += length;
      }
      KILN_CHECK(at == size, kInvalidPlan, "plan is corrupted: string weights hold ", size - at, " extra bytes");
      w = Weights::strings(w.shape, values);
      return;
    }
    KILN_CHECK(static_cast<uint64_t>(n) * dataTypeSize(w.type) == size, kInvalidPlan,
               "plan is corrupted: weights of shape ", dimsToString(w.shape), " hold ", size, " bytes");
    w.bytes = std::make_shared<const std::vector<uint8_t>>(weights_ + offset, weights_ + offset + size);
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
    KILN_CHECK(static_cast<int>(type) <= static_cast<int>(DataType::kString), kInvalidPlan,
               "plan is corrupted: tensor '", name, "' has unknown data type ", static_cast<int>(type));
    KILN_CHECK(static_cast<int>(kind) <= static_cast<int>(ValueKind::kOptionalSequence), kInvalidPlan,
               "plan is corrupted: tensor '", name, "' has unknown value kind ", static_cast<int>(kind));
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
    LayerParams params = defaultParams(r.pod<uint8_t>());
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
    net.markOutput(t);
  }
  --depth_;
  return owned;
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
  const ir::Network& net = *contents.network;
  r(c.layerBackends);
  KILN_CHECK(c.layerBackends.size() == net.layers().size(), kInvalidPlan,
             "plan is corrupted: backend list does not match the layers");
  r(c.layerTactics, c.layerTacticMs, c.layerCandidates);
  KILN_CHECK(c.layerTactics.size() == net.layers().size() && c.layerTacticMs.size() == net.layers().size() &&
                 c.layerCandidates.size() == net.layers().size(),
             kInvalidPlan, "plan is corrupted: the tactic list does not match the layers");
  KILN_CHECK(r.atEnd(), kInvalidPlan, "plan is corrupted: unexpected bytes after the metadata");
  return contents;
}

}  // namespace kiln::plan
