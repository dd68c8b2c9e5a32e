#include "graph/ops/op_util.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace sbpflow {

absl::Status ExpectFloating(const TensorType& type, absl::string_view input_name) {
  if (IsFloatingPoint(type.dtype)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("input '", input_name,
                                                 "' must be floating point, got ",
                                                 type.ToString()));
}

absl::Status ExpectInteger(const TensorType& type, absl::string_view input_name) {
  if (IsInteger(type.dtype)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("input '", input_name, "' must be i32 or i64, got ", type.ToString()));
}

absl::Status ExpectRank(const TensorType& type, int rank, absl::string_view input_name) {
  if (type.shape.rank() == rank) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("input '", input_name, "' must have rank ", rank,
                                                 ", got ", type.ToString()));
}

absl::Status ExpectSameDataType(const TensorType& a, absl::string_view a_name, const TensorType& b,
                                absl::string_view b_name) {
  if (a.dtype == b.dtype) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("inputs '", a_name, "' and '", b_name,
                                                 "' must have the same dtype, got ", a.ToString(),
                                                 " and ", b.ToString()));
}

absl::StatusOr<Shape> BroadcastShapes(const Shape& a, const Shape& b) {
  const int rank = std::max(a.rank(), b.rank());
  std::vector<int64_t> dims(rank);
  for (int axis = 0; axis < rank; ++axis) {
    const int a_axis = axis - (rank - a.rank());
    const int b_axis = axis - (rank - b.rank());
    const int64_t a_dim = a_axis >= 0 ? a.dim(a_axis) : 1;
    const int64_t b_dim = b_axis >= 0 ? b.dim(b_axis) : 1;
    if (a_dim == b_dim || b_dim == 1) {
      dims[axis] = a_dim;
    } else if (a_dim == 1) {
      dims[axis] = b_dim;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("shapes ", a.ToString(), " and ",
                                                     b.ToString(), " do not broadcast"));
    }
  }
  return Shape(std::move(dims));
}

absl::StatusOr<std::vector<TensorType>> SameAsFirstInput(const InferenceContext& context) {
  return std::vector<TensorType>{context.inputs[0]};
}

absl::StatusOr<TensorRef> ReduceToShape(GraphBuilder& builder, TensorRef grad,
                                        const Shape& target) {
  const Shape& shape = builder.type(grad).shape;
  if (shape == target) return grad;
  std::vector<int64_t> axes;
  const int offset = shape.rank() - target.rank();
  for (int axis = 0; axis < shape.rank(); ++axis) {
    const int target_axis = axis - offset;
    if (target_axis < 0 || (target.dim(target_axis) == 1 && shape.dim(axis) != 1)) {
      axes.push_back(axis);
    }
  }
  TensorRef reduced = grad;
  if (!axes.empty()) {
    SBP_ASSIGN_OR_RETURN(reduced, builder.Add("ReduceSum", {grad},
                                              AttrMap{{"axes", axes}, {"keep_dims", false}},
                                              "reduce_to_shape"));
  }
  if (builder.type(reduced).shape == target) return reduced;
  return builder.Add("Reshape", {reduced}, AttrMap{{"shape", target}}, "reshape_to_shape");
}

}  // namespace sbpflow
