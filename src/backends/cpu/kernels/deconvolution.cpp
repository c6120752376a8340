// ConvTranspose (1-D/2-D/3-D, groups, dilations, pads, output_padding/output_shape): per group a GEMM
// col = W^T x X, then col2im scatters col into the output, which starts as the bias.
#include <algorithm>
#include <vector>

#include "backends/cpu/kernels/compute_common.h"
#include "backends/cpu/kernels/gemm.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {
namespace {

template <class T>
void deconv(const ir::Layer& layer, const DeconvolutionParams& p, const TensorView& xv, const TensorView& wv,
            const TensorView* bv, const TensorView& yv) {
  const Dims& xs = xv.shape;
  const Dims& ws = wv.shape;
  const Dims& ys = yv.shape;
  KILN_CHECK(xs.size() >= 3 && xs.size() <= 5 && ws.size() == xs.size() && ys.size() == xs.size(), kInvalidArgument,
             layer.describe(), ": deconvolution expects NC[D]HW input and weights of the same rank");
  const int64_t N = xs[0], C = xs[1], G = p.groups;
  KILN_CHECK(G >= 1 && C % G == 0 && ws[0] == C, kInvalidArgument, layer.describe(), ": weights ", dimsToString(ws),
             " do not match ", C, " input channels");
  const int64_t Mg = ws[1], M = Mg * G;
  KILN_CHECK(ys[1] == M, kInvalidArgument, layer.describe(), ": output channels mismatch");
  if (yv.count() == 0) return;
  const size_t nsp = xs.size() - 2, off = 3 - nsp;
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, d[3] = {1, 1, 1},
          pb[3] = {0, 0, 0};
  for (size_t i = 0; i < nsp; ++i) {
    in[off + i] = xs[2 + i];
    out[off + i] = ys[2 + i];
    k[off + i] = ws[2 + i];
    s[off + i] = detail::dimOr(p.strides, i, 1);
    d[off + i] = detail::dimOr(p.dilations, i, 1);
    KILN_CHECK(s[off + i] >= 1 && d[off + i] >= 1, kInvalidArgument, layer.describe(),
               ": strides and dilations must be positive");
    int64_t outPad = detail::dimOr(p.outputPadding, i, 0);
    int64_t total = s[off + i] * (in[off + i] - 1) + outPad + (k[off + i] - 1) * d[off + i] + 1 - out[off + i];
    if (p.paddingMode == PaddingMode::kSameUpper) {
      pb[off + i] = total / 2;
    } else if (p.paddingMode == PaddingMode::kSameLower) {
      pb[off + i] = total - total / 2;
    } else if (p.paddingMode == PaddingMode::kValid) {
      pb[off + i] = 0;
    } else if (!p.outputShape.empty() && p.padsBegin.empty()) {
      // ONNX: pads derived from output_shape; a negative total (output_shape larger than the full result)
      // pads the end with zeros, so the halving rounds down as in the ONNX reference.
      int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2);
      pb[off + i] = total - half;
    } else {
      pb[off + i] = detail::dimOr(p.padsBegin, i, 0);
    }
  }
  const int64_t inSize = in[0] * in[1] * in[2], outSize = out[0] * out[1] * out[2], kSize = k[0] * k[1] * k[2];
  const int64_t Cg = C / G, rows = Mg * kSize;
  const T* x = xv.as<const T>();
  const T* w = wv.as<const T>();
  const T* bias = bv ? bv->as<const T>() : nullptr;
  T* y = yv.as<T>();
  T* col = detail::scratch<T, 2>(static_cast<size_t>(std::max<int64_t>(rows * inSize, 1)));
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t gi = 0; gi < G; ++gi) {
      const T* xg = x + (n * C + gi * Cg) * inSize;
      const T* wg = w + gi * Cg * rows;  // [Cg, Mg * kSize]
      T* yg = y + (n * M + gi * Mg) * outSize;
      if (Cg > 0) gemm(true, false, rows, inSize, Cg, wg, rows, xg, inSize, col, inSize, false, nullptr, true);
      else std::fill(col, col + rows * inSize, T(0));
      // col2im: parallel over output channels (disjoint outputs).
      parallelFor(Mg, 1, [&](int64_t m0, int64_t m1) {
        for (int64_t m = m0; m < m1; ++m) {
          T* ym = yg + m * outSize;
          std::fill(ym, ym + outSize, bias ? bias[gi * Mg + m] : T(0));
          for (int64_t kk = 0; kk < kSize; ++kk) {
            int64_t kw = kk % k[2], kh = (kk / k[2]) % k[1], kd = kk / (k[2] * k[1]);
            const T* src = col + (m * kSize + kk) * inSize;
            for (int64_t id = 0; id < in[0]; ++id) {
              int64_t od = id * s[0] - pb[0] + kd * d[0];
              if (od < 0 || od >= out[0]) continue;
              for (int64_t ih = 0; ih < in[1]; ++ih) {
                int64_t oh = ih * s[1] - pb[1] + kh * d[1];
                if (oh < 0 || oh >= out[1]) continue;
                const T* sr = src + (id * in[1] + ih) * in[2];
                T* yr = ym + (od * out[1] + oh) * out[2];
                int64_t ow0 = -pb[2] + kw * d[2];
                for (int64_t iw = 0; iw < in[2]; ++iw) {
                  int64_t ow = iw * s[2] + ow0;
                  if (ow >= 0 && ow < out[2]) yr[ow] += sr[iw];
                }
              }
            }
          }
        }
      });
    }
  }
}

}  // namespace

std::string supportsDeconvolution(const ir::Layer& layer) {
  return checkTypes(layer, kFloats, kFloats);
}

void runDeconvolution(const ir::Layer& layer, const KernelArgs& args) {
  const auto& p = layer.as<DeconvolutionParams>();
  KILN_CHECK(args.inputs.size() >= 2 && !args.outputs.empty(), kInvalidArgument, layer.describe(),
             ": deconvolution needs x and w");
  DataType type = args.inputs[0].type;
  KILN_CHECK(args.inputs[1].type == type, kInvalidArgument, layer.describe(), ": x and w types differ");
  auto run = [&](const KernelArgs& a, auto tag) {
    using T = typename decltype(tag)::type;
    deconv<T>(layer, p, a.inputs[0], a.inputs[1], detail::optionalInput(a, 2), a.outputs[0]);
  };
  switch (type) {
    case DataType::kFloat32: run(args, TypeTag<float>{}); break;
    case DataType::kFloat64: run(args, TypeTag<double>{}); break;
    case DataType::kFloat16:
    case DataType::kBFloat16:
      detail::runInFloat(args, {0, 1, 2}, {0}, [&](const KernelArgs& fa) { run(fa, TypeTag<float>{}); });
      break;
    default: unsupportedType(type, layer);
  }
}

}  // namespace kiln::cpu
