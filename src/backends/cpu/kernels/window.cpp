// Window (Hann, Hamming, Blackman generalized cosine windows) and MelWeightMatrix (triangular mel filter
// bank, as the ONNX reference computes it): small tables computed in double, then converted.
#include <cmath>
#include <vector>

#include "backends/cpu/kernels/compute_common.h"
#include "backends/cpu/kernels/convert.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {
namespace {

void writeAs(const std::vector<double>& values, const TensorView& out, const ir::Layer& layer) {
  dispatchType<kNumeric>(out.type, layer, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* y = out.as<T>();
    for (size_t i = 0; i < values.size(); ++i) y[i] = convertValue<T>(values[i]);
  });
}

double scalarOf(const TensorView& v, const ir::Layer& layer, const char* what) {
  KILN_CHECK(v.count() == 1, kInvalidArgument, layer.describe(), ": ", what, " must be a scalar, got shape ",
             dimsToString(v.shape));
  return dispatchType<kNumeric>(v.type, layer, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return static_cast<double>(static_cast<ComputeType<T>>(v.as<const T>()[0]));
  });
}

}  // namespace

std::string supportsWindow(const ir::Layer& layer) {
  return checkTypes(layer, kNumeric, kNumeric, /*shapeInputs=*/kNumeric);  // scalarOf reads any number
}

void runWindow(const ir::Layer& layer, const KernelArgs& args) {
  const auto& p = layer.as<WindowParams>();
  KILN_CHECK(!args.inputs.empty() && !args.outputs.empty(), kInvalidArgument, layer.describe(), ": needs a size");
  const int64_t size = static_cast<int64_t>(scalarOf(args.inputs[0], layer, "size"));
  KILN_CHECK(args.outputs[0].count() == size, kInvalidArgument, layer.describe(), ": output of ",
             args.outputs[0].count(), " values for size ", size);
  // w[n] = a0 - a1 cos(2 pi n / N) + a2 cos(4 pi n / N), N = size (periodic) or size - 1 (symmetric).
  double a0 = 0.5, a1 = 0.5, a2 = 0.0;
  if (p.type == WindowType::kHamming) a0 = 25.0 / 46.0, a1 = 21.0 / 46.0;
  if (p.type == WindowType::kBlackman) a0 = 0.42, a1 = 0.5, a2 = 0.08;
  const double denominator = static_cast<double>(p.periodic ? size : size - 1);
  std::vector<double> w(static_cast<size_t>(size), 1.0);  // a symmetric window of one value is [1]
  if (denominator > 0)
    for (int64_t n = 0; n < size; ++n) {
      double angle = 2.0 * M_PI * static_cast<double>(n) / denominator;
      w[n] = a0 - a1 * std::cos(angle) + a2 * std::cos(2.0 * angle);
    }
  writeAs(w, args.outputs[0], layer);
}

std::string supportsMelWeightMatrix(const ir::Layer& layer) {
  return checkTypes(layer, kNumeric, kNumeric, /*shapeInputs=*/kNumeric);  // scalarOf reads any number
}

void runMelWeightMatrix(const ir::Layer& layer, const KernelArgs& args) {
  KILN_CHECK(args.inputs.size() == 5 && !args.outputs.empty(), kInvalidArgument, layer.describe(),
             ": needs num_mel_bins, dft_length, sample_rate, lower_edge_hertz, upper_edge_hertz");
  const int64_t melBins = static_cast<int64_t>(scalarOf(args.inputs[0], layer, "num_mel_bins"));
  const int64_t dftLength = static_cast<int64_t>(scalarOf(args.inputs[1], layer, "dft_length"));
  const double sampleRate = scalarOf(args.inputs[2], layer, "sample_rate");
  const double lowerHertz = scalarOf(args.inputs[3], layer, "lower_edge_hertz");
  const double upperHertz = scalarOf(args.inputs[4], layer, "upper_edge_hertz");
  const int64_t spectrogramBins = dftLength / 2 + 1;
  KILN_CHECK(melBins >= 1 && dftLength >= 1 && sampleRate > 0 && lowerHertz >= 0 && upperHertz > lowerHertz,
             kInvalidArgument, layer.describe(), ": invalid mel parameters (bins ", melBins, ", dft length ",
             dftLength, ", sample rate ", sampleRate, ", edges ", lowerHertz, " - ", upperHertz, ")");
  KILN_CHECK(args.outputs[0].shape == Dims({spectrogramBins, melBins}), kInvalidArgument, layer.describe(),
             ": output shape ", dimsToString(args.outputs[0].shape));
  // num_mel_bins + 2 edges evenly spaced in mel (the reference's step divides by the edge count), mapped to
  // spectrogram bins floor((dft_length + 1) * hertz / sample_rate).
  auto toMel = [](double hertz) { return 2595.0 * std::log1p(hertz / 700.0) / std::log(10.0); };
  const double lowMel = toMel(lowerHertz), highMel = toMel(upperHertz);
  const double step = (highMel - lowMel) / static_cast<double>(melBins + 2);
  std::vector<int64_t> edge(static_cast<size_t>(melBins + 2));
  for (int64_t i = 0; i < melBins + 2; ++i) {
    double hertz = 700.0 * std::expm1((static_cast<double>(i) * step + lowMel) / 2595.0 * std::log(10.0));
    edge[i] = static_cast<int64_t>(std::floor(static_cast<double>(dftLength + 1) * hertz / sampleRate));
    KILN_CHECK(edge[i] >= 0 && edge[i] < spectrogramBins, kInvalidArgument, layer.describe(), ": mel edge ", i,
               " falls on bin ", edge[i], ", outside [0, ", spectrogramBins, ")");
  }
  std::vector<double> out(static_cast<size_t>(spectrogramBins * melBins), 0.0);
  for (int64_t m = 0; m < melBins; ++m) {
    const int64_t left = edge[m], center = edge[m + 1], right = edge[m + 2];
    if (center == left) {
      out[center * melBins + m] = 1.0;
    } else {
      for (int64_t j = left; j <= center; ++j)
        out[j * melBins + m] = static_cast<double>(j - left) / static_cast<double>(center - left);
    }
    for (int64_t j = center; j < right; ++j)
      out[j * melBins + m] = static_cast<double>(right - j) / static_cast<double>(right - center);
  }
  writeAs(out, args.outputs[0], layer);
}

}  // namespace kiln::cpu
