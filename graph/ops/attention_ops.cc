// CausalMask: hides future keys from each query of an attention score matrix
// (docs/ops.md, "Attention").
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "graph/ops/builtin_ops.h"
#include "graph/ops/op_util.h"

namespace sbpflow {
namespace {

// x [..., T, T] floating: the last two axes are (query, key).
absl::StatusOr<std::vector<TensorType>> InferCausalMask(const InferenceContext& context) {
  const TensorType& x = context.inputs[0];
  SBP_RETURN_IF_ERROR(ExpectFloating(x, "x"));
  const int rank = x.shape.rank();
  if (rank < 2 || x.shape.dim(rank - 1) != x.shape.dim(rank - 2)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "input 'x' must have shape [..., T, T] (queries by keys), got ", x.ToString()));
  }
  SBP_RETURN_IF_ERROR(context.attrs.GetFloat("value").status());
  return std::vector<TensorType>{x};
}

// Masked entries are constants, so their gradient is zero: the same mask
// with value 0 applied to dy.
absl::Status CausalMaskGradient(GradientContext& context) {
  SBP_ASSIGN_OR_RETURN(TensorRef dy, context.OutputGradOrZeros(0));
  SBP_ASSIGN_OR_RETURN(TensorRef dx,
                       context.builder().Add("CausalMask", {dy}, AttrMap{{"value", 0.0}}));
  context.SetInputGrad(0, dx);
  return absl::OkStatus();
}

}  // namespace

absl::Status RegisterAttentionOps(OpRegistry& registry) {
  return registry.Register(OpDef{
      .name = "CausalMask",
      .inputs = {{"x"}},
      .attrs = {{"value", AttrType::kFloat, AttrValue(-1e9)}},
      .infer = InferCausalMask,
      .gradient = CausalMaskGradient,
  });
}

}  // namespace sbpflow
