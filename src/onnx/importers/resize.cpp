// Resize (all opsets) and the deprecated Upsample.
#include <map>

#include "onnx/importers/importers.h"

namespace kiln::onnx_import {

namespace {
const std::map<std::string, ResizeMode> kModes = {
    {"nearest", ResizeMode::kNearest}, {"linear", ResizeMode::kLinear}, {"cubic", ResizeMode::kCubic},
    {"bilinear", ResizeMode::kLinear}};
const std::map<std::string, ResizeCoordinateTransform> kTransforms = {
    {"half_pixel", ResizeCoordinateTransform::kHalfPixel},
    {"pytorch_half_pixel", ResizeCoordinateTransform::kPytorchHalfPixel},
    {"align_corners", ResizeCoordinateTransform::kAlignCorners},
    {"asymmetric", ResizeCoordinateTransform::kAsymmetric},
    {"tf_crop_and_resize", ResizeCoordinateTransform::kTfCropAndResize},
    {"half_pixel_symmetric", ResizeCoordinateTransform::kHalfPixelSymmetric},
    {"tf_half_pixel_for_nn", ResizeCoordinateTransform::kTfHalfPixelForNn}};
const std::map<std::string, ResizeNearestRounding> kRounding = {
    {"round_prefer_floor", ResizeNearestRounding::kRoundPreferFloor},
    {"round_prefer_ceil", ResizeNearestRounding::kRoundPreferCeil},
    {"floor", ResizeNearestRounding::kFloor},
    {"ceil", ResizeNearestRounding::kCeil}};
const std::map<std::string, ResizeAspectPolicy> kPolicies = {{"stretch", ResizeAspectPolicy::kStretch},
                                                              {"not_larger", ResizeAspectPolicy::kNotLarger},
                                                              {"not_smaller", ResizeAspectPolicy::kNotSmaller}};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
}  // namespace

std::string checkResize(const NodeView& n) {
  std::string mode = lower(n.attrString("mode", "nearest"));
  if (!kModes.count(mode)) return concat("mode '", mode, "' is not supported");
  if (n.opType() == "Upsample" && n.opset() < 7) return "opset < 7 Upsample (height_scale/width_scale) is not supported";
  if (n.opType() == "Resize" && n.opset() >= 11) {
    std::string t = n.attrString("coordinate_transformation_mode", "half_pixel");
    if (!kTransforms.count(t)) return concat("coordinate_transformation_mode '", t, "' is not supported");
    std::string r = n.attrString("nearest_mode", "round_prefer_floor");
    if (!kRounding.count(r)) return concat("nearest_mode '", r, "' is not supported");
    std::string a = n.attrString("keep_aspect_ratio_policy", "stretch");
    if (!kPolicies.count(a)) return concat("keep_aspect_ratio_policy '", a, "' is not supported");
  }
  return "";
}

void importResize(ImporterContext& ctx) {
  ResizeParams p;
  p.mode = kModes.at(lower(ctx.attrString("mode", "nearest")));
  ITensor* x = ctx.requireInput(0);
  std::vector<ITensor*> in{x, nullptr, nullptr, nullptr};
  bool legacy = ctx.opType() == "Upsample" || ctx.opset() < 11;
  if (legacy) {
    // Upsample and Resize-10: asymmetric coordinates, nearest rounds down.
    p.coordinateTransform = ResizeCoordinateTransform::kAsymmetric;
    p.nearestRounding = ResizeNearestRounding::kFloor;
    if (ctx.opType() == "Upsample" && ctx.opset() < 9) {
      auto scales = ctx.attrFloats("scales");
      in[2] = ctx.constant(HostTensor::copyOf(DataType::kFloat32, {static_cast<int64_t>(scales.size())}, scales.data()));
    } else {
      in[2] = ctx.requireInput(1);
    }
  } else {
    p.coordinateTransform = kTransforms.at(ctx.attrString("coordinate_transformation_mode", "half_pixel"));
    p.nearestRounding = kRounding.at(ctx.attrString("nearest_mode", "round_prefer_floor"));
    p.cubicCoeffA = ctx.attrFloat("cubic_coeff_a", -0.75f);
    p.excludeOutside = ctx.attrInt("exclude_outside", 0) != 0;
    p.extrapolationValue = ctx.attrFloat("extrapolation_value", 0.f);
    p.antialias = ctx.attrInt("antialias", 0) != 0;
    p.axes = ctx.attrInts("axes");
    p.aspectPolicy = kPolicies.at(ctx.attrString("keep_aspect_ratio_policy", "stretch"));
    for (int i = 1; i < 4; ++i) in[i] = ctx.input(i);
    // An empty scales tensor (opset 11-12 placeholder when sizes is given) counts as omitted.
    if (in[2] && in[3] && volume(in[2]->dims()) == 0) in[2] = nullptr;
    if (in[1] && volume(in[1]->dims()) == 0) in[1] = nullptr;
  }
  while (!in.empty() && !in.back()) in.pop_back();
  ctx.setOutput(0, ctx.add(p, in));
}

}  // namespace kiln::onnx_import
