// Identity (pass-through) and StopGradient (pass-through that blocks
// gradients).
#include "base/status_macros.h"
#include "graph/ops/builtin_ops.h"
#include "graph/ops/op_util.h"

namespace sbpflow {
namespace {

absl::Status IdentityGradient(GradientContext& context) {
  if (context.output_grad(0).has_value()) context.SetInputGrad(0, *context.output_grad(0));
  return absl::OkStatus();
}

int64_t NoFlops(const InferenceContext&, const std::vector<TensorType>&) { return 0; }

}  // namespace

absl::Status RegisterIdentityOps(OpRegistry& registry) {
  SBP_RETURN_IF_ERROR(registry.Register(OpDef{
      .name = "Identity",
      .inputs = {{"x"}},
      .infer = SameAsFirstInput,
      .gradient = IdentityGradient,
      .flops = NoFlops,
  }));
  // Its gradient function is never called: autodiff does not propagate
  // through StopGradient. It has one so that the op counts as differentiable.
  SBP_RETURN_IF_ERROR(registry.Register(OpDef{
      .name = "StopGradient",
      .inputs = {{"x"}},
      .infer = SameAsFirstInput,
      .gradient = [](GradientContext&) { return absl::OkStatus(); },
      .flops = NoFlops,
  }));
  return absl::OkStatus();
}

}  // namespace sbpflow
