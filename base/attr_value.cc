#include "base/attr_value.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace sbpflow {

absl::string_view AttrTypeName(AttrType type) {
  switch (type) {
    case AttrType::kInt:
      return "int";
    case AttrType::kFloat:
      return "float";
    case AttrType::kString:
      return "string";
    case AttrType::kBool:
      return "bool";
    case AttrType::kIntList:
      return "list(int)";
    case AttrType::kFloatList:
      return "list(float)";
    case AttrType::kStringList:
      return "list(string)";
    case AttrType::kShape:
      return "shape";
    case AttrType::kDataType:
      return "dtype";
  }
  return "unknown";
}

AttrType TypeOf(const AttrValue& value) { return static_cast<AttrType>(value.index()); }

std::string AttrValueToString(const AttrValue& value) {
  struct Printer {
    std::string operator()(int64_t v) const { return absl::StrCat(v); }
    std::string operator()(double v) const { return absl::StrCat(v); }
    std::string operator()(const std::string& v) const { return absl::StrCat("\"", v, "\""); }
    std::string operator()(bool v) const { return v ? "true" : "false"; }
    std::string operator()(const std::vector<int64_t>& v) const {
      return absl::StrCat("[", absl::StrJoin(v, ","), "]");
    }
    std::string operator()(const std::vector<double>& v) const {
      return absl::StrCat("[", absl::StrJoin(v, ","), "]");
    }
    std::string operator()(const std::vector<std::string>& v) const {
      return absl::StrCat("[", absl::StrJoin(v, ","), "]");
    }
    std::string operator()(const Shape& v) const { return v.ToString(); }
    std::string operator()(DataType v) const { return std::string(DataTypeName(v)); }
  };
  return std::visit(Printer{}, value);
}

const AttrValue* AttrMap::Find(absl::string_view name) const {
  auto it = values_.find(name);
  return it == values_.end() ? nullptr : &it->second;
}

namespace {

absl::Status Missing(absl::string_view name) {
  return absl::InvalidArgumentError(absl::StrCat("attr '", name, "' is missing"));
}

absl::Status WrongType(absl::string_view name, const AttrValue& value, AttrType expected) {
  return absl::InvalidArgumentError(absl::StrCat("attr '", name, "' must be ",
                                                 AttrTypeName(expected), ", got ",
                                                 AttrTypeName(TypeOf(value))));
}

template <typename T>
absl::StatusOr<T> GetTyped(const AttrMap& map, absl::string_view name, AttrType expected) {
  const AttrValue* value = map.Find(name);
  if (value == nullptr) return Missing(name);
  if (const T* typed = std::get_if<T>(value)) return *typed;
  return WrongType(name, *value, expected);
}

}  // namespace

absl::StatusOr<int64_t> AttrMap::GetInt(absl::string_view name) const {
  return GetTyped<int64_t>(*this, name, AttrType::kInt);
}

absl::StatusOr<double> AttrMap::GetFloat(absl::string_view name) const {
  const AttrValue* value = Find(name);
  if (value == nullptr) return Missing(name);
  if (const double* typed = std::get_if<double>(value)) return *typed;
  if (const int64_t* integer = std::get_if<int64_t>(value)) return static_cast<double>(*integer);
  return WrongType(name, *value, AttrType::kFloat);
}

absl::StatusOr<std::string> AttrMap::GetString(absl::string_view name) const {
  return GetTyped<std::string>(*this, name, AttrType::kString);
}

absl::StatusOr<bool> AttrMap::GetBool(absl::string_view name) const {
  return GetTyped<bool>(*this, name, AttrType::kBool);
}

absl::StatusOr<std::vector<int64_t>> AttrMap::GetIntList(absl::string_view name) const {
  return GetTyped<std::vector<int64_t>>(*this, name, AttrType::kIntList);
}

absl::StatusOr<std::vector<double>> AttrMap::GetFloatList(absl::string_view name) const {
  return GetTyped<std::vector<double>>(*this, name, AttrType::kFloatList);
}

absl::StatusOr<std::vector<std::string>> AttrMap::GetStringList(absl::string_view name) const {
  return GetTyped<std::vector<std::string>>(*this, name, AttrType::kStringList);
}

absl::StatusOr<Shape> AttrMap::GetShape(absl::string_view name) const {
  return GetTyped<Shape>(*this, name, AttrType::kShape);
}

absl::StatusOr<DataType> AttrMap::GetDataType(absl::string_view name) const {
  return GetTyped<DataType>(*this, name, AttrType::kDataType);
}

absl::StatusOr<int64_t> AttrMap::GetIntOr(absl::string_view name, int64_t fallback) const {
  return Has(name) ? GetInt(name) : fallback;
}

absl::StatusOr<double> AttrMap::GetFloatOr(absl::string_view name, double fallback) const {
  return Has(name) ? GetFloat(name) : fallback;
}

absl::StatusOr<bool> AttrMap::GetBoolOr(absl::string_view name, bool fallback) const {
  return Has(name) ? GetBool(name) : fallback;
}

absl::StatusOr<std::string> AttrMap::GetStringOr(absl::string_view name,
                                                 std::string fallback) const {
  return Has(name) ? GetString(name) : absl::StatusOr<std::string>(std::move(fallback));
}

}  // namespace sbpflow
