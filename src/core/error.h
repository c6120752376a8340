// Error helpers: every failure is a kiln::Error carrying a code and a message with context.
#pragma once

#include <sstream>
#include <string>

#include "kiln/types.h"

namespace kiln {

// Concatenates its arguments with operator<< into a string.
template <class... Args>
std::string concat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

[[noreturn]] inline void fail(ErrorCode code, const std::string& message) { throw Error(code, message); }

}  // namespace kiln

// KILN_CHECK(cond, code, parts...): throws kiln::Error(code, concat(parts...)) when cond is false.
#define KILN_CHECK(cond, code, ...)                                     \
  do {                                                                  \
    if (!(cond)) ::kiln::fail(::kiln::ErrorCode::code, ::kiln::concat(__VA_ARGS__)); \
  } while (0)
