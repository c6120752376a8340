// One-pass |x| histogram with exact re-binning, and the percentile threshold read from it.
#include "builder/calibration/histogram.h"

#include <cmath>

#include "core/error.h"

namespace kiln::calibration {

void AbsHistogram::growTo(float absMax) {
  if (range_ == 0.0) {
    range_ = absMax;
    bins_[0] += zerosBeforeRange_;
    return;
  }
  // Merge runs of k bins: bin i of the old histogram falls wholly into bin i / k of the new one.
  int64_t k = static_cast<int64_t>(std::ceil(static_cast<double>(absMax) / range_));
  if (k <= 1) return;
  std::vector<double> merged(kBins, 0.0);
  for (int i = 0; i < kBins; ++i) merged[i / k] += bins_[i];
  bins_ = std::move(merged);
  range_ *= static_cast<double>(k);
}

void AbsHistogram::add(const float* values, int64_t count) {
  float batchMax = 0.f;
  for (int64_t i = 0; i < count; ++i) {
    float a = std::fabs(values[i]);
    if (std::isfinite(a) && a > batchMax) batchMax = a;
  }
  if (batchMax > absMax_) absMax_ = batchMax;
  if (batchMax > range_) growTo(batchMax);
  if (range_ == 0.0) {  // only zeros so far: counted, placed when a range exists
    for (int64_t i = 0; i < count; ++i) zerosBeforeRange_ += values[i] == 0.f ? 1.0 : 0.0;
    return;
  }
  const double scale = kBins / range_;
  for (int64_t i = 0; i < count; ++i) {
    float a = std::fabs(values[i]);
    if (!std::isfinite(a)) continue;
    int64_t bin = static_cast<int64_t>(a * scale);
    bins_[bin < kBins ? bin : kBins - 1] += 1.0;
  }
}

double percentileThreshold(const AbsHistogram& histogram, double percentile) {
  KILN_CHECK(percentile > 0.0 && percentile <= 100.0, kInvalidArgument,
             "calibration percentile must be in (0, 100], got ", percentile);
  double total = 0.0;
  for (double c : histogram.bins()) total += c;
  if (total == 0.0) return 0.0;
  const double wanted = total * percentile / 100.0;
  double cumulative = 0.0;
  for (int i = 0; i < AbsHistogram::kBins; ++i) {
    cumulative += histogram.bins()[i];
    if (cumulative >= wanted * (1.0 - 1e-12)) return (i + 1) * histogram.binWidth();
  }
  return histogram.range();
}

}  // namespace kiln::calibration
