// Checks that a checkpoint fits the graph it is about to be loaded into.
#ifndef SBPFLOW_IO_CHECKPOINT_CHECK_H_
#define SBPFLOW_IO_CHECKPOINT_CHECK_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "base/shape.h"
#include "kernel/tensor.h"

namespace sbpflow {

// One line per disagreement between what the graph `expected` and what the
// checkpoint `actual` holds, in name order, each naming `checkpoint_name` (the
// file, as the user gave it), the tensor, the expected and the actual value:
//   "ckpt.safetensors: tensor 'w' has shape [784,128], the graph expects [784,256]"
//   "ckpt.safetensors: tensor 'w' has dtype f64, the graph expects f32"
//   "ckpt.safetensors: tensor 'w' has type f64[2], the graph expects f32[3]"
//   "ckpt.safetensors: tensor 'w' is missing, the graph expects f32[3]"
//   "ckpt.safetensors: tensor 'w' (f32[3]) is not in the graph"
// Empty when they agree.
std::vector<std::string> CheckpointMismatches(absl::string_view checkpoint_name,
                                              const std::map<std::string, TensorType>& expected,
                                              const std::map<std::string, TensorType>& actual);

// OK when CheckpointMismatches is empty; otherwise InvalidArgument whose
// message is the mismatch lines joined by '\n'.
absl::Status CheckCheckpointTypes(absl::string_view checkpoint_name,
                                  const std::map<std::string, TensorType>& expected,
                                  const std::map<std::string, TensorType>& actual);

// The types of `tensors`, to check a checkpoint already in memory.
std::map<std::string, TensorType> TensorTypes(const std::map<std::string, Tensor>& tensors);

}  // namespace sbpflow

#endif  // SBPFLOW_IO_CHECKPOINT_CHECK_H_
