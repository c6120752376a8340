// Normalizations: batch (inference stats folded into a per-channel scale/shift), instance, layer,
// group and RMS (statistics in double per row, then one fused pass), parallel over rows/planes. Layer and
// RMS with a residual (addsResidual) first form s = x + r in x's type, then normalize s.
#include <algorithm>
#include <cmath>
#include <vector>

#include "backends/cpu/kernels/compute_common.h"
#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {
namespace {

// Broadcasts `v` (numpy rules, right aligned) to `target` dims and returns it as CT values.
template <class CT>
std::vector<CT> broadcastTo(const TensorView& v, const Dims& target, const ir::Layer& layer) {
  std::vector<float> src = detail::readFloats(v, layer);
  int64_t total = volume(target);
  std::vector<CT> out(static_cast<size_t>(std::max<int64_t>(total, 0)));
  if (static_cast<int64_t>(src.size()) == total) {
    if (v.type == DataType::kFloat64) {
      const double* d = v.as<const double>();
      for (int64_t i = 0; i < total; ++i) out[i] = static_cast<CT>(d[i]);
    } else {
      for (int64_t i = 0; i < total; ++i) out[i] = static_cast<CT>(src[i]);
    }
    return out;
  }
  const Dims& vs = v.shape;
  KILN_CHECK(vs.size() <= target.size(), kInvalidArgument, layer.describe(), ": parameter shape ", dimsToString(vs),
             " does not broadcast to ", dimsToString(target));
  size_t off = target.size() - vs.size();
  Dims vstr(target.size(), 0);
  int64_t s = 1;
  for (int i = static_cast<int>(vs.size()) - 1; i >= 0; --i) {
    KILN_CHECK(vs[i] == 1 || vs[i] == target[off + i], kInvalidArgument, layer.describe(), ": parameter shape ",
               dimsToString(vs), " does not broadcast to ", dimsToString(target));
    vstr[off + i] = vs[i] == 1 ? 0 : s;
    s *= vs[i];
  }
  std::vector<int64_t> idx(target.size(), 0);
  for (int64_t i = 0; i < total; ++i) {
    int64_t o = 0;
    for (size_t d = 0; d < target.size(); ++d) o += idx[d] * vstr[d];
    out[i] = static_cast<CT>(src[o]);
    for (int d = static_cast<int>(target.size()) - 1; d >= 0; --d) {
      if (++idx[d] < target[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

template <class CT>
std::vector<CT> paramValues(const TensorView* v, int64_t expected, const ir::Layer& layer, const char* what) {
  std::vector<CT> out;
  if (!v) return out;
  KILN_CHECK(v->count() == expected, kInvalidArgument, layer.describe(), ": ", what, " has ", v->count(),
             " values, expected ", expected);
  out = broadcastTo<CT>(*v, Dims{expected}, layer);
  return out;
}

template <class CT>
void normalize(const ir::Layer& layer, const NormalizationParams& p, const KernelArgs& args) {
  const TensorView& xv = args.inputs[0];
  const TensorView& yv = args.outputs[0];
  const Dims& s = xv.shape;
  const CT* x = xv.as<const CT>();
  CT* y = yv.as<CT>();
  const double eps = p.epsilon;
  if (xv.count() == 0) return;
  switch (p.type) {
    case NormalizationType::kBatch: {
      KILN_CHECK(s.size() >= 2 && args.inputs.size() >= 5, kInvalidArgument, layer.describe(),
                 ": batch normalization needs x, scale, bias, mean, var");
      const int64_t N = s[0], C = s[1], inner = detail::product(s, 2, s.size());
      auto scale = paramValues<double>(&args.inputs[1], C, layer, "scale");
      auto bias = paramValues<double>(&args.inputs[2], C, layer, "bias");
      auto mean = paramValues<double>(&args.inputs[3], C, layer, "mean");
      auto var = paramValues<double>(&args.inputs[4], C, layer, "var");
      std::vector<CT> a(C), b(C);
      for (int64_t c = 0; c < C; ++c) {
        double inv = scale[c] / std::sqrt(var[c] + eps);
        a[c] = static_cast<CT>(inv);
        b[c] = static_cast<CT>(bias[c] - mean[c] * inv);
      }
      parallelFor(N * C, std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1)), [&](int64_t p0, int64_t p1) {
        for (int64_t pl = p0; pl < p1; ++pl) {
          int64_t c = pl % C;
          const CT* __restrict xs = x + pl * inner;
          CT* __restrict ys = y + pl * inner;
          CT ac = a[c], bc = b[c];
          for (int64_t i = 0; i < inner; ++i) ys[i] = xs[i] * ac + bc;
        }
      });
      break;
    }
    case NormalizationType::kInstance:
    case NormalizationType::kGroup: {
      KILN_CHECK(s.size() >= 2 && args.inputs.size() >= 3, kInvalidArgument, layer.describe(),
                 ": instance/group normalization needs x, scale, bias");
      const int64_t N = s[0], C = s[1], spatial = detail::product(s, 2, s.size());
      const int64_t G = p.type == NormalizationType::kInstance ? C : p.numGroups;
      KILN_CHECK(G >= 1 && C % G == 0, kInvalidArgument, layer.describe(), ": ", C, " channels do not split into ",
                 G, " groups");
      const int64_t cpg = C / G;
      // Scale/bias per channel (opset 21), or per group (opset 18).
      auto perChannel = [&](const TensorView* v, const char* what) {
        std::vector<double> out(C, 0.0);
        if (!v) return out;
        std::vector<double> vals;
        if (v->count() == C) {
          vals = paramValues<double>(v, C, layer, what);
          out = vals;
        } else {
          vals = paramValues<double>(v, G, layer, what);
          for (int64_t c = 0; c < C; ++c) out[c] = vals[c / cpg];
        }
        return out;
      };
      auto scale = perChannel(detail::optionalInput(args, 1), "scale");
      auto bias = perChannel(detail::optionalInput(args, 2), "bias");
      if (!detail::optionalInput(args, 1)) std::fill(scale.begin(), scale.end(), 1.0);
      const int64_t groupSize = cpg * spatial;
      parallelFor(N * G, 1, [&](int64_t g0, int64_t g1) {
        for (int64_t ng = g0; ng < g1; ++ng) {
          const CT* xs = x + ng * groupSize;
          CT* ys = y + ng * groupSize;
          double sum = 0, sq = 0;
          for (int64_t i = 0; i < groupSize; ++i) sum += xs[i];
          double mean = groupSize ? sum / groupSize : 0;
          for (int64_t i = 0; i < groupSize; ++i) {
            double d = xs[i] - mean;
            sq += d * d;
          }
          double inv = 1.0 / std::sqrt((groupSize ? sq / groupSize : 0) + eps);
          int64_t g = ng % G;
          for (int64_t cc = 0; cc < cpg; ++cc) {
            int64_t c = g * cpg + cc;
            CT a = static_cast<CT>(inv * scale[c]), b = static_cast<CT>(bias[c] - mean * inv * scale[c]);
            const CT* __restrict xr = xs + cc * spatial;
            CT* __restrict yr = ys + cc * spatial;
            for (int64_t i = 0; i < spatial; ++i) yr[i] = xr[i] * a + b;
          }
        }
      });
      break;
    }
    case NormalizationType::kLayer:
    case NormalizationType::kRMS: {
      const bool rms = p.type == NormalizationType::kRMS;
      const int64_t rank = static_cast<int64_t>(s.size());
      const int64_t axis = detail::normAxis(p.axis, rank, layer);
      const int64_t outer = detail::product(s, 0, axis), inner = detail::product(s, axis, s.size());
      Dims tail(s.begin() + axis, s.end());
      const TensorView* sv = detail::optionalInput(args, 1);
      const TensorView* bv = rms ? nullptr : detail::optionalInput(args, 2);
      std::vector<CT> scale = sv ? broadcastTo<CT>(*sv, tail, layer) : std::vector<CT>(inner, CT(1));
      std::vector<CT> bias = bv ? broadcastTo<CT>(*bv, tail, layer) : std::vector<CT>();
      // Optional LayerNormalization outputs: mean and inverse std dev ([outer] values).
      CT* meanOut = args.outputs.size() > 1 && args.outputs[1].data ? args.outputs[1].as<CT>() : nullptr;
      CT* invOut = args.outputs.size() > 2 && args.outputs[2].data ? args.outputs[2].as<CT>() : nullptr;
      parallelFor(outer, std::max<int64_t>(1, 8192 / std::max<int64_t>(inner, 1)), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const CT* __restrict xr = x + r * inner;
          CT* __restrict yr = y + r * inner;
          double mean = 0, var = 0;
          if (rms) {
            double sq = 0;
            for (int64_t i = 0; i < inner; ++i) sq += static_cast<double>(xr[i]) * xr[i];
            var = inner ? sq / inner : 0;
          } else {
            double sum = 0;
            for (int64_t i = 0; i < inner; ++i) sum += xr[i];
            mean = inner ? sum / inner : 0;
            double sq = 0;
            for (int64_t i = 0; i < inner; ++i) {
              double d = xr[i] - mean;
              sq += d * d;
            }
            var = inner ? sq / inner : 0;
          }
          double inv = 1.0 / std::sqrt(var + eps);
          CT m = static_cast<CT>(mean), iv = static_cast<CT>(inv);
          const CT* __restrict sc = scale.data();
          if (!bias.empty()) {
            const CT* __restrict bi = bias.data();
            for (int64_t i = 0; i < inner; ++i) yr[i] = (xr[i] - m) * iv * sc[i] + bi[i];
          } else {
            for (int64_t i = 0; i < inner; ++i) yr[i] = (xr[i] - m) * iv * sc[i];
          }
          if (meanOut) meanOut[r] = m;
          if (invOut) invOut[r] = iv;
        }
      });
      break;
    }
  }
}

// s[i] = x[i] + r[i] in the element type T (16-bit floats add in float and round once, as an Add layer).
template <class T>
void addResidual(const TensorView& x, const TensorView& r, const TensorView& s) {
  const T* xs = x.as<const T>();
  const T* rs = r.as<const T>();
  T* out = s.as<T>();
  parallelFor(x.count(), kPointwiseGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      if constexpr (detail::kIsHalf<T>) out[i] = T(static_cast<float>(xs[i]) + static_cast<float>(rs[i]));
      else out[i] = xs[i] + rs[i];
    }
  });
}

void normalizeWithoutResidual(const ir::Layer& layer, const NormalizationParams& p, const KernelArgs& args);

// addsResidual: s = x + r into output 1 (or a scratch buffer when it is not wanted), then y = norm(s).
void normalizeResidual(const ir::Layer& layer, const NormalizationParams& p, const KernelArgs& args) {
  KILN_CHECK(p.type == NormalizationType::kLayer || p.type == NormalizationType::kRMS, kInvalidArgument,
             layer.describe(), ": only layer and RMS normalizations add a residual");
  KILN_CHECK(args.inputs.size() == 4 && args.inputs[3].data != nullptr, kInvalidArgument, layer.describe(),
             ": a normalization adding a residual needs the residual as input 3");
  const TensorView& x = args.inputs[0];
  const TensorView& r = args.inputs[3];
  KILN_CHECK(r.shape == x.shape && r.type == x.type, kInvalidArgument, layer.describe(), ": residual ",
             dimsToString(r.shape), " ", dataTypeName(r.type), " must match x ", dimsToString(x.shape), " ",
             dataTypeName(x.type));
  TensorView sum = x;
  std::vector<unsigned char> scratch;
  if (args.outputs.size() > 1 && args.outputs[1].data) {
    sum.data = args.outputs[1].data;
  } else {
    scratch.resize(static_cast<size_t>(x.bytes()));
    sum.data = scratch.data();
  }
  dispatchType<kFloats>(x.type, layer, [&](auto tag) { addResidual<typename decltype(tag)::type>(x, r, sum); });
  KernelArgs normArgs = args;
  normArgs.inputs = {sum, args.inputs[1], args.inputs[2]};
  normArgs.outputs = {args.outputs[0]};
  normalizeWithoutResidual(layer, p, normArgs);
}

void normalizeWithoutResidual(const ir::Layer& layer, const NormalizationParams& p, const KernelArgs& args) {
  DataType type = args.inputs[0].type;
  switch (type) {
    case DataType::kFloat32: normalize<float>(layer, p, args); break;
    case DataType::kFloat64: normalize<double>(layer, p, args); break;
    case DataType::kFloat16:
    case DataType::kBFloat16:
      detail::runInFloat(args, {0}, {0, 1, 2}, [&](const KernelArgs& fa) { normalize<float>(layer, p, fa); });
      break;
    default: unsupportedType(type, layer);
  }
}

}  // namespace

std::string supportsNormalization(const ir::Layer& layer) {
  return checkTypes(layer, kFloats, kFloats);
}

void runNormalization(const ir::Layer& layer, const KernelArgs& args) {
  const auto& p = layer.as<NormalizationParams>();
  KILN_CHECK(!args.inputs.empty() && !args.outputs.empty(), kInvalidArgument, layer.describe(),
             ": normalization needs x");
  if (p.addsResidual) normalizeResidual(layer, p, args);
  else normalizeWithoutResidual(layer, p, args);
}

}  // namespace kiln::cpu
