// The `sbpflow` command line: a thin dispatcher over the subcommands.
#include <iostream>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "glog/logging.h"
#include "google/protobuf/stubs/logging.h"
#include "graph/ops/builtin_ops.h"
#include "kernel/cpu/cpu_kernels.h"
#include "tools/command.h"

namespace {

// One line, whatever the message holds.
std::string OneLine(std::string message) {
  return absl::StrReplaceAll(message, {{"\n", "; "}, {"\r", ""}});
}

// CLI11 reports a mistyped command ("sbpflow trian") or a flag before any
// command as a missing command; this names the word and the commands
// expected there instead. Nullopt when the error is something else.
std::optional<std::string> UnknownCommandMessage(const CLI::App& app) {
  const CLI::App* deepest = &app;
  while (!deepest->get_subcommands().empty()) deepest = deepest->get_subcommands().back();
  const std::vector<std::string> extras = deepest->remaining();
  const std::vector<const CLI::App*> commands =
      deepest->get_subcommands([](const CLI::App*) { return true; });
  if (extras.empty() || extras.front().empty() || commands.empty()) return std::nullopt;
  std::vector<std::string> names;
  for (const CLI::App* command : commands) names.push_back(command->get_name());
  std::string expected = names.back();
  if (names.size() > 1) {
    names.pop_back();
    expected = absl::StrCat(absl::StrJoin(names, ", "), " or ", expected);
  }
  if (extras.front()[0] == '-') {
    return absl::StrCat("unknown flag '", extras.front(), "' (expected a command: ", expected, ")");
  }
  return absl::StrCat("unknown command '", extras.front(), "' (expected ", expected, ")");
}

}  // namespace

int main(int argc, char** argv) {
  google::InitGoogleLogging(argv[0]);
  // protobuf logs what it rejects in a binary file (a string that is not
  // UTF-8) on stderr by itself; the loader reports the file as invalid in
  // its one line, so those logs are dropped.
  google::protobuf::SetLogHandler(nullptr);
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
  sbpflow::AddNumberChecks(&app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& success) {
    return app.exit(success);  // --help
  } catch (const CLI::ParseError& error) {
    std::string where = "sbpflow";
    for (const CLI::App* sub : app.get_subcommands()) where += " " + sub->get_name();
    const std::optional<std::string> unknown = UnknownCommandMessage(app);
    std::cerr << where << ": " << (unknown.has_value() ? *unknown : OneLine(error.what()))
              << " (see " << where << " --help)\n";
    return 2;
  }

  sbpflow::CommandContext context{&*ops, &*kernels, &std::cout, &std::cerr};
  absl::Status status;
  try {
    status = action ? action(context) : absl::InternalError("no command");
  } catch (const std::bad_alloc&) {
    // Memory is not Status-checked: a graph whose tensors do not fit this
    // machine ends here instead of in std::terminate.
    status = absl::ResourceExhaustedError(
        "out of memory: the job's tensors do not fit in this machine's memory");
  }
  if (status.ok()) return 0;
  std::cerr << "sbpflow: " << OneLine(std::string(status.message())) << "\n";
  return sbpflow::IsUserError(status) ? 2 : 1;
}
