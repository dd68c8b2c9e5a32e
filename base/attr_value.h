// Typed attribute values of graph nodes and plan ops.
//
// This is the checked C++ form of the proto AttrValue: the loader converts once
// at the edge, and everything inside the engine reads attributes through
// AttrMap's typed getters.
#ifndef SBPFLOW_BASE_ATTR_VALUE_H_
#define SBPFLOW_BASE_ATTR_VALUE_H_

#include <cstdint>
#include <map>
#include <string>
#include "absl/strings/string_view.h"
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "base/data_type.h"
#include "base/shape.h"

namespace sbpflow {

enum class AttrType {
  kInt,
  kFloat,
  kString,
  kBool,
  kIntList,
  kFloatList,
  kStringList,
  kShape,
  kDataType,
};

absl::string_view AttrTypeName(AttrType type);

// Floats are stored as double so that f64 gradient checks see exact constants;
// the proto stores them as float.
using AttrValue = std::variant<int64_t, double, std::string, bool, std::vector<int64_t>,
                               std::vector<double>, std::vector<std::string>, Shape, DataType>;

AttrType TypeOf(const AttrValue& value);
std::string AttrValueToString(const AttrValue& value);

// Attributes by name, ordered so that printing and hashing are deterministic.
class AttrMap {
 public:
  AttrMap() = default;
  AttrMap(std::initializer_list<std::pair<const std::string, AttrValue>> values)
      : values_(values) {}

  bool Has(absl::string_view name) const { return values_.find(name) != values_.end(); }
  void Set(std::string name, AttrValue value) { values_[std::move(name)] = std::move(value); }
  const AttrValue* Find(absl::string_view name) const;
  const std::map<std::string, AttrValue, std::less<>>& values() const { return values_; }
  bool empty() const { return values_.empty(); }

  // Typed getters. They return InvalidArgument naming the attribute when it is
  // missing or of another type; an int is accepted where a float is asked for.
  absl::StatusOr<int64_t> GetInt(absl::string_view name) const;
  absl::StatusOr<double> GetFloat(absl::string_view name) const;
  absl::StatusOr<std::string> GetString(absl::string_view name) const;
  absl::StatusOr<bool> GetBool(absl::string_view name) const;
  absl::StatusOr<std::vector<int64_t>> GetIntList(absl::string_view name) const;
  absl::StatusOr<std::vector<double>> GetFloatList(absl::string_view name) const;
  absl::StatusOr<std::vector<std::string>> GetStringList(absl::string_view name) const;
  absl::StatusOr<Shape> GetShape(absl::string_view name) const;
  absl::StatusOr<DataType> GetDataType(absl::string_view name) const;

  // Getters with a default for optional attributes; a present attribute of the
  // wrong type is still an error.
  absl::StatusOr<int64_t> GetIntOr(absl::string_view name, int64_t fallback) const;
  absl::StatusOr<double> GetFloatOr(absl::string_view name, double fallback) const;
  absl::StatusOr<bool> GetBoolOr(absl::string_view name, bool fallback) const;
  absl::StatusOr<std::string> GetStringOr(absl::string_view name, std::string fallback) const;

  bool operator==(const AttrMap& other) const { return values_ == other.values_; }

 private:
  std::map<std::string, AttrValue, std::less<>> values_;
};

}  // namespace sbpflow

#endif  // SBPFLOW_BASE_ATTR_VALUE_H_
