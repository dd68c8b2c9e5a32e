// The idx format of (Fashion-)MNIST: a big-endian magic 0x000008RR (0x08 =
// unsigned bytes, RR = rank), RR big-endian uint32 dimensions, then the bytes
// of the array in row-major order and nothing else.
#ifndef SBPFLOW_IO_IDX_FILE_H_
#define SBPFLOW_IO_IDX_FILE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sbpflow {

struct IdxArray {
  std::vector<int64_t> dims;
  // The array's bytes, row-major.
  std::string data;
};

// Parses an unsigned-byte idx array of rank `rank` (1..255) from `bytes`,
// the decompressed contents of the file `name` (used in messages). Errors
// (InvalidArgument, "NAME: ..."): fewer bytes than the header, a magic other
// than 0x000008RR, dimensions whose product overflows, fewer data bytes than
// the dimensions need, and trailing bytes after the data.
absl::StatusOr<IdxArray> ParseIdxUbyte(absl::string_view name, std::string bytes, int rank);

}  // namespace sbpflow

#endif  // SBPFLOW_IO_IDX_FILE_H_
