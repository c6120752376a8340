#include "ir/einsum.h"

#include <algorithm>

#include "core/error.h"
#include "core/tensor_view.h"

namespace kiln::ir {
namespace {

int labelId(char c) {
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= 'A' && c <= 'Z') return 26 + (c - 'A');
  return -1;
}

}  // namespace

EinsumLabels parseEinsum(const Layer& layer, const std::string& equation, const std::vector<Dims>& shapes) {
  constexpr int kEllipsisBase = EinsumLabels::kEllipsisBase, kMaxLabels = EinsumLabels::kMaxLabels;
  std::string eq;
  for (char c : equation)
    if (c != ' ') eq += c;
  auto bad = [&](const std::string& why) {
    fail(ErrorCode::kInvalidArgument, concat(layer.describe(), ": bad einsum equation '", equation, "': ", why));
  };
  size_t arrow = eq.find("->");
  std::string lhs = arrow == std::string::npos ? eq : eq.substr(0, arrow);
  std::vector<std::string> terms;
  for (size_t start = 0;;) {
    size_t comma = lhs.find(',', start);
    terms.push_back(lhs.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (terms.size() != shapes.size()) bad(concat(terms.size(), " terms for ", shapes.size(), " operands"));
  EinsumLabels p;
  int maxEll = 0;
  bool anyEll = false;
  std::vector<int> ellRank(shapes.size(), 0);
  for (size_t t = 0; t < terms.size(); ++t) {
    const std::string& term = terms[t];
    size_t e = term.find("...");
    int letters = 0;
    for (char c : term)
      if (c != '.') {
        if (labelId(c) < 0) bad(concat("invalid label '", c, "'"));
        ++letters;
      }
    int rank = static_cast<int>(shapes[t].size());
    if (e != std::string::npos) {
      anyEll = true;
      ellRank[t] = rank - letters;
      if (ellRank[t] < 0) bad("operand rank too small");
      maxEll = std::max(maxEll, ellRank[t]);
    } else if (letters != rank) {
      bad(concat("term '", term, "' does not match operand rank ", rank));
    }
  }
  if (maxEll > kMaxLabels - kEllipsisBase) bad("too many ellipsis dims");
  for (size_t t = 0; t < terms.size(); ++t) {
    std::vector<int>& ids = p.inputs.emplace_back();
    const std::string& term = terms[t];
    for (size_t i = 0; i < term.size();) {
      if (term.compare(i, 3, "...") == 0) {
        for (int k = 0; k < ellRank[t]; ++k) ids.push_back(kEllipsisBase + maxEll - ellRank[t] + k);
        i += 3;
      } else if (term[i] == '.') {
        bad("stray '.'");
      } else {
        ids.push_back(labelId(term[i]));
        ++i;
      }
    }
    for (size_t d = 0; d < ids.size(); ++d) {
      const int64_t s = shapes[t][d];
      int64_t& cur = p.size[ids[d]];
      if (!p.used[ids[d]]) {
        p.used[ids[d]] = true;
        cur = s;
      } else if (s < 0) {  // unknown at build time
      } else if (cur < 0 || cur == 1) {
        cur = s;
      } else if (s != cur && s != 1) {
        bad(concat("label sizes differ (", cur, " vs ", s, ")"));
      }
    }
  }
  if (arrow != std::string::npos) {
    std::string rhs = eq.substr(arrow + 2);
    for (size_t i = 0; i < rhs.size();) {
      if (rhs.compare(i, 3, "...") == 0) {
        for (int k = 0; k < maxEll; ++k) p.output.push_back(kEllipsisBase + k);
        i += 3;
      } else {
        int id = labelId(rhs[i]);
        if (id < 0 || !p.used[id]) bad(concat("output label '", rhs[i], "' is not an input label"));
        p.output.push_back(id);
        ++i;
      }
    }
  } else {
    if (anyEll)
      for (int k = 0; k < maxEll; ++k) p.output.push_back(kEllipsisBase + k);
    std::array<int, kMaxLabels> count{};
    for (auto& ids : p.inputs)
      for (int id : ids) ++count[id];
    // ASCII order: uppercase before lowercase.
    for (int id = 26; id < 52; ++id)
      if (count[id] == 1) p.output.push_back(id);
    for (int id = 0; id < 26; ++id)
      if (count[id] == 1) p.output.push_back(id);
  }
  std::array<bool, kMaxLabels> inOutput{};
  for (int id : p.output) inOutput[id] = true;
  for (int id = 0; id < kMaxLabels; ++id)
    if (p.used[id] && !inOutput[id]) p.summed.push_back(id);
  return p;
}

std::array<int64_t, EinsumLabels::kMaxLabels> einsumLabelStrides(const EinsumLabels& labels,
                                                                 const std::vector<int>& ids, const Dims& shape) {
  std::array<int64_t, EinsumLabels::kMaxLabels> st{};
  Dims s = stridesOf(shape);
  for (size_t d = 0; d < ids.size(); ++d)
    if (!(shape[d] == 1 && labels.size[ids[d]] != 1)) st[ids[d]] += s[d];
  return st;
}

}  // namespace kiln::ir
