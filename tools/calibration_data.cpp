#include "calibration_data.h"

#include <algorithm>
#include <filesystem>

#include "common.h"
#include "core/error.h"
#include "core/half.h"
#include "npy.h"
#include "onnx/tensor_proto.h"

namespace kiln::tools {

namespace fs = std::filesystem;

namespace {

// `path` with symbolic links resolved, refused when that lies outside `root` (already canonical).
fs::path insideRoot(const fs::path& path, const fs::path& root) {
  std::error_code error;
  fs::path resolved = fs::canonical(path, error);
  KILN_CHECK(!error, kIOError, "calibration data: cannot resolve '", path.string(), "': ", error.message());
  auto mismatch = std::mismatch(root.begin(), root.end(), resolved.begin(), resolved.end());
  KILN_CHECK(mismatch.first == root.end(), kInvalidArgument, "calibration data: '", path.string(),
             "' leads to '", resolved.string(), "', outside '", root.string(), "'");
  return resolved;
}

std::vector<fs::path> sortedEntries(const fs::path& dir) {
  std::vector<fs::path> entries;
  for (const auto& entry : fs::directory_iterator(dir)) entries.push_back(entry.path());
  std::sort(entries.begin(), entries.end());
  return entries;
}

}  // namespace

DirectoryCalibrator::DirectoryCalibrator(const std::string& dir) {
  KILN_CHECK(fs::is_directory(dir), kIOError, "--calib: '", dir, "' is not a folder");
  const fs::path root = fs::canonical(dir);
  for (const fs::path& batchDir : sortedEntries(root)) {
    KILN_CHECK(fs::is_directory(batchDir), kInvalidArgument, "--calib: '", batchDir.string(),
               "' is not a folder: '", dir, "' holds one folder per batch");
    fs::path resolvedBatch = insideRoot(batchDir, root);
    std::vector<std::string> files;
    for (const fs::path& file : sortedEntries(resolvedBatch)) {
      std::string ext = file.extension().string();
      KILN_CHECK(ext == ".npy" || ext == ".pb", kInvalidArgument, "--calib: '", file.string(),
                 "' is neither .npy nor .pb (one file per input, named after it)");
      fs::path resolved = insideRoot(file, root);
      KILN_CHECK(fs::is_regular_file(resolved), kInvalidArgument, "--calib: '", file.string(), "' is not a file");
      files.push_back(resolved.string());
    }
    KILN_CHECK(!files.empty(), kInvalidArgument, "--calib: batch folder '", batchDir.string(), "' is empty");
    batches_.push_back(std::move(files));
  }
  KILN_CHECK(!batches_.empty(), kInvalidArgument, "--calib: '", dir, "' holds no batch folders");
}

bool DirectoryCalibrator::nextBatch(CalibrationBatch& batch) {
  if (next_ >= batches_.size()) return false;
  for (const std::string& file : batches_[next_]) {
    fs::path path(file);
    std::string name = path.stem().string();
    HostTensor value = path.extension() == ".npy" ? readNpy(file) : onnx_import::readTensorFile(file).second;
    KILN_CHECK(value.kind == ValueKind::kTensor, kInvalidArgument, "--calib: '", file, "' is not a tensor");
    KILN_CHECK(value.type == DataType::kFloat32 || value.type == DataType::kFloat16 || value.type == DataType::kInt64,
               kUnsupported, "--calib: '", file, "' holds ", dataTypeName(value.type),
               " values; calibration data is float32, float16 or int64");
    KILN_CHECK(!batch.count(name), kInvalidArgument, "--calib: input '", name, "' has two files in '",
               path.parent_path().string(), "'");
    CalibrationTensor& tensor = batch[name];
    tensor.dims = value.shape;
    tensor.values.resize(value.count());
    for (int64_t i = 0; i < value.count(); ++i) tensor.values[i] = static_cast<float>(elementAsDouble(value, i));
  }
  ++next_;
  return true;
}

}  // namespace kiln::tools
