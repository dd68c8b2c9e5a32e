// Whole-file reads (plain and gzip) and crash-safe whole-file writes.
//
// Every error message starts with the path as given, so a user can tell which
// file is at fault. All functions are thread-safe (they share no state).
#ifndef SBPFLOW_BASE_FILE_UTIL_H_
#define SBPFLOW_BASE_FILE_UTIL_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sbpflow {

// The contents of the file at `path`. Errors carry the errno's status code
// (NotFound, PermissionDenied, ...) and read "PATH: cannot open: REASON" or
// "PATH: read failed: REASON".
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

// The decompressed contents of a gzip file (a file that is not gzip-compressed
// is returned as is, which is zlib's behavior). Open errors as for
// ReadFileToString; a corrupt or truncated stream is InvalidArgument
// "PATH: gzip error: REASON".
absl::StatusOr<std::string> ReadGzipFile(const std::string& path);

// Writes the concatenation of `pieces` to `path` so that `path` either keeps
// its previous state or holds the complete new contents, even when the process
// dies midway: the data goes to a fresh temporary file in the same folder
// ("PATH.tmp.PID.COUNTER", created with mode 0666
// less the umask), is flushed to disk, and is renamed over `path`. On any
// error the temporary file is removed and `path` is untouched. Errors carry
// the errno's status code and name the file and the step that failed.
absl::Status WriteFileAtomically(const std::string& path,
                                 const std::vector<absl::string_view>& pieces);

// "No such file or directory" for ENOENT: strerror without its thread-safety
// trap.
std::string ErrnoText(int error_number);

}  // namespace sbpflow

#endif  // SBPFLOW_BASE_FILE_UTIL_H_
