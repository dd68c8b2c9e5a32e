#include "tests/e2e/cli_runner.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "CLI/CLI.hpp"
#include "glog/logging.h"
#include "graph/ops/builtin_ops.h"
#include "gtest/gtest.h"
#include "kernel/cpu/cpu_kernels.h"
#include "tools/command.h"

namespace sbpflow::testing {
namespace {

struct Registries {
  OpRegistry ops;
  KernelRegistry kernels;
};

const Registries& BuiltinRegistries() {
  static const Registries* registries = [] {
    auto ops = BuildBuiltinOpRegistry();
    CHECK(ops.ok()) << ops.status();
    auto kernels = BuildBuiltinKernelRegistry();
    CHECK(kernels.ok()) << kernels.status();
    return new Registries{*std::move(ops), *std::move(kernels)};
  }();
  return *registries;
}

}  // namespace

CliRun RunCli(const std::vector<std::string>& args) {
  const Registries& registries = BuiltinRegistries();
  CLI::App app("sbpflow", "sbpflow");
  app.require_subcommand(1);
  CommandAction action;
  AddGenCommand(app, &action);
  AddInspectCommand(app, &action);
  AddTrainCommand(app, &action);
  AddEvalCommand(app, &action);

  CliRun run;
  std::vector<std::string> copies = {"sbpflow"};
  copies.insert(copies.end(), args.begin(), args.end());
  std::vector<const char*> argv;
  for (const std::string& arg : copies) argv.push_back(arg.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& error) {
    run.status = absl::InvalidArgumentError(error.what());
    return run;
  }
  std::ostringstream out;
  std::ostringstream err;
  CommandContext context{&registries.ops, &registries.kernels, &out, &err};
  run.status = action ? action(context) : absl::InternalError("no command");
  run.out = out.str();
  run.err = err.str();
  return run;
}

std::vector<nlohmann::json> ReadJsonLines(const std::string& path) {
  std::vector<nlohmann::json> objects;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    nlohmann::json object = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (object.is_discarded()) {
      ADD_FAILURE() << path << ": not JSON: " << line;
      break;
    }
    objects.push_back(std::move(object));
  }
  return objects;
}

std::string MakeTemporaryFolder() {
  std::string pattern = (std::filesystem::temp_directory_path() / "sbpflow_e2e_XXXXXX").string();
  CHECK(mkdtemp(pattern.data()) != nullptr) << pattern;
  return pattern;
}

}  // namespace sbpflow::testing
