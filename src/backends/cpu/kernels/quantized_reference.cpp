// Quantized convolution and matrix multiply, Kiln's reference: direct loops with exact int32 accumulation of
// (x - zero point) * w, then the epilogue in float64 (scales, bias, activation, clamp) and ONNX
// QuantizeLinear's requantization (round half to even, saturate). Channels-first only; slow, exact: the rows
// the oneDNN ones are tested against, and the kernels when oneDNN is absent.
#include <cstdint>
#include <limits>

#include "backends/cpu/kernels/compute_common.h"
#include "backends/cpu/kernels/conv_epilogue.h"
#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/quantized_common.h"

namespace kiln::cpu {
namespace {

using quantized::requantize;
using quantized::weightScaleOf;

// Writes the real value `real` of output element i as the output's type.
struct OutputWriter {
  const TensorView& y;
  double scale;
  int64_t zeroPoint;
  void operator()(int64_t i, double real) const {
    switch (y.type) {
      case DataType::kInt8: y.as<int8_t>()[i] = requantize<int8_t>(real, scale, zeroPoint); break;
      case DataType::kUInt8: y.as<uint8_t>()[i] = requantize<uint8_t>(real, scale, zeroPoint); break;
      default: y.as<float>()[i] = static_cast<float>(real); break;
    }
  }
};

// x as int32 values minus the zero point (int8 or uint8 input).
std::vector<int32_t> centeredInput(const TensorView& x, int64_t zeroPoint) {
  std::vector<int32_t> v(static_cast<size_t>(x.count()));
  for (int64_t i = 0; i < x.count(); ++i) {
    int32_t value = x.type == DataType::kInt8 ? x.as<const int8_t>()[i] : x.as<const uint8_t>()[i];
    v[static_cast<size_t>(i)] = value - static_cast<int32_t>(zeroPoint);
  }
  return v;
}

void checkQuantizedArgs(const ir::Layer& layer, const KernelArgs& args, DataType outputType) {
  checkInputs(layer, args, 2);
  const TensorView &x = args.inputs[0], &w = args.inputs[1], &y = args.outputs[0];
  KILN_CHECK(quantized::isQuantizedType(x.type) && w.type == DataType::kInt8 && y.type == outputType,
             kInvalidArgument, layer.describe(), ": takes int8/uint8 x, int8 w and a ", dataTypeName(outputType),
             " output, got ", dataTypeName(x.type), ", ", dataTypeName(w.type), " and ", dataTypeName(y.type));
  const TensorView* b = detail::optionalInput(args, 2);
  KILN_CHECK(!b || b->type == DataType::kFloat32, kInvalidArgument, layer.describe(), ": the bias must be float32");
}

void runQuantizedConvolutionReference(const ir::Layer& layer, const KernelArgs& args) {
  const auto& p = layer.as<QuantizedConvolutionParams>();
  checkQuantizedArgs(layer, args, p.outputType);
  const TensorView &x = args.inputs[0], &w = args.inputs[1], &y = args.outputs[0];
  const TensorView* b = detail::optionalInput(args, 2);
  const Dims &xs = x.shape, &ws = w.shape, &ys = y.shape;
  KILN_CHECK(xs.size() >= 3 && xs.size() <= 5 && ws.size() == xs.size() && ys.size() == xs.size(), kInvalidArgument,
             layer.describe(), ": takes NC[D]HW input and weights of rank 3 to 5, got x ", dimsToString(xs), " and w ",
             dimsToString(ws));
  const int64_t N = xs[0], C = xs[1], M = ws[0], G = p.conv.groups;
  KILN_CHECK(G >= 1 && C % G == 0 && M % G == 0 && ws[1] == C / G && ys[0] == N && ys[1] == M, kInvalidArgument,
             layer.describe(), ": x ", dimsToString(xs), ", w ", dimsToString(ws), " and y ", dimsToString(ys),
             " do not match with ", G, " groups");
  KILN_CHECK(!b || b->count() == M, kInvalidArgument, layer.describe(), ": bias ", b ? dimsToString(b->shape) : "",
             " must be [", M, "]");
  KILN_CHECK(p.weightScales.size() == 1 || static_cast<int64_t>(p.weightScales.size()) == M, kInvalidArgument,
             layer.describe(), ": ", p.weightScales.size(), " weight scales for ", M, " output channels");
  if (y.count() == 0) return;
  // Spatial dims as three (leading 1s): D, H, W.
  const size_t n = xs.size() - 2;
  Dims in(xs.begin() + 2, xs.end()), out(ys.begin() + 2, ys.end()), kernel(ws.begin() + 2, ws.end());
  std::vector<int64_t> padsBegin =
      detail::windowPadsBegin(p.conv.paddingMode, p.conv.padsBegin, in, out, kernel, p.conv.strides, p.conv.dilations);
  int64_t I[3] = {1, 1, 1}, O[3] = {1, 1, 1}, K[3] = {1, 1, 1}, S[3] = {1, 1, 1}, Dl[3] = {1, 1, 1}, P[3] = {0, 0, 0};
  for (size_t i = 0; i < n; ++i) {
    size_t j = 3 - n + i;
    I[j] = in[i], O[j] = out[i], K[j] = kernel[i], P[j] = padsBegin[i];
    S[j] = detail::dimOr(p.conv.strides, i, 1), Dl[j] = detail::dimOr(p.conv.dilations, i, 1);
  }
  const std::vector<int32_t> xc = centeredInput(x, p.inputZeroPoint);
  const int8_t* pw = w.as<const int8_t>();
  const float* pb = b ? b->as<const float>() : nullptr;
  const int64_t Cg = C / G, Mg = M / G, inSize = I[0] * I[1] * I[2], outSize = O[0] * O[1] * O[2];
  const int64_t kSize = K[0] * K[1] * K[2];
  const OutputWriter write{y, p.outputScale, p.outputZeroPoint};
  parallelFor(N * M, 1, [&](int64_t begin, int64_t end) {
    for (int64_t nm = begin; nm < end; ++nm) {
      const int64_t batch = nm / M, m = nm % M, g = m / Mg;
      const double multiplier = static_cast<double>(p.inputScale) * weightScaleOf(p.weightScales, m);
      for (int64_t od = 0; od < O[0]; ++od)
        for (int64_t oh = 0; oh < O[1]; ++oh)
          for (int64_t ow = 0; ow < O[2]; ++ow) {
            int32_t acc = 0;
            for (int64_t c = 0; c < Cg; ++c) {
              const int32_t* xp = xc.data() + (batch * C + g * Cg + c) * inSize;
              const int8_t* wp = pw + (m * Cg + c) * kSize;
              for (int64_t kd = 0; kd < K[0]; ++kd) {
                const int64_t id = od * S[0] - P[0] + kd * Dl[0];
                if (id < 0 || id >= I[0]) continue;
                for (int64_t kh = 0; kh < K[1]; ++kh) {
                  const int64_t ih = oh * S[1] - P[1] + kh * Dl[1];
                  if (ih < 0 || ih >= I[1]) continue;
                  for (int64_t kw = 0; kw < K[2]; ++kw) {
                    const int64_t iw = ow * S[2] - P[2] + kw * Dl[2];
                    if (iw < 0 || iw >= I[2]) continue;
                    acc += xp[(id * I[1] + ih) * I[2] + iw] * static_cast<int32_t>(wp[(kd * K[1] + kh) * K[2] + kw]);
                  }
                }
              }
            }
            double real = acc * multiplier + (pb ? pb[m] : 0.0);
            real = convActivation(p.conv.activation, real);
            real = std::min(std::max(real, static_cast<double>(p.conv.outputMin)), static_cast<double>(p.conv.outputMax));
            write(nm * outSize + (od * O[1] + oh) * O[2] + ow, real);
          }
    }
  });
}

void runQuantizedMatrixMultiplyReference(const ir::Layer& layer, const KernelArgs& args) {
  const auto& p = layer.as<QuantizedMatrixMultiplyParams>();
  checkQuantizedArgs(layer, args, p.outputType);
  const TensorView &a = args.inputs[0], &w = args.inputs[1], &y = args.outputs[0];
  const TensorView* b = detail::optionalInput(args, 2);
  KILN_CHECK(a.shape.size() >= 2 && w.shape.size() == 2 && a.shape.back() == w.shape[0], kInvalidArgument,
             layer.describe(), ": needs a [..., M, K] and b [K, N], got ", dimsToString(a.shape), " and ",
             dimsToString(w.shape));
  const int64_t K = w.shape[0], N = w.shape[1], rows = K > 0 ? a.count() / K : 0;
  checkCount(layer, y, rows * N, "output");
  KILN_CHECK(!b || b->count() == N, kInvalidArgument, layer.describe(), ": bias must be [", N, "]");
  KILN_CHECK(p.weightScales.size() == 1 || static_cast<int64_t>(p.weightScales.size()) == N, kInvalidArgument,
             layer.describe(), ": ", p.weightScales.size(), " weight scales for ", N, " output columns");
  if (y.count() == 0) return;
  const std::vector<int32_t> ac = centeredInput(a, p.inputZeroPoint);
  const int8_t* pw = w.as<const int8_t>();
  const float* pb = b ? b->as<const float>() : nullptr;
  const OutputWriter write{y, p.outputScale, p.outputZeroPoint};
  parallelFor(rows, 1, [&](int64_t begin, int64_t end) {
    std::vector<int32_t> acc(static_cast<size_t>(N));
    for (int64_t r = begin; r < end; ++r) {
      std::fill(acc.begin(), acc.end(), 0);
      for (int64_t k = 0; k < K; ++k) {
        const int32_t av = ac[static_cast<size_t>(r * K + k)];
        const int8_t* wrow = pw + k * N;
        for (int64_t j = 0; j < N; ++j) acc[static_cast<size_t>(j)] += av * static_cast<int32_t>(wrow[j]);
      }
      for (int64_t j = 0; j < N; ++j) {
        double real = acc[static_cast<size_t>(j)] * (static_cast<double>(p.inputScale) * weightScaleOf(p.weightScales, j)) +
                      (pb ? pb[j] : 0.0);
        real = std::min(std::max(real, static_cast<double>(p.outputMin)), static_cast<double>(p.outputMax));
        write(r * N + j, real);
      }
    }
  });
}

}  // namespace

std::string supportsQuantizedConvolutionReference(const ir::Layer& layer) {
  std::string why = quantized::checkQuantizedTypes(layer);
  if (!why.empty()) return why;
  size_t rank = layer.inputs[0]->dims().size();
  if (rank < 3 || rank > 5) return concat("1-D, 2-D and 3-D convolutions only, not rank ", rank);
  if (layer.as<QuantizedConvolutionParams>().conv.channelsLast) return "channels-first only";
  return {};
}

std::unique_ptr<CpuKernel> createQuantizedConvolutionReference(const ir::Layer& layer, const Constants&,
                                                               const TacticChoice& tactic) {
  return std::make_unique<FunctionKernel>(layer, tactic, runQuantizedConvolutionReference, nullptr);
}

std::string supportsQuantizedMatrixMultiplyReference(const ir::Layer& layer) {
  return quantized::checkQuantizedTypes(layer);
}

std::unique_ptr<CpuKernel> createQuantizedMatrixMultiplyReference(const ir::Layer& layer, const Constants&,
                                                                  const TacticChoice& tactic) {
  return std::make_unique<FunctionKernel>(layer, tactic, runQuantizedMatrixMultiplyReference, nullptr);
}

}  // namespace kiln::cpu
