// Kiln C++ quick start: define a small network by hand (or parse ONNX), build a plan, run it.
//   kiln_example [model.onnx]
#include <cstdio>
#include <vector>

#include "kiln/kiln.h"

int main(int argc, char** argv) {
  try {
    kiln::Builder builder;
    auto network = builder.createNetwork();
    if (argc > 1) {
      kiln::OnnxParser parser(*network);
      parser.parseFromFile(argv[1]);
    } else {
      // y = relu(x @ W + b) with x: [batch, 4], W: [4, 3]
      kiln::ITensor* x = network->addInput("x", kiln::DataType::kFloat32, {-1, 4}, {"batch"});
      std::vector<float> w = {1, -1, 0.5f, 2, 0, -0.5f, -1, 1, 1, 0.25f, 0.5f, -2};
      std::vector<float> b = {0.1f, -0.2f, 0.3f};
      auto* weights = network->addConstant(kiln::Weights::copyOf(kiln::DataType::kFloat32, {4, 3}, w.data()));
      auto* bias = network->addConstant(kiln::Weights::copyOf(kiln::DataType::kFloat32, {1, 3}, b.data()));
      auto* product = network->addMatrixMultiply(x, false, weights, false);
      auto* sum = network->addElementWise(product, bias, kiln::ElementWiseOp::kAdd);
      auto* y = network->addActivation(sum, kiln::ActivationType::kRelu);
      y->setName("y");
      network->markOutput(y);
    }
    kiln::BuilderConfig config;
    config.profile.setDimensions(network->input(0)->name(), {1, 4}, {2, 4}, {8, 4});
    if (argc > 1) config.profile = {};
    kiln::BuildSummary summary;
    std::vector<uint8_t> plan = builder.buildSerializedNetwork(*network, config, &summary);
    std::printf("%s", summary.toString().c_str());

    kiln::Runtime runtime;
    std::shared_ptr<kiln::Engine> engine = runtime.deserializeEngine(plan.data(), plan.size());
    auto context = engine->createExecutionContext();
    if (argc > 1) return 0;  // a parsed model: building is the demonstration
    std::vector<float> input = {1, 2, 3, 4, -1, -2, -3, -4};
    std::vector<float> output(2 * 3);
    context->setInputShape("x", {2, 4});
    context->setTensorAddress("x", input.data());
    context->setTensorAddress("y", output.data());
    context->execute();
    for (int r = 0; r < 2; ++r) std::printf("y[%d] = %g %g %g\n", r, output[r * 3], output[r * 3 + 1], output[r * 3 + 2]);
    return 0;
  } catch (const kiln::Error& e) {
    std::fprintf(stderr, "kiln error: %s\n", e.what());
    return 1;
  }
}
