// The host-evaluation seam (backends/host_eval.h) on the CPU backend: a layer runs as its preferred CPU
// kernel row's evaluate() (host-value kernels for control flow, sequences and optionals).
#include "backends/host_eval.h"

#include <unordered_map>

#include "backends/cpu/cpu_backend.h"
#include "core/error.h"

namespace kiln::host {

std::vector<HostTensor> evaluateLayer(const ir::Layer& layer, const std::vector<const HostTensor*>& inputs) {
  auto [row, tactic] = cpu::kernelTable().find(layer, "");
  return row->create(layer, {}, tactic)->evaluate(inputs);
}

std::vector<HostTensor> evaluateNetwork(const ir::Network& network, const std::vector<const HostTensor*>& inputs,
                                        const ir::Layer& owner) {
  KILN_CHECK(inputs.size() == network.inputs().size(), kInternal, owner.describe(), ": subnetwork takes ",
             network.inputs().size(), " inputs, got ", inputs.size());
  std::unordered_map<const ir::Tensor*, const HostTensor*> known;
  std::vector<std::vector<HostTensor>> produced;  // keeps layer outputs alive
  produced.reserve(network.layers().size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    KILN_CHECK(inputs[i] != nullptr, kInternal, owner.describe(), ": subnetwork input ", i, " has no value");
    known[network.inputs()[i]] = inputs[i];
  }
  auto valueOf = [&](const ir::Tensor* t) -> const HostTensor* {
    auto it = known.find(t);
    KILN_CHECK(it != known.end(), kInvalidModel, owner.describe(), ": subnetwork tensor '", t->name(),
               "' has no value (it is neither an input nor produced before use)");
    return it->second;
  };
  for (auto& layer : network.layers()) {
    std::vector<const HostTensor*> layerInputs;
    for (auto* in : layer->inputs) layerInputs.push_back(in ? valueOf(in) : nullptr);
    produced.push_back(evaluateLayer(*layer, layerInputs));
    KILN_CHECK(produced.back().size() == layer->outputs.size(), kInternal, layer->describe(), " produced ",
               produced.back().size(), " outputs, expected ", layer->outputs.size());
    for (size_t o = 0; o < layer->outputs.size(); ++o) known[layer->outputs[o]] = &produced.back()[o];
  }
  std::vector<HostTensor> outputs;
  for (auto* out : network.outputs()) outputs.push_back(*valueOf(out));
  return outputs;
}

std::string unsupportedReason(const ir::Layer& layer) { return cpu::kernelTable().unsupportedReason(layer); }

}  // namespace kiln::host
