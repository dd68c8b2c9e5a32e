// The `sbpflow` command line: a thin dispatcher over the subcommands.
#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_replace.h"
#include "glog/logging.h"
#include "graph/ops/builtin_ops.h"
#include "kernel/cpu/cpu_kernels.h"
#include "tools/command.h"

namespace {

// One line, whatever the message holds.
std::string OneLine(std::string message) {
  return absl::StrReplaceAll(message, {{"\n", "; "}, {"\r", ""}});
}

}  // namespace

int main(int argc, char** argv) {
  google::InitGoogleLogging(argv[0]);
  auto ops = sbpflow::BuildBuiltinOpRegistry();
  auto kernels = sbpflow::BuildBuiltinKernelRegistry();
  if (!ops.ok() || !kernels.ok()) {
    std::cerr << "sbpflow: internal error: "
              << (ops.ok() ? kernels.status().message() : ops.status().message()) << "\n";
    return 1;
  }

  CLI::App app("sbpflow: train dataflow graphs over meshes of devices", "sbpflow");
  app.require_subcommand(1);
  sbpflow::CommandAction action;
  sbpflow::AddGenCommand(app, &action);
  sbpflow::AddInspectCommand(app, &action);
  sbpflow::AddTrainCommand(app, &action);
  sbpflow::AddEvalCommand(app, &action);
  sbpflow::AddBoxingCommand(app, &action);
  sbpflow::AddCompileCommand(app, &action);
  sbpflow::AddScheduleCommand(app, &action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& success) {
    return app.exit(success);  // --help
  } catch (const CLI::ParseError& error) {
    std::string where = "sbpflow";
    for (const CLI::App* sub : app.get_subcommands()) where += " " + sub->get_name();
    std::cerr << where << ": " << OneLine(error.what()) << " (see " << where << " --help)\n";
    return 2;
  }

  sbpflow::CommandContext context{&*ops, &*kernels, &std::cout, &std::cerr};
  absl::Status status = action ? action(context) : absl::InternalError("no command");
  if (status.ok()) return 0;
  std::cerr << "sbpflow: " << OneLine(std::string(status.message())) << "\n";
  return sbpflow::IsUserError(status) ? 2 : 1;
}
