// What the quantized convolution and matrix-multiply kernels share (quantized_reference.cpp,
// quantized_onednn.cpp): the checks their supports() make, and ONNX QuantizeLinear's requantization.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "ir/network.h"
#include "kiln/layers.h"

namespace kiln::cpu::quantized {

inline bool isQuantizedType(DataType t) { return t == DataType::kInt8 || t == DataType::kUInt8; }

// The types every CPU quantized kernel takes: x int8/uint8, w int8, bias float32, y int8/uint8/float32.
inline std::string checkQuantizedTypes(const ir::Layer& layer) {
  if (layer.inputs.size() < 2 || !layer.inputs[0] || !layer.inputs[1] || layer.outputs.empty())
    return "needs the input, weights and output tensors";
  DataType x = layer.inputs[0]->type(), w = layer.inputs[1]->type(), y = layer.outputs[0]->type();
  if (!isQuantizedType(x)) return concat("int8/uint8 input only, not ", dataTypeName(x));
  if (w != DataType::kInt8) return concat("int8 weights only, not ", dataTypeName(w));
  if (!isQuantizedType(y) && y != DataType::kFloat32)
    return concat("int8/uint8/float32 output only, not ", dataTypeName(y));
  if (layer.inputs.size() > 2 && layer.inputs[2] && layer.inputs[2]->type() != DataType::kFloat32)
    return concat("float32 bias only, not ", dataTypeName(layer.inputs[2]->type()));
  return {};
}

// saturate(round_half_even(real / scale) + zeroPoint) into T (int8 or uint8), as ONNX QuantizeLinear.
template <class T>
inline T requantize(double real, double scale, int64_t zeroPoint) {
  double q = std::nearbyint(real / scale) + static_cast<double>(zeroPoint);
  return static_cast<T>(std::clamp(q, static_cast<double>(std::numeric_limits<T>::lowest()),
                                   static_cast<double>(std::numeric_limits<T>::max())));
}

// The per-output-channel weight scale (a per-tensor list has one).
inline float weightScaleOf(const std::vector<float>& scales, int64_t channel) {
  return scales.size() == 1 ? scales[0] : scales[static_cast<size_t>(channel)];
}

}  // namespace kiln::cpu::quantized
