#include "io/checkpoint_check.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace sbpflow {
namespace {

std::string Mismatch(absl::string_view checkpoint_name, absl::string_view name,
                     const TensorType& expected, const TensorType& actual) {
  std::string prefix = absl::StrCat(checkpoint_name, ": tensor '", name, "' has ");
  if (expected.dtype == actual.dtype) {
    return absl::StrCat(prefix, "shape ", actual.shape.ToString(), ", the graph expects ",
                        expected.shape.ToString());
  }
  if (expected.shape == actual.shape) {
    return absl::StrCat(prefix, "dtype ", DataTypeName(actual.dtype), ", the graph expects ",
                        DataTypeName(expected.dtype));
  }
  return absl::StrCat(prefix, "type ", actual.ToString(), ", the graph expects ",
                      expected.ToString());
}

}  // namespace

std::vector<std::string> CheckpointMismatches(absl::string_view checkpoint_name,
                                              const std::map<std::string, TensorType>& expected,
                                              const std::map<std::string, TensorType>& actual) {
  std::vector<std::string> lines;
  // A merge of the two sorted maps keeps the lines in name order.
  auto expected_it = expected.begin();
  auto actual_it = actual.begin();
  while (expected_it != expected.end() || actual_it != actual.end()) {
    if (actual_it == actual.end() ||
        (expected_it != expected.end() && expected_it->first < actual_it->first)) {
      lines.push_back(absl::StrCat(checkpoint_name, ": tensor '", expected_it->first,
                                   "' is missing, the graph expects ",
                                   expected_it->second.ToString()));
      ++expected_it;
    } else if (expected_it == expected.end() || actual_it->first < expected_it->first) {
      lines.push_back(absl::StrCat(checkpoint_name, ": tensor '", actual_it->first, "' (",
                                   actual_it->second.ToString(), ") is not in the graph"));
      ++actual_it;
    } else {
      if (expected_it->second != actual_it->second) {
        lines.push_back(
            Mismatch(checkpoint_name, expected_it->first, expected_it->second, actual_it->second));
      }
      ++expected_it;
      ++actual_it;
    }
  }
  return lines;
}

absl::Status CheckCheckpointTypes(absl::string_view checkpoint_name,
                                  const std::map<std::string, TensorType>& expected,
                                  const std::map<std::string, TensorType>& actual) {
  std::vector<std::string> lines = CheckpointMismatches(checkpoint_name, expected, actual);
  if (lines.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrJoin(lines, "\n"));
}

std::map<std::string, TensorType> TensorTypes(const std::map<std::string, Tensor>& tensors) {
  std::map<std::string, TensorType> types;
  for (const auto& [name, tensor] : tensors) types[name] = tensor.type();
  return types;
}

}  // namespace sbpflow
