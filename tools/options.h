// Command-line options: "--name=value", "--flag" and positional arguments.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "kiln/kiln.h"

namespace kiln::tools {

class Options {
 public:
  // Parses argv[first..]; `known` lists accepted option names (without "--"). Unknown options throw.
  Options(const std::vector<std::string>& args, const std::set<std::string>& known);
  bool has(const std::string& name) const { return values_.count(name) > 0; }
  std::string get(const std::string& name, const std::string& fallback = "") const;
  int64_t getInt(const std::string& name, int64_t fallback) const;
  double getDouble(const std::string& name, double fallback) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

// "x:1x3x224x224,y:2x5" -> {"x": [1,3,224,224], "y": [2,5]}. Scalars: "x:" or "x:scalar".
std::map<std::string, Dims> parseShapes(const std::string& text);
// "a,b,c" -> {"a","b","c"}
std::vector<std::string> splitList(const std::string& text, char separator = ',');

}  // namespace kiln::tools
