// Loads a plan and runs it once, linked against the runtime library alone (kiln_runtime: no builder,
// no ONNX parser): what a deployment ships. Inputs get seeded values (floats in [-1, 1], integers and
// bools 0) at the profile's opt shapes; each output's name, shape and sum of |values| are printed.
//   kiln_run_plan model.plan
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "kiln/kiln.h"

namespace {

double sumOfMagnitudes(kiln::DataType type, const std::vector<uint8_t>& bytes) {
  double sum = 0;
  size_t count = bytes.size() / kiln::dataTypeSize(type);
  for (size_t i = 0; i < count; ++i) {
    if (type == kiln::DataType::kFloat32) sum += std::fabs(reinterpret_cast<const float*>(bytes.data())[i]);
    else if (type == kiln::DataType::kInt64) sum += std::fabs(double(reinterpret_cast<const int64_t*>(bytes.data())[i]));
    else if (type == kiln::DataType::kInt32) sum += std::fabs(double(reinterpret_cast<const int32_t*>(bytes.data())[i]));
  }
  return sum;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: kiln_run_plan model.plan\n");
    return 2;
  }
  try {
    kiln::Runtime runtime;
    auto engine = runtime.deserializeEngineFromFile(argv[1]);
    auto context = engine->createExecutionContext();
    std::vector<std::vector<uint8_t>> buffers;
    std::mt19937 generator(7);
    std::uniform_real_distribution<float> uniform(-1.f, 1.f);
    for (int i = 0; i < engine->numIOTensors(); ++i) {
      const std::string& name = engine->ioTensorName(i);
      if (engine->tensorIOMode(name) != kiln::TensorIOMode::kInput) continue;
      kiln::Dims shape = engine->profileShape(name).opt;
      context->setInputShape(name, shape);
      kiln::DataType type = engine->tensorDataType(name);
      buffers.emplace_back(static_cast<size_t>(kiln::volume(shape)) * kiln::dataTypeSize(type), 0);
      if (type == kiln::DataType::kFloat32)
        for (size_t k = 0; k < buffers.back().size() / 4; ++k)
          reinterpret_cast<float*>(buffers.back().data())[k] = uniform(generator);
      context->setTensorAddress(name, buffers.back().data());
    }
    std::vector<std::pair<std::string, size_t>> outputs;
    for (int i = 0; i < engine->numIOTensors(); ++i) {
      const std::string& name = engine->ioTensorName(i);
      if (engine->tensorIOMode(name) != kiln::TensorIOMode::kOutput) continue;
      kiln::Dims shape = context->tensorShape(name);
      buffers.emplace_back(static_cast<size_t>(kiln::volume(shape)) * kiln::dataTypeSize(engine->tensorDataType(name)), 0);
      context->setTensorAddress(name, buffers.back().data());
      outputs.emplace_back(name, buffers.size() - 1);
    }
    context->execute();
    for (auto& [name, index] : outputs)
      std::printf("%s %s sum|x| %.6g\n", name.c_str(), kiln::dimsToString(context->tensorShape(name)).c_str(),
                  sumOfMagnitudes(engine->tensorDataType(name), buffers[index]));
    return 0;
  } catch (const kiln::Error& e) {
    std::fprintf(stderr, "kiln_run_plan: %s\n", e.what());
    return 1;
  }
}
