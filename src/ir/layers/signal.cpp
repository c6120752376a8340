// Shape rules of the signal-processing layers: DFT, STFT, Window, MelWeightMatrix.
#include "ir/layers/shape_rules.h"

#include <optional>

namespace kiln::ir::shape_rules {

namespace {

// The value of an integer scalar shape input; nullopt when not known yet.
std::optional<int64_t> scalarInt(const ShapeInferenceContext& c, int i, const char* what) {
  SHAPE_CHECK(c, volume(c.shape(i)) == 1 || !known(volume(c.shape(i))), what, " must be a scalar, got shape ",
              dimsToString(c.shape(i)));
  auto v = c.ints(i);
  if (!v) return std::nullopt;
  SHAPE_CHECK(c, v->size() == 1, what, " must hold one value");
  return (*v)[0];
}

}  // namespace

Outputs inferDFT(const ShapeInferenceContext& c) {
  expectInputs(c, 1, 2);
  const auto& p = c.layer.as<DFTParams>();
  const Dims& x = c.shape(0);
  SHAPE_CHECK(c, isFloatType(c.type(0)), "input must be a float tensor, got ", dataTypeName(c.type(0)));
  SHAPE_CHECK(c, x.size() >= 2 && (!known(x.back()) || x.back() == 1 || x.back() == 2),
              "input must be [..., 1] (real) or [..., 2] (complex), got ", dimsToString(x));
  int64_t rank = rankOf(x);
  int64_t axis = p.axis < 0 ? p.axis + rank : p.axis;
  SHAPE_CHECK(c, axis >= 0 && axis < rank - 1, "axis ", p.axis, " is not a signal axis of input ", dimsToString(x));
  SHAPE_CHECK(c, !(p.inverse && p.onesided), "onesided is not allowed with inverse");
  int64_t length = x[axis];
  if (c.has(1)) {
    auto n = scalarInt(c, 1, "dft_length");
    if (n) SHAPE_CHECK(c, *n >= 1, "dft_length must be >= 1, got ", *n);
    length = n ? *n : -1;
  }
  Dims out = x;
  out[axis] = known(length) && p.onesided ? length / 2 + 1 : length;
  out.back() = 2;
  return one(c.type(0), out);
}

Outputs inferSTFT(const ShapeInferenceContext& c) {
  expectInputs(c, 2, 4);
  const auto& p = c.layer.as<STFTParams>();
  const Dims& x = c.shape(0);
  SHAPE_CHECK(c, isFloatType(c.type(0)), "signal must be a float tensor, got ", dataTypeName(c.type(0)));
  SHAPE_CHECK(c, x.size() == 3 && (!known(x[2]) || x[2] == 1 || x[2] == 2),
              "signal must be [batch, length, 1 | 2], got ", dimsToString(x));
  auto step = scalarInt(c, 1, "frame_step");
  if (step) SHAPE_CHECK(c, *step >= 1, "frame_step must be >= 1, got ", *step);
  int64_t frameLength = -1;
  if (c.has(2)) {
    SHAPE_CHECK(c, c.rank(2) == 1, "window must be 1-D, got ", dimsToString(c.shape(2)));
    frameLength = c.shape(2)[0];
  }
  if (c.has(3)) {
    auto n = scalarInt(c, 3, "frame_length");
    if (n && known(frameLength))
      SHAPE_CHECK(c, *n == frameLength, "frame_length ", *n, " differs from the window length ", frameLength);
    if (n) frameLength = *n;
  }
  SHAPE_CHECK(c, c.has(2) || c.has(3), "needs a window or a frame_length");
  int64_t frames = -1, bins = -1;
  if (known(frameLength)) {
    SHAPE_CHECK(c, frameLength >= 1 && (!known(x[1]) || frameLength <= x[1]), "frame length ", frameLength,
                " does not fit the signal ", dimsToString(x));
    bins = p.onesided ? frameLength / 2 + 1 : frameLength;
    if (step && known(x[1])) frames = (x[1] - frameLength) / *step + 1;
  }
  return one(c.type(0), {x[0], frames, bins, 2});
}

Outputs inferWindow(const ShapeInferenceContext& c) {
  expectInputs(c, 1, 1);
  expectIndexType(c, 0, "size");
  auto size = scalarInt(c, 0, "size");
  if (size) SHAPE_CHECK(c, *size >= 0, "size must be >= 0, got ", *size);
  return one(c.layer.as<WindowParams>().outputType, {size ? *size : -1});
}

Outputs inferMelWeightMatrix(const ShapeInferenceContext& c) {
  expectInputs(c, 5, 5);
  expectIndexType(c, 0, "num_mel_bins");
  expectIndexType(c, 1, "dft_length");
  auto bins = scalarInt(c, 0, "num_mel_bins");
  auto length = scalarInt(c, 1, "dft_length");
  if (bins) SHAPE_CHECK(c, *bins >= 1, "num_mel_bins must be >= 1, got ", *bins);
  if (length) SHAPE_CHECK(c, *length >= 1, "dft_length must be >= 1, got ", *length);
  return one(c.layer.as<MelWeightMatrixParams>().outputType, {length ? *length / 2 + 1 : -1, bins ? *bins : -1});
}

}  // namespace kiln::ir::shape_rules
