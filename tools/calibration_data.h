// `kiln build --calib=DIR`: calibration batches read from a folder.
#pragma once

#include <string>
#include <vector>

#include "kiln/kiln.h"

namespace kiln::tools {

// DIR holds one folder per batch (taken in name order); each holds one file per network input, named
// `<input name>.npy` or `<input name>.pb` (a TensorProto). Constructing lists and checks the folders:
// DIR must be a folder of folders, each file must be .npy or .pb, and no file or folder may lead outside
// DIR through symbolic links. Each nextBatch() reads one folder; values are float32, float16 or int64
// (converted to float). Errors name the folder or file.
class DirectoryCalibrator : public Calibrator {
 public:
  explicit DirectoryCalibrator(const std::string& dir);
  bool nextBatch(CalibrationBatch& batch) override;
  int batchCount() const { return static_cast<int>(batches_.size()); }

 private:
  std::vector<std::vector<std::string>> batches_;  // per batch folder: its files, resolved
  size_t next_ = 0;
};

}  // namespace kiln::tools
