// LayerNorm over the last axis and its gradient op (docs/ops.md,
// "Normalization").
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "graph/ops/builtin_ops.h"
#include "graph/ops/op_util.h"

namespace sbpflow {
namespace {

// x's shape without its last axis: the shape of mean and rstd.
Shape RowShape(const TensorType& x) {
  const std::vector<int64_t>& dims = x.shape.dims();
  return Shape(std::vector<int64_t>(dims.begin(), dims.end() - 1));
}

// InvalidArgument "input 'NAME' must be TYPE like/to match ..., got ACTUAL".
absl::Status ExpectType(const TensorType& actual, absl::string_view name,
                        const TensorType& expected, absl::string_view reason) {
  if (actual == expected) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("input '", name, "' must be ", expected.ToString(),
                                                 " ", reason, ", got ", actual.ToString()));
}

// x [..., H] floating with rank >= 1, gamma [H] of x's dtype.
absl::Status CheckXAndGamma(const TensorType& x, const TensorType& gamma) {
  SBP_RETURN_IF_ERROR(ExpectFloating(x, "x"));
  if (x.shape.rank() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("input 'x' must have rank >= 1 (normalized axis last), got ", x.ToString()));
  }
  const int64_t width = x.shape.dim(x.shape.rank() - 1);
  if (width == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("input 'x' must have a non-empty last axis, got ", x.ToString()));
  }
  const TensorType expected{x.dtype, Shape{width}};
  return ExpectType(gamma, "gamma", expected, absl::StrCat("to match x ", x.ToString()));
}

absl::StatusOr<std::vector<TensorType>> InferLayerNorm(const InferenceContext& context) {
  const TensorType& x = context.inputs[0];
  SBP_RETURN_IF_ERROR(CheckXAndGamma(x, context.inputs[1]));
  SBP_RETURN_IF_ERROR(ExpectType(context.inputs[2], "beta", context.inputs[1], "like gamma"));
  SBP_ASSIGN_OR_RETURN(double epsilon, context.attrs.GetFloat("epsilon"));
  if (!(epsilon >= 0)) {
    return absl::InvalidArgumentError(absl::StrCat("attr 'epsilon' must be >= 0, got ", epsilon));
  }
  const TensorType row{x.dtype, RowShape(x)};
  return std::vector<TensorType>{x, row, row};
}

// LayerNormGrad(dy, x, gamma, mean, rstd) -> dx, dgamma, dbeta.
absl::StatusOr<std::vector<TensorType>> InferLayerNormGrad(const InferenceContext& context) {
  const TensorType& x = context.inputs[1];
  const TensorType& gamma = context.inputs[2];
  SBP_RETURN_IF_ERROR(CheckXAndGamma(x, gamma));
  SBP_RETURN_IF_ERROR(ExpectType(context.inputs[0], "dy", x, "like x"));
  const TensorType row{x.dtype, RowShape(x)};
  const std::string reason = absl::StrCat("to match x ", x.ToString());
  SBP_RETURN_IF_ERROR(ExpectType(context.inputs[3], "mean", row, reason));
  SBP_RETURN_IF_ERROR(ExpectType(context.inputs[4], "rstd", row, reason));
  return std::vector<TensorType>{x, gamma, gamma};
}

// mean and rstd are saved statistics for the backward; a loss that depends on
// them is not supported (their gradient would need a different op).
absl::Status LayerNormGradient(GradientContext& context) {
  if (context.output_grad(1).has_value() || context.output_grad(2).has_value()) {
    return absl::InvalidArgumentError(
        "outputs 'mean' and 'rstd' are statistics for the backward; gradients cannot flow "
        "through them");
  }
  SBP_ASSIGN_OR_RETURN(TensorRef dy, context.OutputGradOrZeros(0));
  SBP_ASSIGN_OR_RETURN(
      int node, context.builder().AddNode("LayerNormGrad", {dy, context.input(0), context.input(1),
                                                            context.output(1), context.output(2)}));
  for (int position = 0; position < 3; ++position) {
    if (context.NeedsInputGrad(position)) context.SetInputGrad(position, TensorRef{node, position});
  }
  return absl::OkStatus();
}

int64_t ElementsOf(const TensorType& type) {
  return type.shape.IsFullyKnown() ? type.shape.NumElements() : 0;
}

// Per element: mean, centered square, normalize, scale and shift.
int64_t LayerNormFlops(const InferenceContext& context, const std::vector<TensorType>& outputs) {
  return 8 * ElementsOf(context.inputs[0]);
}

// Per element: x̂, two row sums, dgamma/dbeta sums and the dx expression.
int64_t LayerNormGradFlops(const InferenceContext& context,
                           const std::vector<TensorType>& outputs) {
  return 12 * ElementsOf(context.inputs[1]);
}

}  // namespace

absl::Status RegisterNormalizationOps(OpRegistry& registry) {
  SBP_RETURN_IF_ERROR(registry.Register(OpDef{
      .name = "LayerNorm",
      .inputs = {{"x"}, {"gamma"}, {"beta"}},
      .attrs = {{"epsilon", AttrType::kFloat, AttrValue(1e-5)}},
      .infer = InferLayerNorm,
      .gradient = LayerNormGradient,
      .flops = LayerNormFlops,
  }));
  SBP_RETURN_IF_ERROR(registry.Register(OpDef{
      .name = "LayerNormGrad",
      .inputs = {{"dy"}, {"x"}, {"gamma"}, {"mean"}, {"rstd"}},
      .infer = InferLayerNormGrad,
      .flops = LayerNormGradFlops,
  }));
  return absl::OkStatus();
}

}  // namespace sbpflow
