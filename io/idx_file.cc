#include "io/idx_file.h"

#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "glog/logging.h"

namespace sbpflow {
namespace {

uint32_t ReadBigEndian32(absl::string_view bytes, size_t offset) {
  uint32_t value = 0;
  for (size_t i = 0; i < 4; ++i) {
    value = (value << 8) | static_cast<unsigned char>(bytes[offset + i]);
  }
  return value;
}

std::string Hex32(uint32_t value) {
  char text[16];
  std::snprintf(text, sizeof(text), "0x%08x", value);
  return text;
}

absl::Status Error(absl::string_view name, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(name, ": ", message));
}

}  // namespace

absl::StatusOr<IdxArray> ParseIdxUbyte(absl::string_view name, std::string bytes, int rank) {
  CHECK(rank >= 1 && rank <= 255) << rank;
  const size_t header_bytes = 4 + 4 * static_cast<size_t>(rank);
  if (bytes.size() < 4) {
    return Error(name, absl::StrCat("truncated: ", bytes.size(),
                                    " bytes, too short for the 4-byte magic number"));
  }
  const uint32_t expected_magic = 0x00000800u | static_cast<uint32_t>(rank);
  const uint32_t magic = ReadBigEndian32(bytes, 0);
  if (magic != expected_magic) {
    return Error(name,
                 absl::StrCat("bad magic ", Hex32(magic), ", expected ", Hex32(expected_magic)));
  }
  if (bytes.size() < header_bytes) {
    return Error(
        name, absl::StrCat("truncated header: ", bytes.size(), " bytes, expected ", header_bytes));
  }
  IdxArray array;
  uint64_t data_bytes = 1;
  bool overflow = false;
  for (int axis = 0; axis < rank; ++axis) {
    array.dims.push_back(ReadBigEndian32(bytes, 4 + 4 * static_cast<size_t>(axis)));
    overflow |=
        __builtin_mul_overflow(data_bytes, static_cast<uint64_t>(array.dims.back()), &data_bytes);
  }
  const std::string dims_text = absl::StrCat("[", absl::StrJoin(array.dims, ","), "]");
  if (overflow) return Error(name, absl::StrCat("dimensions ", dims_text, " are too large"));
  const uint64_t available = bytes.size() - header_bytes;
  if (available < data_bytes) {
    return Error(name, absl::StrCat("truncated: dimensions ", dims_text, " need ", data_bytes,
                                    " bytes of data, found ", available));
  }
  if (available > data_bytes) {
    return Error(name, absl::StrCat(available - data_bytes,
                                    " bytes of trailing data after dimensions ", dims_text));
  }
  // In place: the training images are 47 MB, not worth holding twice.
  bytes.erase(0, header_bytes);
  array.data = std::move(bytes);
  return array;
}

}  // namespace sbpflow
