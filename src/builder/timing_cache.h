// The timing cache: measured tactic times keyed by what they depend on, so a second build does no timing
// and makes the same choices. A key is a layer signature (type, params, input/output types and shapes,
// which inputs are constants) plus the backend's device signature (device name, compute capability,
// library versions, CPU threads); the file also records the Kiln version that measured it.
//
// File format (text, one entry per line, sorted, so diffs and merges are readable):
//   KILN-TIMING-CACHE 1
//   kiln <version>
//   entries <n>
//   <key> TAB <tactic> TAB <milliseconds, or "failed">      (n lines)
//   checksum <FNV-1a of the entry lines, 8 hex digits>
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>

namespace kiln::builder {

class TimingCache {
 public:
  // A recorded time; nullopt: the tactic failed on this layer (it is not tried again).
  using Timing = std::optional<double>;

  // Reads `path` and merges its entries. Throws kiln::Error (kInvalidArgument) naming the file when it
  // is not a timing cache, is truncated or corrupted. Returns false (entries untouched) when the file
  // was written by another Kiln version; `why` then says so.
  bool load(const std::string& path, std::string* why = nullptr);
  // Writes every entry to `path` (through a temporary file renamed into place). Throws naming the file.
  void save(const std::string& path) const;

  const Timing* find(const std::string& key, const std::string& tactic) const;
  void record(const std::string& key, const std::string& tactic, Timing timing);
  size_t size() const { return entries_.size(); }

  // Keys and tactics hold no tab or newline: callers build them from layer signatures.
  static std::string text(const TimingCache& cache);
  static TimingCache parse(const std::string& text, const std::string& source, std::string* versionMismatch);

 private:
  std::map<std::pair<std::string, std::string>, Timing> entries_;
};

}  // namespace kiln::builder
