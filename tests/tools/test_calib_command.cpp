// kiln build --int8 --calib=DIR: batches of .npy / .pb files, the cache, and clear errors for bad folders.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <unistd.h>
#include <sstream>

#include "calibration_data.h"
#include "cli.h"
#include "kiln/kiln.h"
#include "npy.h"
#include "onnx/tensor_proto.h"

using namespace kiln;
namespace fs = std::filesystem;

namespace {

const std::string kSample = std::string(KILN_SOURCE_DIR) + "/samples/small_cnn.onnx";  // input [batch, 3, 32, 32]

// An .npy file (format 1.0) with the given dtype descr, shape and raw data.
void writeNpy(const fs::path& path, const std::string& descr, const Dims& shape, const void* data, size_t bytes) {
  std::string dims;
  for (int64_t d : shape) dims += std::to_string(d) + ", ";
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + dims + "), }";
  header.append(63 - (10 + header.size()) % 64, ' ');
  header += '\n';
  std::ofstream file(path, std::ios::binary);
  file << "\x93NUMPY" << '\x01' << '\x00';
  file.put(static_cast<char>(header.size() & 0xff));
  file.put(static_cast<char>(header.size() >> 8));
  file << header;
  file.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
}

std::vector<float> image(int seed) {
  std::vector<float> v(3 * 32 * 32);
  for (size_t i = 0; i < v.size(); ++i) v[i] = std::sin(static_cast<float>(i * (seed + 1)) * 0.37f);
  return v;
}

class CalibCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("kiln_calib_cli_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_ / "calib" / "batch0");
    fs::create_directories(root_ / "calib" / "batch1");
    std::vector<float> a = image(0), b = image(1);
    writeNpy(root_ / "calib" / "batch0" / "input.npy", "<f4", {1, 3, 32, 32}, a.data(), a.size() * 4);
    onnx_import::writeTensorFile((root_ / "calib" / "batch1" / "input.pb").string(), "input",
                                 Weights::copyOf(DataType::kFloat32, {1, 3, 32, 32}, b.data()));
  }
  void TearDown() override { fs::remove_all(root_); }

  std::string build(std::vector<std::string> extra) {
    std::vector<std::string> args = {"--onnx=" + kSample, "--save-engine=" + (root_ / "m.plan").string(),
                                     "--builder-effort=0"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::ostringstream out;
    EXPECT_EQ(tools::runBuildCommand(args, out), 0);
    return out.str();
  }
  std::string buildError(std::vector<std::string> extra) {
    try {
      build(std::move(extra));
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  }
  std::string calib() const { return "--calib=" + (root_ / "calib").string(); }

  fs::path root_;
};

}  // namespace

TEST_F(CalibCommand, Int8BuildCalibratesWritesTheCacheAndReusesIt) {
  std::string cache = (root_ / "m.cache").string();
  std::string text = build({"--int8", calib(), "--calib-method=minmax", "--calib-cache=" + cache});
  EXPECT_NE(text.find("quantization:      3 layers with Quantize/Dequantize inputs (calibrated on 2 batches)"),
            std::string::npos)
      << text;
  std::ifstream file(cache);
  std::string contents((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  EXPECT_NE(contents.find("method minmax type int8\n"), std::string::npos) << contents;
  EXPECT_NE(contents.find("\ninput: 0x"), std::string::npos) << contents;
  // The cache alone is enough now, and the plan runs.
  text = build({"--int8", "--calib-method=minmax", "--calib-cache=" + cache});
  EXPECT_NE(text.find("quantization:      3 layers"), std::string::npos) << text;
  EXPECT_EQ(text.find("calibrated on"), std::string::npos) << text;
  auto engine = Runtime().deserializeEngineFromFile((root_ / "m.plan").string());
  EXPECT_EQ(engine->numIOTensors(), 2);
  EXPECT_NE(buildError({"--int8", "--calib-method=entropy", "--calib-cache=" + cache}).find("this build asks for 'method entropy"),
            std::string::npos);
}

TEST_F(CalibCommand, OptionsAreChecked) {
  EXPECT_NE(buildError({calib()}).find("need --int8 or --fp8"), std::string::npos);
  EXPECT_NE(buildError({"--int8", calib(), "--calib-method=kl"}).find("entropy, minmax or percentile"), std::string::npos);
  EXPECT_NE(buildError({"--int8", calib(), "--calib-percentile=99"}).find("needs --calib-method=percentile"),
            std::string::npos);
  EXPECT_NE(buildError({"--int8", calib(), "--calib-method=percentile", "--calib-percentile=101"}).find("(0, 100]"),
            std::string::npos);
  EXPECT_NE(buildError({"--int8", calib(), "--layer-precisions=conv1"}).find("expected name:precision"), std::string::npos);
  EXPECT_NE(buildError({"--int8", calib(), "--layer-precisions=conv1:int4"}).find("is not fp32, fp16, bf16, int8 or fp8"),
            std::string::npos);
  EXPECT_NE(buildError({"--int8", calib(), "--precision-constraints=always"}).find("obey, prefer or none"),
            std::string::npos);
  EXPECT_NE(buildError({"--int8", calib(), "--layer-precisions=fc:int8,conv9:fp32"}).find("'conv9', which is not a layer"),
            std::string::npos);
  EXPECT_NE(buildError({"--int8", calib(), "--layer-precisions=softmax:int8", "--precision-constraints=obey"})
                .find("is asked to run in int8, but only Convolution and MatrixMultiply"),
            std::string::npos);
  // Pinned to float: one layer fewer in int8.
  std::string text = build({"--int8", calib(), "--layer-precisions=conv2:fp32", "--precision-constraints=obey"});
  EXPECT_NE(text.find("quantization:      2 layers"), std::string::npos) << text;
}

TEST_F(CalibCommand, BadCalibrationFoldersAreClearErrors) {
  fs::path dir = root_ / "calib";
  // A file of another name: not an input of the network.
  fs::rename(dir / "batch1" / "input.pb", dir / "batch1" / "image.pb");
  EXPECT_NE(buildError({"--int8", calib()}).find("calibration batch 2 gives 'image', which is not a network input"),
            std::string::npos);
  fs::remove(dir / "batch1" / "image.pb");
  // A wrong shape.
  std::vector<float> small(3 * 16 * 16, 0.5f);
  writeNpy(dir / "batch1" / "input.npy", "<f4", {1, 3, 16, 16}, small.data(), small.size() * 4);
  EXPECT_NE(buildError({"--int8", calib()}).find("input 'input' has shape [1,3,16,16] but the input is [?,3,32,32]"),
            std::string::npos);
  // A non-float file.
  std::vector<int32_t> ints(3 * 32 * 32, 1);
  writeNpy(dir / "batch1" / "input.npy", "<i4", {1, 3, 32, 32}, ints.data(), ints.size() * 4);
  EXPECT_NE(buildError({"--int8", calib()}).find("dtype '<i4' is not supported"), std::string::npos);
  onnx_import::writeTensorFile((dir / "batch1" / "input.pb").string(), "input",
                               Weights::copyOf(DataType::kInt32, {1, 3, 32, 32}, ints.data()));
  fs::remove(dir / "batch1" / "input.npy");
  EXPECT_NE(buildError({"--int8", calib()}).find("holds int32 values; calibration data is float32, float16 or int64"),
            std::string::npos);
  fs::remove(dir / "batch1" / "input.pb");
  // Neither .npy nor .pb; an empty folder; a file where a batch folder belongs.
  std::ofstream(dir / "batch1" / "notes.txt") << "hi";
  EXPECT_NE(buildError({"--int8", calib()}).find("is neither .npy nor .pb"), std::string::npos);
  fs::remove(dir / "batch1" / "notes.txt");
  EXPECT_NE(buildError({"--int8", calib()}).find("batch1' is empty"), std::string::npos);
  fs::remove(dir / "batch1");
  std::ofstream(dir / "stray.npy") << "x";
  EXPECT_NE(buildError({"--int8", calib()}).find("stray.npy' is not a folder"), std::string::npos);
  fs::remove(dir / "stray.npy");
  // A symbolic link leading outside DIR.
  fs::create_directories(root_ / "outside");
  std::vector<float> a = image(2);
  writeNpy(root_ / "outside" / "input.npy", "<f4", {1, 3, 32, 32}, a.data(), a.size() * 4);
  fs::create_directory_symlink(root_ / "outside", dir / "batch9");
  EXPECT_NE(buildError({"--int8", calib()}).find("outside"), std::string::npos);
  fs::remove(dir / "batch9");
  fs::create_symlink(root_ / "outside" / "input.npy", dir / "batch0" / "input.npy.lnk");
  EXPECT_NE(buildError({"--int8", calib()}).find("neither .npy nor .pb"), std::string::npos);
  fs::remove(dir / "batch0" / "input.npy.lnk");
  fs::remove(dir / "batch0" / "input.npy");
  fs::create_symlink(root_ / "outside" / "input.npy", dir / "batch0" / "input.npy");
  EXPECT_NE(buildError({"--int8", calib()}).find("', outside '"), std::string::npos);
  EXPECT_NE(buildError({"--int8", "--calib=" + (root_ / "nothing").string()}).find("is not a folder"), std::string::npos);
}

TEST(NpyReader, StrictHeaderAndData) {
  auto npy = [](const std::string& header, const std::string& data) {
    std::string h = header;
    std::string bytes = std::string("\x93NUMPY\x01\x00", 8);
    bytes += static_cast<char>(h.size() & 0xff);
    bytes += static_cast<char>(h.size() >> 8);
    return bytes + h + data;
  };
  auto error = [&](const std::string& header, const std::string& data) {
    try {
      tools::parseNpy(npy(header, data), "t.npy");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  float two[2] = {1.5f, -2.f};
  std::string data(reinterpret_cast<const char*>(two), 8);
  HostTensor t = tools::parseNpy(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n", data), "t.npy");
  EXPECT_EQ(t.shape, (Dims{2}));
  EXPECT_EQ(t.as<float>()[1], -2.f);
  HostTensor scalar = tools::parseNpy(npy("{'descr':'<f4','fortran_order':False,'shape':()}", data.substr(0, 4)), "t.npy");
  EXPECT_TRUE(scalar.shape.empty());
  EXPECT_NE(error("{'descr': '>f4', 'fortran_order': False, 'shape': (2,)}", data).find("dtype '>f4'"), std::string::npos);
  EXPECT_NE(error("{'descr': '<f4', 'fortran_order': True, 'shape': (2,)}", data).find("Fortran-order"), std::string::npos);
  EXPECT_NE(error("{'descr': '<f4', 'fortran_order': False, 'shape': (3,)}", data).find("needs 12 bytes of data, the file has 8"),
            std::string::npos);
  EXPECT_NE(error("{'descr': '<f4', 'shape': (2,)}", data).find("all required"), std::string::npos);
  EXPECT_NE(error("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}", data).find("malformed"), std::string::npos);
  EXPECT_NE(error("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", data).find("repeated key"),
            std::string::npos);
  EXPECT_NE(error("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} x", data).find("text after"), std::string::npos);
  EXPECT_THROW(tools::parseNpy("\x93NUMPX", "t.npy"), Error);
}
