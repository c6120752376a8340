#include "options.h"

#include <sstream>

namespace kiln::tools {

Options::Options(const std::vector<std::string>& args, const std::set<std::string>& known) {
  for (const std::string& arg : args) {
    if (arg.rfind("--", 0) != 0) {
      positional_.push_back(arg);
      continue;
    }
    size_t eq = arg.find('=');
    std::string name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    std::string value = eq == std::string::npos ? "" : arg.substr(eq + 1);
    if (!known.count(name)) {
      std::string list;
      for (auto& k : known) list += " --" + k;
      throw Error(ErrorCode::kInvalidArgument, "unknown option --" + name + " (options:" + list + ")");
    }
    values_[name] = value;
  }
}

std::string Options::get(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

int64_t Options::getInt(const std::string& name, int64_t fallback) const {
  if (!has(name)) return fallback;
  try {
    size_t used = 0;
    int64_t v = std::stoll(get(name), &used);
    if (used == get(name).size()) return v;
  } catch (...) {
  }
  throw Error(ErrorCode::kInvalidArgument, "--" + name + " needs an integer, got '" + get(name) + "'");
}

double Options::getDouble(const std::string& name, double fallback) const {
  if (!has(name)) return fallback;
  try {
    size_t used = 0;
    double v = std::stod(get(name), &used);
    if (used == get(name).size()) return v;
  } catch (...) {
  }
  throw Error(ErrorCode::kInvalidArgument, "--" + name + " needs a number, got '" + get(name) + "'");
}

std::vector<std::string> splitList(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, separator))
    if (!part.empty()) parts.push_back(part);
  return parts;
}

std::map<std::string, Dims> parseShapes(const std::string& text) {
  std::map<std::string, Dims> shapes;
  for (const std::string& item : splitList(text)) {
    size_t colon = item.rfind(':');
    if (colon == std::string::npos || colon == 0)
      throw Error(ErrorCode::kInvalidArgument, "shape '" + item + "' must look like name:1x3x224x224");
    std::string name = item.substr(0, colon), dims = item.substr(colon + 1);
    Dims d;
    if (dims != "" && dims != "scalar") {
      for (const std::string& part : splitList(dims, 'x')) {
        try {
          size_t used = 0;
          d.push_back(std::stoll(part, &used));
          if (used != part.size()) throw 0;
        } catch (...) {
          throw Error(ErrorCode::kInvalidArgument, "shape '" + item + "' has a bad dimension '" + part + "'");
        }
      }
    }
    shapes[name] = d;
  }
  return shapes;
}

}  // namespace kiln::tools
