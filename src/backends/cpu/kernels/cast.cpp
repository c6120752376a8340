// Cast: converts every element between any two types (numpy semantics; float8 e4m3 through float;
// strings as the ONNX reference: numbers print as numpy's str(), strings parse as numbers).
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>

#include "backends/cpu/kernels/convert.h"
#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {

namespace {

// numpy's str() of a float or double: the shortest digits that round-trip, positional when the decimal
// exponent is in [-4, 16) (with ".0" for an integer), else scientific ("1e-05", "1.5e+20"); "nan", "inf"
// are spelled "NaN", "INF", "-INF" as in the ONNX spec.
template <class T>
std::string floatToString(T v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v < 0 ? "-INF" : "INF";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string sci(buf, end);  // [-]d[.ddd]e(+|-)xx
  size_t e = sci.find('e');
  int exponent = std::atoi(sci.c_str() + e + 1);
  if (exponent < -4 || exponent >= 16) return sci;
  std::string sign = sci[0] == '-' ? "-" : "";
  std::string digits;
  for (size_t i = sign.size(); i < e; ++i)
    if (sci[i] != '.') digits += sci[i];
  if (exponent < 0) return sign + "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
  size_t integerDigits = static_cast<size_t>(exponent) + 1;
  if (digits.size() <= integerDigits) return sign + digits + std::string(integerDigits - digits.size(), '0') + ".0";
  return sign + digits.substr(0, integerDigits) + "." + digits.substr(integerDigits);
}

template <class T>
std::string toString(T v) {
  if constexpr (std::is_same_v<T, bool>) return v ? "True" : "False";
  else if constexpr (std::is_integral_v<T>) return std::to_string(v);
  else if constexpr (std::is_same_v<T, double>) return floatToString(v);
  else return floatToString(static_cast<float>(v));
}

// Parses the whole string as a number of type U ("NaN", "INF", "+INF", "-INF" for floats).
template <class U>
U parseString(const ir::Layer& layer, const std::string& s) {
  const char* begin = s.c_str();
  char* end = nullptr;
  U value{};
  if constexpr (std::is_same_v<U, bool>) {
    value = std::strtod(begin, &end) != 0.0;
  } else if constexpr (std::is_same_v<U, float>) {
    value = std::strtof(begin, &end);
  } else if constexpr (std::is_same_v<U, double> || !std::is_integral_v<U>) {
    value = convertValue<U>(std::strtod(begin, &end));
  } else if constexpr (std::is_signed_v<U>) {
    value = static_cast<U>(std::strtoll(begin, &end, 10));
  } else {
    value = static_cast<U>(std::strtoull(begin, &end, 10));
  }
  KILN_CHECK(!s.empty() && end == begin + s.size(), kInvalidArgument, layer.describe(), ": cannot parse '", s,
             "' as a number");
  return value;
}

void castStrings(const ir::Layer& layer, const TensorView& in, const TensorView& out, int64_t n) {
  if (in.type == DataType::kString && out.type == DataType::kString) {
    copyBytes(layer, out, in);
  } else if (in.type == DataType::kString) {
    const auto* src = in.as<const std::string>();
    dispatchType(out.type, layer, [&](auto tag) {
      using U = typename decltype(tag)::type;
      U* dst = out.as<U>();
      for (int64_t i = 0; i < n; ++i) dst[i] = parseString<U>(layer, src[i]);
    });
  } else {
    auto* dst = out.as<std::string>();
    dispatchType(in.type, layer, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* src = in.as<const T>();
      parallelFor(n, kPointwiseGrain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) dst[i] = toString(src[i]);
      });
    });
  }
}

}  // namespace

std::string supportsCast(const ir::Layer& layer) {
  return checkTypes(layer, kBytes | kStrings, kBytes | kStrings);
}

void runCast(const ir::Layer& layer, const KernelArgs& args) {
  checkInputs(layer, args, 1);
  const TensorView& in = args.inputs[0];
  const TensorView& out = args.outputs[0];
  const bool saturate = layer.as<CastParams>().saturate;
  const int64_t n = in.count();
  checkCount(layer, out, n, "output");
  if (n == 0) return;
  if (in.type == DataType::kString || out.type == DataType::kString) {
    KILN_CHECK(in.type != DataType::kFP8E4M3 && out.type != DataType::kFP8E4M3, kUnsupported, layer.describe(),
               ": no cast between float8 and string");
    castStrings(layer, in, out, n);
    return;
  }
  if (in.type == out.type) {
    elementSize(in.type, layer);
    copyBytes(layer, out, in);
    return;
  }
  if (in.type == DataType::kFP8E4M3 || out.type == DataType::kFP8E4M3) {
    // Through float: fp8 values are exactly representable in float.
    if (in.type == DataType::kFP8E4M3) {
      const uint8_t* src = in.as<const uint8_t>();
      dispatchType(out.type, layer, [&](auto tag) {
        using U = typename decltype(tag)::type;
        U* dst = out.as<U>();
        parallelFor(n, kPointwiseGrain, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) dst[i] = convertValue<U>(fp8e4m3ToFloat(src[i]));
        });
      });
    } else {
      uint8_t* dst = out.as<uint8_t>();
      dispatchType(in.type, layer, [&](auto tag) {
        using T = typename decltype(tag)::type;
        const T* src = in.as<const T>();
        parallelFor(n, kPointwiseGrain, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) {
            if constexpr (std::is_same_v<T, double>) {
              // Avoid double rounding into the narrow format where the float rounding would matter:
              // saturating/NaN cases are the same; the value path goes through float.
              dst[i] = floatToFp8e4m3(static_cast<float>(src[i]), saturate);
            } else {
              dst[i] = floatToFp8e4m3(convertValue<float>(src[i]), saturate);
            }
          }
        });
      });
    }
    return;
  }
  dispatchType(in.type, layer, [&](auto tagIn) {
    using T = typename decltype(tagIn)::type;
    dispatchType(out.type, layer, [&](auto tagOut) {
      using U = typename decltype(tagOut)::type;
      const T* src = in.as<const T>();
      U* dst = out.as<U>();
      parallelFor(n, kPointwiseGrain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) dst[i] = convertValue<U>(src[i]);
      });
    });
  });
}

}  // namespace kiln::cpu
