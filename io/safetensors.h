// Checkpoints in the safetensors format (see safetensors_header.h for the
// layout), the format Hugging Face tools read and write.
//
// Writes are deterministic (tensors in name order, header padded with spaces
// to a multiple of 8 bytes) and atomic: a crash mid-save leaves the previous
// file, never a partial one. Reads validate everything before trusting a byte
// of the file, so a corrupt or hostile file yields InvalidArgument, never a
// crash or an allocation larger than the file. All functions are thread-safe.
#ifndef SBPFLOW_IO_SAFETENSORS_H_
#define SBPFLOW_IO_SAFETENSORS_H_

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/shape.h"
#include "kernel/allocator.h"
#include "kernel/tensor.h"

namespace sbpflow {

struct Checkpoint {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> metadata;
};

// What a checkpoint holds, without its data.
struct CheckpointIndex {
  std::map<std::string, TensorType> types;
  std::map<std::string, std::string> metadata;
};

// The complete bytes of a safetensors file holding `tensors` (any of f32, f64,
// i32, i64, bool) and `metadata` ("__metadata__" is omitted when empty).
// Errors (InvalidArgument): those of EncodeSafetensorsHeader, e.g. an empty
// Tensor handle or a name that is not valid UTF-8.
absl::StatusOr<std::string> SerializeSafetensors(
    const std::map<std::string, Tensor>& tensors,
    const std::map<std::string, std::string>& metadata = {});

// Writes SerializeSafetensors' bytes to `path` through WriteFileAtomically
// (without building them in one buffer). On error no file is created and an
// existing `path` is untouched; messages start with the path.
absl::Status WriteSafetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                              const std::map<std::string, std::string>& metadata = {});

// Reads and validates the header of the file at `path` and returns the tensor
// types and metadata. Errors: open failures (errno's code, "PATH: cannot open:
// ..."); InvalidArgument "PATH: ..." for a file too short for the length
// prefix, a header length beyond the file or above 100 MB, and every header error of
// DecodeSafetensorsHeader.
absl::StatusOr<CheckpointIndex> ReadSafetensorsIndex(const std::string& path);

// Reads the whole checkpoint into tensors from `allocator` (not owned; must
// outlive the tensors). Errors as for ReadSafetensorsIndex, plus a BOOL
// element that is neither 0 nor 1.
absl::StatusOr<Checkpoint> ReadSafetensors(const std::string& path, Allocator* allocator);

}  // namespace sbpflow

#endif  // SBPFLOW_IO_SAFETENSORS_H_
