// Element types of tensors, shared by the graph, the kernels and the runtime.
#ifndef SBPFLOW_BASE_DATA_TYPE_H_
#define SBPFLOW_BASE_DATA_TYPE_H_

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace sbpflow {

enum class DataType : int {
  kInvalid = 0,
  kFloat32 = 1,
  kFloat64 = 2,
  kInt32 = 3,
  kInt64 = 4,
  kBool = 5,
};

// Bytes per element; 0 for kInvalid.
int64_t DataTypeSize(DataType dtype);

// Short names used in text output and on the command line: "f32", "f64",
// "i32", "i64", "bool". kInvalid prints as "invalid".
absl::string_view DataTypeName(DataType dtype);

// Parses a short name ("f32") or a long one ("float32", "float", "int32", ...).
// Returns InvalidArgument for anything else.
absl::StatusOr<DataType> ParseDataType(absl::string_view text);

bool IsFloatingPoint(DataType dtype);
bool IsInteger(DataType dtype);

// Maps a C++ element type to its DataType at compile time.
template <typename T>
struct DataTypeOf;
template <>
struct DataTypeOf<float> {
  static constexpr DataType value = DataType::kFloat32;
};
template <>
struct DataTypeOf<double> {
  static constexpr DataType value = DataType::kFloat64;
};
template <>
struct DataTypeOf<int32_t> {
  static constexpr DataType value = DataType::kInt32;
};
template <>
struct DataTypeOf<int64_t> {
  static constexpr DataType value = DataType::kInt64;
};
template <>
struct DataTypeOf<bool> {
  static constexpr DataType value = DataType::kBool;
};

}  // namespace sbpflow

#endif  // SBPFLOW_BASE_DATA_TYPE_H_
