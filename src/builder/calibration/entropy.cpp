// Entropy calibration (TensorRT's default, "8-bit Inference with TensorRT", GTC 2017): for each candidate
// threshold of i bins (i = 128..2048 of the |x| histogram), P is the histogram cut at i bins with the
// clipped outliers added to its last bin, and Q is the first i bins merged into 128 quantization levels
// and expanded back to i bins, each level's count spread evenly over its nonzero source bins. Both are
// normalized (with a small smoothing so Q is never 0 where P is not) and the threshold is the upper
// edge of the i with the smallest KL(P || Q). Uniform data gives i = 2048 (nothing clipped); a long
// thin tail is clipped.
#include <cmath>
#include <limits>

#include "builder/calibration/histogram.h"

namespace kiln::calibration {
namespace {

constexpr int kLevels = 128;          // int8 magnitudes 0..127
constexpr double kSmoothing = 1e-4;   // mass moved onto zero entries so the divergence stays finite

// Normalizes `d` to sum 1, then moves kSmoothing of mass (per zero entry) from the nonzero entries onto
// the zero ones. Returns false when `d` is all zeros.
bool normalizeSmoothed(std::vector<double>& d) {
  double total = 0.0;
  int zeros = 0;
  for (double v : d) {
    total += v;
    zeros += v == 0.0 ? 1 : 0;
  }
  int nonZeros = static_cast<int>(d.size()) - zeros;
  if (total <= 0.0 || nonZeros == 0) return false;
  double taken = kSmoothing * zeros / nonZeros;
  for (double& v : d) v = v == 0.0 ? kSmoothing : v / total - taken;
  return true;
}

double klDivergence(const std::vector<double>& p, const std::vector<double>& q) {
  double kl = 0.0;
  for (size_t j = 0; j < p.size(); ++j)
    if (p[j] > 0.0 && q[j] > 0.0) kl += p[j] * std::log(p[j] / q[j]);
  return kl;
}

}  // namespace

double entropyThreshold(const AbsHistogram& histogram) {
  const std::vector<double>& bins = histogram.bins();
  const int n = AbsHistogram::kBins;
  double best = std::numeric_limits<double>::infinity();
  int bestBins = n;
  for (int i = kLevels; i <= n; ++i) {
    std::vector<double> p(bins.begin(), bins.begin() + i);
    for (int j = i; j < n; ++j) p[i - 1] += bins[j];
    // Q: levels of i / 128 source bins each (the last level takes the remainder), spread back evenly over
    // the nonzero source bins of the level.
    std::vector<double> q(i, 0.0);
    const int perLevel = i / kLevels;
    for (int level = 0; level < kLevels; ++level) {
      int begin = level * perLevel;
      int end = level == kLevels - 1 ? i : begin + perLevel;
      double sum = 0.0;
      int nonZero = 0;
      for (int j = begin; j < end; ++j) {
        sum += bins[j];
        nonZero += p[j] != 0.0 ? 1 : 0;
      }
      if (nonZero == 0) continue;
      for (int j = begin; j < end; ++j) q[j] = p[j] != 0.0 ? sum / nonZero : 0.0;
    }
    if (!normalizeSmoothed(p) || !normalizeSmoothed(q)) continue;
    double kl = klDivergence(p, q);
    if (kl < best) {
      best = kl;
      bestBins = i;
    }
  }
  return bestBins * histogram.binWidth();
}

}  // namespace kiln::calibration
