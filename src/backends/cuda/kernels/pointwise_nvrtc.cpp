// Pointwise (cuda.pointwise.nvrtc): generates CUDA C for a fused element-wise program, compiles it with
// NVRTC to a CUBIN for the device's architecture when the kernel is created (cached per source in the
// process), and launches it through the driver API. One or four output elements per thread; inputs
// broadcast by index arithmetic (same shape, scalar, row, channel or general strides); four-wide vector
// loads for inputs of the output's shape. Math as the per-layer CUDA kernels: float, half types rounded
// after each instruction; Add/Sub/Mul/Div use the _rn intrinsics so no multiply-add contracts across
// what were two layers. bfloat16 needs sm_80 or newer.
#include "backends/cuda/kernels/pointwise_nvrtc.h"

#include <cuda.h>
#include <nvrtc.h>

#include <chrono>
#include <cstring>
#include <map>
#include <mutex>

#include "backends/cuda/kernels/kernels.h"
#include "backends/cuda/kernels/supports.h"
#include "ir/pointwise_program.h"

namespace kiln::cuda {
namespace {

// Most inputs of one kernel: its geometry argument grows with them (4 KiB of kernel parameters).
constexpr int kMaxPointwiseInputs = 32;

// ---- source generation ------------------------------------------------------------------------------

const char* storageType(DataType t) {
  switch (t) {
    case DataType::kFloat32: return "float";
    case DataType::kFloat16: case DataType::kBFloat16: return "kiln_u16";
    case DataType::kInt32: return "int";
    case DataType::kInt64: return "long long";
    default: return "unsigned char";  // bool
  }
}

// The float value of a loaded element `x` of type `t`.
std::string toFloat(DataType t, const std::string& x) {
  switch (t) {
    case DataType::kFloat32: return x;
    case DataType::kFloat16: return "kiln_h2f(" + x + ")";
    case DataType::kBFloat16: return "kiln_bf2f(" + x + ")";
    case DataType::kBool: return "(" + x + " ? 1.f : 0.f)";
    default: return "(float)" + x;
  }
}

const char* load4Function(DataType t) {
  switch (t) {
    case DataType::kFloat32: return "kiln_load4_f32";
    case DataType::kFloat16: return "kiln_load4_f16";
    case DataType::kBFloat16: return "kiln_load4_bf16";
    case DataType::kInt32: return "kiln_load4_i32";
    case DataType::kInt64: return "kiln_load4_i64";
    default: return "kiln_load4_bool";
  }
}

// A float constant by its bits (exact, NaN and infinities included), its value in a comment.
std::string floatLiteral(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  char buf[64];
  std::snprintf(buf, sizeof buf, "__uint_as_float(0x%08xu) /* %.9g */", bits, static_cast<double>(v));
  return buf;
}

std::string elementWiseExpr(ElementWiseOp op, const std::string& x, const std::string& y) {
  switch (op) {
    case ElementWiseOp::kAdd: return concat("__fadd_rn(", x, ", ", y, ")");
    case ElementWiseOp::kSub: return concat("__fsub_rn(", x, ", ", y, ")");
    case ElementWiseOp::kMul: return concat("__fmul_rn(", x, ", ", y, ")");
    case ElementWiseOp::kDiv: return concat("__fdiv_rn(", x, ", ", y, ")");
    case ElementWiseOp::kPow: return concat("powf(", x, ", ", y, ")");
    case ElementWiseOp::kMax: return concat("kiln_max(", x, ", ", y, ")");
    case ElementWiseOp::kMin: return concat("kiln_min(", x, ", ", y, ")");
    case ElementWiseOp::kMod: return concat("kiln_mod(", x, ", ", y, ")");
    case ElementWiseOp::kFMod: return concat("fmodf(", x, ", ", y, ")");
    case ElementWiseOp::kPRelu: return concat("(", x, " < 0 ? __fmul_rn(", x, ", ", y, ") : ", x, ")");
    default: fail(ErrorCode::kInternal, concat("pointwise: element-wise op ", static_cast<int>(op), " in a program"));
  }
}

std::string unaryExpr(UnaryOp op, const std::string& x) {
  auto call = [&](const char* f) { return concat(f, "(", x, ")"); };
  switch (op) {
    case UnaryOp::kAbs: return call("fabsf");
    case UnaryOp::kNeg: return concat("(-", x, ")");
    case UnaryOp::kExp: return call("expf");
    case UnaryOp::kLog: return call("logf");
    case UnaryOp::kSqrt: return call("sqrtf");
    case UnaryOp::kReciprocal: return concat("(1.f / ", x, ")");
    case UnaryOp::kFloor: return call("floorf");
    case UnaryOp::kCeil: return call("ceilf");
    case UnaryOp::kRound: return call("rintf");
    case UnaryOp::kSin: return call("sinf");
    case UnaryOp::kCos: return call("cosf");
    case UnaryOp::kTan: return call("tanf");
    case UnaryOp::kAsin: return call("asinf");
    case UnaryOp::kAcos: return call("acosf");
    case UnaryOp::kAtan: return call("atanf");
    case UnaryOp::kSinh: return call("sinhf");
    case UnaryOp::kCosh: return call("coshf");
    case UnaryOp::kAsinh: return call("asinhf");
    case UnaryOp::kAcosh: return call("acoshf");
    case UnaryOp::kAtanh: return call("atanhf");
    case UnaryOp::kErf: return call("erff");
    case UnaryOp::kSign: return concat("(", x, " > 0 ? 1.f : (", x, " < 0 ? -1.f : 0.f))");
    default: fail(ErrorCode::kInternal, concat("pointwise: unary op ", static_cast<int>(op), " in a program"));
  }
}

// The activation of elementwise.cu's activate() on `x`, as statements assigning `r`.
std::string activationCode(ActivationType type, float alpha, float beta, const std::string& r) {
  const std::string a = floatLiteral(alpha), b = floatLiteral(beta);
  auto set = [&](const std::string& e) { return concat(r, " = ", e, ";"); };
  switch (type) {
    case ActivationType::kRelu: return set("x < 0.f ? 0.f : x");
    case ActivationType::kSigmoid: return set("1.f / (1.f + expf(-x))");
    case ActivationType::kTanh: return set("tanhf(x)");
    case ActivationType::kLeakyRelu: return set(concat("x >= 0.f ? x : ", a, " * x"));
    case ActivationType::kElu: return set(concat("x >= 0.f ? x : ", a, " * (expf(x) - 1.f)"));
    case ActivationType::kSelu: return set(concat("x > 0.f ? ", b, " * x : ", b, " * ", a, " * (expf(x) - 1.f)"));
    case ActivationType::kClip: return set(concat("x < ", a, " ? ", a, " : (x > ", b, " ? ", b, " : x)"));
    case ActivationType::kHardSigmoid:
      return concat("const float h = ", a, " * x + ", b, "; ", set("h < 0.f ? 0.f : (h > 1.f ? 1.f : h)"));
    case ActivationType::kHardSwish: return set("x * fmaxf(0.f, fminf(1.f, x / 6.f + 0.5f))");
    case ActivationType::kSoftplus: return set("x > 20.f ? x : log1pf(expf(x))");
    case ActivationType::kSoftsign: return set("x / (1.f + fabsf(x))");
    case ActivationType::kThresholdedRelu: return set(concat("x > ", a, " ? x : 0.f"));
    case ActivationType::kGelu:
      if (alpha == 0.f) return set("0.5f * x * (1.f + erff(x * 0.70710678118654752f))");
      return set("0.5f * x * (1.f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)))");
    case ActivationType::kMish: return concat("const float sp = x > 20.f ? x : log1pf(expf(x)); ", set("x * tanhf(sp)"));
    case ActivationType::kCelu: return set(concat("x > 0.f ? x : ", a, " * expm1f(x / ", a, ")"));
    default: fail(ErrorCode::kInternal, concat("pointwise: activation ", static_cast<int>(type), " in a program"));
  }
}

constexpr const char* kPrelude = R"(// Generated by kiln (cuda.pointwise.nvrtc) from a Pointwise program.
typedef unsigned short kiln_u16;
__device__ __forceinline__ float kiln_h2f(kiln_u16 h) { float f; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h)); return f; }
__device__ __forceinline__ kiln_u16 kiln_f2h(float f) { kiln_u16 h; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f)); return h; }
__device__ __forceinline__ float kiln_bf2f(kiln_u16 h) { return __uint_as_float(((unsigned)h) << 16); }
__device__ __forceinline__ kiln_u16 kiln_f2bf(float f) { kiln_u16 h; asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(f)); return h; }
__device__ __forceinline__ float kiln_round_f16(float f) { return kiln_h2f(kiln_f2h(f)); }
__device__ __forceinline__ float kiln_round_bf16(float f) { return kiln_bf2f(kiln_f2bf(f)); }
__device__ __forceinline__ float kiln_max(float x, float y) { return (x != x || y != y) ? __uint_as_float(0x7fc00000u) : fmaxf(x, y); }
__device__ __forceinline__ float kiln_min(float x, float y) { return (x != x || y != y) ? __uint_as_float(0x7fc00000u) : fminf(x, y); }
__device__ __forceinline__ float kiln_mod(float x, float y) {
  float r = fmodf(x, y);
  if (r != 0 && ((r < 0) != (y < 0))) r += y;
  return r;
}
struct alignas(16) kiln_f32x4 { float v[4]; };
struct alignas(16) kiln_i32x4 { int v[4]; };
struct alignas(8) kiln_u16x4 { kiln_u16 v[4]; };
struct alignas(4) kiln_u8x4 { unsigned char v[4]; };
__device__ __forceinline__ void kiln_load4_f32(const float* p, float* a) { kiln_f32x4 t = *(const kiln_f32x4*)p; for (int j = 0; j < 4; ++j) a[j] = t.v[j]; }
__device__ __forceinline__ void kiln_load4_f16(const kiln_u16* p, float* a) { kiln_u16x4 t = *(const kiln_u16x4*)p; for (int j = 0; j < 4; ++j) a[j] = kiln_h2f(t.v[j]); }
__device__ __forceinline__ void kiln_load4_bf16(const kiln_u16* p, float* a) { kiln_u16x4 t = *(const kiln_u16x4*)p; for (int j = 0; j < 4; ++j) a[j] = kiln_bf2f(t.v[j]); }
__device__ __forceinline__ void kiln_load4_i32(const int* p, float* a) { kiln_i32x4 t = *(const kiln_i32x4*)p; for (int j = 0; j < 4; ++j) a[j] = (float)t.v[j]; }
__device__ __forceinline__ void kiln_load4_i64(const long long* p, float* a) { for (int j = 0; j < 4; ++j) a[j] = (float)p[j]; }
__device__ __forceinline__ void kiln_load4_bool(const unsigned char* p, float* a) { kiln_u8x4 t = *(const kiln_u8x4*)p; for (int j = 0; j < 4; ++j) a[j] = t.v[j] ? 1.f : 0.f; }
__device__ __forceinline__ void kiln_store4(float* p, const float* a) { kiln_f32x4 t; for (int j = 0; j < 4; ++j) t.v[j] = a[j]; *(kiln_f32x4*)p = t; }
__device__ __forceinline__ void kiln_store4_f16(kiln_u16* p, const float* a) { kiln_u16x4 t; for (int j = 0; j < 4; ++j) t.v[j] = kiln_f2h(a[j]); *(kiln_u16x4*)p = t; }
__device__ __forceinline__ void kiln_store4_bf16(kiln_u16* p, const float* a) { kiln_u16x4 t; for (int j = 0; j < 4; ++j) t.v[j] = kiln_f2bf(a[j]); *(kiln_u16x4*)p = t; }
)";

}  // namespace

std::string pointwiseSource(const PointwiseParams& p, int numInputs) {
  const int64_t n = ir::pointwiseLength(p);
  // Each input's type: the type of its (first) load.
  std::vector<DataType> inputTypes(static_cast<size_t>(numInputs), DataType::kFloat32);
  for (int64_t i = 0; i < n; ++i)
    if (p.kinds[i] == PointwiseOpKind::kInput) inputTypes[p.codes[i]] = p.types[i];
  const DataType outType = p.types[p.output];
  std::string s = kPrelude;
  // Geometry: every field of the index type I, so the host fills it as one array (pointwise_nvrtc.cpp).
  s += concat("#define KILN_INPUTS ", std::max(numInputs, 1), "\n");
  s += R"(template <class I> struct KilnGeometry { I rank; I dims[8]; I strides[KILN_INPUTS][8]; I size[KILN_INPUTS]; I inner[KILN_INPUTS]; I mode[KILN_INPUTS]; };
template <class I> __device__ __forceinline__ I kiln_offset(I i, const KilnGeometry<I>& g, int k) {
  switch ((int)g.mode[k]) {
    case 0: return i;
    case 1: return 0;
    case 2: return i % g.size[k];
    case 3: return (i / g.inner[k]) % g.size[k];
    default: {
      I off = 0;
      for (int d = (int)g.rank - 1; d >= 0; --d) {
        I q = i / g.dims[d];
        off += (i - q * g.dims[d]) * g.strides[k][d];
        i = q;
      }
      return off;
    }
  }
}
)";
  // The program on loaded values.
  std::string params, args, pointerParams, pointerArgs;
  for (int k = 0; k < numInputs; ++k) {
    params += concat(k ? ", " : "", "float in", k);
    pointerParams += concat("const ", storageType(inputTypes[k]), "* __restrict__ p", k, ", ");
    pointerArgs += concat("p", k, ", ");
  }
  s += concat("__device__ __forceinline__ float kiln_program(", params, ") {\n");
  for (int64_t i = 0; i < n; ++i) {
    const std::string r = concat("r", i), x = concat("r", p.a[i]), y = concat("r", p.b[i]);
    switch (p.kinds[i]) {
      case PointwiseOpKind::kInput: s += concat("  float ", r, " = in", p.codes[i], ";\n"); continue;
      case PointwiseOpKind::kConstant: s += concat("  float ", r, " = ", floatLiteral(p.alpha[i]), ";\n"); break;
      case PointwiseOpKind::kElementWise:
        s += concat("  float ", r, " = ", elementWiseExpr(static_cast<ElementWiseOp>(p.codes[i]), x, y), ";\n");
        break;
      case PointwiseOpKind::kUnary:
        s += concat("  float ", r, " = ", unaryExpr(static_cast<UnaryOp>(p.codes[i]), x), ";\n");
        break;
      case PointwiseOpKind::kActivation:
        s += concat("  float ", r, "; { const float x = ", x, "; ",
                    activationCode(static_cast<ActivationType>(p.codes[i]), p.alpha[i], p.beta[i], r), " }\n");
        break;
      case PointwiseOpKind::kCast: s += concat("  float ", r, " = ", x, ";\n"); break;
    }
    if (p.types[i] == DataType::kFloat16) s += concat("  ", r, " = kiln_round_f16(", r, ");\n");
    if (p.types[i] == DataType::kBFloat16) s += concat("  ", r, " = kiln_round_bf16(", r, ");\n");
  }
  s += concat("  return r", p.output, ";\n}\n");

  const std::string outPointer = concat(storageType(outType), "* __restrict__ out");
  const std::string store = outType == DataType::kFloat32 ? "v" : (outType == DataType::kFloat16 ? "kiln_f2h(v)" : "kiln_f2bf(v)");
  const char* store4 = outType == DataType::kFloat32 ? "kiln_store4" : (outType == DataType::kFloat16 ? "kiln_store4_f16" : "kiln_store4_bf16");
  // One element per thread.
  s += concat("template <class I> __device__ __forceinline__ void kiln_scalar(", pointerParams, outPointer,
              ", I n, const KilnGeometry<I>& g) {\n",
              "  for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (I)gridDim.x * blockDim.x) {\n",
              "    const float v = kiln_program(");
  for (int k = 0; k < numInputs; ++k)
    s += concat(k ? ", " : "", toFloat(inputTypes[k], concat("p", k, "[kiln_offset(i, g, ", k, ")]")));
  s += concat(");\n    out[i] = ", store, ";\n  }\n}\n");
  // Four consecutive elements per thread.
  s += concat("template <class I> __device__ __forceinline__ void kiln_vec4(", pointerParams, outPointer,
              ", I n, const KilnGeometry<I>& g) {\n", "  const I packs = n / 4;\n",
              "  for (I q = (I)blockIdx.x * blockDim.x + threadIdx.x; q < packs; q += (I)gridDim.x * blockDim.x) {\n",
              "    const I i = q * 4;\n");
  for (int k = 0; k < numInputs; ++k)
    s += concat("    float a", k, "[4];\n    if (g.mode[", k, "] == 0) ", load4Function(inputTypes[k]), "(p", k, " + i, a", k,
                ");\n    else for (int j = 0; j < 4; ++j) a", k, "[j] = ",
                toFloat(inputTypes[k], concat("p", k, "[kiln_offset<I>(i + j, g, ", k, ")]")), ";\n");
  s += "    float v[4];\n    for (int j = 0; j < 4; ++j) v[j] = kiln_program(";
  for (int k = 0; k < numInputs; ++k) s += concat(k ? ", " : "", "a", k, "[j]");
  s += concat(");\n    ", store4, "(out + i, v);\n  }\n}\n");
  // Entry points.
  for (const char* index : {"u32", "u64"}) {
    const char* type = std::strcmp(index, "u32") == 0 ? "unsigned" : "unsigned long long";
    for (const char* body : {"scalar", "vec4"}) {
      const char* name = std::strcmp(body, "scalar") == 0 ? "kiln_pointwise_" : "kiln_pointwise_vec4_";
      s += concat("extern \"C\" __global__ void ", name, index, "(", pointerParams, outPointer, ", ", type,
                  " n, KilnGeometry<", type, "> g) { kiln_", body, "<", type, ">(", pointerArgs, "out, n, g); }\n");
    }
  }
  return s;
}

namespace {

// ---- compilation ------------------------------------------------------------------------------------

[[noreturn]] void driverError(const char* call, CUresult status) {
  const char* text = nullptr;
  cuGetErrorString(status, &text);
  fail(ErrorCode::kRuntimeError, concat(call, " failed: ", text ? text : "unknown CUDA driver error"));
}
#define KILN_CU_CHECK(call)                                 \
  do {                                                      \
    CUresult kiln_cu_status_ = (call);                      \
    if (kiln_cu_status_ != CUDA_SUCCESS) driverError(#call, kiln_cu_status_); \
  } while (0)

void checkNvrtc(nvrtcResult status, const char* call, const ir::Layer& layer) {
  KILN_CHECK(status == NVRTC_SUCCESS, kInternal, layer.describe(), ": ", call, " failed: ", nvrtcGetErrorString(status));
}

// CUBINs of the sources compiled in this process, by architecture and source.
struct CompiledCubin {
  std::vector<char> cubin;
  double compileMs = 0;
};
std::mutex cacheMutex;
std::map<std::string, std::shared_ptr<const CompiledCubin>>& cubinCache() {
  static std::map<std::string, std::shared_ptr<const CompiledCubin>> cache;
  return cache;
}

std::shared_ptr<const CompiledCubin> compile(const std::string& source, int capability, const ir::Layer& layer) {
  const std::string arch = concat("--gpu-architecture=sm_", capability);
  const std::string key = arch + "\n" + source;
  std::lock_guard<std::mutex> lock(cacheMutex);
  auto found = cubinCache().find(key);
  if (found != cubinCache().end()) return found->second;
  auto start = std::chrono::steady_clock::now();
  nvrtcProgram program = nullptr;
  checkNvrtc(nvrtcCreateProgram(&program, source.c_str(), "kiln_pointwise.cu", 0, nullptr, nullptr),
             "nvrtcCreateProgram", layer);
  const char* options[] = {arch.c_str(), "--std=c++17"};
  nvrtcResult status = nvrtcCompileProgram(program, 2, options);
  if (status != NVRTC_SUCCESS) {
    size_t logSize = 0;
    nvrtcGetProgramLogSize(program, &logSize);
    std::string log(logSize, '\0');
    nvrtcGetProgramLog(program, log.data());
    nvrtcDestroyProgram(&program);
    fail(ErrorCode::kInternal, concat(layer.describe(), ": NVRTC could not compile the generated kernel: ", log,
                                      "\nsource:\n", source));
  }
  auto compiled = std::make_shared<CompiledCubin>();
  size_t size = 0;
  checkNvrtc(nvrtcGetCUBINSize(program, &size), "nvrtcGetCUBINSize", layer);
  compiled->cubin.resize(size);
  checkNvrtc(nvrtcGetCUBIN(program, compiled->cubin.data()), "nvrtcGetCUBIN", layer);
  nvrtcDestroyProgram(&program);
  compiled->compileMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  cubinCache()[key] = compiled;
  return compiled;
}

// ---- launch geometry ----------------------------------------------------------------------------------

enum Mode : int { kSame = 0, kScalar = 1, kRow = 2, kChannel = 3, kStrided = 4 };

// Each input's mode and the fields of the generated KilnGeometry<I>, as one array of I.
struct Geometry {
  std::vector<Mode> modes;
  std::vector<int64_t> fields;  // rank, dims[8], strides[N][8], size[N], inner[N], mode[N]
};

Geometry describe(const std::vector<const Dims*>& inputs, const Dims& out, int slots) {
  const int64_t total = volume(out);
  std::vector<int64_t> dims(out.begin(), out.end());
  std::vector<std::vector<int64_t>> strides;
  for (const Dims* in : inputs) {
    std::vector<int64_t> st(out.size(), 0);
    Dims own = stridesOf(*in);
    size_t off = out.size() - in->size();
    for (size_t d = 0; d < in->size(); ++d) st[off + d] = (*in)[d] == 1 ? 0 : own[d];
    strides.push_back(std::move(st));
  }
  std::vector<std::vector<int64_t>*> pointers;
  for (auto& st : strides) pointers.push_back(&st);
  const int rank = coalesceDims(dims, pointers);
  const size_t n = inputs.size(), slotCount = static_cast<size_t>(slots);
  Geometry g;
  g.fields.assign(1 + kMaxRank + slotCount * kMaxRank + 3 * slotCount, 0);
  g.fields[0] = rank;
  for (int d = 0; d < rank; ++d) g.fields[1 + d] = dims[d];
  int64_t* stridesField = g.fields.data() + 1 + kMaxRank;
  int64_t* sizeField = stridesField + slotCount * kMaxRank;
  int64_t* innerField = sizeField + slotCount;
  int64_t* modeField = innerField + slotCount;
  for (size_t k = 0; k < n; ++k) {
    for (int d = 0; d < rank; ++d) stridesField[k * kMaxRank + d] = strides[k][d];
    const int64_t count = volume(*inputs[k]);
    Mode mode = kStrided;
    if (count == total) {
      mode = kSame;
    } else if (count == 1) {
      mode = kScalar;
    } else {
      // The dims [first, last] the input moves along: contiguous there is a row or channel broadcast.
      int first = -1, last = -1;
      for (int d = 0; d < rank; ++d)
        if (strides[k][d] != 0) {
          if (first < 0) first = d;
          last = d;
        }
      int64_t expected = 1;
      bool contiguous = true;
      for (int d = last; d >= first && first >= 0; --d) {
        contiguous = contiguous && strides[k][d] == expected;
        expected *= dims[d];
      }
      int64_t inner = 1;
      for (int d = last + 1; d < rank; ++d) inner *= dims[d];
      if (first >= 0 && contiguous) {
        mode = inner == 1 ? kRow : kChannel;
        sizeField[k] = expected;
        innerField[k] = inner;
      }
    }
    modeField[k] = mode;
    g.modes.push_back(mode);
  }
  return g;
}

// Bytes the vector path's loads need: 4 elements at once (int64 loads one at a time).
size_t load4Alignment(DataType t) { return t == DataType::kInt64 ? 8 : 4 * dataTypeSize(t); }

bool aligned(const void* p, size_t alignment) { return reinterpret_cast<uintptr_t>(p) % alignment == 0; }

class PointwiseNvrtcKernel final : public NamedKernel {
 public:
  PointwiseNvrtcKernel(std::string name, std::shared_ptr<DeviceContext> ctx, const ir::Layer& layer)
      : NamedKernel(std::move(name)), ctx_(std::move(ctx)), numInputs_(layer.numInputs()) {
    source_ = pointwiseSource(layer.as<PointwiseParams>(), numInputs_);
    cubin_ = compile(source_, ctx_->computeCapability(), layer);
    ctx_->makeCurrent();
    KILN_CUDA_CHECK(cudaFree(nullptr));  // the device's primary context exists and is current
    KILN_CU_CHECK(cuModuleLoadData(&module_, cubin_->cubin.data()));
    const char* names[4] = {"kiln_pointwise_u32", "kiln_pointwise_u64", "kiln_pointwise_vec4_u32",
                            "kiln_pointwise_vec4_u64"};
    for (int i = 0; i < 4; ++i) KILN_CU_CHECK(cuModuleGetFunction(&functions_[i], module_, names[i]));
  }
  ~PointwiseNvrtcKernel() override {
    if (module_) cuModuleUnload(module_);
  }

  void execute(const KernelArgs& args) const override {
    const TensorView& y = args.outputs[0];
    const int64_t n = y.count();
    if (n == 0) return;
    std::vector<const Dims*> shapes;
    for (const TensorView& in : args.inputs) shapes.push_back(&in.shape);
    Geometry g = describe(shapes, y.shape, std::max(numInputs_, 1));
    bool vec4 = n % 4 == 0 && aligned(y.data, 4 * dataTypeSize(y.type));
    for (size_t k = 0; k < args.inputs.size(); ++k)
      if (g.modes[k] == kSame) vec4 = vec4 && aligned(args.inputs[k].data, load4Alignment(args.inputs[k].type));
    if (n < (int64_t{1} << 31)) launch<uint32_t>(args, g, n, vec4 ? 2 : 0);
    else launch<uint64_t>(args, g, n, vec4 ? 3 : 1);
  }

  const std::string& source() const { return source_; }

 private:
  template <class I>
  void launch(const KernelArgs& args, const Geometry& g, int64_t n, int function) const {
    std::vector<I> geometry(g.fields.begin(), g.fields.end());
    std::vector<const void*> pointers;
    for (const TensorView& in : args.inputs) pointers.push_back(in.data);
    void* out = args.outputs[0].data;
    I count = static_cast<I>(n);
    std::vector<void*> params;
    for (const void*& p : pointers) params.push_back(&p);
    params.push_back(&out);
    params.push_back(&count);
    params.push_back(geometry.data());
    const int64_t items = function >= 2 ? n / 4 : n;
    ctx_->makeCurrent();
    KILN_CU_CHECK(cuLaunchKernel(functions_[function], gridFor(items), 1, 1, 256, 1, 1, 0,
                                 static_cast<CUstream>(args.stream), params.data(), nullptr));
  }

  std::shared_ptr<DeviceContext> ctx_;
  int numInputs_;
  std::string source_;
  std::shared_ptr<const CompiledCubin> cubin_;
  CUmodule module_ = nullptr;
  CUfunction functions_[4] = {};
};

}  // namespace

std::string supportsPointwise(const ir::Layer& layer) {
  std::vector<DataType> types;
  for (const ir::Tensor* t : layer.inputs) {
    if (!t) return "an input is omitted";
    types.push_back(t->type());
  }
  if (types.size() > static_cast<size_t>(kMaxPointwiseInputs))
    return concat(types.size(), " inputs (the generated kernel takes at most ", kMaxPointwiseInputs, ")");
  return ir::checkPointwiseProgram(layer.as<PointwiseParams>(), types);
}

std::unique_ptr<Kernel> createPointwise(const std::shared_ptr<DeviceContext>& ctx, const ir::Layer& layer,
                                        const Constants&, const TacticChoice& tactic) {
  return std::make_unique<PointwiseNvrtcKernel>(tactic.name, ctx, layer);
}

}  // namespace kiln::cuda
