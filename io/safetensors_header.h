// The JSON header of a safetensors file: encoding and fully validated decoding.
//
// Format (https://huggingface.co/docs/safetensors): an 8-byte little-endian
// header length N, N bytes of UTF-8 JSON, then the tensor data. The JSON maps
// each tensor name to {"dtype": "F32", "shape": [..], "data_offsets": [begin,
// end]} (byte offsets relative to the end of the header) and may hold
// "__metadata__": {string: string}. The data must be covered exactly, without
// gaps, overlaps or trailing bytes. This is the layer below safetensors.h; it
// does no I/O so that every check can be exercised on bytes in memory.
#ifndef SBPFLOW_IO_SAFETENSORS_HEADER_H_
#define SBPFLOW_IO_SAFETENSORS_HEADER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/shape.h"

namespace sbpflow {

// The key reserved for the string-to-string metadata map.
inline constexpr absl::string_view kSafetensorsMetadataKey = "__metadata__";

// One tensor of a safetensors file; offsets are relative to the data section.
struct SafetensorsEntry {
  std::string name;
  TensorType type;
  uint64_t begin = 0;
  uint64_t end = 0;
};

struct SafetensorsLayout {
  // In data order (ascending offsets), which is name order for files we write.
  std::vector<SafetensorsEntry> entries;
  std::map<std::string, std::string> metadata;
};

// "F32", "F64", "I32", "I64", "BOOL"; CHECKs on kInvalid.
absl::string_view SafetensorsDtypeName(DataType dtype);

// The inverse of SafetensorsDtypeName; InvalidArgument for any other string.
absl::StatusOr<DataType> ParseSafetensorsDtype(absl::string_view name);

// Lays out `types` (name -> type, written in name order) and returns the
// complete header JSON padded with spaces to a multiple of 8 bytes, so the data
// that follows the 8-byte length and the header starts 8-byte aligned. Keys
// appear as "__metadata__" first (only when `metadata` is non-empty), then the
// tensors, each as {"dtype", "shape", "data_offsets"} in that order, compact.
// Errors (InvalidArgument): a tensor named "__metadata__", an invalid dtype, a
// shape with an unknown dimension, a name or metadata string that is not
// valid UTF-8.
absl::StatusOr<std::string> EncodeSafetensorsHeader(
    const std::map<std::string, TensorType>& types,
    const std::map<std::string, std::string>& metadata);

// Parses and validates `header` (the N header bytes of the file `file_name`,
// used only in messages) against a data section of `data_size` bytes. Every
// error is InvalidArgument starting with "FILE: " and naming the tensor when
// one is at fault: header not starting with '{', malformed JSON (with the byte
// position), duplicate keys, entries that are not objects, missing or unknown
// fields, unsupported dtypes, bad shapes, offsets that are not [begin, end],
// do not match shape x element size, run past the data, overlap, leave a gap,
// or leave trailing bytes, and a malformed "__metadata__".
absl::StatusOr<SafetensorsLayout> DecodeSafetensorsHeader(absl::string_view file_name,
                                                          absl::string_view header,
                                                          uint64_t data_size);

}  // namespace sbpflow

#endif  // SBPFLOW_IO_SAFETENSORS_HEADER_H_
