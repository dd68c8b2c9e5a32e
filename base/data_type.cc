#include "base/data_type.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace sbpflow {

int64_t DataTypeSize(DataType dtype) {
  switch (dtype) {
    case DataType::kFloat32:
    case DataType::kInt32:
      return 4;
    case DataType::kFloat64:
    case DataType::kInt64:
      return 8;
    case DataType::kBool:
      return 1;
    case DataType::kInvalid:
      return 0;
  }
  return 0;
}

absl::string_view DataTypeName(DataType dtype) {
  switch (dtype) {
    case DataType::kFloat32:
      return "f32";
    case DataType::kFloat64:
      return "f64";
    case DataType::kInt32:
      return "i32";
    case DataType::kInt64:
      return "i64";
    case DataType::kBool:
      return "bool";
    case DataType::kInvalid:
      return "invalid";
  }
  return "invalid";
}

absl::StatusOr<DataType> ParseDataType(absl::string_view text) {
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower == "f32" || lower == "float32" || lower == "float") return DataType::kFloat32;
  if (lower == "f64" || lower == "float64" || lower == "double") return DataType::kFloat64;
  if (lower == "i32" || lower == "int32") return DataType::kInt32;
  if (lower == "i64" || lower == "int64") return DataType::kInt64;
  if (lower == "bool") return DataType::kBool;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown dtype '", text, "' (expected f32, f64, i32, i64 or bool)"));
}

bool IsFloatingPoint(DataType dtype) {
  return dtype == DataType::kFloat32 || dtype == DataType::kFloat64;
}

bool IsInteger(DataType dtype) { return dtype == DataType::kInt32 || dtype == DataType::kInt64; }

}  // namespace sbpflow
