#include "tools/command.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/file_util.h"

namespace sbpflow {
namespace {

// Whether `text` is an optionally signed run of decimal digits.
bool IsDecimal(absl::string_view text) {
  if (!text.empty() && (text.front() == '-' || text.front() == '+')) text.remove_prefix(1);
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A CLI11 validator for an integer flag of type T: rewrites a decimal value in
// range canonically, names the range of one out of it.
template <typename T>
CLI::Validator IntegerInType() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        const std::string text(absl::StripAsciiWhitespace(value));
        if (!IsDecimal(text)) return "";  // CLI11 reports it as not a number
        T parsed = 0;
        if (!absl::SimpleAtoi(text, &parsed)) {
          return absl::StrCat(text, " is out of range [", std::numeric_limits<T>::min(), ", ",
                              std::numeric_limits<T>::max(), "]");
        }
        value = absl::StrCat(parsed);
        return "";
      },
      "");
}

CLI::Validator FiniteNumber() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        const std::string text(absl::StripAsciiWhitespace(value));
        char* end = nullptr;
        const double parsed = std::strtod(text.c_str(), &end);
        if (text.empty() || end != text.c_str() + text.size()) return "";
        if (!std::isfinite(parsed)) return absl::StrCat(text, " is not a finite number");
        return "";
      },
      "");
}

}  // namespace

void AddNumberChecks(CLI::App* app) {
  for (CLI::Option* option : app->get_options([](CLI::Option*) { return true; })) {
    // CLI11 names the type of a flag's variable but not its width: integers
    // are checked against 64 bits here, and the conversion of a narrower flag
    // rejects what does not fit it ("Could not convert").
    const std::string type = option->get_type_name();
    if (type == "INT") {
      option->transform(IntegerInType<int64_t>());
    } else if (type == "UINT") {
      option->transform(IntegerInType<uint64_t>());
    } else if (type == "FLOAT") {
      option->check(FiniteNumber());
    }
  }
  for (CLI::App* command : app->get_subcommands([](CLI::App*) { return true; })) {
    AddNumberChecks(command);
  }
}

absl::StatusOr<std::vector<int64_t>> ParseIntList(absl::string_view flag, absl::string_view text) {
  std::vector<int64_t> values;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    int64_t value = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(item), &value)) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, ": '", item, "' in '", text, "' is not an integer"));
    }
    values.push_back(value);
  }
  return values;
}

absl::Status CheckOutputWritable(absl::string_view flag, const std::string& path) {
  auto error = [&](absl::StatusCode code, absl::string_view reason) {
    return absl::Status(code, absl::StrCat(flag, ": cannot write ", path, ": ", reason));
  };
  struct stat info;
  if (stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode)) {
    return error(absl::StatusCode::kInvalidArgument, "it is a folder");
  }
  // A probe file next to the output, as the real write will create one
  // there (file writes go through a temporary file renamed into place).
  const std::string probe = absl::StrCat(path, ".probe.", getpid());
  const int fd = open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int error_number = errno;
    const absl::StatusCode code =
        error_number == EACCES || error_number == EPERM || error_number == EROFS
            ? absl::StatusCode::kPermissionDenied
            : absl::StatusCode::kInvalidArgument;
    return error(code, ErrnoText(error_number));
  }
  close(fd);
  unlink(probe.c_str());
  return absl::OkStatus();
}

absl::Status CheckOutputsDistinct(const std::vector<PathRole>& inputs,
                                  const std::vector<PathRole>& outputs) {
  namespace fs = std::filesystem;
  auto same_file = [](const std::string& a, const std::string& b) {
    std::error_code error;
    if (fs::equivalent(a, b, error) && !error) return true;
    const fs::path normal_a = fs::weakly_canonical(fs::absolute(a, error), error);
    if (error) return a == b;
    const fs::path normal_b = fs::weakly_canonical(fs::absolute(b, error), error);
    if (error) return a == b;
    return normal_a == normal_b;
  };
  for (size_t index = 0; index < outputs.size(); ++index) {
    const PathRole& output = outputs[index];
    if (output.path.empty()) continue;
    for (const PathRole& input : inputs) {
      if (!input.path.empty() && same_file(output.path, input.path)) {
        return absl::InvalidArgumentError(absl::StrCat(output.name, " ", output.path, " is ",
                                                       input.name,
                                                       " (an output must not overwrite an input)"));
      }
    }
    for (size_t other = 0; other < index; ++other) {
      if (!outputs[other].path.empty() && same_file(output.path, outputs[other].path)) {
        return absl::InvalidArgumentError(
            absl::StrCat(outputs[other].name, " and ", output.name, " both name ", output.path));
      }
    }
  }
  return absl::OkStatus();
}

bool IsUserError(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kPermissionDenied:
      return true;
    default:
      return false;
  }
}

}  // namespace sbpflow
