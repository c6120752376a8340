// A backend's kernel table: a named list of rows {layer type, tactic name, supports, create}. Each
// kernel file defines its rows' supports() and create() beside its kernel; the backend's table file
// lists the rows. Several rows for one layer type are that layer's tactic candidates, in order of
// preference (the first supporting row is the heuristic choice, taken at builder effort 0).
//
// Tactic names sort and explain: "<backend>.<layer family>.<implementation>", e.g.
// "cpu.conv.gemm_packed", "cuda.conv.cudnn_heuristic", "cuda.gemm.cublaslt". A row may be
// parameterized: its variants() lists extra candidates named "<row tactic>.<variant>" (e.g.
// "cuda.gemm.cublaslt.heur3", the fourth algorithm of cuBLASLt's heuristic list), and its create()
// receives the variant ("" for the row itself).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "ir/network.h"

namespace kiln {

// Empty when the row can run `layer` (types, params, build-time shapes); else why not, in words a user
// reads in the build summary ("no CUDA kernel for int8 (supported: float32, float16)").
using SupportsFunction = std::string (*)(const ir::Layer& layer);
// Extra candidates of a parameterized row at a builder effort (1..kMaxBuilderEffort); never called at 0.
using VariantsFunction = std::vector<std::string> (*)(const ir::Layer& layer, int effort);

// A tactic as a row's create() receives it.
struct TacticChoice {
  std::string name;     // the full tactic name; Kernel::name() returns it
  std::string variant;  // "" for the row's own tactic, else the variant part of the name
};

template <class CreateFunction>
struct KernelRow {
  LayerType type;
  const char* tactic;
  SupportsFunction supports;
  CreateFunction create;
  // The row is a candidate only from this builder effort on (rows that rarely win or take long to time).
  int minEffort = 0;
  VariantsFunction variants = nullptr;
};

template <class CreateFunction>
class KernelTable {
 public:
  using Row = KernelRow<CreateFunction>;

  KernelTable(std::string backendName, std::vector<Row> rows)
      : backendName_(std::move(backendName)), rows_(std::move(rows)) {}

  const std::vector<Row>& rows() const { return rows_; }

  // The candidates for `layer` at `effort`, preferred first (see Backend::tactics).
  std::vector<std::string> tactics(const ir::Layer& layer, int effort) const {
    std::vector<std::string> names;
    for (const Row& row : rows_) {
      if (row.type != layer.type() || row.minEffort > effort || !row.supports(layer).empty()) continue;
      names.push_back(row.tactic);
      if (effort == 0) break;
      if (row.variants)
        for (const std::string& v : row.variants(layer, effort)) names.push_back(concat(row.tactic, ".", v));
    }
    return names;
  }

  // "" when some row supports `layer`; else each row's reason (one row: its reason alone).
  std::string unsupportedReason(const ir::Layer& layer) const {
    std::vector<std::pair<const char*, std::string>> reasons;
    for (const Row& row : rows_) {
      if (row.type != layer.type()) continue;
      std::string why = row.supports(layer);
      if (why.empty()) return {};
      reasons.emplace_back(row.tactic, std::move(why));
    }
    if (reasons.empty()) return concat("the ", backendName_, " backend has no kernel for ", layerTypeName(layer.type()));
    if (reasons.size() == 1) return reasons[0].second;
    std::string all;
    for (auto& [tactic, why] : reasons) all += concat(all.empty() ? "" : "; ", tactic, ": ", why);
    return all;
  }

  // The row of `tactic` for `layer` and the tactic as create() receives it; an empty name takes the
  // preferred row. Throws kiln::Error (kUnsupported) naming the layer and tactic when there is no such
  // row for the layer's type or the row does not support the layer.
  std::pair<const Row*, TacticChoice> find(const ir::Layer& layer, const std::string& tactic) const {
    if (tactic.empty()) {
      for (const Row& row : rows_)
        if (row.type == layer.type() && row.supports(layer).empty()) return {&row, TacticChoice{row.tactic, ""}};
      std::string why = unsupportedReason(layer);
      fail(ErrorCode::kUnsupported, concat(layer.describe(), ": ", why));
    }
    for (const Row& row : rows_) {
      if (row.type != layer.type()) continue;
      std::string rowName = row.tactic;
      std::string variant;
      if (tactic == rowName) {
        // the row itself
      } else if (row.variants && tactic.size() > rowName.size() + 1 && tactic.compare(0, rowName.size(), rowName) == 0 &&
                 tactic[rowName.size()] == '.') {
        variant = tactic.substr(rowName.size() + 1);
      } else {
        continue;
      }
      std::string why = row.supports(layer);
      KILN_CHECK(why.empty(), kUnsupported, layer.describe(), ": tactic '", tactic, "' cannot run it: ", why);
      return {&row, TacticChoice{tactic, variant}};
    }
    fail(ErrorCode::kUnsupported, concat(layer.describe(), ": the ", backendName_, " backend has no tactic '", tactic,
                                         "' for ", layerTypeName(layer.type()), " layers"));
  }

 private:
  std::string backendName_;
  std::vector<Row> rows_;
};

}  // namespace kiln
