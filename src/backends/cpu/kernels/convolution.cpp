// Convolution (1-D/2-D/3-D, groups, dilations, pads), two tactics: "direct_depthwise", a direct loop for
// depthwise convs only; "gemm_packed", for any conv: 1x1 stride-1 unpadded convs are one GEMM per group,
// the rest im2col + GEMM per group, with bias and the fused output clamp (Relu/Clip) in the GEMM
// epilogue and constant float32 weights packed once per kernel. A residual input or an epilogue
// activation is one pass over each group's output after its GEMM (conv_epilogue.h). A channels-last
// convolution is the same computation between transposes to and from NC[D]HW (the reference form).
#include <algorithm>
#include <type_traits>
#include <vector>

#include "backends/cpu/kernels/compute_common.h"
#include "core/channels_last.h"
#include "backends/cpu/kernels/conv_epilogue.h"
#include "backends/cpu/kernels/gemm.h"
#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {
namespace {

// Spatial geometry mapped to 3-D (D, H, W); lower-rank convs have leading 1s.
struct Geometry {
  int64_t in[3], out[3], k[3], s[3], d[3], p[3];
  int64_t inSize() const { return in[0] * in[1] * in[2]; }
  int64_t outSize() const { return out[0] * out[1] * out[2]; }
  int64_t kSize() const { return k[0] * k[1] * k[2]; }
};

Geometry makeGeometry(const ir::Layer& layer, const Dims& inSpatial, const Dims& outSpatial, const Dims& kernel,
                      const Dims& strides, const Dims& dilations, const Dims& padsBegin, PaddingMode mode) {
  size_t n = inSpatial.size();
  KILN_CHECK(n >= 1 && n <= 3, kUnsupported, layer.describe(), ": only 1-D, 2-D and 3-D windows are supported");
  std::vector<int64_t> pads = detail::windowPadsBegin(mode, padsBegin, inSpatial, outSpatial, kernel, strides, dilations);
  Geometry g;
  size_t off = 3 - n;
  for (size_t i = 0; i < 3; ++i) {
    g.in[i] = g.out[i] = g.k[i] = g.s[i] = g.d[i] = 1;
    g.p[i] = 0;
  }
  for (size_t i = 0; i < n; ++i) {
    g.in[off + i] = inSpatial[i];
    g.out[off + i] = outSpatial[i];
    g.k[off + i] = kernel[i];
    g.s[off + i] = detail::dimOr(strides, i, 1);
    g.d[off + i] = detail::dimOr(dilations, i, 1);
    g.p[off + i] = pads[i];
    KILN_CHECK(g.s[off + i] >= 1 && g.d[off + i] >= 1, kInvalidArgument, layer.describe(),
               ": strides and dilations must be positive");
  }
  return g;
}

// col[(c, kd, kh, kw), (od, oh, ow)] from x[c, D, H, W] for `channels` channels.
template <class T>
void im2col(const T* x, int64_t channels, const Geometry& g, T* col) {
  const int64_t kSize = g.kSize(), outSize = g.outSize(), inSize = g.inSize();
  parallelFor(channels * kSize, std::max<int64_t>(1, 4096 / std::max<int64_t>(outSize, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t row = r0; row < r1; ++row) {
      int64_t c = row / kSize, kk = row % kSize;
      int64_t kw = kk % g.k[2], kh = (kk / g.k[2]) % g.k[1], kd = kk / (g.k[2] * g.k[1]);
      const T* xc = x + c * inSize;
      T* dst = col + row * outSize;
      for (int64_t od = 0; od < g.out[0]; ++od) {
        int64_t id = od * g.s[0] - g.p[0] + kd * g.d[0];
        for (int64_t oh = 0; oh < g.out[1]; ++oh, dst += g.out[2]) {
          int64_t ih = oh * g.s[1] - g.p[1] + kh * g.d[1];
          if (id < 0 || id >= g.in[0] || ih < 0 || ih >= g.in[1]) {
            std::fill(dst, dst + g.out[2], T(0));
            continue;
          }
          const T* xr = xc + (id * g.in[1] + ih) * g.in[2];
          int64_t iw0 = -g.p[2] + kw * g.d[2];
          // Valid ow range: 0 <= ow*s + iw0 < W.
          int64_t owBegin = iw0 >= 0 ? 0 : (-iw0 + g.s[2] - 1) / g.s[2];
          int64_t owEnd = g.in[2] - iw0 <= 0 ? 0 : (g.in[2] - iw0 + g.s[2] - 1) / g.s[2];
          owEnd = std::min(owEnd, g.out[2]);
          owBegin = std::min(owBegin, owEnd);
          for (int64_t ow = 0; ow < owBegin; ++ow) dst[ow] = T(0);
          if (g.s[2] == 1) {
            std::copy(xr + owBegin + iw0, xr + owEnd + iw0, dst + owBegin);
          } else {
            for (int64_t ow = owBegin; ow < owEnd; ++ow) dst[ow] = xr[ow * g.s[2] + iw0];
          }
          for (int64_t ow = owEnd; ow < g.out[2]; ++ow) dst[ow] = T(0);
        }
      }
    }
  });
}

// Depthwise: one input and one output channel per group.
template <class T>
void depthwise(const T* x, const T* w, const T* bias, T* y, int64_t batch, int64_t channels, const Geometry& g) {
  const int64_t inSize = g.inSize(), outSize = g.outSize(), kSize = g.kSize();
  parallelFor(batch * channels, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t plane = p0; plane < p1; ++plane) {
      int64_t c = plane % channels;
      const T* xc = x + plane * inSize;
      const T* wc = w + c * kSize;
      T* yc = y + plane * outSize;
      T b = bias ? bias[c] : T(0);
      std::fill(yc, yc + outSize, b);
      for (int64_t kd = 0; kd < g.k[0]; ++kd)
        for (int64_t kh = 0; kh < g.k[1]; ++kh)
          for (int64_t kw = 0; kw < g.k[2]; ++kw) {
            T wv = wc[(kd * g.k[1] + kh) * g.k[2] + kw];
            int64_t iw0 = -g.p[2] + kw * g.d[2];
            int64_t owBegin = iw0 >= 0 ? 0 : (-iw0 + g.s[2] - 1) / g.s[2];
            int64_t owEnd = g.in[2] - iw0 <= 0 ? 0 : (g.in[2] - iw0 + g.s[2] - 1) / g.s[2];
            owEnd = std::min(owEnd, g.out[2]);
            if (owBegin >= owEnd) continue;
            for (int64_t od = 0; od < g.out[0]; ++od) {
              int64_t id = od * g.s[0] - g.p[0] + kd * g.d[0];
              if (id < 0 || id >= g.in[0]) continue;
              for (int64_t oh = 0; oh < g.out[1]; ++oh) {
                int64_t ih = oh * g.s[1] - g.p[1] + kh * g.d[1];
                if (ih < 0 || ih >= g.in[1]) continue;
                const T* __restrict xr = xc + (id * g.in[1] + ih) * g.in[2] + iw0;
                T* __restrict yr = yc + (od * g.out[1] + oh) * g.out[2];
                if (g.s[2] == 1) {
#pragma GCC ivdep
                  for (int64_t ow = owBegin; ow < owEnd; ++ow) yr[ow] += wv * xr[ow];
                } else {
                  const int64_t s = g.s[2];
                  for (int64_t ow = owBegin; ow < owEnd; ++ow) yr[ow] += wv * xr[ow * s];
                }
              }
            }
          }
    }
  });
}

// The weights of every group packed for the GEMM (createConvolutionGemm).
struct PackedConvWeights {
  std::vector<PackedMatrix> groups;
};

enum class ConvAlgorithm { kDirectDepthwise, kGemm };

template <class T>
void conv(const ir::Layer& layer, const ConvolutionParams& p, const TensorView& xv, const TensorView& wv,
          const TensorView* bv, const TensorView* zv, const TensorView& yv, ConvAlgorithm algorithm,
          const PackedConvWeights* packed) {
  const Dims& xs = xv.shape;
  const Dims& ws = wv.shape;
  const Dims& ys = yv.shape;
  KILN_CHECK(xs.size() >= 3 && ws.size() == xs.size() && ys.size() == xs.size(), kInvalidArgument, layer.describe(),
             ": convolution expects NC[D]HW input and weights of the same rank");
  const int64_t N = xs[0], C = xs[1], M = ws[0], G = p.groups;
  KILN_CHECK(G >= 1 && C % G == 0 && M % G == 0 && ws[1] == C / G, kInvalidArgument, layer.describe(),
             ": channels ", C, " / weights ", dimsToString(ws), " do not match groups ", G);
  KILN_CHECK(ys[1] == M, kInvalidArgument, layer.describe(), ": output channels mismatch");
  KILN_CHECK(!zv || zv->shape == ys, kInvalidArgument, layer.describe(), ": residual ",
             zv ? dimsToString(zv->shape) : "", " does not match the output ", dimsToString(ys));
  if (yv.count() == 0) return;
  Dims inSp(xs.begin() + 2, xs.end()), outSp(ys.begin() + 2, ys.end()), kSp(ws.begin() + 2, ws.end());
  Geometry g = makeGeometry(layer, inSp, outSp, kSp, p.strides, p.dilations, p.padsBegin, p.paddingMode);
  const T* x = xv.as<const T>();
  const T* w = wv.as<const T>();
  const T* bias = bv ? bv->as<const T>() : nullptr;
  const T* z = zv ? zv->as<const T>() : nullptr;
  T* y = yv.as<T>();
  const int64_t Cg = C / G, Mg = M / G, kSize = g.kSize(), inSize = g.inSize(), outSize = g.outSize();
  const int64_t Kdim = Cg * kSize;
  if (algorithm == ConvAlgorithm::kDirectDepthwise) {
    KILN_CHECK(Cg == 1 && Mg == 1, kInvalidArgument, layer.describe(), ": weights ", dimsToString(ws), " with ", G,
               " groups on ", C, " channels are not a depthwise convolution");
    depthwise(x, w, bias, y, N, C, g);
    applyConvEpilogue(p, y, z, yv.count());
    return;
  }
  if (Kdim == 0) {
    for (int64_t n = 0; n < N; ++n)
      for (int64_t m = 0; m < M; ++m) std::fill(y + (n * M + m) * outSize, y + (n * M + m + 1) * outSize, bias ? bias[m] : T(0));
    applyConvEpilogue(p, y, z, yv.count());
    return;
  }
  // Only a clamp: it runs in the GEMM epilogue; a residual or an activation: after each group's GEMM.
  const bool clampInGemm = !z && p.activation == ConvActivation::kNone;
  bool pointwise = kSize == 1 && g.s[0] == 1 && g.s[1] == 1 && g.s[2] == 1 && g.p[0] == 0 && g.p[1] == 0 &&
                   g.p[2] == 0 && inSize == outSize;
  T* col = pointwise ? nullptr : detail::scratch<T, 1>(static_cast<size_t>(Kdim * outSize));
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t gi = 0; gi < G; ++gi) {
      const T* xg = x + (n * C + gi * Cg) * inSize;
      const T* wg = w + gi * Mg * Kdim;
      T* yg = y + (n * M + gi * Mg) * outSize;
      const T* bg = bias ? bias + gi * Mg : nullptr;
      const T* src = xg;
      if (!pointwise) {
        im2col(xg, Cg, g, col);
        src = col;
      }
      const T* zg = z ? z + (yg - y) : nullptr;
      if constexpr (std::is_same_v<T, float>) {
        GemmEpilogue epilogue;
        epilogue.rowBias = bg;
        if (clampInGemm) {
          epilogue.min = p.outputMin;
          epilogue.max = p.outputMax;
        }
        GemmOperand weights{wg, Kdim, packed ? &packed->groups[gi] : nullptr};
        sgemm(false, false, Mg, outSize, Kdim, weights, {src, outSize}, yg, outSize, false, epilogue, true);
        if (!clampInGemm) applyConvEpilogue(p, yg, zg, Mg * outSize);
      } else {
        gemm(false, false, Mg, outSize, Kdim, wg, Kdim, src, outSize, yg, outSize, false, bg, true);
        applyConvEpilogue(p, yg, zg, Mg * outSize);
      }
    }
  }
}

// [outer, a, b] -> [outer, b, a].
template <class T>
void swapInnerAxes(const T* in, T* out, int64_t outer, int64_t a, int64_t b) {
  parallelFor(outer * b, std::max<int64_t>(1, kPointwiseGrain / std::max<int64_t>(a, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t row = r0; row < r1; ++row) {  // row = (o, j): out[o, j, :] = in[o, :, j]
      const int64_t o = row / b, j = row % b;
      const T* src = in + o * a * b + j;
      T* dst = out + row * a;
      for (int64_t i = 0; i < a; ++i) dst[i] = src[i * b];
    }
  });
}


// A channels-first copy of the channels-last view `v` in `storage`.
template <class T>
TensorView channelsFirstCopy(const TensorView& v, std::vector<T>& storage) {
  TensorView r = v;
  r.shape = channelsFirstOf(v.shape);
  const int64_t count = v.count();
  if (count == 0) return r;
  storage.resize(static_cast<size_t>(count));
  const int64_t outer = v.shape[0], channels = v.shape.back();
  swapInnerAxes(v.as<const T>(), storage.data(), outer, count / (outer * channels), channels);
  r.data = storage.data();
  return r;
}

// A channels-last convolution: transposes around the channels-first one.
template <class T>
void convChannelsLast(const ir::Layer& layer, const ConvolutionParams& p, const TensorView& xv, const TensorView& wv,
                      const TensorView* bv, const TensorView* zv, const TensorView& yv, ConvAlgorithm algorithm) {
  KILN_CHECK(xv.shape.size() >= 3 && wv.shape.size() == xv.shape.size() && yv.shape.size() == xv.shape.size(),
             kInvalidArgument, layer.describe(), ": channels-last convolution expects N[D]HWC input and weights of the "
             "same rank, got ", dimsToString(xv.shape), " and ", dimsToString(wv.shape));
  ConvolutionParams channelsFirst = p;
  channelsFirst.channelsLast = false;
  std::vector<T> x, w, z, y;
  TensorView xf = channelsFirstCopy(xv, x), wf = channelsFirstCopy(wv, w);
  TensorView zf = zv ? channelsFirstCopy(*zv, z) : TensorView{};
  TensorView yf = yv;
  yf.shape = channelsFirstOf(yv.shape);
  const int64_t count = yv.count();
  if (count == 0) return;
  y.resize(static_cast<size_t>(count));
  yf.data = y.data();
  conv<T>(layer, channelsFirst, xf, wf, bv, zv ? &zf : nullptr, yf, algorithm, nullptr);
  const int64_t n = yf.shape[0], channels = yf.shape[1];
  swapInnerAxes(y.data(), yv.as<T>(), n, channels, count / (n * channels));
}

class ConvolutionKernel final : public CpuKernel {
 public:
  ConvolutionKernel(const ir::Layer& layer, const TacticChoice& tactic, ConvAlgorithm algorithm,
                    std::unique_ptr<PackedConvWeights> packed)
      : CpuKernel(layer, tactic), algorithm_(algorithm), packed_(std::move(packed)) {}

  void execute(const KernelArgs& args) const override {
    const ir::Layer& l = layer();
    const auto& p = l.as<ConvolutionParams>();
    KILN_CHECK(args.inputs.size() >= 2 && !args.outputs.empty(), kInvalidArgument, l.describe(),
               ": convolution needs x and w");
    DataType type = args.inputs[0].type;
    KILN_CHECK(args.inputs[1].type == type, kInvalidArgument, l.describe(), ": x and w types differ");
    const TensorView* z = detail::optionalInput(args, 3);
    KILN_CHECK(!z || z->type == type, kInvalidArgument, l.describe(), ": residual type ",
               z ? dataTypeName(z->type) : "", " differs from the input's ", dataTypeName(type));
    KILN_CHECK(!packed_ || type == DataType::kFloat32, kInvalidArgument, l.describe(),
               ": the packed-weights convolution expects float32 x and w");
    auto run = [&](const KernelArgs& a, auto tag) {
      using T = typename decltype(tag)::type;
      if (p.channelsLast)
        convChannelsLast<T>(l, p, a.inputs[0], a.inputs[1], detail::optionalInput(a, 2), detail::optionalInput(a, 3),
                            a.outputs[0], algorithm_);
      else
        conv<T>(l, p, a.inputs[0], a.inputs[1], detail::optionalInput(a, 2), detail::optionalInput(a, 3), a.outputs[0],
                algorithm_, packed_.get());
    };
    switch (type) {
      case DataType::kFloat32: run(args, TypeTag<float>{}); break;
      case DataType::kFloat64: run(args, TypeTag<double>{}); break;
      case DataType::kFloat16:
      case DataType::kBFloat16:
        detail::runInFloat(args, {0, 1, 2, 3}, {0}, [&](const KernelArgs& fa) { run(fa, TypeTag<float>{}); });
        break;
      default: unsupportedType(type, l);
    }
  }

 private:
  ConvAlgorithm algorithm_;
  std::unique_ptr<PackedConvWeights> packed_;  // nullptr: the weights are packed on every call (or not float32)
};

}  // namespace

std::string supportsConvolutionDirectDepthwise(const ir::Layer& layer) {
  std::string why = checkTypes(layer, kFloats, kFloats);
  if (!why.empty()) return why;
  const auto& p = layer.as<ConvolutionParams>();
  Dims w = layer.inputs.size() > 1 && layer.inputs[1] ? layer.inputs[1]->dims() : Dims{};
  if (p.channelsLast && w.size() >= 3) w = channelsFirstOf(w);
  const int64_t groups = p.groups;
  if (w.size() < 3 || w[0] != groups || w[1] != 1)
    return concat("not a depthwise convolution (weights ", dimsToString(w), ", ", groups,
                  " groups: needs one input and one output channel per group)");
  return {};
}

std::unique_ptr<CpuKernel> createConvolutionDirectDepthwise(const ir::Layer& layer, const Constants&,
                                                            const TacticChoice& tactic) {
  return std::make_unique<ConvolutionKernel>(layer, tactic, ConvAlgorithm::kDirectDepthwise, nullptr);
}

std::string supportsConvolutionGemm(const ir::Layer& layer) { return checkTypes(layer, kFloats, kFloats); }

std::unique_ptr<CpuKernel> createConvolutionGemm(const ir::Layer& layer, const Constants& constants,
                                                 const TacticChoice& tactic) {
  const HostTensor* w = constants.size() > 1 ? constants[1] : nullptr;
  const auto& p = layer.as<ConvolutionParams>();
  std::unique_ptr<PackedConvWeights> packed;  // channels-last: the weights are transposed on every call
  if (w != nullptr && w->type == DataType::kFloat32 && w->shape.size() >= 3 && !p.channelsLast) {
    const int64_t M = w->shape[0], G = p.groups, perGroupK = volume(w->shape) / std::max<int64_t>(M, 1);
    if (G >= 1 && M > 0 && M % G == 0 && perGroupK > 0) {  // else execute() reports the bad shapes
      const int64_t Mg = M / G;
      packed = std::make_unique<PackedConvWeights>();
      for (int64_t gi = 0; gi < G; ++gi)
        packed->groups.push_back(
            PackedMatrix::packA(false, Mg, perGroupK, w->as<float>() + gi * Mg * perGroupK, perGroupK));
    }
  }
  return std::make_unique<ConvolutionKernel>(layer, tactic, ConvAlgorithm::kGemm, std::move(packed));
}

}  // namespace kiln::cpu
