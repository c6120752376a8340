// Random: uniform, normal, Bernoulli and multinomial sampling with a 64-bit Mersenne Twister. A seeded layer
// restarts its generator from the seed on every execution (same seed, same values); an unseeded one draws
// a fresh seed from std::random_device. Sequential, so the values do not depend on the thread count.
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "backends/cpu/kernels/compute_common.h"
#include "backends/cpu/kernels/convert.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {
namespace {

std::mt19937_64 makeGenerator(const RandomParams& p) {
  if (!p.hasSeed) return std::mt19937_64(std::random_device{}());
  uint32_t bits;
  std::memcpy(&bits, &p.seed, sizeof bits);  // the float seed's bits, so 0.5 and 0.25 differ
  return std::mt19937_64(bits);
}

template <class F>
void fillWith(const TensorView& out, const ir::Layer& layer, F&& draw) {
  dispatchType<kAll>(out.type, layer, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* y = out.as<T>();
    for (int64_t i = 0; i < out.count(); ++i) y[i] = convertValue<T>(draw(i));
  });
}

}  // namespace

std::string supportsRandom(const ir::Layer& layer) {
  return checkTypes(layer, kAll, kAll);  // *Like ops read only the shape; Bernoulli may draw bools
}

void runRandom(const ir::Layer& layer, const KernelArgs& args) {
  const auto& p = layer.as<RandomParams>();
  KILN_CHECK(!args.outputs.empty(), kInvalidArgument, layer.describe(), ": no output");
  const TensorView& out = args.outputs[0];
  std::mt19937_64 generator = makeGenerator(p);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  switch (p.distribution) {
    case RandomDistribution::kUniform: {
      KILN_CHECK(p.b >= p.a, kInvalidArgument, layer.describe(), ": high ", p.b, " is below low ", p.a);
      const double low = p.a, width = static_cast<double>(p.b) - p.a;
      // low + width * u can round up to high in the output type; draw again then, to keep [low, high).
      fillWith(out, layer, [&](int64_t) {
        for (;;) {
          double v = low + width * unit(generator);
          if (width == 0 || static_cast<float>(v) < p.b) return v;
        }
      });
      break;
    }
    case RandomDistribution::kNormal: {
      KILN_CHECK(p.b >= 0, kInvalidArgument, layer.describe(), ": scale must be >= 0, got ", p.b);
      std::normal_distribution<double> normal(p.a, p.b);
      fillWith(out, layer, [&](int64_t) { return normal(generator); });
      break;
    }
    case RandomDistribution::kBernoulli: {
      KILN_CHECK(!args.inputs.empty(), kInvalidArgument, layer.describe(), ": Bernoulli needs probabilities");
      std::vector<float> probability = detail::readFloats(args.inputs[0], layer);
      for (float v : probability)
        KILN_CHECK(v >= 0.f && v <= 1.f, kInvalidArgument, layer.describe(), ": probability ", v,
                   " is outside [0, 1]");
      fillWith(out, layer, [&](int64_t i) { return unit(generator) < probability[i] ? 1.0 : 0.0; });
      break;
    }
    case RandomDistribution::kMultinomial: {
      KILN_CHECK(!args.inputs.empty() && args.inputs[0].shape.size() == 2, kInvalidArgument, layer.describe(),
                 ": Multinomial needs [batch, classes] log probabilities");
      std::vector<float> logits = detail::readFloats(args.inputs[0], layer);
      const int64_t batch = args.inputs[0].shape[0], classes = args.inputs[0].shape[1];
      KILN_CHECK(classes >= 1, kInvalidArgument, layer.describe(), ": Multinomial needs at least one class");
      std::vector<double> cumulative(static_cast<size_t>(classes));
      std::vector<int64_t> samples(static_cast<size_t>(batch * p.sampleSize));
      for (int64_t b = 0; b < batch; ++b) {
        const float* row = logits.data() + b * classes;
        double maximum = *std::max_element(row, row + classes), total = 0;
        for (int64_t c = 0; c < classes; ++c) cumulative[c] = total += std::exp(static_cast<double>(row[c]) - maximum);
        for (int64_t s = 0; s < p.sampleSize; ++s) {
          double u = unit(generator) * total;
          int64_t c = std::upper_bound(cumulative.begin(), cumulative.end(), u) - cumulative.begin();
          samples[b * p.sampleSize + s] = std::min(c, classes - 1);
        }
      }
      fillWith(out, layer, [&](int64_t i) { return samples[i]; });
      break;
    }
  }
}

}  // namespace kiln::cpu
