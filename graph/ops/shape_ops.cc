// Shape ops (Reshape, Transpose, Concat, Split). They move data without
// arithmetic and accept every dtype.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "graph/ops/builtin_ops.h"
#include "graph/ops/op_util.h"

namespace sbpflow {
namespace {

// "[4,-1]": attr lists as written (Shape::ToString prints -1 as "?").
std::string ListString(const std::vector<int64_t>& values) {
  return absl::StrCat("[", absl::StrJoin(values, ","), "]");
}

int64_t NoFlops(const InferenceContext&, const std::vector<TensorType>&) { return 0; }

// The `axis` attr normalized against `type`'s rank, or InvalidArgument.
absl::StatusOr<int> ReadAxis(const AttrMap& attrs, const TensorType& type) {
  SBP_ASSIGN_OR_RETURN(int64_t axis, attrs.GetInt("axis"));
  const int normalized = NormalizeAxis(axis, type.shape.rank());
  if (normalized < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("attr 'axis': axis ", axis, " is out of range for ", type.ToString()));
  }
  return normalized;
}

absl::StatusOr<std::vector<TensorType>> InferReshape(const InferenceContext& context) {
  const TensorType& x = context.inputs[0];
  SBP_ASSIGN_OR_RETURN(Shape target, context.attrs.GetShape("shape"));
  int inferred_axis = -1;
  int64_t known_elements = 1;
  for (int axis = 0; axis < target.rank(); ++axis) {
    const int64_t dim = target.dim(axis);
    if (dim == -1) {
      if (inferred_axis >= 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "attr 'shape': at most one dimension may be -1, got ", ListString(target.dims())));
      }
      inferred_axis = axis;
    } else if (dim < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("attr 'shape': dimension ", axis, " is ", dim));
    } else {
      known_elements *= dim;
    }
  }
  // An input with an unknown (batch) extent leaves the -1 unknown until the
  // batch is bound.
  if (!x.shape.IsFullyKnown()) return std::vector<TensorType>{{x.dtype, std::move(target)}};
  const int64_t elements = x.shape.NumElements();
  const bool fits = inferred_axis >= 0 ? known_elements > 0 && elements % known_elements == 0
                                       : known_elements == elements;
  if (!fits) {
    return absl::InvalidArgumentError(absl::StrCat("attr 'shape': cannot reshape ", x.ToString(),
                                                   " (", elements, " elements) to ",
                                                   ListString(target.dims())));
  }
  if (inferred_axis >= 0) target.mutable_dim(inferred_axis) = elements / known_elements;
  return std::vector<TensorType>{{x.dtype, std::move(target)}};
}

absl::Status ReshapeGradient(GradientContext& context) {
  SBP_ASSIGN_OR_RETURN(TensorRef dy, context.OutputGradOrZeros(0));
  SBP_ASSIGN_OR_RETURN(
      TensorRef dx, context.builder().Add("Reshape", {dy},
                                          AttrMap{{"shape", context.input_type(0).shape}}, "dx"));
  context.SetInputGrad(0, dx);
  return absl::OkStatus();
}

// The `perm` attr normalized (negative axes allowed), or InvalidArgument.
absl::StatusOr<std::vector<int64_t>> ReadPermutation(const AttrMap& attrs, const TensorType& x) {
  SBP_ASSIGN_OR_RETURN(std::vector<int64_t> perm, attrs.GetIntList("perm"));
  const int rank = x.shape.rank();
  if (static_cast<int>(perm.size()) != rank) {
    return absl::InvalidArgumentError(
        absl::StrCat("attr 'perm': has ", perm.size(), " entries for input ", x.ToString()));
  }
  std::vector<int64_t> normalized(rank);
  std::vector<bool> seen(rank, false);
  for (int position = 0; position < rank; ++position) {
    const int axis = NormalizeAxis(perm[position], rank);
    if (axis < 0 || seen[axis]) {
      return absl::InvalidArgumentError(absl::StrCat("attr 'perm': ", ListString(perm),
                                                     " is not a permutation of the axes of ",
                                                     x.ToString()));
    }
    seen[axis] = true;
    normalized[position] = axis;
  }
  return normalized;
}

absl::StatusOr<std::vector<TensorType>> InferTranspose(const InferenceContext& context) {
  const TensorType& x = context.inputs[0];
  SBP_ASSIGN_OR_RETURN(std::vector<int64_t> perm, ReadPermutation(context.attrs, x));
  std::vector<int64_t> dims(perm.size());
  for (size_t position = 0; position < perm.size(); ++position) {
    dims[position] = x.shape.dim(static_cast<int>(perm[position]));
  }
  return std::vector<TensorType>{{x.dtype, Shape(std::move(dims))}};
}

absl::Status TransposeGradient(GradientContext& context) {
  SBP_ASSIGN_OR_RETURN(TensorRef dy, context.OutputGradOrZeros(0));
  SBP_ASSIGN_OR_RETURN(std::vector<int64_t> perm,
                       ReadPermutation(context.attrs(), context.input_type(0)));
  std::vector<int64_t> inverse(perm.size());
  for (size_t position = 0; position < perm.size(); ++position) {
    inverse[perm[position]] = static_cast<int64_t>(position);
  }
  SBP_ASSIGN_OR_RETURN(TensorRef dx,
                       context.builder().Add("Transpose", {dy}, AttrMap{{"perm", inverse}}, "dx"));
  context.SetInputGrad(0, dx);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<TensorType>> InferConcat(const InferenceContext& context) {
  const TensorType& first = context.inputs[0];
  SBP_ASSIGN_OR_RETURN(int axis, ReadAxis(context.attrs, first));
  std::vector<int64_t> dims = first.shape.dims();
  for (size_t index = 1; index < context.inputs.size(); ++index) {
    const TensorType& value = context.inputs[index];
    if (value.dtype != first.dtype) {
      return absl::InvalidArgumentError(absl::StrCat("inputs 'values': input ", index, " is ",
                                                     value.ToString(), ", input 0 is ",
                                                     first.ToString(), ": dtypes differ"));
    }
    bool same = value.shape.rank() == first.shape.rank();
    for (int other = 0; same && other < first.shape.rank(); ++other) {
      const int64_t a = value.shape.dim(other);
      const int64_t b = first.shape.dim(other);
      same = other == axis || a < 0 || b < 0 || a == b;
    }
    if (!same) {
      return absl::InvalidArgumentError(
          absl::StrCat("inputs 'values': input ", index, " is ", value.ToString(), ", input 0 is ",
                       first.ToString(), ": shapes differ outside axis ", axis));
    }
    const int64_t extent = value.shape.dim(axis);
    dims[axis] = dims[axis] < 0 || extent < 0 ? -1 : dims[axis] + extent;
  }
  return std::vector<TensorType>{{first.dtype, Shape(std::move(dims))}};
}

absl::Status ConcatGradient(GradientContext& context) {
  SBP_ASSIGN_OR_RETURN(TensorRef dy, context.OutputGradOrZeros(0));
  SBP_ASSIGN_OR_RETURN(int axis, ReadAxis(context.attrs(), context.input_type(0)));
  std::vector<int64_t> sizes;
  for (int position = 0; position < context.num_inputs(); ++position) {
    sizes.push_back(context.input_type(position).shape.dim(axis));
  }
  SBP_ASSIGN_OR_RETURN(
      int split, context.builder().AddNode(
                     "Split", {dy}, AttrMap{{"axis", int64_t{axis}}, {"sizes", sizes}}, "dvalues"));
  for (int position = 0; position < context.num_inputs(); ++position) {
    if (context.NeedsInputGrad(position)) {
      context.SetInputGrad(position, TensorRef{split, position});
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<TensorType>> InferSplit(const InferenceContext& context) {
  const TensorType& x = context.inputs[0];
  SBP_ASSIGN_OR_RETURN(int axis, ReadAxis(context.attrs, x));
  SBP_ASSIGN_OR_RETURN(std::vector<int64_t> sizes, context.attrs.GetIntList("sizes"));
  if (sizes.empty()) return absl::InvalidArgumentError("attr 'sizes': must not be empty");
  int64_t total = 0;
  for (size_t index = 0; index < sizes.size(); ++index) {
    if (sizes[index] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("attr 'sizes': entry ", index, " is ", sizes[index], ", must be >= 0"));
    }
    total += sizes[index];
  }
  const int64_t extent = x.shape.dim(axis);
  if (extent >= 0 && total != extent) {
    return absl::InvalidArgumentError(absl::StrCat("attr 'sizes': ", ListString(sizes), " sums to ",
                                                   total, ", but axis ", axis, " of ", x.ToString(),
                                                   " has ", extent));
  }
  std::vector<TensorType> outputs;
  outputs.reserve(sizes.size());
  for (int64_t size : sizes) {
    TensorType output = x;
    output.shape.mutable_dim(axis) = size;
    outputs.push_back(std::move(output));
  }
  return outputs;
}

// Outputs that no gradient reaches contribute zeros.
absl::Status SplitGradient(GradientContext& context) {
  SBP_ASSIGN_OR_RETURN(int64_t axis, context.attrs().GetInt("axis"));
  std::vector<TensorRef> grads;
  for (int position = 0; position < context.num_outputs(); ++position) {
    SBP_ASSIGN_OR_RETURN(TensorRef grad, context.OutputGradOrZeros(position));
    grads.push_back(grad);
  }
  SBP_ASSIGN_OR_RETURN(TensorRef dx, context.builder().Add("Concat", std::move(grads),
                                                           AttrMap{{"axis", axis}}, "dx"));
  context.SetInputGrad(0, dx);
  return absl::OkStatus();
}

}  // namespace

absl::Status RegisterShapeOps(OpRegistry& registry) {
  SBP_RETURN_IF_ERROR(registry.Register(OpDef{
      .name = "Reshape",
      .inputs = {{"x"}},
      .attrs = {{"shape", AttrType::kShape, std::nullopt}},
      .infer = InferReshape,
      .gradient = ReshapeGradient,
      .flops = NoFlops,
  }));
  SBP_RETURN_IF_ERROR(registry.Register(OpDef{
      .name = "Transpose",
      .inputs = {{"x"}},
      .attrs = {{"perm", AttrType::kIntList, std::nullopt}},
      .infer = InferTranspose,
      .gradient = TransposeGradient,
      .flops = NoFlops,
  }));
  SBP_RETURN_IF_ERROR(registry.Register(OpDef{
      .name = "Concat",
      .inputs = {{"values", /*variadic=*/true}},
      .attrs = {{"axis", AttrType::kInt, std::nullopt}},
      .infer = InferConcat,
      .gradient = ConcatGradient,
      .flops = NoFlops,
  }));
  return registry.Register(OpDef{
      .name = "Split",
      .inputs = {{"x"}},
      .attrs = {{"axis", AttrType::kInt, std::nullopt},
                {"sizes", AttrType::kIntList, std::nullopt}},
      .infer = InferSplit,
      .gradient = SplitGradient,
      .flops = NoFlops,
  });
}

}  // namespace sbpflow
