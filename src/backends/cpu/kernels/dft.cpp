// DFT and STFT: a direct O(n^2) transform per signal in double precision with a twiddle table indexed by
// (j * k) mod n, so any length is exact to rounding (no power-of-two restriction); parallel over signals.
#include <cmath>
#include <vector>

#include "backends/cpu/kernels/compute_common.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {
namespace {

// exp(-+2 pi i m / n) for m in [0, n): cos and sin tables.
struct Twiddles {
  std::vector<double> cosTable, sinTable;
  Twiddles(int64_t n, bool inverse) : cosTable(static_cast<size_t>(n)), sinTable(static_cast<size_t>(n)) {
    const double sign = inverse ? 1.0 : -1.0;
    for (int64_t m = 0; m < n; ++m) {
      double angle = 2.0 * M_PI * static_cast<double>(m) / static_cast<double>(n);
      cosTable[m] = std::cos(angle);
      sinTable[m] = sign * std::sin(angle);
    }
  }
};

// out[k] = scale * sum_j in[j] * w^(j k) for k < outCount; in holds n complex values (re, im interleaved).
void transform(const double* in, int64_t n, const Twiddles& tw, double scale, int64_t outCount, double* out) {
  for (int64_t k = 0; k < outCount; ++k) {
    double re = 0, im = 0;
    int64_t m = 0;  // (j * k) mod n
    for (int64_t j = 0; j < n; ++j) {
      double xr = in[2 * j], xi = in[2 * j + 1], c = tw.cosTable[m], s = tw.sinTable[m];
      re += xr * c - xi * s;
      im += xr * s + xi * c;
      m += k;
      if (m >= n) m %= n;
    }
    out[2 * k] = re * scale;
    out[2 * k + 1] = im * scale;
  }
}

template <class T>
void dft(const DFTParams& p, const TensorView& xv, const TensorView& yv, int64_t axis, int64_t length) {
  const Dims& xs = xv.shape;
  const int64_t parts = xs.back(), inLength = xs[axis], outLength = yv.shape[axis];
  const int64_t outer = detail::product(xs, 0, axis);
  const int64_t inner = detail::product(xs, axis + 1, xs.size() - 1);  // signal dims after the axis
  const T* x = xv.as<const T>();
  T* y = yv.as<T>();
  const Twiddles tw(length, p.inverse);
  const double scale = p.inverse ? 1.0 / static_cast<double>(length) : 1.0;
  parallelFor(outer * inner, 1, [&](int64_t s0, int64_t s1) {
    std::vector<double> in(static_cast<size_t>(2 * length)), out(static_cast<size_t>(2 * outLength));
    for (int64_t s = s0; s < s1; ++s) {
      int64_t o = s / inner, i = s % inner;
      std::fill(in.begin(), in.end(), 0.0);  // zero-padding beyond the input
      for (int64_t j = 0; j < std::min(length, inLength); ++j) {
        const T* v = x + ((o * inLength + j) * inner + i) * parts;
        in[2 * j] = static_cast<double>(v[0]);
        if (parts == 2) in[2 * j + 1] = static_cast<double>(v[1]);
      }
      transform(in.data(), length, tw, scale, outLength, out.data());
      for (int64_t k = 0; k < outLength; ++k) {
        T* v = y + ((o * outLength + k) * inner + i) * 2;
        v[0] = static_cast<T>(out[2 * k]);
        v[1] = static_cast<T>(out[2 * k + 1]);
      }
    }
  });
}

template <class T>
void stft(const TensorView& xv, const T* window, int64_t frameStep, int64_t frameLength, const TensorView& yv) {
  const int64_t batch = xv.shape[0], length = xv.shape[1], parts = xv.shape[2];
  const int64_t frames = yv.shape[1], bins = yv.shape[2];
  const T* x = xv.as<const T>();
  T* y = yv.as<T>();
  const Twiddles tw(frameLength, false);
  parallelFor(batch * frames, 1, [&](int64_t f0, int64_t f1) {
    std::vector<double> in(static_cast<size_t>(2 * frameLength)), out(static_cast<size_t>(2 * bins));
    for (int64_t t = f0; t < f1; ++t) {
      int64_t b = t / frames, f = t % frames;
      for (int64_t j = 0; j < frameLength; ++j) {
        const T* v = x + (b * length + f * frameStep + j) * parts;
        double w = window ? static_cast<double>(window[j]) : 1.0;
        in[2 * j] = static_cast<double>(v[0]) * w;
        in[2 * j + 1] = parts == 2 ? static_cast<double>(v[1]) * w : 0.0;
      }
      transform(in.data(), frameLength, tw, 1.0, bins, out.data());
      T* row = y + (b * frames + f) * bins * 2;
      for (int64_t k = 0; k < 2 * bins; ++k) row[k] = static_cast<T>(out[k]);
    }
  });
}

int64_t scalarInput(const KernelArgs& args, size_t i, const ir::Layer& layer, const char* what) {
  std::vector<int64_t> v = detail::readInts(args.inputs[i], layer);
  KILN_CHECK(v.size() == 1, kInvalidArgument, layer.describe(), ": ", what, " must be a scalar, got ", v.size(),
             " values");
  return v[0];
}

}  // namespace

std::string supportsDFT(const ir::Layer& layer) {
  return checkTypes(layer, kNumeric, kNumeric);
}

void runDFT(const ir::Layer& layer, const KernelArgs& args) {
  const auto& p = layer.as<DFTParams>();
  KILN_CHECK(!args.inputs.empty() && !args.outputs.empty(), kInvalidArgument, layer.describe(), ": DFT needs x");
  const TensorView& xv = args.inputs[0];
  const int64_t rank = static_cast<int64_t>(xv.shape.size());
  const int64_t axis = p.axis < 0 ? p.axis + rank : p.axis;
  KILN_CHECK(rank >= 2 && axis >= 0 && axis < rank - 1 && (xv.shape.back() == 1 || xv.shape.back() == 2),
             kInvalidArgument, layer.describe(), ": axis ", p.axis, " / input ", dimsToString(xv.shape),
             " is not a [..., 1 | 2] signal with that axis");
  int64_t length = xv.shape[axis];
  if (detail::optionalInput(args, 1)) length = scalarInput(args, 1, layer, "dft_length");
  KILN_CHECK(length >= 1, kInvalidArgument, layer.describe(), ": the DFT length must be >= 1, got ", length);
  if (args.outputs[0].count() == 0) return;
  switch (xv.type) {
    case DataType::kFloat32: dft<float>(p, xv, args.outputs[0], axis, length); break;
    case DataType::kFloat64: dft<double>(p, xv, args.outputs[0], axis, length); break;
    case DataType::kFloat16:
    case DataType::kBFloat16:
      detail::runInFloat(args, {0}, {0}, [&](const KernelArgs& fa) {
        dft<float>(p, fa.inputs[0], fa.outputs[0], axis, length);
      });
      break;
    default: unsupportedType(xv.type, layer);
  }
}

std::string supportsSTFT(const ir::Layer& layer) {
  return checkTypes(layer, kNumeric, kNumeric);
}

void runSTFT(const ir::Layer& layer, const KernelArgs& args) {
  KILN_CHECK(args.inputs.size() >= 2 && !args.outputs.empty(), kInvalidArgument, layer.describe(),
             ": STFT needs a signal and a frame step");
  const TensorView& xv = args.inputs[0];
  KILN_CHECK(xv.shape.size() == 3 && (xv.shape[2] == 1 || xv.shape[2] == 2), kInvalidArgument, layer.describe(),
             ": signal must be [batch, length, 1 | 2], got ", dimsToString(xv.shape));
  const int64_t frameStep = scalarInput(args, 1, layer, "frame_step");
  const TensorView* window = detail::optionalInput(args, 2);
  int64_t frameLength = window ? window->count() : -1;
  if (detail::optionalInput(args, 3)) frameLength = scalarInput(args, 3, layer, "frame_length");
  KILN_CHECK(frameStep >= 1 && frameLength >= 1 && frameLength <= xv.shape[1], kInvalidArgument, layer.describe(),
             ": frame step ", frameStep, " / frame length ", frameLength, " do not fit signal ",
             dimsToString(xv.shape));
  KILN_CHECK(!window || window->count() == frameLength, kInvalidArgument, layer.describe(), ": window of ",
             window ? window->count() : 0, " values for frames of ", frameLength);
  KILN_CHECK(!window || window->type == xv.type, kInvalidArgument, layer.describe(), ": window type ",
             dataTypeName(window ? window->type : xv.type), " differs from the signal's");
  if (args.outputs[0].count() == 0) return;
  switch (xv.type) {
    case DataType::kFloat32:
      stft<float>(xv, window ? window->as<const float>() : nullptr, frameStep, frameLength, args.outputs[0]);
      break;
    case DataType::kFloat64:
      stft<double>(xv, window ? window->as<const double>() : nullptr, frameStep, frameLength, args.outputs[0]);
      break;
    case DataType::kFloat16:
    case DataType::kBFloat16:
      detail::runInFloat(args, {0, 2}, {0}, [&](const KernelArgs& fa) {
        const TensorView* w = detail::optionalInput(fa, 2);
        stft<float>(fa.inputs[0], w ? w->as<const float>() : nullptr, frameStep, frameLength, fa.outputs[0]);
      });
      break;
    default: unsupportedType(xv.type, layer);
  }
}

}  // namespace kiln::cpu
