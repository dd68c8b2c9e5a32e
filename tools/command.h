// Plumbing shared by the `sbpflow` subcommands: each subcommand file adds its
// CLI11 options bound to a request struct and sets the action that main runs
// after parsing. Actions return a Status; main maps it to the exit code (0
// success, 2 bad input, 1 internal failure) and prints its one-line message.
#ifndef SBPFLOW_TOOLS_COMMAND_H_
#define SBPFLOW_TOOLS_COMMAND_H_

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "graph/op_registry.h"
#include "kernel/kernel_registry.h"

namespace sbpflow {

struct CommandContext {
  const OpRegistry* ops = nullptr;
  const KernelRegistry* kernels = nullptr;
  std::ostream* out = nullptr;  // results
  std::ostream* err = nullptr;  // progress
};

using CommandAction = std::function<absl::Status(const CommandContext&)>;

void AddGenCommand(CLI::App& app, CommandAction* action);
void AddInspectCommand(CLI::App& app, CommandAction* action);
void AddTrainCommand(CLI::App& app, CommandAction* action);
void AddEvalCommand(CLI::App& app, CommandAction* action);
void AddBoxingCommand(CLI::App& app, CommandAction* action);
void AddCompileCommand(CLI::App& app, CommandAction* action);
void AddScheduleCommand(CLI::App& app, CommandAction* action);

// Makes the number flags of `app` and of its subcommands strict; call after
// adding them. CLI11 alone saturates an integer out of its type's range
// ("--batch 99999999999999999999" becomes 2^63-1), wraps a negative value of
// an unsigned flag ("--seed -1" becomes 2^64-1), reads "010" as octal, and
// takes "inf" and "nan" for floating-point flags. After this, an integer flag
// takes a decimal integer within its type, rewritten in canonical decimal
// for CLI11 to convert, and a floating-point flag a finite number. Parse
// errors name the flag: "--seed: -1 is out of range [0,
// 18446744073709551615]", "--lr: inf is not a finite number". Text that is
// not a number at all is left to CLI11's own "Could not convert" error.
void AddNumberChecks(CLI::App* app);

// Parses "784,256,10" for `flag`. Errors name the flag and the bad item.
absl::StatusOr<std::vector<int64_t>> ParseIntList(absl::string_view flag, absl::string_view text);

// Checks, before a command does any work, that the output `path` given by
// `flag` can be written: its folder exists and accepts a new file, and `path`
// is not a folder. Leaves nothing behind. InvalidArgument (or the errno's
// code) "FLAG: cannot write PATH: REASON" otherwise; a run that fails this
// way fails before printing or writing anything.
absl::Status CheckOutputWritable(absl::string_view flag, const std::string& path);

// A file a command reads or writes, and how to name it in a message: a flag
// ("--save") or a phrase ("the graph file").
struct PathRole {
  std::string name;
  std::string path;
};

// Checks that no output overwrites an input or another output: every
// non-empty output path must name a file different from every input and
// every other output. Paths are compared after normalization (absolute,
// "." and ".." and symbolic links resolved) and, for existing files, by
// identity, so "./m.pb", "dir/../m.pb" and a hard link all name m.pb.
// InvalidArgument otherwise: "--save m.pbtxt is the graph file (an output
// must not overwrite an input)" or "--log-json and --save both name out.json".
absl::Status CheckOutputsDistinct(const std::vector<PathRole>& inputs,
                                  const std::vector<PathRole>& outputs);

// Whether a status is the user's fault (exit code 2) rather than ours (1).
bool IsUserError(const absl::Status& status);

}  // namespace sbpflow

#endif  // SBPFLOW_TOOLS_COMMAND_H_
