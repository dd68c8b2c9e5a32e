// Runs `sbpflow` subcommands in-process through the tools/ library
// (sbpflow_cli), the way tools/main.cc does, capturing what they print.
#ifndef SBPFLOW_TESTS_E2E_CLI_RUNNER_H_
#define SBPFLOW_TESTS_E2E_CLI_RUNNER_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"

namespace sbpflow::testing {

struct CliRun {
  // OK, the command's error, or InvalidArgument with CLI11's parse error.
  absl::Status status;
  std::string out;
  std::string err;
};

// `args` without the program name, e.g. {"gen", "mlp", "-o", "m.pb"}.
// Thread-compatible: one call at a time per process.
CliRun RunCli(const std::vector<std::string>& args);

// The objects of a `train --log-json` file, one per line. Fails the current
// test (and returns what it read) when a line is not JSON.
std::vector<nlohmann::json> ReadJsonLines(const std::string& path);

// A fresh empty folder under the test temporary folder, removed by the
// caller (or left for inspection when a test fails).
std::string MakeTemporaryFolder();

}  // namespace sbpflow::testing

#endif  // SBPFLOW_TESTS_E2E_CLI_RUNNER_H_
