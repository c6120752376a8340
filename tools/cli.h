// The `kiln` command line as a library: main() is a thin wrapper (tools/main.cpp).
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace kiln::tools {

// Runs `kiln <command> args...`; returns the process exit code. Errors are printed to `err`.
int runCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

int runBuildCommand(const std::vector<std::string>& args, std::ostream& out);
int runRunCommand(const std::vector<std::string>& args, std::ostream& out);
int runBenchCommand(const std::vector<std::string>& args, std::ostream& out);
int runConformanceCommand(const std::vector<std::string>& args, std::ostream& out);
int runInspectCommand(const std::vector<std::string>& args, std::ostream& out);

}  // namespace kiln::tools
