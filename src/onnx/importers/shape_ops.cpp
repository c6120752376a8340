// Shape and data-movement ops: Identity, Cast, Flatten, Reshape, Transpose, Concat, Shape, Size,
// Squeeze/Unsqueeze, Slice, Split, Pad, Expand, Tile, Range, Constant, ConstantOfShape, NonZero,
// DepthToSpace/SpaceToDepth, Trilu, OneHot.
#include <cstring>

#include "onnx/importers/importers.h"
#include "onnx/tensor_proto.h"

namespace kiln::onnx_import {

void importIdentity(ImporterContext& ctx) { ctx.setOutput(0, ctx.identity(ctx.requireInput(0))); }

std::string checkCast(const NodeView& n) {
  if (n.opType() != "Cast") return "";
  if (!n.hasAttr("to")) return "attribute 'to' is required";
  if (n.opset() < 6 && n.attr("to")->has_s()) return "";  // opset 1 spelled 'to' as a string
  try {
    fromOnnxType(static_cast<int32_t>(n.attrInt("to", 0)), "'to'");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void importCast(ImporterContext& ctx) {
  CastParams p;
  if (ctx.opType() == "CastLike") {
    p.to = ctx.requireInput(1)->type();
  } else if (ctx.attr("to") && ctx.attr("to")->has_s() && !ctx.attr("to")->has_i()) {
    static const std::pair<const char*, int32_t> names[] = {
        {"FLOAT", 1}, {"UINT8", 2}, {"INT8", 3}, {"UINT16", 4}, {"INT16", 5}, {"INT32", 6}, {"INT64", 7},
        {"BOOL", 9}, {"FLOAT16", 10}, {"DOUBLE", 11}, {"UINT32", 12}, {"UINT64", 13}};
    std::string s = ctx.attr("to")->s();
    int32_t t = 0;
    for (auto& [name, value] : names)
      if (s == name) t = value;
    p.to = fromOnnxType(t, ctx.where() + " attribute 'to' = '" + s + "'");
  } else {
    p.to = fromOnnxType(static_cast<int32_t>(ctx.attrInt("to", 0)), ctx.where() + " attribute 'to'");
  }
  p.saturate = ctx.attrInt("saturate", 1) != 0;
  ctx.setOutput(0, ctx.add(p, {ctx.requireInput(0)}));
}

void importFlatten(ImporterContext& ctx) {
  ReshapeParams p;
  p.mode = ReshapeMode::kFlatten;
  p.axis = ctx.attrInt("axis", 1);
  ctx.setOutput(0, ctx.add(p, {ctx.requireInput(0)}));
}

void importReshape(ImporterContext& ctx) {
  ReshapeParams p;
  p.mode = ReshapeMode::kShapeTensor;
  p.allowZero = ctx.attrInt("allowzero", 0) != 0;
  ITensor* shape = ctx.opset() < 5 ? ctx.constantInt64(ctx.attrInts("shape")) : ctx.requireInput(1);
  ctx.setOutput(0, ctx.add(p, {ctx.requireInput(0), shape}));
}

void importTranspose(ImporterContext& ctx) {
  ctx.setOutput(0, ctx.add(TransposeParams{ctx.attrInts("perm")}, {ctx.requireInput(0)}));
}

void importConcat(ImporterContext& ctx) {
  std::vector<ITensor*> in;
  for (int i = 0; i < ctx.numInputs(); ++i)
    if (ctx.hasInput(i)) in.push_back(ctx.input(i));
  if (!ctx.hasAttr("axis") && ctx.opset() >= 4) ctx.fail(ErrorCode::kInvalidModel, "attribute 'axis' is required");
  ctx.setOutput(0, ctx.add(ConcatenationParams{ctx.attrInt("axis", 1)}, in));
}

void importShape(ImporterContext& ctx) {
  ShapeParams p;
  p.start = ctx.attrInt("start", 0);
  p.end = ctx.attrInt("end", p.end);
  ctx.setOutput(0, ctx.add(p, {ctx.requireInput(0)}));
}

void importSize(ImporterContext& ctx) {
  ITensor* shape = ctx.add(ShapeParams{}, {ctx.requireInput(0)});
  ReduceParams p;
  p.op = ReduceOp::kProd;
  p.axes = {0};
  p.keepDims = false;
  ctx.setOutput(0, ctx.add(p, {shape}));
}

void importSqueeze(ImporterContext& ctx) {
  ReshapeParams p;
  p.mode = ctx.opType() == "Squeeze" ? ReshapeMode::kSqueeze : ReshapeMode::kUnsqueeze;
  std::vector<ITensor*> in{ctx.requireInput(0)};
  if (ctx.opset() < 13) {
    p.axes = ctx.attrInts("axes");
  } else if (ctx.hasInput(1)) {
    if (auto axes = ctx.constantInts(1)) p.axes = *axes;
    else in.push_back(ctx.input(1));
  }
  if (p.mode == ReshapeMode::kUnsqueeze && p.axes.empty() && in.size() == 1)
    ctx.fail(ErrorCode::kInvalidModel, "Unsqueeze needs axes");
  ctx.setOutput(0, ctx.add(p, in));
}

void importSlice(ImporterContext& ctx) {
  std::vector<ITensor*> in{ctx.requireInput(0)};
  if (ctx.opset() < 10) {
    in.push_back(ctx.constantInt64(ctx.attrInts("starts")));
    in.push_back(ctx.constantInt64(ctx.attrInts("ends")));
    if (ctx.hasAttr("axes")) in.push_back(ctx.constantInt64(ctx.attrInts("axes")));
  } else {
    for (int i = 1; i < 5 && i < ctx.numInputs(); ++i) in.push_back(i < 3 ? ctx.requireInput(i) : ctx.input(i));
  }
  ctx.setOutput(0, ctx.add(SliceParams{}, in));
}

void importSplit(ImporterContext& ctx) {
  SplitParams p;
  p.axis = ctx.attrInt("axis", 0);
  std::vector<ITensor*> in{ctx.requireInput(0)};
  bool splitIsInput = ctx.opset() >= 13 || ctx.opset() < 2;
  if (!splitIsInput) {
    p.sizes = ctx.attrInts("split");
  } else if (ctx.hasInput(1)) {
    if (auto sizes = ctx.constantInts(1)) p.sizes = *sizes;
    else in.push_back(ctx.input(1));
  } else if (ctx.opset() < 2) {
    p.sizes = ctx.attrInts("split");
  }
  int outputs = ctx.numOutputs();
  if (outputs < 1) ctx.fail(ErrorCode::kInvalidModel, "needs at least one output");
  ctx.setOutputs(ctx.addLayer(p, in, outputs));
}

std::string checkPad(const NodeView& n) {
  std::string mode = n.attrString("mode", "constant");
  if (mode != "constant" && mode != "reflect" && mode != "edge" && mode != "wrap")
    return concat("mode '", mode, "' is not one of constant, reflect, edge, wrap");
  return "";
}

void importPad(ImporterContext& ctx) {
  PaddingParams p;
  std::string mode = ctx.attrString("mode", "constant");
  p.mode = mode == "reflect" ? PadMode::kReflect : mode == "edge" ? PadMode::kEdge : mode == "wrap" ? PadMode::kWrap
                                                                                                     : PadMode::kConstant;
  ITensor* x = ctx.requireInput(0);
  std::vector<ITensor*> in{x};
  if (ctx.opset() < 11) {
    in.push_back(ctx.constantInt64(ctx.attrInts(ctx.opset() < 2 ? "paddings" : "pads")));
    float value = ctx.attrFloat("value", 0.f);
    if (p.mode == PadMode::kConstant && value != 0.f) in.push_back(ctx.scalar(x->type(), value));
  } else {
    in.push_back(ctx.requireInput(1));
    if (ctx.numInputs() > 2) in.push_back(ctx.input(2));
    if (ctx.numInputs() > 3) in.push_back(ctx.input(3));
  }
  ctx.setOutput(0, ctx.add(p, in));
}

void importExpand(ImporterContext& ctx) {
  ctx.setOutput(0, ctx.add(ExpandParams{}, {ctx.requireInput(0), ctx.requireInput(1)}));
}

std::string checkTile(const NodeView& n) {
  if (n.opset() < 6) return "opset < 6 Tile (tiles/axis inputs) is not supported";
  return "";
}

void importTile(ImporterContext& ctx) {
  ctx.setOutput(0, ctx.add(TileParams{}, {ctx.requireInput(0), ctx.requireInput(1)}));
}

// Opset 27 adds stash_type, the precision of float16/bfloat16 ranges: Kiln computes them in float32 (1).
std::string checkRange(const NodeView& n) {
  if (int64_t stash = n.attrInt("stash_type", 1); stash != 1)
    return concat("stash_type ", stash, " is not supported (Kiln computes ranges of float16/bfloat16 in float32: 1)");
  return "";
}

void importRange(ImporterContext& ctx) {
  ctx.setOutput(0, ctx.add(RangeParams{}, {ctx.requireInput(0), ctx.requireInput(1), ctx.requireInput(2)}));
}

std::string checkConstant(const NodeView& n) {
  if (!n.hasAttr("value") && !n.hasAttr("value_string") && !n.hasAttr("value_strings") && !n.hasAttr("value_float") && !n.hasAttr("value_floats") && !n.hasAttr("value_int") &&
      !n.hasAttr("value_ints") && !n.hasAttr("sparse_value"))
    return "no value attribute";
  return "";
}

namespace {
HostTensor densify(const onnx::SparseTensorProto& sparse, const std::string& baseDir, const NodeView& n) {
  HostTensor values = tensorFromProto(sparse.values(), baseDir);
  HostTensor indices = tensorFromProto(sparse.indices(), baseDir);
  Dims dims(sparse.dims().begin(), sparse.dims().end());
  for (int64_t d : dims)
    if (d < 0) n.fail(ErrorCode::kInvalidModel, concat("sparse tensor has a negative dim in ", dimsToString(dims)));
  if (checkedByteSize(values.type, dims) < 0)
    n.fail(ErrorCode::kInvalidArgument, concat("size overflow: sparse tensor of shape ", dimsToString(dims),
                                               " has more elements than fit in 64 bits"));
  HostTensor dense = HostTensor::zeros(values.type, dims);
  int64_t nnz = values.count(), rank = static_cast<int64_t>(dims.size()), total = volume(dims);
  if (indices.type != DataType::kInt64) n.fail(ErrorCode::kInvalidModel, "sparse indices must be int64");
  const int64_t* idx = indices.as<int64_t>();
  bool linear = indices.shape.size() == 1;
  if (indices.count() != (linear ? nnz : nnz * rank)) n.fail(ErrorCode::kInvalidModel, "sparse indices/values mismatch");
  Dims strides = stridesOf(dims);
  size_t elem = dataTypeSize(values.type);
  auto* dst = const_cast<uint8_t*>(dense.bytes->data());
  for (int64_t k = 0; k < nnz; ++k) {
    int64_t off = 0;
    if (linear) off = idx[k];
    else
      for (int64_t d = 0; d < rank; ++d) {
        int64_t i = idx[k * rank + d];  // checked per dim: the offset sum then cannot overflow
        if (i < 0 || i >= dims[d]) n.fail(ErrorCode::kInvalidModel, "sparse index out of range");
        off += i * strides[d];
      }
    if (off < 0 || off >= total) n.fail(ErrorCode::kInvalidModel, "sparse index out of range");
    copyValues(dst + off * elem, values.bytes->data() + k * elem, elem, values.type);
  }
  return dense;
}
}  // namespace

HostTensor constantNodeValue(const NodeView& n, const std::string& baseDir) {
  if (const auto* a = n.attr("value")) return tensorFromProto(a->t(), baseDir);
  if (const auto* a = n.attr("sparse_value")) return densify(a->sparse_tensor(), baseDir, n);
  if (n.hasAttr("value_float")) return makeScalar(DataType::kFloat32, n.attrFloat("value_float", 0.f));
  if (n.hasAttr("value_int")) return makeScalar(DataType::kInt64, static_cast<double>(n.attrInt("value_int", 0)));
  if (n.hasAttr("value_floats")) {
    auto v = n.attrFloats("value_floats");
    return HostTensor::copyOf(DataType::kFloat32, {static_cast<int64_t>(v.size())}, v.data());
  }
  if (n.hasAttr("value_ints")) {
    auto v = n.attrInts("value_ints");
    return HostTensor::copyOf(DataType::kInt64, {static_cast<int64_t>(v.size())}, v.data());
  }
  if (const auto* a = n.attr("value_string")) return HostTensor::strings({}, {a->s()});
  if (const auto* a = n.attr("value_strings")) {
    std::vector<std::string> v(a->strings().begin(), a->strings().end());
    return HostTensor::strings({static_cast<int64_t>(v.size())}, v);
  }
  n.fail(ErrorCode::kUnsupported, "no supported value attribute");
}

void importConstant(ImporterContext& ctx) {
  HostTensor value;
  try {
    value = constantNodeValue(ctx, ctx.baseDir());
  } catch (const Error& e) {
    if (std::string(e.what()).rfind("node '", 0) == 0) throw;
    ctx.fail(e.code(), e.what());
  }
  ctx.setOutput(0, ctx.constant(value));
}

void importConstantOfShape(ImporterContext& ctx) {
  ConstantOfShapeParams p;
  if (const auto* a = ctx.attr("value")) {
    p.value = tensorFromProto(a->t());
    if (p.value.count() != 1) ctx.fail(ErrorCode::kInvalidModel, "value must have exactly one element");
  } else {
    p.value = makeScalar(DataType::kFloat32, 0, false);
  }
  ctx.setOutput(0, ctx.add(p, {ctx.requireInput(0)}));
}

void importNonZero(ImporterContext& ctx) { ctx.setOutput(0, ctx.add(NonZeroParams{}, {ctx.requireInput(0)})); }

void importDepthSpace(ImporterContext& ctx) {
  SpaceDepthParams p;
  p.toDepth = ctx.opType() == "SpaceToDepth";
  p.blockSize = ctx.attrInt("blocksize", 0);
  if (p.blockSize <= 0) ctx.fail(ErrorCode::kInvalidModel, "blocksize must be positive");
  std::string mode = ctx.attrString("mode", "DCR");
  if (mode != "DCR" && mode != "CRD") ctx.fail(ErrorCode::kUnsupported, concat("mode '", mode, "' is not DCR or CRD"));
  p.crd = mode == "CRD";
  ITensor* x = ctx.requireInput(0);
  if (!(p.toDepth && p.crd)) {
    ctx.setOutput(0, ctx.add(p, {x}));
    return;
  }
  // SpaceToDepth CRD (opset 28): output channel c * b * b + i * b + j takes x[c, h * b + i, w * b + j].
  const Dims& d = x->dims();
  int64_t b = p.blockSize;
  if (d.size() != 4 || d[2] < 0 || d[3] < 0)
    ctx.fail(ErrorCode::kUnsupported, concat("mode CRD needs a 4-D input of known height and width, got ", dimsToString(d)));
  if (d[2] % b != 0 || d[3] % b != 0)
    ctx.fail(ErrorCode::kInvalidModel, concat("height and width of ", dimsToString(d), " must be multiples of ", b));
  ITensor* blocks = ctx.add(ReshapeParams{}, {x, ctx.constantInt64({0, 0, d[2] / b, b, d[3] / b, b})});
  ITensor* moved = ctx.add(TransposeParams{{0, 1, 3, 5, 2, 4}}, {blocks});
  ctx.setOutput(0, ctx.add(ReshapeParams{}, {moved, ctx.constantInt64({0, -1, d[2] / b, d[3] / b})}));
}

void importTrilu(ImporterContext& ctx) {
  ctx.setOutput(0, ctx.add(TriluParams{ctx.attrInt("upper", 1) != 0}, {ctx.requireInput(0), ctx.input(1)}));
}

// EyeLike: ones on diagonal k of a 2-D tensor shaped like the input, as triu(k) of tril(k) of ones.
void importEyeLike(ImporterContext& ctx) {
  ITensor* x = ctx.requireInput(0);
  if (ctx.inputRank(0) != 2) ctx.fail(ErrorCode::kInvalidModel, concat("input must be 2-D, got rank ", ctx.inputRank(0)));
  DataType type = x->type();
  if (int64_t dtype = ctx.attrInt("dtype", 0); dtype != 0) type = fromOnnxType(static_cast<int32_t>(dtype), ctx.where());
  ConstantOfShapeParams ones;
  ones.value = makeScalar(type, 1, false);
  ITensor* filled = ctx.add(ones, {ctx.add(ShapeParams{}, {x})});
  ITensor* k = ctx.constantInt64({ctx.attrInt("k", 0)}, /*scalar=*/true);
  ITensor* lower = ctx.add(TriluParams{false}, {filled, k});
  ctx.setOutput(0, ctx.add(TriluParams{true}, {lower, k}));
}

void importOneHot(ImporterContext& ctx) {
  ctx.setOutput(0, ctx.add(OneHotParams{ctx.attrInt("axis", -1)},
                           {ctx.requireInput(0), ctx.requireInput(1), ctx.requireInput(2)}));
}

}  // namespace kiln::onnx_import
