// Calibration statistics of one tensor: its absolute maximum and a histogram of |x|, and the clipping
// thresholds the calibration methods choose from them.
#pragma once

#include <cstdint>
#include <vector>

namespace kiln::calibration {

// A histogram of |x| with kBins equal bins over [0, range], built in one pass over the batches: when a
// value beyond `range` arrives, the range grows by a whole factor k and each run of k bins merges into one,
// so earlier counts stay exact (TensorRT re-bins the same way instead of making a second pass).
// Non-finite values are ignored.
class AbsHistogram {
 public:
  static constexpr int kBins = 2048;
  void add(const float* values, int64_t count);
  float absMax() const { return absMax_; }
  double range() const { return range_; }  // 0 until a nonzero value was seen
  const std::vector<double>& bins() const { return bins_; }
  double binWidth() const { return range_ / kBins; }

 private:
  void growTo(float absMax);
  float absMax_ = 0.f;
  double range_ = 0.0;
  double zerosBeforeRange_ = 0.0;  // zeros seen while range_ was 0, placed in bin 0 once it is not
  std::vector<double> bins_ = std::vector<double>(kBins, 0.0);
};

// The smallest |x| threshold at or below which `percentile` percent of the values lie, read from the
// histogram: the upper edge of the bin where the cumulative count reaches it. percentile in (0, 100].
double percentileThreshold(const AbsHistogram& histogram, double percentile);

// TensorRT's entropy calibration: the threshold whose 128-level quantization of the histogram loses the
// least information (smallest KL divergence to the unquantized distribution). See entropy.cpp.
double entropyThreshold(const AbsHistogram& histogram);

}  // namespace kiln::calibration
