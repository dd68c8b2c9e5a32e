#include "tools/command.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/file_util.h"

namespace sbpflow {

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
