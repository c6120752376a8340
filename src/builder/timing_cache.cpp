#include "builder/timing_cache.h"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <vector>

#include "core/error.h"
#include "kiln/kiln.h"

namespace kiln::builder {
namespace {

constexpr const char* kMagic = "KILN-TIMING-CACHE 1";

uint32_t fnv1a(const std::string& s, uint32_t hash = 2166136261u) {
  for (unsigned char c : s) hash = (hash ^ c) * 16777619u;
  return hash;
}

std::string hex8(uint32_t v) {
  char buffer[9];
  std::snprintf(buffer, sizeof buffer, "%08x", v);
  return buffer;
}

std::string entryLine(const std::string& key, const std::string& tactic, const TimingCache::Timing& timing) {
  std::string ms = "failed";
  if (timing) {
    // 17 significant digits read back as the same double, so a plan built from the cache records the very
    // times the first build measured (9 digits once made the two plans differ in the last bit of a float).
    char buffer[40];
    std::snprintf(buffer, sizeof buffer, "%.17g", *timing);
    ms = buffer;
  }
  return key + "\t" + tactic + "\t" + ms;
}

}  // namespace

const TimingCache::Timing* TimingCache::find(const std::string& key, const std::string& tactic) const {
  auto it = entries_.find({key, tactic});
  return it == entries_.end() ? nullptr : &it->second;
}

void TimingCache::record(const std::string& key, const std::string& tactic, Timing timing) {
  KILN_CHECK(key.find_first_of("\t\n") == std::string::npos && tactic.find_first_of("\t\n") == std::string::npos,
             kInternal, "timing cache: a key or tactic holds a tab or newline");
  entries_[{key, tactic}] = timing;
}

std::string TimingCache::text(const TimingCache& cache) {
  std::string body;
  for (auto& [id, timing] : cache.entries_) body += entryLine(id.first, id.second, timing) + "\n";
  std::ostringstream out;
  out << kMagic << "\n" << "kiln " << version() << "\n" << "entries " << cache.entries_.size() << "\n"
      << body << "checksum " << hex8(fnv1a(body)) << "\n";
  return out.str();
}

TimingCache TimingCache::parse(const std::string& text, const std::string& source, std::string* versionMismatch) {
  auto corrupt = [&](const std::string& what) {
    fail(ErrorCode::kInvalidArgument, concat("timing cache '", source, "' is not a valid Kiln timing cache: ", what,
                                             " (delete the file to start a new cache)"));
  };
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line) || line != kMagic) corrupt("it does not start with '" + std::string(kMagic) + "'");
  if (!std::getline(in, line) || line.rfind("kiln ", 0) != 0) corrupt("the Kiln version line is missing");
  std::string writtenBy = line.substr(5);
  if (!std::getline(in, line) || line.rfind("entries ", 0) != 0) corrupt("the entry count is missing");
  size_t count = 0;
  try {
    size_t used = 0;
    count = std::stoull(line.substr(8), &used);
    if (used != line.size() - 8) corrupt("the entry count '" + line.substr(8) + "' is not a number");
  } catch (const std::logic_error&) {
    corrupt("the entry count '" + line.substr(8) + "' is not a number");
  }
  // The entries and the checksum line that ends the file: a cut-off file has no checksum line.
  std::string rest((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t checksumAt = rest.rfind("checksum ");
  if (checksumAt == std::string::npos || (checksumAt > 0 && rest[checksumAt - 1] != '\n') || rest.back() != '\n' ||
      rest.find('\n', checksumAt) != rest.size() - 1)
    corrupt("it is truncated (it does not end with its checksum line)");
  std::string body = rest.substr(0, checksumAt);
  if (rest.substr(checksumAt + 9, rest.size() - checksumAt - 10) != hex8(fnv1a(body)))
    corrupt("checksum mismatch (the file was changed or damaged)");
  TimingCache cache;
  std::istringstream lines(body);
  for (size_t i = 0; i < count; ++i) {
    if (!std::getline(lines, line)) corrupt(concat("it holds ", i, " entries where it says ", count));
    size_t tab1 = line.find('\t'), tab2 = tab1 == std::string::npos ? tab1 : line.find('\t', tab1 + 1);
    if (tab2 == std::string::npos || line.find('\t', tab2 + 1) != std::string::npos)
      corrupt(concat("entry ", i + 1, " does not have the form key<TAB>tactic<TAB>ms"));
    std::string key = line.substr(0, tab1), tactic = line.substr(tab1 + 1, tab2 - tab1 - 1), ms = line.substr(tab2 + 1);
    Timing timing;
    if (ms != "failed") {
      char* end = nullptr;
      double v = std::strtod(ms.c_str(), &end);
      if (ms.empty() || end != ms.c_str() + ms.size() || !(v >= 0) || v > 1e9)
        corrupt(concat("entry ", i + 1, " has the time '", ms, "'"));
      timing = v;
    }
    if (key.empty() || tactic.empty()) corrupt(concat("entry ", i + 1, " has an empty key or tactic"));
    cache.entries_[{key, tactic}] = timing;
  }
  if (std::getline(lines, line)) corrupt(concat("it holds more entries than the ", count, " it says"));
  if (writtenBy != version()) {
    if (versionMismatch)
      *versionMismatch = concat("timing cache '", source, "' was written by Kiln ", writtenBy, ", this is Kiln ",
                                version(), ": its timings are not used and the file will be rewritten");
    return TimingCache();
  }
  return cache;
}

bool TimingCache::load(const std::string& path, std::string* why) {
  std::ifstream file(path, std::ios::binary);
  KILN_CHECK(file.good(), kIOError, "cannot open timing cache '", path, "'");
  std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  KILN_CHECK(!file.bad(), kIOError, "cannot read timing cache '", path, "'");
  std::string mismatch;
  TimingCache loaded = parse(text, path, &mismatch);
  if (!mismatch.empty()) {
    if (why) *why = mismatch;
    return false;
  }
  for (auto& [id, timing] : loaded.entries_) entries_[id] = timing;
  return true;
}

void TimingCache::save(const std::string& path) const {
  std::string temporary = path + ".tmp";
  {
    std::ofstream file(temporary, std::ios::binary | std::ios::trunc);
    KILN_CHECK(file.good(), kIOError, "cannot write timing cache '", path, "' (creating '", temporary, "' failed)");
    std::string content = text(*this);
    file.write(content.data(), static_cast<std::streamsize>(content.size()));
    file.close();
    KILN_CHECK(!file.fail(), kIOError, "cannot write timing cache '", temporary, "'");
  }
  KILN_CHECK(std::rename(temporary.c_str(), path.c_str()) == 0, kIOError, "cannot write timing cache '", path,
             "' (renaming '", temporary, "' failed)");
}

}  // namespace kiln::builder
