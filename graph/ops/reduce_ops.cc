// Reductions (ReduceSum, ReduceMean) and their adjoint, BroadcastTo.
//
// ReduceMean's `count` attr (0 = the number of reduced elements) lets the
// lowering pass divide every shard's partial sum by the logical count, so the
// partial means add up to the single-device mean.
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "graph/ops/builtin_ops.h"
#include "graph/ops/op_util.h"

namespace sbpflow {
namespace {

// For each axis of x, whether the `axes` attr reduces it (empty = all).
absl::StatusOr<std::vector<bool>> ReducedAxes(const AttrMap& attrs, const TensorType& x) {
  SBP_ASSIGN_OR_RETURN(std::vector<int64_t> axes, attrs.GetIntList("axes"));
  const int rank = x.shape.rank();
  std::vector<bool> reduced(rank, axes.empty());
  for (int64_t axis : axes) {
    const int normalized = NormalizeAxis(axis, rank);
    if (normalized < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("attr 'axes': axis ", axis, " is out of range for ", x.ToString()));
    }
    if (reduced[normalized]) {
      return absl::InvalidArgumentError(
          absl::StrCat("attr 'axes': axis ", normalized, " is listed twice"));
    }
    reduced[normalized] = true;
  }
  return reduced;
}

// x's shape with every reduced axis set to 1.
Shape KeptDimsShape(const Shape& x, const std::vector<bool>& reduced) {
  std::vector<int64_t> dims = x.dims();
  for (int axis = 0; axis < x.rank(); ++axis) {
    if (reduced[axis]) dims[axis] = 1;
  }
  return Shape(std::move(dims));
}

absl::StatusOr<std::vector<TensorType>> InferReduce(const InferenceContext& context) {
  const TensorType& x = context.inputs[0];
  SBP_RETURN_IF_ERROR(ExpectFloating(x, "x"));
  SBP_ASSIGN_OR_RETURN(std::vector<bool> reduced, ReducedAxes(context.attrs, x));
  SBP_ASSIGN_OR_RETURN(bool keep_dims, context.attrs.GetBool("keep_dims"));
  if (context.attrs.Has("count")) {
    SBP_ASSIGN_OR_RETURN(int64_t count, context.attrs.GetInt("count"));
    if (count < 0) {
      return absl::InvalidArgumentError(absl::StrCat("attr 'count': must be >= 0, got ", count));
    }
  }
  if (keep_dims) return std::vector<TensorType>{{x.dtype, KeptDimsShape(x.shape, reduced)}};
  std::vector<int64_t> dims;
  for (int axis = 0; axis < x.shape.rank(); ++axis) {
    if (!reduced[axis]) dims.push_back(x.shape.dim(axis));
  }
  return std::vector<TensorType>{{x.dtype, Shape(std::move(dims))}};
}

// Every input element is added once.
int64_t ReduceFlops(const InferenceContext& context, const std::vector<TensorType>& outputs) {
  const Shape& x = context.inputs[0].shape;
  return x.IsFullyKnown() ? x.NumElements() : 0;
}

// dx = BroadcastTo(Reshape(dy, kept-dims shape), x.shape), times 1/count for
// the mean. The scale is applied before broadcasting, on the smaller tensor.
// The count comes from the logical shapes the gradient is built on.
absl::Status ReduceGradient(GradientContext& context, bool mean) {
  SBP_ASSIGN_OR_RETURN(TensorRef dy, context.OutputGradOrZeros(0));
  const TensorType& x = context.input_type(0);
  SBP_ASSIGN_OR_RETURN(std::vector<bool> reduced, ReducedAxes(context.attrs(), x));
  GraphBuilder& builder = context.builder();
  if (mean) {
    SBP_ASSIGN_OR_RETURN(int64_t count, context.attrs().GetIntOr("count", 0));
    if (count == 0) {
      count = 1;
      for (int axis = 0; axis < x.shape.rank(); ++axis) {
        if (reduced[axis]) count *= x.shape.dim(axis);
      }
    }
    if (count > 1) {
      SBP_ASSIGN_OR_RETURN(
          dy, builder.Add("Scale", {dy}, AttrMap{{"scale", 1.0 / static_cast<double>(count)}},
                          "dy_over_count"));
    }
  }
  const Shape kept = KeptDimsShape(x.shape, reduced);
  if (builder.type(dy).shape != kept) {
    SBP_ASSIGN_OR_RETURN(dy, builder.Add("Reshape", {dy}, AttrMap{{"shape", kept}}, "dy_kept"));
  }
  if (kept != x.shape) {
    SBP_ASSIGN_OR_RETURN(dy, builder.Add("BroadcastTo", {dy}, AttrMap{{"shape", x.shape}}, "dx"));
  }
  context.SetInputGrad(0, dy);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<TensorType>> InferBroadcastTo(const InferenceContext& context) {
  const TensorType& x = context.inputs[0];
  SBP_ASSIGN_OR_RETURN(Shape shape, context.attrs.GetShape("shape"));
  if (!shape.IsFullyKnown()) {
    return absl::InvalidArgumentError(
        absl::StrCat("attr 'shape': must be fully known, got ", shape.ToString()));
  }
  const int offset = shape.rank() - x.shape.rank();
  bool compatible = offset >= 0;
  for (int axis = 0; compatible && axis < x.shape.rank(); ++axis) {
    const int64_t dim = x.shape.dim(axis);
    compatible = dim == 1 || dim < 0 || dim == shape.dim(axis + offset);
  }
  if (!compatible) {
    return absl::InvalidArgumentError(absl::StrCat(
        "input 'x': ", x.ToString(), " does not broadcast to attr 'shape' ", shape.ToString()));
  }
  return std::vector<TensorType>{{x.dtype, std::move(shape)}};
}

absl::Status BroadcastToGradient(GradientContext& context) {
  SBP_ASSIGN_OR_RETURN(TensorRef dy, context.OutputGradOrZeros(0));
  SBP_ASSIGN_OR_RETURN(TensorRef dx,
                       ReduceToShape(context.builder(), dy, context.input_type(0).shape));
  context.SetInputGrad(0, dx);
  return absl::OkStatus();
}

}  // namespace

absl::Status RegisterReduceOps(OpRegistry& registry) {
  const AttrSpec axes{"axes", AttrType::kIntList, AttrValue(std::vector<int64_t>{})};
  const AttrSpec keep_dims{"keep_dims", AttrType::kBool, AttrValue(false)};
  SBP_RETURN_IF_ERROR(registry.Register(OpDef{
      .name = "ReduceSum",
      .inputs = {{"x"}},
      .attrs = {axes, keep_dims},
      .infer = InferReduce,
      .gradient = [](GradientContext& context) { return ReduceGradient(context, false); },
      .flops = ReduceFlops,
  }));
  SBP_RETURN_IF_ERROR(registry.Register(OpDef{
      .name = "ReduceMean",
      .inputs = {{"x"}},
      .attrs = {axes, keep_dims, {"count", AttrType::kInt, AttrValue(int64_t{0})}},
      .infer = InferReduce,
      .gradient = [](GradientContext& context) { return ReduceGradient(context, true); },
      .flops = ReduceFlops,
  }));
  // BroadcastTo moves data only, so it accepts every dtype.
  return registry.Register(OpDef{
      .name = "BroadcastTo",
      .inputs = {{"x"}},
      .attrs = {{"shape", AttrType::kShape, std::nullopt}},
      .infer = InferBroadcastTo,
      .gradient = BroadcastToGradient,
  });
}

}  // namespace sbpflow
