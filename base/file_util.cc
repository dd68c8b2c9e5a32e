#include "base/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/status_macros.h"

namespace sbpflow {
namespace {

absl::Status ErrnoError(int error_number, absl::string_view path, absl::string_view action) {
  return absl::Status(absl::ErrnoToStatusCode(error_number),
                      absl::StrCat(path, ": ", action, ": ", ErrnoText(error_number)));
}

// Closes a descriptor when it goes out of scope, unless Close() already did.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;

  int get() const { return fd_; }
  // Closes now and reports the result: close() can surface a deferred write error.
  int Close() {
    int result = close(fd_);
    fd_ = -1;
    return result;
  }

 private:
  int fd_;
};

absl::Status WriteAll(int fd, absl::string_view data, absl::string_view path) {
  while (!data.empty()) {
    ssize_t written = write(fd, data.data(), data.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, path, "write failed");
    }
    data.remove_prefix(static_cast<size_t>(written));
  }
  return absl::OkStatus();
}

absl::Status WriteTemporaryFile(int fd, const std::string& temporary_path,
                                const std::vector<absl::string_view>& pieces) {
  for (absl::string_view piece : pieces) SBP_RETURN_IF_ERROR(WriteAll(fd, piece, temporary_path));
  // Without the fsync a crash after the rename could expose an empty file.
  if (fsync(fd) != 0) return ErrnoError(errno, temporary_path, "fsync failed");
  return absl::OkStatus();
}

// Distinguishes concurrent saves of one process to the same path.
std::atomic<uint64_t> temporary_counter{0};

// zlib prefixes its messages with the file's name, "<fd:N>" for gzdopen.
std::string GzipErrorText(gzFile file, int fd) {
  int error_code = 0;
  absl::string_view text = gzerror(file, &error_code);
  absl::ConsumePrefix(&text, absl::StrCat("<fd:", fd, ">: "));
  return std::string(text);
}

std::string ParentFolder(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

std::string ErrnoText(int error_number) {
  char buffer[256];
  // The GNU strerror_r returns a pointer that may or may not be `buffer`.
  return std::string(strerror_r(error_number, buffer, sizeof(buffer)));
}

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  FileDescriptor file(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (file.get() < 0) return ErrnoError(errno, path, "cannot open");
  std::string contents;
  struct stat info;
  if (fstat(file.get(), &info) == 0 && info.st_size > 0) {
    contents.reserve(static_cast<size_t>(info.st_size));
  }
  char buffer[1 << 16];
  while (true) {
    ssize_t count = read(file.get(), buffer, sizeof(buffer));
    if (count < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, path, "read failed");
    }
    if (count == 0) break;
    contents.append(buffer, static_cast<size_t>(count));
  }
  return contents;
}

absl::StatusOr<std::string> ReadGzipFile(const std::string& path) {
  // Opening ourselves first gives an errno-based message; gzdopen takes over the descriptor.
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, path, "cannot open");
  gzFile file = gzdopen(fd, "rb");
  if (file == nullptr) {
    close(fd);
    return absl::ResourceExhaustedError(absl::StrCat(path, ": cannot start gzip decoding"));
  }
  gzbuffer(file, 1 << 17);
  std::string contents;
  char buffer[1 << 16];
  while (true) {
    int count = gzread(file, buffer, sizeof(buffer));
    if (count < 0) {
      std::string reason = GzipErrorText(file, fd);
      gzclose(file);
      return absl::InvalidArgumentError(absl::StrCat(path, ": gzip error: ", reason));
    }
    if (count == 0) break;
    contents.append(buffer, static_cast<size_t>(count));
  }
  // gzread reports a stream cut short only through gzerror (Z_BUF_ERROR) at the end.
  int error_code = 0;
  gzerror(file, &error_code);
  if (error_code != Z_OK) {
    std::string reason = GzipErrorText(file, fd);
    gzclose(file);
    return absl::InvalidArgumentError(absl::StrCat(path, ": gzip error: ", reason));
  }
  gzclose(file);
  return contents;
}

absl::Status WriteFileAtomically(const std::string& path,
                                 const std::vector<absl::string_view>& pieces) {
  // Not mkstemp: its mode 0600 would ignore the umask that the final file should honor.
  std::string temporary_path;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    temporary_path = absl::StrCat(path, ".tmp.", getpid(), ".",
                                  temporary_counter.fetch_add(1, std::memory_order_relaxed));
    fd = open(temporary_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) {
    return ErrnoError(errno, path,
                      absl::StrCat("cannot create a temporary file in ", ParentFolder(path)));
  }
  FileDescriptor file(fd);
  absl::Status status = WriteTemporaryFile(file.get(), temporary_path, pieces);
  if (status.ok() && file.Close() != 0) status = ErrnoError(errno, temporary_path, "close failed");
  if (status.ok() && rename(temporary_path.c_str(), path.c_str()) != 0) {
    status = ErrnoError(errno, path, "cannot rename the temporary file into place");
  }
  if (!status.ok()) {
    unlink(temporary_path.c_str());
    return status;
  }
  // Makes the rename itself durable; failing to do so does not undo the save.
  FileDescriptor folder(open(ParentFolder(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (folder.get() >= 0) fsync(folder.get());
  return absl::OkStatus();
}

}  // namespace sbpflow
