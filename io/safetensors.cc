#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "base/status_macros.h"
#include "base/file_util.h"
#include "io/safetensors_header.h"

namespace sbpflow {
namespace {

// Tensor buffers are written and read as they lie in memory.
static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; this host is not");

constexpr uint64_t kLengthPrefixBytes = 8;
// The reference implementation's limit: real headers are at most a few MB.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

std::string EncodeLength(uint64_t length) {
  std::string bytes(kLengthPrefixBytes, '\0');
  for (uint64_t i = 0; i < kLengthPrefixBytes; ++i) {
    bytes[i] = static_cast<char>((length >> (8 * i)) & 0xFF);
  }
  return bytes;
}

uint64_t DecodeLength(const unsigned char* bytes) {
  uint64_t length = 0;
  for (uint64_t i = 0; i < kLengthPrefixBytes; ++i) {
    length |= static_cast<uint64_t>(bytes[i]) << (8 * i);
  }
  return length;
}

absl::Status WithPath(const std::string& path, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(path, ": ", status.message()));
}

// The pieces of a safetensors file: length prefix, header, then each tensor's
// bytes in name order. The views point into `tensors` and `*storage`.
absl::StatusOr<std::vector<absl::string_view>> FilePieces(
    const std::map<std::string, Tensor>& tensors,
    const std::map<std::string, std::string>& metadata, std::string* storage) {
  std::map<std::string, TensorType> types;
  for (const auto& [name, tensor] : tensors) types[name] = tensor.type();
  SBP_ASSIGN_OR_RETURN(std::string header, EncodeSafetensorsHeader(types, metadata));
  *storage = absl::StrCat(EncodeLength(header.size()), header);
  std::vector<absl::string_view> pieces = {*storage};
  for (const auto& [name, tensor] : tensors) {
    pieces.emplace_back(static_cast<const char*>(tensor.raw_data()),
                        static_cast<size_t>(tensor.num_bytes()));
  }
  return pieces;
}

class ReadOnlyFile {
 public:
  ReadOnlyFile() = default;
  ~ReadOnlyFile() {
    if (fd_ >= 0) close(fd_);
  }
  ReadOnlyFile(const ReadOnlyFile&) = delete;
  ReadOnlyFile& operator=(const ReadOnlyFile&) = delete;

  absl::Status Open(const std::string& path) {
    path_ = path;
    fd_ = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) {
      return absl::Status(absl::ErrnoToStatusCode(errno),
                          absl::StrCat(path, ": cannot open: ", ErrnoText(errno)));
    }
    struct stat info;
    if (fstat(fd_, &info) != 0) {
      return absl::Status(absl::ErrnoToStatusCode(errno),
                          absl::StrCat(path, ": cannot stat: ", ErrnoText(errno)));
    }
    if (!S_ISREG(info.st_mode)) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
    }
    size_ = static_cast<uint64_t>(info.st_size);
    return absl::OkStatus();
  }

  uint64_t size() const { return size_; }

  // Reads exactly `count` bytes at `offset`; a file that shrank since Open is an error.
  absl::Status ReadAt(uint64_t offset, uint64_t count, void* destination) const {
    char* out = static_cast<char*>(destination);
    while (count > 0) {
      ssize_t read_count = pread(fd_, out, count, static_cast<off_t>(offset));
      if (read_count < 0) {
        if (errno == EINTR) continue;
        return absl::Status(absl::ErrnoToStatusCode(errno),
                            absl::StrCat(path_, ": read failed: ", ErrnoText(errno)));
      }
      if (read_count == 0) {
        return absl::InvalidArgumentError(absl::StrCat(path_, ": unexpected end of file"));
      }
      out += read_count;
      offset += static_cast<uint64_t>(read_count);
      count -= static_cast<uint64_t>(read_count);
    }
    return absl::OkStatus();
  }

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

struct OpenedCheckpoint {
  SafetensorsLayout layout;
  uint64_t data_start = 0;
};

absl::StatusOr<OpenedCheckpoint> OpenCheckpoint(const std::string& path, ReadOnlyFile* file) {
  SBP_RETURN_IF_ERROR(file->Open(path));
  if (file->size() < kLengthPrefixBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": file is ", file->size(), " bytes, too short for the 8-byte header length"));
  }
  unsigned char prefix[kLengthPrefixBytes];
  SBP_RETURN_IF_ERROR(file->ReadAt(0, kLengthPrefixBytes, prefix));
  uint64_t header_length = DecodeLength(prefix);
  if (header_length > kMaxHeaderBytes) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": header length ", header_length,
                                                   " exceeds the limit of ", kMaxHeaderBytes,
                                                   " bytes"));
  }
  uint64_t available = file->size() - kLengthPrefixBytes;
  if (header_length > available) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": header length ", header_length,
                                                   " exceeds the ", available,
                                                   " bytes that follow it"));
  }
  std::string header(header_length, '\0');
  SBP_RETURN_IF_ERROR(file->ReadAt(kLengthPrefixBytes, header_length, header.data()));
  OpenedCheckpoint opened;
  opened.data_start = kLengthPrefixBytes + header_length;
  SBP_ASSIGN_OR_RETURN(opened.layout,
                       DecodeSafetensorsHeader(path, header, file->size() - opened.data_start));
  return opened;
}

// Loading any other byte into a bool is undefined behavior, so it is refused.
absl::Status CheckBoolBytes(const std::string& path, const std::string& name,
                            const Tensor& tensor) {
  const unsigned char* bytes = static_cast<const unsigned char*>(tensor.raw_data());
  for (int64_t i = 0; i < tensor.num_elements(); ++i) {
    if (bytes[i] > 1) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": tensor '", name, "': BOOL element ",
                                                     i, " is ", static_cast<int>(bytes[i]),
                                                     " (expected 0 or 1)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> SerializeSafetensors(
    const std::map<std::string, Tensor>& tensors,
    const std::map<std::string, std::string>& metadata) {
  std::string storage;
  absl::StatusOr<std::vector<absl::string_view>> pieces = FilePieces(tensors, metadata, &storage);
  if (!pieces.ok()) return pieces.status();
  std::string bytes;
  for (absl::string_view piece : *pieces) bytes.append(piece.data(), piece.size());
  return bytes;
}

absl::Status WriteSafetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  std::string storage;
  absl::StatusOr<std::vector<absl::string_view>> pieces = FilePieces(tensors, metadata, &storage);
  if (!pieces.ok()) return WithPath(path, pieces.status());
  return WriteFileAtomically(path, *pieces);
}

absl::StatusOr<CheckpointIndex> ReadSafetensorsIndex(const std::string& path) {
  ReadOnlyFile file;
  SBP_ASSIGN_OR_RETURN(OpenedCheckpoint opened, OpenCheckpoint(path, &file));
  CheckpointIndex index;
  for (const SafetensorsEntry& entry : opened.layout.entries) {
    index.types[entry.name] = entry.type;
  }
  index.metadata = std::move(opened.layout.metadata);
  return index;
}

absl::StatusOr<Checkpoint> ReadSafetensors(const std::string& path, Allocator* allocator) {
  ReadOnlyFile file;
  SBP_ASSIGN_OR_RETURN(OpenedCheckpoint opened, OpenCheckpoint(path, &file));
  Checkpoint checkpoint;
  for (const SafetensorsEntry& entry : opened.layout.entries) {
    Tensor tensor(allocator, entry.type.dtype, entry.type.shape);
    SBP_RETURN_IF_ERROR(
        file.ReadAt(opened.data_start + entry.begin, entry.end - entry.begin, tensor.raw_data()));
    if (entry.type.dtype == DataType::kBool) {
      SBP_RETURN_IF_ERROR(CheckBoolBytes(path, entry.name, tensor));
    }
    checkpoint.tensors[entry.name] = std::move(tensor);
  }
  checkpoint.metadata = std::move(opened.layout.metadata);
  return checkpoint;
}

}  // namespace sbpflow
