// kiln conformance: the optimization profile spans every test set of a case.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include <onnx/onnx.pb.h>

#include "cli.h"
#include "kiln/kiln.h"
#include "onnx/tensor_proto.h"

namespace fs = std::filesystem;
using namespace kiln;

namespace {

// A case computing y = x + x, x of shape [n, 2] with n dynamic, with one test set per batch size.
fs::path writeDynamicCase(const std::string& name, const std::vector<int64_t>& batches) {
  fs::path dir = fs::temp_directory_path() / ("kiln_conformance_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.add_opset_import()->set_version(13);
  auto* graph = model.mutable_graph();
  graph->set_name(name);
  for (const char* io : {"x", "y"}) {
    auto* vi = std::string(io) == "x" ? graph->add_input() : graph->add_output();
    vi->set_name(io);
    auto* tensor = vi->mutable_type()->mutable_tensor_type();
    tensor->set_elem_type(onnx::TensorProto::FLOAT);
    tensor->mutable_shape()->add_dim()->set_dim_param("n");
    tensor->mutable_shape()->add_dim()->set_dim_value(2);
  }
  auto* add = graph->add_node();
  add->set_op_type("Add");
  add->add_input("x");
  add->add_input("x");
  add->add_output("y");
  std::ofstream(dir / "model.onnx", std::ios::binary) << model.SerializeAsString();
  for (size_t s = 0; s < batches.size(); ++s) {
    fs::path set = dir / ("test_data_set_" + std::to_string(s));
    fs::create_directories(set);
    std::vector<float> x(static_cast<size_t>(batches[s] * 2)), y(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      x[i] = static_cast<float>(i) - 1.5f;
      y[i] = 2 * x[i];
    }
    Dims shape{batches[s], 2};
    onnx_import::writeTensorFile((set / "input_0.pb").string(), "x",
                                 HostTensor::copyOf(DataType::kFloat32, shape, x.data()));
    onnx_import::writeTensorFile((set / "output_0.pb").string(), "y",
                                 HostTensor::copyOf(DataType::kFloat32, shape, y.data()));
  }
  return dir;
}

}  // namespace

TEST(ConformanceCommand, ProfileSpansEveryTestSet) {
  // The first set is neither the smallest nor the largest: min and max come from the others.
  fs::path dir = writeDynamicCase("profile_spans_sets", {2, 1, 4});
  std::ostringstream out;
  EXPECT_EQ(tools::runConformanceCommand({dir.string(), "--device=cpu"}, out), 0) << out.str();
  EXPECT_NE(out.str().find("1 passed, 0 failed, 0 skipped"), std::string::npos) << out.str();
  fs::remove_all(dir);
}
