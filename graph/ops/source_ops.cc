// Nodes without inputs: data placeholders, trainable/state variables and
// constants.
#include "absl/strings/str_cat.h"
#include "base/initializer.h"
#include "base/status_macros.h"
#include "graph/ops/builtin_ops.h"

namespace sbpflow {
namespace {

absl::StatusOr<std::vector<TensorType>> InferPlaceholder(const InferenceContext& context) {
  SBP_ASSIGN_OR_RETURN(Shape shape, context.attrs.GetShape("shape"));
  SBP_ASSIGN_OR_RETURN(DataType dtype, context.attrs.GetDataType("dtype"));
  for (int axis = 0; axis < shape.rank(); ++axis) {
    if (shape.dim(axis) < -1) {
      return absl::InvalidArgumentError(
          absl::StrCat("attr 'shape': dimension ", axis, " is ", shape.dim(axis)));
    }
  }
  return std::vector<TensorType>{{dtype, shape}};
}

absl::StatusOr<std::vector<TensorType>> InferVariable(const InferenceContext& context) {
  SBP_ASSIGN_OR_RETURN(Shape shape, context.attrs.GetShape("shape"));
  SBP_ASSIGN_OR_RETURN(DataType dtype, context.attrs.GetDataType("dtype"));
  if (!shape.IsFullyKnown()) {
    return absl::InvalidArgumentError(
        absl::StrCat("attr 'shape': a variable's shape must be fully known, got ",
                     shape.ToString()));
  }
  if (!IsFloatingPoint(dtype)) {
    return absl::InvalidArgumentError(
        absl::StrCat("attr 'dtype': variables must be floating point, got ", DataTypeName(dtype)));
  }
  SBP_ASSIGN_OR_RETURN(std::string initializer, context.attrs.GetString("initializer"));
  auto parsed = ParseInitializer(initializer);
  if (!parsed.ok()) return absl::InvalidArgumentError(absl::StrCat("attr 'initializer': ",
                                                                   parsed.status().message()));
  return std::vector<TensorType>{{dtype, shape}};
}

absl::StatusOr<std::vector<TensorType>> InferConst(const InferenceContext& context) {
  SBP_ASSIGN_OR_RETURN(Shape shape, context.attrs.GetShape("shape"));
  SBP_ASSIGN_OR_RETURN(DataType dtype, context.attrs.GetDataType("dtype"));
  SBP_ASSIGN_OR_RETURN(std::vector<double> value, context.attrs.GetFloatList("value"));
  if (!shape.IsFullyKnown()) {
    return absl::InvalidArgumentError(
        absl::StrCat("attr 'shape': must be fully known, got ", shape.ToString()));
  }
  if (value.size() != 1 && static_cast<int64_t>(value.size()) != shape.NumElements()) {
    return absl::InvalidArgumentError(absl::StrCat("attr 'value': has ", value.size(),
                                                   " element(s); expected 1 or ",
                                                   shape.NumElements(), " for shape ",
                                                   shape.ToString()));
  }
  return std::vector<TensorType>{{dtype, shape}};
}

int64_t NoFlops(const InferenceContext&, const std::vector<TensorType>&) { return 0; }

}  // namespace

absl::Status RegisterSourceOps(OpRegistry& registry) {
  SBP_RETURN_IF_ERROR(registry.Register(OpDef{
      .name = "Placeholder",
      .attrs = {{"shape", AttrType::kShape, std::nullopt},
                {"dtype", AttrType::kDataType, AttrValue(DataType::kFloat32)}},
      .infer = InferPlaceholder,
      .flops = NoFlops,
  }));
  SBP_RETURN_IF_ERROR(registry.Register(OpDef{
      .name = "Variable",
      .attrs = {{"shape", AttrType::kShape, std::nullopt},
                {"dtype", AttrType::kDataType, AttrValue(DataType::kFloat32)},
                {"initializer", AttrType::kString, AttrValue(std::string("zeros"))},
                {"seed", AttrType::kInt, AttrValue(int64_t{0})},
                {"trainable", AttrType::kBool, AttrValue(true)}},
      .infer = InferVariable,
      .flops = NoFlops,
  }));
  SBP_RETURN_IF_ERROR(registry.Register(OpDef{
      .name = "Const",
      .attrs = {{"shape", AttrType::kShape, AttrValue(Shape{})},
                {"dtype", AttrType::kDataType, AttrValue(DataType::kFloat32)},
                {"value", AttrType::kFloatList, std::nullopt}},
      .infer = InferConst,
      .flops = NoFlops,
  }));
  return absl::OkStatus();
}

}  // namespace sbpflow
