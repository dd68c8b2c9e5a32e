#include "graph/op_registry.h"

#include <variant>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace sbpflow {

absl::Status OpRegistry::Register(OpDef def) {
  if (!def.infer) {
    return absl::InvalidArgumentError(absl::StrCat("op ", def.name, " has no inference function"));
  }
  for (size_t i = 0; i + 1 < def.inputs.size(); ++i) {
    if (def.inputs[i].variadic) {
      return absl::InvalidArgumentError(
          absl::StrCat("op ", def.name, ": only the last input may be variadic"));
    }
  }
  std::string name = def.name;
  auto [it, inserted] = ops_.emplace(name, std::move(def));
  if (!inserted) return absl::AlreadyExistsError(absl::StrCat("op ", name, " registered twice"));
  return absl::OkStatus();
}

const OpDef* OpRegistry::Find(absl::string_view name) const {
  auto it = ops_.find(name);
  return it == ops_.end() ? nullptr : &it->second;
}

std::vector<std::string> OpRegistry::OpNames() const {
  std::vector<std::string> names;
  names.reserve(ops_.size());
  for (const auto& [name, def] : ops_) names.push_back(name);
  return names;
}

namespace {

absl::Status CheckInputCount(const OpDef& def, size_t count) {
  const bool variadic = !def.inputs.empty() && def.inputs.back().variadic;
  const size_t fixed = variadic ? def.inputs.size() - 1 : def.inputs.size();
  if (variadic ? count < fixed + 1 : count != fixed) {
    return absl::InvalidArgumentError(absl::StrCat("inputs: expected ", variadic ? "at least " : "",
                                                   variadic ? fixed + 1 : fixed, " input(s), got ",
                                                   count));
  }
  return absl::OkStatus();
}

absl::Status CheckAttrs(const OpDef& def, AttrMap& attrs) {
  for (const auto& [name, value] : attrs.values()) {
    bool known = false;
    for (const AttrSpec& spec : def.attrs) known = known || spec.name == name;
    if (!known) return absl::InvalidArgumentError(absl::StrCat("attr '", name, "' is unknown"));
  }
  for (const AttrSpec& spec : def.attrs) {
    const AttrValue* value = attrs.Find(spec.name);
    if (value == nullptr) {
      if (!spec.default_value.has_value()) {
        return absl::InvalidArgumentError(absl::StrCat("attr '", spec.name, "' is missing"));
      }
      attrs.Set(spec.name, *spec.default_value);
      continue;
    }
    AttrType type = TypeOf(*value);
    if (type == spec.type) continue;
    // Integers are accepted for float attrs (text protos often write "1").
    if (spec.type == AttrType::kFloat && type == AttrType::kInt) {
      attrs.Set(spec.name, static_cast<double>(std::get<int64_t>(*value)));
      continue;
    }
    // An empty list parses as whichever list kind the writer chose.
    if (spec.type == AttrType::kFloatList && type == AttrType::kIntList) {
      const auto& ints = std::get<std::vector<int64_t>>(*value);
      attrs.Set(spec.name, std::vector<double>(ints.begin(), ints.end()));
      continue;
    }
    return absl::InvalidArgumentError(absl::StrCat("attr '", spec.name, "' must be ",
                                                   AttrTypeName(spec.type), ", got ",
                                                   AttrTypeName(type)));
  }
  return absl::OkStatus();
}

// Tensors are capped at 2^60 elements, so that counting elements or bytes
// (8 per element at most) never overflows int64 in any later pass, and a
// graph asking for more is rejected at load instead.
constexpr int64_t kMaxElements = int64_t{1} << 60;

// Whether the known (non-negative) dimensions of `shape` stay within
// kMaxElements; negative dims are left to the op's own checks.
bool WithinSizeLimit(const Shape& shape) {
  for (int64_t dim : shape.dims()) {
    if (dim == 0) return true;
  }
  int64_t elements = 1;
  for (int64_t dim : shape.dims()) {
    if (dim < 0) continue;
    if (elements > kMaxElements / dim) return false;
    elements *= dim;
  }
  return true;
}

absl::Status CheckSizes(const AttrMap& attrs) {
  for (const auto& [name, value] : attrs.values()) {
    const Shape* shape = std::get_if<Shape>(&value);
    if (shape != nullptr && !WithinSizeLimit(*shape)) {
      return absl::InvalidArgumentError(
          absl::StrCat("attr '", name, "': ", shape->ToString(), " has more than 2^60 elements"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<TensorType>> InferOutputs(const OpDef& def, absl::string_view node_name,
                                                     const std::vector<TensorType>& inputs,
                                                     AttrMap& attrs) {
  SBP_RETURN_IF_ERROR(CheckInputCount(def, inputs.size()));
  SBP_RETURN_IF_ERROR(CheckAttrs(def, attrs));
  SBP_RETURN_IF_ERROR(CheckSizes(attrs));
  SBP_ASSIGN_OR_RETURN(std::vector<TensorType> outputs,
                       def.infer(InferenceContext{node_name, inputs, attrs}));
  for (size_t k = 0; k < outputs.size(); ++k) {
    if (!WithinSizeLimit(outputs[k].shape)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "output ", k, " would be ", outputs[k].ToString(), ", more than 2^60 elements"));
    }
  }
  return outputs;
}

int64_t EstimateFlops(const OpDef& def, absl::string_view node_name,
                      const std::vector<TensorType>& inputs, const AttrMap& attrs,
                      const std::vector<TensorType>& outputs) {
  if (def.flops) return def.flops(InferenceContext{node_name, inputs, attrs}, outputs);
  if (outputs.empty() || !outputs[0].shape.IsFullyKnown()) return 0;
  return outputs[0].shape.NumElements();
}

}  // namespace sbpflow
